# The two commands of the README: `make run` and `make test`. Both create the virtual
# environment on first use and install the pinned dependencies from requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench binary clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/clank-lan serve $(ARGS)

test: lint unit

lint: $(STAMP)
	$(BIN)/ruff check clank_lan tests bench build

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

BENCHES := crypto db relay login idle

bench: $(STAMP)
	status=0; for b in $(BENCHES); do $(BIN)/python bench/$$b.py || status=1; done; exit $$status

binary: $(STAMP)
	$(BIN)/python build/build.py

clean:
	rm -rf $(VENV) build/out dist *.egg-info
