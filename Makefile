# figkit: `make example` builds the example paper (figures, tables, appendix, main.pdf) and checks what it made,
# `make test` runs the tests. Both create .venv on first use and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOWEST := .venv-lowest
# The CPU build of torch; an unpinned torch pulls a several-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: example test test-fast test-lowest lint format benchmark gallery schema clean

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

# One worker per core (pytest-xdist), an idle one taking queued tests from a busy one (worksteal): the
# figure checks and LaTeX builds are CPU-bound and a few take a minute each.
test: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -n auto --dist worksteal

# Everything but the tests marked slow (LaTeX, subprocesses, the wheel): for the edit-test loop.
test-fast: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -n auto --dist worksteal -m "not slow"

# The fast tests in a second environment at the lowest versions pyproject.toml declares.
$(LOWEST)/.installed: pyproject.toml .ci/lowest.txt
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet -c .ci/lowest.txt -e ".[test]" "$(TORCH)"
	touch $@

test-lowest: $(LOWEST)/.installed
	MPLBACKEND=Agg $(LOWEST)/bin/python -m pytest -n auto --dist worksteal -m "not slow" -p no:cacheprovider

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every script in benchmarks/, each against the direct way in the same run.
benchmark: $(VENV)/.installed-bench
	for script in benchmarks/bench_*.py; do MPLBACKEND=Agg $(BIN)/python $$script || exit 1; done

gallery: $(VENV)/.installed
	$(BIN)/python docs/make_gallery.py

# The shipped JSON Schema, generated from the results sections (a test checks it is current).
schema: $(VENV)/.installed
	$(BIN)/python -c "from figkit.results.json_schema import generated_text; print(generated_text(), end='')" \
		> figkit/results-v1.schema.json

clean:
	rm -rf $(VENV) $(LOWEST) benchmarks/out
	$(MAKE) -C paper_example clean
