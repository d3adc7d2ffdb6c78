# Two commands on a fresh machine: `make demo` (pipeline end to end on sample data) and
# `make test` (the test suite). Both create .venv and install what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install demo test dev check bench rehearsal clean lint lint-infra

$(STAMP): pyproject.toml requirements.lock
	@command -v java >/dev/null 2>&1 || bash .ci/install-java
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# the local DynamoDB endpoint (dynalite) of demo/dev/query; prebuilt LevelDB binaries ship in the package
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node >= 20) is required for the local DynamoDB endpoint" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: $(STAMP) $(NODE_STAMP)  ## generate sample data, materialize every layer, print top lists read back from DynamoDB
	$(BIN)/music-pipeline demo

test: $(STAMP) $(NODE_STAMP)  ## the whole test suite (real Parquet, DuckDB, Spark, moto)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

check: $(STAMP) $(NODE_STAMP)  ## CI: sample days through the whole graph with every asset check; fails on any ERROR check
	$(BIN)/music-pipeline check

lint-infra:  ## CI: cfn-lint + checkov over infra/*.yaml (own venv .venv-lint, pinned in requirements-lint.lock), zero findings
	bash .ci/lint-infra

PORT ?= 3000
dev: $(STAMP) $(NODE_STAMP)  ## the Dagster UI against the local stack (make dev PORT=3001: another port)
	$(BIN)/music-pipeline dev --port $(PORT)

rehearsal: $(STAMP) $(NODE_STAMP)  ## the production topology on this machine (PostgreSQL, moto, code server, daemon, webserver) until Ctrl-C
	@bash .ci/install-postgresql >/dev/null
	$(BIN)/python -m music_pipeline_tools.rehearsal $(ARGS)

bench: $(STAMP) $(NODE_STAMP)  ## benchmarks at the issue-15 sizes (about 45-50 min on 2 cores) -> benchmarks/RESULTS.md; ARGS=--quick for a small run
	$(BIN)/python -m benchmarks $(ARGS)

lint: $(STAMP)  ## ruff (lint + format check), sqlfluff over the SQL files, pyright (standard mode, 0 errors), dg check defs
	$(BIN)/ruff check music_pipeline music_pipeline_tools music_pipeline_tests benchmarks scripts
	$(BIN)/ruff format --check music_pipeline music_pipeline_tools music_pipeline_tests benchmarks scripts
	$(BIN)/sqlfluff lint music_pipeline
	$(BIN)/pyright
	$(BIN)/dg check defs

clean:  ## the local state: lake, DynamoDB tables, Dagster instance
	rm -rf .data .dagster_home
