# Drumbeat — one entry point for setting up, running and testing.
#   make run    set everything up, load demo data, serve on the embedded default
#   make test   set everything up and run the test suite
#   make test-examples   install and test the partner-plugin example (examples/drumbeat-webhook)
#   make browser   install Debian's chromium + chromium-driver (the dashboard's browser test)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser run test test-examples bench schema clean

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

# The dashboard test drives /usr/bin/chromium; installed from Debian's packages when missing
# and we are root. Without it the test skips — except with CI=true, where both fail.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium + chromium-driver (dashboard browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null || [ "$${CI:-}" != true ]; \
	else \
	  echo "no /usr/bin/chromium and cannot install it: the dashboard browser test will skip"; \
	  [ "$${CI:-}" != true ]; \
	fi

test: install browser
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
