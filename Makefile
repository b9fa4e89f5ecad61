# mildip-ld: `make serve` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Each install is remembered by a stamp: serving needs the package alone, the other jobs an extra.
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP  := $(VENV)/.installed-test
LINT_STAMP  := $(VENV)/.installed-lint
DOCS_STAMP  := $(VENV)/.installed-docs
# The fast lane: no test that starts a server process, drives a browser or runs a benchmark
# (tests/conftest.py puts these markers on the tests that need them).
FAST := not server and not browser and not bench
# Test processes (pytest-xdist): the server tests wait on child processes, so more than the cores.
# `make test` hands each process whole modules (--dist loadscope): a module's servers and loaded
# builds (module fixtures) are then started once, not once in every process that runs one of its tests.
TEST_JOBS ?= 3

.PHONY: setup build serve test test-fast lint docs bench validate clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

setup: $(TEST_STAMP) $(LINT_STAMP) $(DOCS_STAMP) ## create .venv with mildip-ld and its test, lint and docs tools

build: $(SERVE_STAMP) ## load -> validate -> infer -> write build/
	$(BIN)/mildip build

validate: $(SERVE_STAMP) ## validate data/ against shapes/
	$(BIN)/mildip validate

serve: $(SERVE_STAMP) ## build if needed, then serve http://$(HOST):$(PORT) (installs only what serving needs)
	$(BIN)/mildip serve --host $(HOST) --port $(PORT)

test: $(TEST_STAMP) ## run the test suite: in $(TEST_JOBS) processes, then the timing tests alone (the slowest listed)
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadscope -m "not timing" --durations=25
	$(BIN)/pytest -m timing --durations=10

test-fast: $(TEST_STAMP) ## the suite without the server, browser and bench tests
	$(BIN)/pytest -n $(TEST_JOBS) -m "$(FAST) and not timing"

lint: $(LINT_STAMP) ## the gates: ruff check, ruff format --check, mypy, the import contracts of the layers
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# NO_MKDOCS_2_WARNING silences the end-of-life banner the material theme prints at every build.
docs: $(DOCS_STAMP) ## build the documentation (docs/) into build/site, warnings as errors
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(TEST_STAMP) ## latency and throughput figures, the lookup's ceiling; then 10^4..10^6 triples beside the peers (build/bench.md)
	$(BIN)/python -m benchmarks bench
	$(BIN)/python -m benchmarks ceiling
	$(BIN)/python -m benchmarks scalebench

clean: ## remove build outputs and the built documentation (keeps .venv)
	rm -rf build .pytest_cache
