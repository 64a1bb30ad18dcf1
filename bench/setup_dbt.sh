#!/usr/bin/env bash
# Create the separate virtualenv that holds dbt-duckdb for bench/bench_dag.py.
# Idempotent: does nothing if bench/.venv-dbt already has a working dbt.
#
# dbt-core is capped below 1.12 because 1.12 pulls a dependency whose build
# step downloads from outside the package index. duckdb is pinned to the same
# version as the project venv so both sides run the same engine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-dbt"
PYTHON="${PYTHON:-python3}"

if [ -x "$venv/bin/dbt" ] && "$venv/bin/dbt" --version >/dev/null 2>&1; then
  echo "dbt venv already set up: $("$venv/bin/dbt" --version 2>/dev/null | grep -m1 -i 'installed' || true)"
  exit 0
fi

"$PYTHON" -m venv "$venv"
"$venv/bin/pip" install --quiet dbt-duckdb 'dbt-core<1.12' duckdb==1.5.5
"$venv/bin/dbt" --version
