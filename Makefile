# Countersign: the two commands a newcomer needs are `make run` and `make test`.
# Every target creates .venv on first use and installs the locked versions;
# later calls reuse it until requirements.lock or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# `countersign run` migrates the database itself; without Slack tokens it is the
# rehearsal room, which uses rehearsal.db and creates no countersign.db.
run: $(STAMP)
	$(BIN)/countersign run

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench tools
	$(BIN)/ruff format --check bot handlers storage tests bench tools
	$(BIN)/mypy bot handlers storage tools

test: lint
	$(BIN)/pytest -n 2 --dist loadfile

# The same suite on a throwaway PostgreSQL 15 cluster (started and stopped by the script).
test-postgres: $(STAMP)
	.ci/with-postgres $(BIN)/pytest -n 2 --dist loadfile

# Re-resolve the dependency ranges of pyproject.toml into requirements.lock.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check '.[dev]'
	.lock-venv/bin/pip freeze --exclude countersign | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

bench: $(STAMP)
	$(BIN)/python bench/import.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
