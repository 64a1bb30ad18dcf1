"""A seeded lakehouse for the notebook tests: real pipelines, run by real workers, written as Iceberg tables.

Seeding closes its workspace (and worker process) before the tests start: kernels under test open their own
workspace on the same data directory, exactly as a kernel started by the Jupyter server would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline

ORDERS_SQL = """\
-- @merge_strategy: full_refresh
SELECT i AS id,
       ['alice', 'bob', 'carol'][1 + i % 3] AS customer,
       CAST(i * 2.5 AS DOUBLE) AS amount,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) DAY AS ordered_at
FROM range(1, 21) AS t(i)
"""
CLEAN_SQL = """\
SELECT id, customer, amount
FROM {{ ref('bronze.orders') }}
WHERE amount > 10
"""
REVENUE_SQL = """\
-- @merge_strategy: full_refresh
{% set measures = ['amount', 'id'] %}
SELECT customer,
       {% for m in measures %}sum({{ m }}) AS total_{{ m }}, {% endfor %}count(*) AS orders
FROM {{ ref('silver.orders_clean') }}
{% if is_incremental() %}WHERE id > 0{% endif %}
GROUP BY customer
"""
ANIMALS_SQL = "SELECT * FROM (VALUES (1, 'owl'), (2, 'fox'), (3, 'lynx')) AS t(id, animal)\n"
SOURCES = {
    "analytics.bronze.orders": ORDERS_SQL,
    "analytics.silver.orders_clean": CLEAN_SQL,
    "analytics.gold.revenue": REVENUE_SQL,
    "zoo.bronze.animals": ANIMALS_SQL,
}
COMPILED_PREFIX = "Compiled SQL:\n"


@dataclass
class Seeded:
    data_dir: Path
    compiled: dict[str, str] = field(default_factory=dict)  # pipeline -> compiled SQL its run logged

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a Jupyter server gives the kernels it starts (RAT_DATA_DIR set)."""
        env = {k: v for k, v in os.environ.items() if k != "RAT_NAMESPACE"}
        env["RAT_DATA_DIR"] = str(self.data_dir)
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, concurrency=1)


def seed(data_dir: Path) -> Seeded:
    out = Seeded(data_dir)
    ws = Workspace.open(Settings(data_dir=data_dir, concurrency=1), warm=True)
    try:
        assert ws.pool.wait_ready(120), "worker process did not start"
        ws.create_namespace("analytics")
        ws.create_namespace("zoo")
        tests = {"analytics.silver.orders_clean": {"positive_amount": "SELECT * FROM {{ this }} WHERE amount <= 0"}}
        for key, sql in SOURCES.items():
            ns, layer, name = key.split(".")
            make_pipeline(ws, ns, layer, name, sql, tests=tests.get(key))
        runs = ws.run_selection("analytics.bronze.orders+", wait=True, timeout=120)
        runs += ws.run_selection("zoo.bronze.animals", wait=True, timeout=120)
        assert [r.status for r in runs] == ["success"] * 4, [r.record for r in runs]
        for run in runs:
            logs: list[dict[str, Any]] = ws.run_logs(run.id)["logs"]
            message = next(e["message"] for e in logs if e["message"].startswith(COMPILED_PREFIX))
            out.compiled[f"{run.namespace}.{run.layer}.{run.name}"] = message[len(COMPILED_PREFIX):]
    finally:
        ws.close()
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield seed(tmp_path_factory.mktemp("rat-notebook"))


def text_of(outputs: list[dict[str, Any]]) -> str:
    """An executed cell's outputs as one text: its streams, its error as ``ename: evalue``, and the
    ``text/plain`` of its displays, each display on its own line."""
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}\n")
        elif "data" in out:
            parts.append(out["data"].get("text/plain", "") + "\n")
    return "".join(parts)
