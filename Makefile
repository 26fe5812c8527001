# Two commands set everything up on a fresh machine: `make up` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint bench clean chromium postgresql

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make up PORT=7300 UI_PORT=8300` moves off 7233/8233; without PORT, TEMPORAL_ADDRESS.
up: $(STAMP)
	$(BIN)/csops up $(if $(PORT),--port $(PORT)) $(if $(UI_PORT),--ui-port $(UI_PORT))

test: $(STAMP) chromium postgresql
	$(BIN)/python -m pytest -q

# The browser test drives Debian's chromium; install it when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# The Postgres tests start their own server from Debian's postgresql (initdb, pg_ctl);
# install it when it is missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q postgresql; }

# Lint: the linter, the formatter (check only) and the type checker over all non-test code.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks, csops against a raw baseline in the same run (minutes on 2 cores);
# writes bench/RESULTS.md and bench/results.json. One, quickly:
# `.venv/bin/python -m bench --only retrieval --size small --rounds 1`.
bench: $(STAMP)
	$(BIN)/python -m bench

# Everything the targets above made: the venv, csops' state, caches, test artifacts.
clean:
	rm -rf $(VENV) .csops .pytest_cache .ruff_cache .mypy_cache csops.egg-info test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
