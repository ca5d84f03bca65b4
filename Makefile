# Two entry points on a fresh machine with Python 3.11+: `make run` and `make test`.
# Both install the versions uv.lock pins, hash-checked, from its exports in requirements/:
# `make run` only what the service needs to run, `make test` the development toolchain too.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PIP    := $(BIN)/pip install --quiet --require-hashes

.PHONY: run dev test bench bench-cli bench-warm deploy-check soak simulate lint typecheck lock lambda-local system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The project itself goes in editable and without dependencies: the lock brought them.
$(RUN_STAMP): requirements/run.txt | $(BIN)/python
	$(PIP) --requirement requirements/run.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(RUN_STAMP)

$(STAMP): requirements/dev.txt $(RUN_STAMP)
	$(PIP) --requirement requirements/dev.txt
	touch $(STAMP)

## Install the service's run-time dependencies into .venv and serve (SQLite in ./.cache-service/).
run: $(RUN_STAMP)
	$(BIN)/cache-service --host $(HOST) --port $(PORT)

## Install the development toolchain (tests, linters, the CDK app's packages) into .venv.
dev: system-deps $(STAMP)

## Install into .venv, then lint, type-check and run the whole test suite.
test: system-deps $(STAMP) lint typecheck
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 $(BIN)/pytest

## Benchmarks against a same-run baseline (needs wrk); writes bench/RESULTS.md. Not a test.
bench: system-deps $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run
	$(MAKE) bench-cli
	$(MAKE) bench-warm

## The warm worker against its goals (batching, HTTP, live traffic, a million lines). Not a test.
bench-warm: $(STAMP)
	$(BIN)/python -m bench.warm

## cache-cli against hey and wrk on one server; its own section of bench/RESULTS.md. Not a test.
bench-cli: system-deps $(STAMP)
	@command -v hey >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq hey wrk; }
	$(BIN)/python -m bench.cli_load

## Five minutes of mixed load with memory measured at start and end (excluded from `make test`).
soak: $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-300} $(BIN)/pytest -m soak -s tests/reliability/test_soak.py

## The claims simulation over as many seeds as asked: make simulate STORE=sqlite SEEDS=100000
## (STORE is memory, sqlite or dynamodb; FIRST=N starts at seed N). Not a test: it reports.
simulate: $(STAMP)
	$(BIN)/python -m tests.coordination.simulation --store $${STORE:-memory} \
		--seeds $${SEEDS:-10000} --first $${FIRST:-0}

## Before `cdk deploy`: CPython 3.12 or Docker, credentials, bootstrap, API Gateway's logging
## role; each missing one with what to do. CONTEXT="-c apigateway_cloudwatch_role=true" etc.
deploy-check: $(STAMP)
	$(BIN)/python -m infra.preflight $(CONTEXT)

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
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## Resolve uv.lock again from pyproject.toml (every platform, Python >= 3.11) and rewrite its
## exports: requirements/run.txt, requirements/dev.txt, requirements/lambda-runtime.txt and
## the Lambda layer's infra/layer/requirements.txt.
lock: $(STAMP)
	$(BIN)/uv lock $(LOCK_FLAGS)
	$(BIN)/uv export --frozen --quiet --no-emit-project --format requirements-txt -o requirements/run.txt
	$(BIN)/uv export --frozen --quiet --no-emit-project --extra dev --format requirements-txt -o requirements/dev.txt
	$(BIN)/uv export --frozen --quiet --only-group lambda --format requirements-txt -o infra/layer/requirements.txt
	$(BIN)/uv export --frozen --quiet --only-group lambda-runtime --format requirements-txt -o requirements/lambda-runtime.txt

## The service in the AWS Lambda runtime client (CPython 3.12) behind a local API Gateway stage
## on http://$(HOST):3000/prod; no Docker. CACHE_* variables reach the function.
lambda-local: $(STAMP)
	$(BIN)/python -m infra.local.front --host $(HOST) --port $${LAMBDA_PORT:-3000}

clean:
	rm -rf $(VENV) .cache-service .pytest_cache .mypy_cache .ruff_cache cdk.out build
