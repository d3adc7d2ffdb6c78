# Two commands on a fresh machine: `make demo` (pipeline end to end on sample data) and
# `make test` (the test suite). Both create .venv and install what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test dev check bench clean lint-infra

$(STAMP): pyproject.toml requirements.lock
	@command -v java >/dev/null 2>&1 || bash .ci/install-java
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## generate sample data, materialize every layer, print top lists read back from DynamoDB
	$(BIN)/music-pipeline demo

test: $(STAMP)  ## the whole test suite (real Parquet, DuckDB, Spark, moto)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

check: $(STAMP)  ## CI: sample days through the whole graph with every asset check; fails on any ERROR check
	$(BIN)/music-pipeline check

lint-infra:  ## CI: cfn-lint + checkov over infra/*.yaml (own venv .venv-lint, pinned in requirements-lint.lock), zero findings
	bash .ci/lint-infra

dev: $(STAMP)  ## the Dagster UI against the local stack
	$(BIN)/music-pipeline dev

bench: $(STAMP)  ## benchmarks at the documented sizes (<30 min on 2 cores) -> benchmarks/RESULTS.md; ARGS=--quick for a small run
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf .data .dagster_home
