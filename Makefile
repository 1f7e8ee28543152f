# The two commands: `make up` runs Switchboard, `make test` runs the tests.
# Each creates or updates the virtual environment in .venv first.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: up test venv lint clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/switchboard up

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core channels workers config tests bench

clean:
	rm -rf $(VENV) data .pytest_cache
