# Two commands for a newcomer: `make book` builds the rendered book, `make test` runs every test.
# Both create .venv with the exact lock in requirements.txt on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real data is used when it sits beside the checkout (as in CI); otherwise the simulator.
RESPKIT_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
# Runs are shared by the notebook tests and the book build, so nothing is trained twice.
RESPKIT_RUNS ?= $(abspath _build/runs)
export RESPKIT_DATA RESPKIT_RUNS

.PHONY: book test unit notebooks check-notebooks lint sync-notebooks screenshot clean venv test-venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# The tests also need sed_eval (chapter 7's metric reference), ruff and mypy; the book does not.
test-venv: $(VENV)/.test-installed

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(BIN)/python -m pip install -q -r requirements-test.txt
	touch $@

# Chapters execute side by side first (each trains on one thread); the build then reads their outputs
# from jupyter-book's cache instead of executing them one after another.
book: venv
	$(BIN)/python tools/execute_book.py
	$(BIN)/jupyter-book build . -W --keep-going

test: test-venv check-notebooks lint
	$(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env

unit: test-venv
	$(BIN)/python -m pytest tests

# ruff (format and lint, one line length) and mypy over the library; configured in pyproject.toml.
lint: test-venv
	$(BIN)/ruff format --check
	$(BIN)/ruff check
	$(BIN)/mypy

notebooks: venv
	$(BIN)/python -m pytest book --nbval-lax --nbval-current-env

check-notebooks: venv
	$(BIN)/python tools/check_notebooks.py book

# Setup cells, Colab metadata and README's chapter table, from respkit/project.py.
sync-notebooks: venv
	$(BIN)/python tools/sync_notebooks.py

screenshot: venv
	$(BIN)/python tools/screenshot.py _build/html/book/ch1_listening.html _build/screenshots/ch1.png --content --offline
	$(BIN)/python tools/screenshot.py _build/html/book/ch5_ssm.html _build/screenshots/ch5.png --offline

clean:
	rm -rf _build
