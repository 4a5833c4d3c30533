# Everything a newcomer needs: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/downradar demo

# Two workers (pytest-xdist): every test has its own database, port and folder, so they can run side by
# side; the suite takes about half as long. --dist loadfile keeps a module on one worker, so its module-scoped
# fixtures (a replayed fortnight, a module's app) are built once, not once per worker.
test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

# Style, then types: mypy's settings are in pyproject.toml ([tool.mypy], strict on every package).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data build *.egg-info src/*.egg-info
