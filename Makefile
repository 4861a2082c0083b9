# propensity: two commands on a fresh machine with Python 3.11.
#   make demo   generate demo data, build everything, export an audience
#   make test   lint (sqlfluff, ruff) and run every test

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CUSTOMERS ?= 20000
DEMO_SEED ?= 42

export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install demo test lint format bench clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "propensity needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/propensity demo --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED)

lint: $(STAMP)
	$(BIN)/ruff check python tests/python bench models
	$(BIN)/ruff format --check python tests/python bench models
	mkdir -p target
	PROPENSITY_WAREHOUSE=$(CURDIR)/target/lint.duckdb $(BIN)/sqlfluff lint models tests/dbt

format: $(STAMP)
	$(BIN)/ruff format python tests/python bench models
	$(BIN)/ruff check --fix python tests/python bench models
	PROPENSITY_WAREHOUSE=$(CURDIR)/target/lint.duckdb $(BIN)/sqlfluff fix models tests/dbt

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py --customers 1000000

clean:
	rm -rf $(VENV) target logs warehouse data artifacts exports reports
