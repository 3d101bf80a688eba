# `make run` and `make test` work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint demo clean dist dist-test
DIST_STAMP := $(VENV)/.installed-dist
BUNDLE := dist/rig-attest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/attest-gui --demo

test: $(STAMP)
	$(VENV)/bin/ruff check attest gui tests bench tools
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check attest gui tests bench tools

# The one-folder app bundle (packaging/rig-attest.spec): dist/rig-attest/{attest-gui,attest}.
$(DIST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dist]'
	touch $(DIST_STAMP)

dist: $(DIST_STAMP)
	rm -rf $(BUNDLE) build/pyinstaller
	$(VENV)/bin/pyinstaller packaging/rig-attest.spec --noconfirm --log-level WARN \
		--distpath dist --workpath build/pyinstaller
	@du -sh $(BUNDLE)

# Build the bundle, then smoke-test it as shipped (packaging/dist-test.sh): attest --version and
# attest-gui --self-test, headless, from a throwaway home.
dist-test: dist
	sh packaging/dist-test.sh $(BUNDLE)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
