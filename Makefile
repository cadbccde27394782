# Targets of the hub; `make help` lists them. Everything runs from a local virtual environment
# that the first target needing it creates, so a fresh clone needs only Python >= 3.11 and make.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MDM_DATABASE_URL ?= sqlite:///var/mdm.db
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/mdm_check

.PHONY: help install run load serve test unit integration lint format typecheck contracts migrations-check bench-ingest bench-quality bench-samples bench-scale bench-hub bench-hierarchy bench-api clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install the hub with its dev tools

run: install ## set up the SQLite hub, load and match every sample source, print a summary, serve the API
	$(BIN)/mdm db upgrade
	$(BIN)/mdm load-samples
	$(BIN)/mdm serve

load: install ## like run, without serving
	$(BIN)/mdm db upgrade
	$(BIN)/mdm load-samples

serve: install ## serve the HTTP API on MDM_API_HOST:MDM_API_PORT (127.0.0.1:8000)
	$(BIN)/mdm serve

test: install ## run the whole test suite (unit, doctests, integration on SQLite and PostgreSQL)
	$(BIN)/pytest --doctest-modules mdm matching hierarchy tests

unit: install ## the tests that need no database
	$(BIN)/pytest --doctest-modules mdm matching hierarchy tests/unit

integration: install ## integration tests on SQLite and PostgreSQL
	$(BIN)/pytest tests/integration

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy, strict
	$(BIN)/mypy

contracts: install ## import-direction contracts
	$(BIN)/lint-imports

migrations-check: install ## migrate a scratch SQLite file and PostgreSQL database, compare with the models
	rm -f var/migration-check.db
	$(BIN)/mdm --database-url sqlite:///var/migration-check.db db upgrade
	$(BIN)/mdm --database-url sqlite:///var/migration-check.db db check
	$(BIN)/python -m mdm.devtools recreate-database $(PG_URL)
	$(BIN)/mdm --database-url $(PG_URL) db upgrade
	$(BIN)/mdm --database-url $(PG_URL) db check
	$(BIN)/mdm --database-url $(PG_URL) db downgrade base

bench-ingest: install ## ingest benchmark (1M records into SQLite and PostgreSQL)
	$(BIN)/python benchmarks/ingest.py

bench-quality: install ## Febrl 3 and 4 matched by the library and by Splink
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/quality.py

bench-samples: install ## golden-record F1 on the sample sources
	$(BIN)/python benchmarks/samples_quality.py

bench-scale: install ## 1M generated customers: the library against Splink
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/scale.py

bench-hub: install ## 1M customers loaded end to end into PostgreSQL, against Splink
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/hub_load.py

bench-hierarchy: install ## 1.1M accounts in hierarchies: build time and query latencies
	$(BIN)/python benchmarks/hierarchy_queries.py

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

bench-api: install ## the HTTP API under load over 1M golden records (mdm serve --workers 2, 8 clients)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/api.py
