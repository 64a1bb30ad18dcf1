# rat-jupyter — the single entry point. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.rat
PORT ?= 8888
STAMP := $(VENV)/.installed

.PHONY: help setup run test test-deps lint bench demo clean

help: ## Show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dev]"
	$(BIN)/python -m rat_jupyter.kernel install --sys-prefix
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the package with everything it needs

demo: setup ## Seed the demo namespace and run it once
	RAT_DATA_DIR=$(DATA_DIR) $(BIN)/python -m rat_jupyter.demo --data-dir $(DATA_DIR)

run: demo ## Install, seed the demo, and start JupyterLab with the extension (embedded default)
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT)/lab  (RAT portal: /rat/, API: /rat/api/v1/health)"
	RAT_DATA_DIR=$(DATA_DIR) $(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) \
		--ServerApp.root_dir=$(CURDIR) --RatApp.data_dir=$(DATA_DIR) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test-deps: ## System packages the tests use (a real PostgreSQL server); needs root or sudo
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q postgresql; }

test: setup test-deps ## Install what the tests need and run every test with coverage
	$(BIN)/python -m pytest -p no:cacheprovider --cov=rat_jupyter --cov-report=term --cov-report=xml:coverage.xml tests

lint: setup ## ruff (lint + import order)
	$(BIN)/ruff check rat_jupyter tests $(wildcard bench)

bench: setup ## Run the benchmarks and write bench/results.md
	bash bench/setup_dbt.sh
	$(BIN)/python bench/bench_dag.py --rounds 5
	$(BIN)/python bench/bench_rest.py
	$(BIN)/python bench/bench_kernel.py
	$(BIN)/python bench/bench_scheduler.py

clean: ## Remove the virtual environment, demo data and build outputs
	rm -rf $(VENV) .rat build dist coverage.xml .coverage*
