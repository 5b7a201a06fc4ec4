"""Unit tests of the Kafka adapter: codec, topics, ids, settings, publisher logic."""
