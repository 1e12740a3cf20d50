# Two entry points, each sets up its own environment (.venv) on first use:
#   make demo   - the main job: upstairs vs downstairs comparison (table + figure)
#   make test   - lint (ruff, numpy docstrings) and the test suite
#   make docs   - the Sphinx documentation in docs/_build/html (offline, warnings are errors)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= results/compare

.PHONY: demo test test-slow bench reproduce clean docs
DOCS_STAMP := $(VENV)/.docs-stamp

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,distributed,baselines,fast]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geodln compare --out $(OUT)

# Two pytest workers on two cores: one BLAS thread each (oversubscribed OpenBLAS threads
# spin and can slow linear algebra by 10x).
test: $(STAMP)
	$(BIN)/ruff check geodln tests benchmarks
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --durations=15

test-slow: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -m slow

# The documentation (Sphinx, offline, warnings are errors). The notebooks are rendered, not run.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/sphinx-build -b html -W --keep-going -q docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python -m benchmarks --out results/benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build docs/_autosummary docs/notebooks
