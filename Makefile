# driftkeeper — two commands on a fresh machine with python3 >= 3.11 and make:
#   make demo    build .venv from pyproject.toml if needed, then run the nightly job on bundled data
#   make test    same bootstrap, then the whole pytest suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The venv is stamped with pyproject.toml's hash: an edited pyproject, or an install that died
# half-way (no stamp), rebuilds it from scratch instead of reusing it.
HASH := $(shell $(PY) -c "import hashlib;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:16])")
STAMP := $(VENV)/.stamp-$(HASH)
PYTEST_ARGS ?=

.PHONY: demo test bench venv clean help

help:
	@echo "make demo   - run driftkeeper on the bundled King County example data"
	@echo "make test   - run the test suite"
	@echo "make bench  - run the benchmarks (they need the shared datasets folder beside the project)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PY) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'driftkeeper needs python3 >= 3.11, found ' + sys.version.split()[0])"
	rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit $$?; done

clean:
	rm -rf $(VENV) demo-root build src/*.egg-info .pytest_cache
