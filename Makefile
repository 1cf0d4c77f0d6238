# figkit: `make example` builds the example paper (figures, tables, appendix, main.pdf) and checks what it made,
# `make test` runs the tests. Both create .venv on first use and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch; an unpinned torch pulls a several-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: example test test-fast lint format benchmark gallery clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[example]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,lint]" "$(TORCH)"
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e ".[test,lint,bench]" "$(TORCH)"
	touch $@

example: $(VENV)/.installed
	$(MAKE) -C paper_example check PYTHON=$(CURDIR)/$(BIN)/python FIGKIT=$(CURDIR)/$(BIN)/figkit

test: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest

# Everything but the tests marked slow (LaTeX, subprocesses, the wheel): for the edit-test loop.
test-fast: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

benchmark: $(VENV)/.installed-bench
	MPLBACKEND=Agg $(BIN)/python benchmarks/bench_plots.py
	MPLBACKEND=Agg $(BIN)/python benchmarks/bench_tables.py
	MPLBACKEND=Agg $(BIN)/python benchmarks/bench_build.py

gallery: $(VENV)/.installed
	$(BIN)/python docs/make_gallery.py

clean:
	rm -rf $(VENV) benchmarks/out
	$(MAKE) -C paper_example clean
