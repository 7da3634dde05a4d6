# Drumbeat — one entry point for setting up, running and testing.
#   make run    set everything up, load demo data, serve on the embedded default
#   make test   set everything up and run the test suite
#   make test-examples   install and test the partner-plugin example (examples/drumbeat-webhook)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-examples bench schema clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Drumbeat needs Python >= 3.11 (set PY=...)"'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/drumbeat demo
	$(BIN)/drumbeat serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The partner-plugin example, installed as its own distribution and tested from there.
test-examples: install
	$(BIN)/python -m pip install -q -e examples/drumbeat-webhook
	$(BIN)/python -m pytest $(PYTEST_ARGS) examples/drumbeat-webhook/tests

bench: install
	$(BIN)/python bench/import.py --database $(or $(BENCH_DATABASE_URL),sqlite)

schema: install
	$(BIN)/drumbeat schema export schema.graphql

clean:
	rm -rf $(VENV) drumbeat.db drumbeat.db-wal drumbeat.db-shm outbox .pytest_cache
