"""Application: composition root, services, CLI and HTTP."""
