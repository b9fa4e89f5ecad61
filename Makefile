# mildip-ld: `make serve` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup build serve test bench validate clean help

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install mildip-ld with its test tools

build: setup ## load -> validate -> infer -> write build/
	$(BIN)/mildip build

validate: setup ## validate data/ against shapes/
	$(BIN)/mildip validate

serve: setup ## build if needed, then serve http://$(HOST):$(PORT)
	$(BIN)/mildip serve --host $(HOST) --port $(PORT)

test: setup ## run the test suite
	$(BIN)/pytest

bench: setup ## latency and throughput figures; then 10^4..10^6 triples beside the peers (build/bench.md)
	$(BIN)/mildip bench
	$(BIN)/mildip scalebench

clean: ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache
