# `make run` and `make test` work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/attest-gui --demo

test: $(STAMP)
	$(VENV)/bin/ruff check attest gui tests bench
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check attest gui tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
