# Granary: `make run` to try it, `make test` to check it. Needs only python3 (3.11+) and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
UV_VERSION := 0.13.9
PYTEST_ARGS ?=
BASE_LOCK := requirements/base.lock
BANDIT_TARGETS := config core audit accounts webhooks datasets quality lineage search catalog api client/src

.DEFAULT_GOAL := help
.PHONY: help setup install run test lint format clean audit fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: install ## create .venv, install the locked dependencies, migrate, collect static files
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0

install: $(STAMP)

# The virtual environment. Debian's python3 needs the python3-venv package for `-m venv`; without
# it, fall back to a `uv` on PATH if there is one, or say what to install.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Granary needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1). Use PYTHON=python3.12 or similar." >&2; exit 1; }
	@echo "granary | Creating the virtual environment $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV) 2>/dev/null \
		|| { rm -rf $(VENV); command -v uv >/dev/null && uv venv --seed --python $(PYTHON) $(VENV); } \
		|| { rm -rf $(VENV); echo "Could not create $(VENV): install python3-venv (apt-get install python3-venv) and run make again." >&2; exit 1; }

# Reinstalls only when the lock or a pyproject.toml changes; uv makes that take seconds. The client
# (client/, the `granary` package and CLI) is installed editable, as its tests and users run it.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml client/pyproject.toml
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -r $(LOCK)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -e ./client
	@touch $@ $(RUN_STAMP)

# `make run` needs only what the server runs (base.lock: 79 packages against dev.lock's 179, and a
# third of the bytecode to compile), installed in one uv call. A first run says so before the wait,
# and shows uv's own progress (downloads, then the compile) without its list of packages.
$(RUN_STAMP): $(BIN)/python $(BASE_LOCK) pyproject.toml client/pyproject.toml
	@echo "granary | Installing dependencies into $(VENV) (first run only, 15-60 s: 80 packages to fetch, then to compile)..."
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@status=$$(mktemp); \
	{ $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -r $(BASE_LOCK) -e ./client 2>&1; \
	  echo $$? > $$status; } | grep --line-buffered -vE '^ [-+~] |^Using Python'; \
	rc=$$(cat $$status); rm -f $$status; exit $$rc
	@touch $@

# Migrations, static files and the demo are run.py's: it runs the first two side by side, and its
# banner says where the time went since this command began (GRANARY_RUN_STARTED).
run: export GRANARY_RUN_STARTED := $(shell date +%s.%N)
run: $(RUN_STAMP) ## set up, seed the demo, start Redis, a Celery worker and the web server (Ctrl-C stops)
	@$(BIN)/python scripts/run.py

# The suite waits more than it computes (live servers, workers, browsers, subprocesses), so it runs
# in one pytest-xdist process per core. `--dist loadgroup` hands tests out one by one in collection
# order. xdist_group marks would do nothing: xdist 3.8 renames item._nodeid, which pytest 9.2 no
# longer reads, so a module-scoped fixture may be set up once per process. TEST_WORKERS=0: serial.
TEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadgroup

test: setup ## lint, then run the whole test suite (extra pytest arguments: PYTEST_ARGS=...)
	$(MAKE) --no-print-directory lint
	@scripts/ensure-chromium.sh
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: install ## ruff, ruff format --check, import contracts, mypy (server and client) and a missing-migrations check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy config core audit accounts webhooks datasets quality lineage search catalog api client
	$(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=false SECRET_KEY=check-deploy-only-$$$$-not-a-real-key-0123456789abcdefghijklmnop \
		$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/bandit -q -c pyproject.toml -r $(BANDIT_TARGETS)

fuzz: setup ## only the API fuzzer (Schemathesis against a live server; GRANARY_FUZZ_EXAMPLES, GRANARY_FUZZ_SEED)
	$(BIN)/pytest -m fuzz -p no:cacheprovider $(PYTEST_ARGS)

# pip-audit asks PyPI's JSON API about each locked version. Where that API cannot be reached or does
# not answer (no network, a mirror without it), every package comes back unaudited: that is said
# plainly and skipped, never passed as "no known vulnerabilities". Otherwise a vulnerability, or any
# package left unaudited, fails the target.
audit: install ## pip-audit the locked dependencies against PyPI's vulnerability data
	@pins=$$(grep -cE '^[A-Za-z0-9_.-]+==' $(BASE_LOCK)); \
	out=$$($(BIN)/pip-audit -r $(BASE_LOCK) --no-deps --disable-pip -s pypi \
		--progress-spinner off --timeout 20 2>&1); rc=$$?; \
	unaudited=$$(printf '%s\n' "$$out" | grep -c 'could not be audited'); \
	if printf '%s\n' "$$out" | grep -qE 'ConnectionError|Max retries|NameResolution|timed out'; then \
		echo "pip-audit SKIPPED: PyPI's vulnerability data could not be reached."; \
	elif [ $$rc -ne 0 ]; then printf '%s\n' "$$out"; exit $$rc; \
	elif [ "$$unaudited" -ge "$$pins" ]; then \
		echo "pip-audit SKIPPED: PyPI's JSON API knew none of the $$pins locked versions (a mirror without vulnerability data?)."; \
	elif [ "$$unaudited" -gt 0 ]; then printf '%s\n' "$$out"; \
		echo "pip-audit: $$unaudited of $$pins locked packages could not be audited."; exit 1; \
	else printf '%s\n' "$$out"; fi

format: install ## fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the virtual environment and caches (keeps var/: the database and the blobs)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
