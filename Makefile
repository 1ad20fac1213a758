# Boundary Gateway: `make run` to try it, `make test` for the full suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint types bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

run: install
	$(BIN)/gateway migrate
	$(BIN)/gateway import examples/practice.toml
	@echo
	@echo "Boundary Gateway on http://127.0.0.1:8080 (dry-run: outbound SMS are printed, not sent)."
	@echo "Play a client from another terminal:"
	@echo "  $(BIN)/gateway simulate --from +15557654321 --to +15550009999 'Can we move Tuesday to 3pm?'"
	@echo
	$(BIN)/gateway serve --host 127.0.0.1 --port 8080

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types: install
	$(BIN)/mypy

test: lint types
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
