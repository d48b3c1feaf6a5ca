# Two commands a user needs: `make demo` and `make test`. Both reuse one virtualenv, rebuilt only
# when pyproject.toml changes, so a second run starts at once.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DURATION ?= 30
DEMO_STATIONS ?= 50
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean bench bench-quick bench-100k

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fleet demo --stations $(DEMO_STATIONS) --duration $(DEMO_DURATION)

# One pytest process: beside a second one (pytest -n 2) a 2-core CI machine moved timing-bound
# figures past their tests' bounds three times (tests/conftest.py keeps -n usable by hand).
test: $(STAMP)
	$(BIN)/ruff check fleet tests bench
	$(BIN)/ruff format --check fleet tests bench
	$(BIN)/mypy fleet
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix fleet tests bench
	$(BIN)/ruff format fleet tests bench

# Benchmarks: loopback only, bounded; figures are printed beside their same-run references.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# 100,000 stations under Locust for 10 minutes (~15 min, ~8 GB of RAM; README "Beyond one machine").
bench-100k: $(STAMP)
	$(BIN)/python bench/hundred_k.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
