# Two entry points, each sets up its own environment (.venv) on first use:
#   make demo   - the main job: upstairs vs downstairs comparison (table + figure)
#   make test   - lint (ruff, numpy docstrings) and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= results/compare

.PHONY: demo test test-slow bench reproduce clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,distributed]'
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

bench: $(STAMP)
	$(BIN)/python -m benchmarks --out results/benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache
