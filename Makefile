# Two commands a user needs: `make demo` and `make test`. Both reuse one virtualenv, rebuilt only
# when pyproject.toml changes, so a second run starts at once.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DURATION ?= 20
DEMO_STATIONS ?= 50
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fleet demo --stations $(DEMO_STATIONS) --duration $(DEMO_DURATION)

test: $(STAMP)
	$(BIN)/ruff check fleet tests
	$(BIN)/ruff format --check fleet tests
	$(BIN)/mypy fleet
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix fleet tests
	$(BIN)/ruff format fleet tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
