# Both entry points create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test test-slow test-redis test-real-clis soak lint typecheck unit bench bench-events clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,redis,bench]'
	touch $@ $(VENV)/.runtime

# ARGS are passed to `asm serve`: make serve ARGS="--bind 127.0.0.1:8788 --config asm.toml".
# The environment reaches it too: ASM_CLAUDE_BIN=$PWD/tests/fakes/bin/claude make serve.
# Ctrl-C stops it (SIGINT reaches the whole foreground group); SIGTERM the pid in
# .asm/server.json (the server reaps every CLI before it exits).
ARGS ?=
serve: $(VENV)/.runtime
	$(BIN)/asm serve $(ARGS)

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

# The bounded soak test (minutes): every fault mode of the fake CLIs under load, event
# publishing and listening, a kill -9 and restart midway; then the same load on Redis
# with a 30 s outage midway (skipped without redis-server); prints its report tables.
# ASM_SOAK_SECONDS = load length (default 120), ASM_SOAK_REDIS_SECONDS (default 90);
# ASM_SOAK_REPORT=FILE also writes the report.
soak: $(VENV)/.dev
	$(BIN)/pytest -m soak -s tests/soak

# The Redis tier: the event-log suite, two servers on one bus, kill -9 on Redis. It runs in
# `make test` too when redis-server is on PATH (skipped, saying why, when not); here its
# absence is a failure. .ci/run installs Debian's redis-server first.
test-redis: $(VENV)/.dev
	ASM_REQUIRE_REDIS=1 $(BIN)/pytest -m redis

# The real CLIs, pinned (PROVIDERS.md), installed from npm into a cache outside the
# tracked files; their tests drive them against fake upstream APIs on 127.0.0.1.
REAL_CLIS := .cache/real-clis
REAL_CLI_PACKAGES := @anthropic-ai/claude-code@2.1.197 @openai/codex@0.169.0 \
	@google/gemini-cli@0.61.0 @ampcode/cli@0.0.1790142911-g7618fb \
	@ampcode/cli-linux-x64@0.0.1790142911-g7618fb

$(REAL_CLIS)/.installed: Makefile
	mkdir -p $(REAL_CLIS)
	npm install --prefix $(REAL_CLIS) --no-audit --no-fund --loglevel=error $(REAL_CLI_PACKAGES)
	# npm 11 blocks install scripts: amp links its native binary by hand.
	cd $(REAL_CLIS) && node node_modules/@ampcode/cli/install.cjs
	touch $@

test-real-clis: $(VENV)/.dev $(REAL_CLIS)/.installed
	ASM_REQUIRE_REAL_CLIS=1 ASM_REAL_CLI_BIN=$(CURDIR)/$(REAL_CLIS)/node_modules/.bin \
		$(BIN)/pytest -m real_cli

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.validation

bench-events: $(VENV)/.dev
	$(BIN)/python -m benchmarks.events

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
