# The two commands of the README: `make run` and `make test`. Both create the virtual
# environment on first use and install the pinned dependencies from requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit fuzz bench soak binary clean

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

# One worker per core plus one: about 40% of the suite's time is spent waiting (sockets, timers,
# subprocesses), which the extra worker fills. Bytecode is written even where the environment
# says not to (PYTHONDONTWRITEBYTECODE): every worker and every subprocess a test starts would
# otherwise recompile the package and re-rewrite the tests' asserts (10 s of a run).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

unit: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The fuzz targets of `make test` (framing, Medius and RT decoders, DNS, config, dissector) with
# many more random examples each: FUZZ_EXAMPLES per target (about 5 minutes at 2,000 on 2 cores;
# each target may run up to 30 minutes instead of the 2 of `make test`).
FUZZ_EXAMPLES ?= 2000
FUZZ_TESTS := tests/test_fuzz_protocol.py tests/test_fuzz_dns.py tests/test_fuzz_dissect.py tests/test_hostile_config.py

fuzz: $(STAMP)
	CLANK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider --timeout=1800 \
		$(FUZZ_TESTS) $(PYTEST_ARGS)

BENCHES := crypto db login relay pcsx2 idle storm chat

bench: $(STAMP)
	status=0; for b in $(BENCHES); do $(BIN)/python bench/$$b.py || status=1; done; exit $$status

# Ten minutes of churn plus the attacks (not part of `make test`); ARGS="--minutes 2" for less.
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(ARGS)

binary: $(STAMP)
	$(BIN)/python build/build.py

clean:
	rm -rf $(VENV) build/out dist *.egg-info
