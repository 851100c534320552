# qdlab: the two commands a new user runs on a fresh machine (Python 3.11, gcc, make, git).
#   make demo   create .venv, install qdlab, run the main job on the shipped example
#   make test   same venv plus test dependencies, run the whole test suite
# Slow tests (marked `slow`) run when CI=true or with `make test-all`.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
WORKERS ?= 2

ifeq ($(CI),true)
  MARK :=
else
  MARK := -m "not slow"
endif

.PHONY: demo test test-all lint bench clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -e ".[test]"
	@touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(PY) -m qdlab.workflow.demo

test: $(VENV)/.installed-test
	$(PY) -m pytest -n $(WORKERS) $(MARK) -q

test-all: $(VENV)/.installed-test
	$(PY) -m pytest -n $(WORKERS) -q

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache qdlab-demo-output
