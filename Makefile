# Two entry points on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test bench bench-cli soak lint typecheck system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Install into .venv and serve on the embedded default (SQLite in ./.cache-service/).
run: $(STAMP)
	$(BIN)/cache-service --host $(HOST) --port $(PORT)

## Install into .venv, then lint, type-check and run the whole test suite.
test: system-deps $(STAMP) lint typecheck
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 $(BIN)/pytest

## Benchmarks against a same-run baseline (needs wrk); writes bench/RESULTS.md. Not a test.
bench: system-deps $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run
	$(MAKE) bench-cli

## cache-cli against hey and wrk on one server; its own section of bench/RESULTS.md. Not a test.
bench-cli: system-deps $(STAMP)
	@command -v hey >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq hey wrk; }
	$(BIN)/python -m bench.cli_load

## Five minutes of mixed load with memory measured at start and end (excluded from `make test`).
soak: $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-300} $(BIN)/pytest -m soak -s tests/reliability/test_soak.py

## The tests start their own redis-server processes, and the CDK needs Node.js.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .cache-service .pytest_cache .mypy_cache .ruff_cache cdk.out
