"""Kafka adapters: wire codec and transactional publisher."""
