# The README's commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SCALE ?= 1
PROFILE ?= default
# pytest-xdist processes for make test, each with its own embedded server
TEST_WORKERS ?= 2

.PHONY: install demo test test-e2e test-unit lint hooks identity-score identity-splink bench report-screenshot warehouse-start warehouse-stop warehouse-url lock clean

install: $(STAMP)

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml plugins/smarketing/data/data_docs_assets.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m smarketing.data_docs fetch  # the Data Docs' styles and scripts, from the npm registry
	@touch $(STAMP)

demo: install  ## run the whole pipeline on demo data through Airflow and print the results
	$(BIN)/smarketing demo

test: install  ## the whole test suite against a real (embedded) PostgreSQL, in TEST_WORKERS processes
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

identity-score: install  ## precision/recall of identity resolution on generated data (PROFILE=default|hard, SCALE=N)
	$(BIN)/smarketing identity-score --profile $(PROFILE) --scale $(SCALE)

# Splink beside the project's lock, in a virtualenv of its own: an evaluation, not a dependency
SPLINK_VENV := .venv-splink
$(SPLINK_VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(SPLINK_VENV)/bin/python || $(PYTHON) -m venv $(SPLINK_VENV)
	$(SPLINK_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock splink==5.0.0
	$(SPLINK_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

identity-splink: $(SPLINK_VENV)/.installed  ## our identity resolution against Splink on the same data (PROFILE, SCALE)
	$(SPLINK_VENV)/bin/python -m bench.splink_compare --profile $(PROFILE) --scale $(SCALE)

test-e2e: install  ## the real scheduler, dag-processor and api-server run the Asset chain (a few minutes)
	$(BIN)/pytest -m e2e tests/e2e

bench: install  ## every stage at SCALE x 100,000 people against baselines (not part of make test)
	$(BIN)/python -m bench.run --scale $(SCALE) $(BENCH_ARGS)

report-screenshot: install  ## the README's pictures of the latest KPI report (after make demo; needs chromium)
	$(BIN)/python tools/report_screenshot.py

test-unit: install
	$(BIN)/pytest tests/unit

lint: install  ## ruff (stale noqa included), mypy on the library, sqlfluff on the marts (.sqlfluff)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/sqlfluff lint --disable-progress-bar sql/marts

hooks: install  ## run make lint's checks before every git commit (.pre-commit-config.yaml)
	$(BIN)/pre-commit install

warehouse-start: install
	$(BIN)/smarketing warehouse start

warehouse-stop: install
	$(BIN)/smarketing warehouse stop

warehouse-url: install
	@$(BIN)/smarketing warehouse url

lock: install  ## re-pin requirements.lock (runtime) and requirements-dev.lock (tools) from the environment
	$(BIN)/python tools/lock.py

clean:  ## stop the embedded warehouse and remove all local state (keeps .venv)
	-$(BIN)/smarketing warehouse remove
	-for server in .test-state/pg .test-state/*/pg; do test -d $$server && \
		SMARKETING_WAREHOUSE_DIR=$$server $(BIN)/smarketing warehouse remove; done; true
	rm -rf .warehouse .airflow .test-state exports reports .assets
