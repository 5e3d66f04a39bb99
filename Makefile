# Both entry points create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test test-slow test-redis lint typecheck unit bench bench-events clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,redis,bench]'
	touch $@ $(VENV)/.runtime

serve: $(VENV)/.runtime
	$(BIN)/asm serve

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/pytest

test: lint typecheck unit

# Tests that last minutes by design (a stream longer than 60 s, 15 s silences).
test-slow: $(VENV)/.dev
	$(BIN)/pytest -m slow

# The Redis tier: the event-log suite, two servers on one bus, kill -9 on Redis. It runs in
# `make test` too when redis-server is on PATH (skipped, saying why, when not); here its
# absence is a failure. .ci/run installs Debian's redis-server first.
test-redis: $(VENV)/.dev
	ASM_REQUIRE_REDIS=1 $(BIN)/pytest -m redis

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.validation

bench-events: $(VENV)/.dev
	$(BIN)/python -m benchmarks.events

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
