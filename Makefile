# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CKSUM  := $(shell cksum < pyproject.toml | cut -d' ' -f1)
# The desk alone (`make run`), or the desk with the test tools (`make setup`, `make test`).
DESK_STAMP := $(VENV)/.installed-desk-$(CKSUM)
STAMP      := $(VENV)/.installed-test-$(CKSUM)
# Every Python process the tests start (a `signaldesk serve`, the simulator, each pytest
# worker) would otherwise compile our sources, and pytest rewrite every test file, on each
# start when the caller's environment says PYTHONDONTWRITEBYTECODE (this machine's does):
# a serve's start costs 2.1 s of CPU instead of 1.5, a worker's collection 21 s instead of 9.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup desk run test lint typecheck pytest bench sim clean

# uv installs the packages: on a fresh machine it takes about a third of pip's time (measured:
# 27 s against 82 s), and `make test` on a fresh clone counts the install. It compiles nothing:
# each module is compiled when first imported and kept (PYTHONDONTWRITEBYTECODE is unexported
# above), which costs less than compiling every installed file up front. Where uv cannot be
# fetched or fails, pip installs them as before.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv || $(BIN)/python -m pip install --quiet --upgrade pip
INSTALL = { [ -x $(BIN)/uv ] && $(BIN)/uv pip install --quiet --python $(BIN)/python $(1); } \
	|| $(BIN)/python -m pip install --quiet $(1)

$(DESK_STAMP): pyproject.toml | $(VENV)/bin/python
	$(call INSTALL,-e .)
	@rm -f $(VENV)/.installed-desk-*
	@touch $@

# The test extras hold the desk too: once they are in, the desk needs no install of its own.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(call INSTALL,-e '.[test]')
	@rm -f $(VENV)/.installed-*
	@touch $@ $(DESK_STAMP)

setup: $(STAMP)

desk: $(DESK_STAMP)

# A working desk with no accounts: SQLite (./signaldesk.db), the example bots, and the Herenya
# simulator inside the process (unless .env names a real HERENYA_BASE_URL). It prints what to do next.
run: desk
	HERENYA_SIMULATOR=$${HERENYA_SIMULATOR:-true} BOTS_FILE=$${BOTS_FILE:-bots.example.toml} $(BIN)/signaldesk serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy trading db brokers web bot

# pytest runs twice over the database: tests/with_postgres.sh starts a throwaway
# PostgreSQL cluster for the run and stops it afterwards, even on failure.
# Many tests wait (on servers, browsers, processes) rather than compute, so pytest-xdist runs
# them in PYTEST_WORKERS processes; a test file stays on one worker (--dist loadfile), as its
# module-scoped fixtures (one browser, one desk) and the order of its tests expect.
# Files are handed out in the order tests/conftest.py gives (LONGEST_FIRST): pytest-xdist
# would otherwise hand out files with many tests first, and the 3-minute soak (one test)
# started five minutes in and ended the run alone (--no-loadscope-reorder).
# PYTEST_WORKERS=0 runs them all in this one process. docs/architecture.md, "Testing", says more.
# schemathesis gives every operation's test in ONE_PROCESS the same node id, and pytest-xdist
# would run one of them instead of each (tests/conftest.py refuses that): that file runs in one
# process of its own, beside the workers (not after them: a run is CPU-bound to its end, and
# its last minute has idle cores), its output held and printed after theirs.
# The workers load no schemathesis plugin (only ONE_PROCESS uses it): 1.5 s of CPU each.
PYTEST_WORKERS ?= 4
ONE_PROCESS := tests/integration/test_openapi.py
pytest: setup
	tests/with_postgres.sh sh -c 'held=$$(mktemp); \
	  $(BIN)/pytest -q -p no:xdist -p no:cacheprovider $(ONE_PROCESS) >$$held 2>&1 & beside=$$!; \
	  $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -p no:schemathesis --ignore=$(ONE_PROCESS) $(PYTEST_ARGS); workers=$$?; \
	  wait $$beside; alone=$$?; cat $$held; rm -f $$held; [ $$workers -eq 0 ] && [ $$alone -eq 0 ]'

# ruff and mypy run while pytest runs (they fit in its waits); their few lines may land among
# pytest's progress dots, which stay live. A failure of any of the three fails `make test`.
test: setup
	$(MAKE) --no-print-directory -j3 lint typecheck pytest

bench: setup
	$(BIN)/python bench/broker.py
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/approval.py
	$(BIN)/python bench/replay.py

sim: desk
	$(BIN)/signaldesk herenya-sim --host 127.0.0.1 --port 8900

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
