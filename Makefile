# One entry point for people and CI. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint fmt clean install bench faults

# Python code to lint; integrations/ and bench/ join once they hold code.
CODE := platform tests $(wildcard integrations bench)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	touch $(STAMP)

install: $(STAMP)

## Run the platform in the foreground: embedded Temporal, server, one worker.
up: $(STAMP)
	$(BIN)/paw up $(ARGS)

## Lint, type-check and run the whole test suite.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

## Benchmarks against raw temporalio on the same Temporal server (QUICK=1: reduced set).
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

## The whole fault-injection suite; make test runs only its quick subset.
faults: $(STAMP)
	PAWFLOW_FAULTS=all $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/ruff check $(CODE)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

clean:
	rm -rf $(VENV)
