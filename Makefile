# Two commands: `make demo` runs adpilot on the embedded default; `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint test-sqlite test-postgres test-cluster serve cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/adpilot demo

serve: $(STAMP)
	$(BIN)/adpilot serve

# Distributed mode on this machine: migrate, 1 API process and 2 workers on the local PostgreSQL
# (database `adpilot`, created if missing) and Redis; Ctrl-C stops them all.
cluster: $(STAMP)
	$(BIN)/adpilot cluster

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

# Tests mostly wait on durable jobs and I/O, so three workers pay off even on two cores.
PYTEST := $(BIN)/python -m pytest -n 3

REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

# Redis-backed tests need a Redis: mandatory under CI, run whenever one is reachable.
# Browser tests run in this pass only, on Debian's Chromium (installed here when missing and root).
test-sqlite: $(STAMP)
	@scripts/ensure_chromium.sh
	@if [ -n "$$CI" ] || $(BIN)/python scripts/redis_reachable.py "$(REDIS_TEST_URL)"; then \
	  ADPILOT_TEST_REDIS_URL="$(REDIS_TEST_URL)" $(PYTEST); \
	else \
	  echo "Redis at $(REDIS_TEST_URL) is not reachable: Redis-backed tests deselected (CI runs them)"; \
	  $(PYTEST); \
	fi

# Under CI the PostgreSQL pass is mandatory: an unreachable server fails the run.
test-postgres: $(STAMP)
	@if [ -n "$$CI" ] || $(BIN)/python scripts/pg_reachable.py "$(PG_TEST_URL)"; then \
	  ADPILOT_TEST_DATABASE_URL="$(PG_TEST_URL)" $(PYTEST); \
	else \
	  echo "PostgreSQL at $(PG_TEST_URL) is not reachable: PostgreSQL pass not run (CI runs it)"; \
	fi

# Real `adpilot api` and `adpilot worker` processes killed and restarted (databases `<name>_*`).
# Under CI the pass is mandatory: an unreachable PostgreSQL or Redis fails it.
CLUSTER_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/cluster
test-cluster: $(STAMP)
	@if [ -n "$$CI" ] || { $(BIN)/python scripts/pg_reachable.py "$(CLUSTER_TEST_URL)" && \
	    $(BIN)/python scripts/redis_reachable.py "$(REDIS_TEST_URL)"; }; then \
	  ADPILOT_TEST_CLUSTER_DATABASE_URL="$(CLUSTER_TEST_URL)" ADPILOT_TEST_REDIS_URL="$(REDIS_TEST_URL)" \
	    $(BIN)/python -m pytest -m cluster -p no:xdist; \
	else \
	  echo "PostgreSQL or Redis is not reachable: cluster tests not run (CI runs them)"; \
	fi

test: lint test-sqlite test-postgres test-cluster

clean:
	rm -rf $(VENV) var
