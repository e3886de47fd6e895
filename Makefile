# crisiswatch developer commands. `make help` lists them.
PYTHON ?= python3
CW := $(PYTHON) -m services.cli
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install infra-up infra-down run demo test lint format bench bench-quick soak env-example

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## install crisiswatch and its dev tools (skips what is installed)
	@bash deploy/scripts/install.sh

infra-up: install ## start local Kafka and PostgreSQL, create topics, migrate
	$(CW) infra up

infra-down: ## stop local Kafka and PostgreSQL
	$(CW) infra down

run: infra-up ## run every service (Ctrl-C stops them)
	$(CW) run

demo: infra-up ## run the demo: services, a generated crisis, live view (Ctrl-C stops)
	$(CW) demo

test: install ## install, start the infrastructure, run the test suite, stop what it started
	@bash deploy/scripts/test.sh $(PYTEST_ARGS)

bench: infra-up ## throughput, latency and memory of every stage against its ceiling
	$(CW) bench --json bench-results.json

bench-quick: infra-up ## the benchmark suite on small inputs (under 2 minutes)
	$(CW) bench --quick --json bench-results-quick.json

soak: infra-up ## long load test with a crisis injected midway (CRISISWATCH_SOAK_MINUTES, default 10)
	$(PYTHON) -m pytest -m soak tests/soak -p no:cacheprovider

lint: ## ruff, mypy, import contracts (import-linter, see docs/architecture.md), module sizes
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check shared services tools tests
	$(PYTHON) -m mypy
	@# lint-imports has no `python -m` entry point; this is the same call on this interpreter.
	$(PYTHON) -c 'import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))'
	$(PYTHON) deploy/scripts/module_sizes.py

format: ## apply ruff's formatting and safe fixes
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format shared services tools tests

env-example: ## regenerate .env.example from the settings classes
	$(CW) config env-example > .env.example
