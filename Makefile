# The two commands of the README: `make run` and `make test`. Everything installs into .venv from requirements.lock.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint lock clean

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

test: install
	$(VENV)/bin/pytest

bench: install
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff check .

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: | $(PY)
	$(PY) -m pip install -q uv
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf var airflow_home .pytest_cache .ruff_cache
