# Advice Line: `make run` serves the demo on 127.0.0.1:5000; `make test` runs the suite.
# `make check` lints and type-checks; `make test-fast` skips the browser, drill and slow tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app advice_line
STAMP := $(VENV)/.installed-stamp

.PHONY: install lock run migrate seed check lint test test-fast bench soak drills clean

LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
ASSETS := advice_line/static_built/manifest.json

# Every Python package (and its hash) comes from the dev lock; the project itself follows,
# editable, with no dependencies of its own resolved (`make lock` after editing pyproject.toml).
$(STAMP): $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

NODE_STAMP := node_modules/.installed-stamp
# One lock for every platform and Python the project supports, hashes for every file.
LOCK_OPTIONS := --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock"

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The front end, copied out of node_modules with our own static files, content-hashed and
# compressed into advice_line/static_built/ (served by WhiteNoise; no Node at run time).
$(ASSETS): $(STAMP) $(NODE_STAMP) advice_line/assets.py $(wildcard advice_line/static/*)
	$(BIN)/python -m advice_line.assets build

install: $(STAMP) $(NODE_STAMP) $(ASSETS)

# Resolve pyproject.toml's dependencies again, keeping every pin that still fits (add
# UPGRADE=--upgrade to move everything to the newest versions allowed).
lock: $(STAMP)
	$(BIN)/uv pip compile $(LOCK_OPTIONS) $(UPGRADE) -o $(LOCK) pyproject.toml
	$(BIN)/uv pip compile $(LOCK_OPTIONS) $(UPGRADE) --extra dev -o $(DEV_LOCK) pyproject.toml

migrate: install
	$(FLASK) db upgrade

run: export ADVICE_LINE_MODE ?= demo
run: export CALL_RECORDING ?= true
run: migrate
	$(FLASK) seed-demo
	$(BIN)/python -m advice_line.serve --port $(PORT)

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint: check

test: check
	$(BIN)/pytest -n 2

test-fast: install
	$(BIN)/pytest -m "not browser and not drill and not slow"

bench: install
	$(BIN)/python -m benchmarks

soak: export SOAK_SECONDS ?= 300
soak: install
	$(BIN)/python -m benchmarks soak

drills: install
	$(BIN)/python -m drills

clean:
	rm -rf $(VENV) node_modules advice_line/static_built instance .pytest_cache .mypy_cache .ruff_cache
