# Advice Line: `make run` serves the demo on 127.0.0.1:5000; `make test` runs the suite.
# `make check` lints and type-checks; `make test-fast` skips the browser, drill and slow tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app advice_line
STAMP := $(VENV)/.installed-stamp

.PHONY: install run migrate seed check lint test test-fast bench soak drills clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

NODE_STAMP := node_modules/.installed-stamp

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

migrate: install
	$(FLASK) db upgrade

run: export ADVICE_LINE_MODE ?= demo
run: migrate
	$(FLASK) seed-demo
	$(BIN)/python -m advice_line.serve --port $(PORT)

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint: check

test: check
	$(BIN)/pytest

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
	rm -rf $(VENV) node_modules instance .pytest_cache .mypy_cache .ruff_cache
