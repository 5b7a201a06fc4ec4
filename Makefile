# One obvious way to set up, test and demo zombiewatch.
#   make install   - virtualenv + the package with its dev tools
#   make test      - the whole suite CI runs (lint, types, contracts, ops-check, unit + integration)
#   make ops-check - promtool over deploy/monitoring's alerts and their unit tests (part of lint)
#   make demo      - the demo on a real single-node Kubernetes v1.37 and Kafka broker
#   make services-up / services-down - the real services (bare API server, Kafka, the node), for humans
#   make node-up / node-down - the real single-node Kubernetes alone, for humans
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVICES := $(BIN)/python -m scripts.services

.PHONY: install lint ops-check test unit integration services-deps services-up services-down \
	demo bench node-up node-down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

lint: install ops-check
	$(BIN)/ruff check src zwservices harness tests benchmarks scripts examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# promtool check rules + promtool test rules (installs Debian's prometheus package if missing).
ops-check: install
	$(BIN)/python scripts/ops_check.py

# System packages and cached builds of the real services (idempotent, cached in ~/.cache/zombiewatch).
services-deps: install
	$(SERVICES) prepare
	$(SERVICES) node-prepare

unit: install
	$(BIN)/pytest tests/unit

integration: services-deps
	$(BIN)/pytest tests/integration

# CI=1 selects the derandomized Hypothesis profile (tests/conftest.py): the same examples on
# every run, so a red build is reproducible and never a roll of the dice; `make unit` and a
# plain `pytest` keep exploring at random.
test: lint services-deps
	CI=1 $(BIN)/pytest tests

services-up: services-deps
	$(SERVICES) up
	$(SERVICES) node-up

services-down: $(BIN)/python
	$(SERVICES) node-down
	$(SERVICES) down

# The real single-node Kubernetes v1.37 with its own Kafka broker (docs/SERVICES.md).
node-up: services-deps
	$(SERVICES) node-up

node-down: $(BIN)/python
	$(SERVICES) node-down

# The demo and the node benchmarks run on the real node (services-deps prepares it too).
demo: services-deps
	$(BIN)/python -m harness.demo

bench: services-deps
	$(BIN)/python -m benchmarks
