# The two commands that matter: `make run` and `make test`. Everything they need is set up here,
# from a fresh clone, with nothing installed by hand.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
FLASK   := $(BIN)/flask --app webapp
HTMX    := static/vendor/htmx.min.js
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench screenshots setup db clean help

help:
	@echo "make run          set up, create and seed the SQLite store, make a first operator, serve on http://127.0.0.1:5000"
	@echo "make test         set up, then lint, type-check and run the whole suite"
	@echo "make bench        emit against the eventsourcing library, side by side (bench/RESULTS.md)"
	@echo "make screenshots  regenerate the README screenshots with Chromium"

# --- set-up ------------------------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the declared or pinned dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# htmx comes from the npm registry at the version (and integrity hash) pinned in package-lock.json.
$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# Debian's Chromium drives the browser tests (Playwright cannot download its own browsers here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

setup: $(VENV)/.installed $(HTMX)

# create-demo-operator prints the first operator's password the one time it makes it.
db: setup
	$(FLASK) init-db
	$(FLASK) seed-demo
	$(FLASK) create-demo-operator

# --- the two commands --------------------------------------------------------------------------

run: db
	$(FLASK) run --host 127.0.0.1 --port 5000

test: setup $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# --- extras ------------------------------------------------------------------------------------

# The benchmark runs in a virtual environment of its own: emit (editable) plus the peer it is
# compared with, the eventsourcing library, which is no dependency of emit. BENCH_ARGS=--quick
# for a smoke run; see `python -m bench --help`.
PEER_VENV := bench/.peer-venv

$(PEER_VENV)/.installed: pyproject.toml constraints.txt bench/requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/pip install --quiet -c constraints.txt -e . -r bench/requirements.txt
	touch $@

bench: $(PEER_VENV)/.installed
	$(PEER_VENV)/bin/python -m bench $(BENCH_ARGS)

screenshots: setup $(CHROMIUM)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache .mypy_cache .ruff_cache
