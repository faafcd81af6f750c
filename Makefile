# Every target installs what it needs first: a virtual environment in .venv with
# geofeat (editable) and its test dependencies, pinned by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

## The main job on the embedded offline default (synthetic Sentinel-2 scenes).
demo: install
	$(BIN)/geofeat demo --folder demo-output

## The whole test suite.
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check geofeat kernels tests benchmarks

## Benchmarks at the small size CI runs.
bench: install
	$(BIN)/python benchmarks/run_all.py --small

clean:
	rm -rf $(VENV) demo-output .pytest_cache
