# rat-jupyter — the single entry point. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.rat
PORT ?= 8888
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-runtime
# The portal (Node at build time only): rebuilt when a source, the lockfile or a package.json changes.
NPM_STAMP := node_modules/.package-lock.json
UI_INDEX := rat_jupyter/portal_static/index.html
UI_SOURCES := $(shell find packages portal -name node_modules -prune -o -type f -print 2>/dev/null) \
	package.json openapi.json tsconfig.base.json
# The JupyterLab extension (prebuilt, shipped in the wheel as shared-data); linked into .venv for the dev install.
LAB_PKG := rat_jupyter/labextension/package.json
LAB_SOURCES := $(shell find packages labextension -name node_modules -prune -o -type f -print 2>/dev/null) \
	package.json openapi.json tsconfig.base.json
LAB_LINK := $(VENV)/share/jupyter/labextensions/rat-jupyter

.PHONY: help setup run test test-deps lint bench demo clean openapi ui lab up-scale down-scale

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(BIN)/python -m pip install -q -e ".[test,dev]"
	$(BIN)/python -m rat_jupyter.kernel install --sys-prefix
	@touch $(STAMP) $(RUN_STAMP)

# `make run` needs only the runtime and JupyterLab (not the test toolchain).
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(BIN)/python -m pip install -q -e ".[lab]"
	$(BIN)/python -m rat_jupyter.kernel install --sys-prefix
	@touch $(RUN_STAMP)

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund

$(UI_INDEX): $(NPM_STAMP) $(UI_SOURCES)
	npm run build -w @rat/portal

$(LAB_PKG): $(NPM_STAMP) $(LAB_SOURCES)
	PATH="$(CURDIR)/$(BIN):$$PATH" npm run build:prod -w rat-jupyter

# `jupyter labextension develop` for this layout: the editable install sees the build in place.
lab: $(LAB_PKG) ## Build the JupyterLab extension and link it into .venv (skipped when up to date)
	@mkdir -p $(dir $(LAB_LINK))
	@test -L $(LAB_LINK) || { rm -rf $(LAB_LINK); ln -s $(CURDIR)/rat_jupyter/labextension $(LAB_LINK); }

ui: $(UI_INDEX) lab ## Build the portal and the JupyterLab extension (npm ci + builds; skipped when up to date)

setup: $(STAMP) ui ## Create .venv, install the package with everything it needs, build the portal

demo: $(RUN_STAMP) ## Seed the demo namespace and run it once
	RAT_DATA_DIR=$(DATA_DIR) $(BIN)/python -m rat_jupyter.demo --data-dir $(DATA_DIR)

run: $(RUN_STAMP) ui demo ## Install the runtime, build the portal, seed the demo, start JupyterLab + the portal
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT)/lab  (RAT portal: /rat/, API: /rat/api/v1/health)"
	RAT_DATA_DIR=$(DATA_DIR) $(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) \
		--ServerApp.root_dir=$(CURDIR) --RatApp.data_dir=$(DATA_DIR) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# The scale profile on loopback (docs/deploy.md): PostgreSQL, SeaweedFS (S3 + Iceberg REST), Dask, JupyterLab.
SCALE_DIR ?= $(CURDIR)/.rat-scale

up-scale: $(STAMP) ui test-deps ## Start the scale profile (PostgreSQL, SeaweedFS, Dask, JupyterLab) in .rat-scale
	SCALE_DIR=$(SCALE_DIR) $(BIN)/python scripts/scale.py up

down-scale: ## Stop everything up-scale started
	SCALE_DIR=$(SCALE_DIR) $(BIN)/python scripts/scale.py down

test-deps: ## System packages the tests use (a real PostgreSQL server); needs root or sudo
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q postgresql; }
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

test: setup test-deps ## Install what the tests need and run every test with coverage (+ vitest, API drift)
	npm run check:api
	npm run typecheck
	npm test
	RAT_BROWSER_TESTS=required \
	$(BIN)/python -m pytest -p no:cacheprovider --cov=rat_jupyter --cov-report=term --cov-report=xml:coverage.xml tests

lint: setup ## ruff (lint + import order)
	$(BIN)/ruff check rat_jupyter tests $(wildcard bench)

openapi: setup ## Regenerate openapi.json from the API models (commit it; a test fails when it drifts)
	$(BIN)/python -m rat_jupyter.handlers.openapi openapi.json
	@if [ -d node_modules ]; then npm run gen:api; else echo "run npm ci, then npm run gen:api (client types)"; fi

bench: setup ## Run the benchmarks and write bench/results.md
	bash bench/setup_dbt.sh
	$(BIN)/python bench/bench_dag.py --rounds 5
	$(BIN)/python bench/bench_dag_scale.py
	$(BIN)/python bench/incremental.py
	$(BIN)/python bench/bench_rest.py
	$(BIN)/python bench/bench_kernel.py
	$(BIN)/python bench/bench_scheduler.py
	$(BIN)/python bench/bench_limits.py
	$(BIN)/python bench/bench_portal.py
	$(BIN)/python bench/bench_lab.py

clean: ## Remove the virtual environment, demo data and build outputs
	rm -rf $(VENV) .rat .rat-scale build dist coverage.xml .coverage* node_modules rat_jupyter/portal_static rat_jupyter/labextension
