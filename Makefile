# The two commands of the README: `make run` and `make test`. Everything installs into .venv from requirements.lock.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint typecheck lock clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q --python $(PY) --compile-bytecode -r requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

install: $(STAMP)

run: install
	bash scripts/run.sh

# Lint and type-check first (cheap, and CI must enforce both), then the suite with pytest-xdist: one worker more
# than the cores (at most 4), because the two end-to-end tests spend much of their time waiting on Airflow's loops
# (measured on 2 cores: 3 workers 427 s, 2 workers 473 s); work stealing, and each long test heads its own worker's
# share (tests/conftest.py), so they overlap the rest instead of being its tail. pytest exit 5 (no test collected)
# is a failure with a message, never a pass.
WORKERS ?= $(shell python3 -c "import os; print(min(4, (os.cpu_count() or 1) + 1))")
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n $(WORKERS) --dist worksteal; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests (exit 5): see the collection errors above" >&2; fi; \
	  exit $$status

bench: install
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: | $(PY)
	$(PY) -m pip install -q uv
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf var airflow_home .pytest_cache .ruff_cache
