# Ferry — the targets a newcomer can guess. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .ferry
PYTEST := $(BIN)/python -m pytest
PROTOS := $(wildcard protos/ferry/v1/*.proto)

.PHONY: install run test test-unit test-integration test-e2e test-faults test-security test-deploy soak bench proto verify-proto lint fmt clean

install: $(STAMP)

$(STAMP): pyproject.toml examples/ferry-git-connector/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -e examples/ferry-git-connector
	touch $(STAMP)

## run: a complete single-machine Ferry (embedded etcd, coordinator, agent, replicator)
## with an embedded PostgreSQL holding pgbench's tables, and the demo connectors
run: $(STAMP)
	FERRY_DEMO_DOCS=$(CURDIR)/docs $(BIN)/ferry up --data-dir $(DATA_DIR) \
		--connectors-file examples/demo-connectors.yaml --demo-postgres

## test: the whole suite, as CI runs it
test: $(STAMP)
	$(PYTEST) -q tests

test-unit: $(STAMP)
	$(PYTEST) -q tests/unit

test-integration: $(STAMP)
	$(PYTEST) -q tests/integration

test-e2e: $(STAMP)
	$(PYTEST) -q tests/e2e

## test-faults: kills, pauses, network partitions and a 30 s etcd outage under load
## (make test runs the same scenarios with an 8 s outage)
test-faults: $(STAMP)
	FERRY_FAULT_OUTAGE_SECONDS=$${FERRY_FAULT_OUTAGE_SECONDS:-30} $(PYTEST) -q tests/faults

test-security: $(STAMP)
	$(PYTEST) -q tests/security tests/unit/test_auth.py

## test-deploy: the Dockerfile, compose file and Kubernetes manifests (schemas, rendering)
test-deploy: $(STAMP)
	$(PYTEST) -q tests/deploy

## soak: mixed sync and replication load while agents and replicators are killed and
## paused at a fixed seed, for FERRY_SOAK_SECONDS (default 180); prints a summary
soak: $(STAMP)
	FERRY_SOAK_SECONDS=$${FERRY_SOAK_SECONDS:-180} $(PYTEST) -q -s tests/soak/test_soak.py::test_soak

bench: $(STAMP)
	$(BIN)/python -m bench

## proto: regenerate ferry/v1 from protos/ferry/v1
proto: $(STAMP)
	$(BIN)/python -m ferry.protogen --out .

## verify-proto: fail when the committed stubs differ from freshly generated ones
verify-proto: $(STAMP)
	$(BIN)/python -m ferry.protogen --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(DATA_DIR) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
