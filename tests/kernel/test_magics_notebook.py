"""A notebook using the ``%rat`` magics, executed end to end by nbclient in a real IPython kernel."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from rat_jupyter.core.workspace import Workspace
from rat_jupyter.kernel.display import DATARESOURCE
from rat_jupyter.kernel.frontdoor import LOCAL_NOTICE
from tests.kernel.conftest import Seeded

pytestmark = pytest.mark.timeout(180)

MORE_ORDERS = "SELECT i AS id, 'dave' AS customer, CAST(i * 2.5 AS DOUBLE) AS amount, " \
              "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) DAY AS ordered_at FROM range(1, 31) AS t(i)\n"

CELLS: list[tuple[str, str]] = [
    ("load", "%load_ext rat_jupyter.kernel\n%config RatMagics.workers = 1\n%config RatMagics.display_limit = 5"),
    ("cell_sql", "%%rat sql --out clean\nSELECT id, customer, amount\nFROM {{ ref('silver.orders_clean') }}\n"
                 "ORDER BY id"),
    ("check_out", "assert type(clean).__name__ == 'DataFrame', type(clean)\nprint(len(clean), list(clean.columns))"),
    ("line_sql", "df = %rat sql SELECT count(*) AS n FROM {{ ref('silver.orders_clean') }}\nprint(int(df['n'][0]))"),
    ("namespace_option", "%%rat sql --namespace zoo\nSELECT animal FROM {{ ref('bronze.animals') }} ORDER BY id"),
    ("last_result", "df = %rat sql SELECT * FROM _\nprint(list(df['animal']))"),
    ("error", "%%rat sql\nSELECT *\nFROM {{ ref('silver.orders_clen') }}"),
    ("edit", "from rat_jupyter.core.settings import Settings\nfrom rat_jupyter.core.workspace import Workspace\n"
             "with Workspace.open(Settings(), server=False) as w:\n"
             f"    w.write_file('analytics/pipelines/bronze/orders/pipeline.sql', {MORE_ORDERS!r})"),
    ("publish", "%rat publish bronze.orders -m 'thirty orders'"),
    ("run", "runs = %rat run analytics.bronze.orders+"),
    ("workers", "import pathlib\n_rat = get_ipython().magics_manager.registry['RatMagics']\n"
                "_pids = _rat.workspace.pool.worker_pids()\n"
                "_ign = [int(line.split()[1], 16) & 2 for p in _pids for line in "
                "pathlib.Path(f'/proc/{p}/status').read_text().splitlines() if line.startswith('SigIgn:')]\n"
                "print(bool(_pids) and len(_ign) == len(_pids) and all(_ign))"),
    ("check_run", "print([(r.name, r.status) for r in runs])\nassert all(r.status == 'success' for r in runs)"),
    ("fresh", "df = %rat sql SELECT count(*) AS n FROM {{ ref('silver.orders_clean') }}\nprint(int(df['n'][0]))"),
    ("ls", "%rat ls analytics"),
    ("lineage", "%rat lineage analytics"),
    ("preview", "%rat preview analytics.silver.orders_clean --limit 3"),
    ("tests", "%rat tests analytics.silver.orders_clean"),
    ("arrow", "%config RatMagics.output = 'arrow'\nimport pyarrow as pa\nt = %rat sql SELECT 1 AS x\n"
              "assert isinstance(t, pa.Table), type(t)\nprint(t.num_rows)"),
    ("unknown", "%rat frobnicate"),
]


def outputs_by_cell(nb: Any) -> dict[str, list[dict[str, Any]]]:
    return {cell.metadata["name"]: cell.outputs for cell in nb.cells}


def text_of(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(seeded: Seeded) -> dict[str, list[dict[str, Any]]]:
    nb = new_notebook()
    for name, source in CELLS:
        cell = new_code_cell(source, metadata={"name": name})
        if name == "error":
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    client = NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=60)
    client.execute(env=seeded.env())
    return outputs_by_cell(nb)


def test_sql_magics_show_tables_and_return_dataframes(executed: dict[str, list[dict[str, Any]]]) -> None:
    (shown,) = [o for o in executed["cell_sql"] if o["output_type"] == "display_data"]
    data = shown["data"]
    assert {"text/html", "text/plain", DATARESOURCE} <= set(data)
    assert "16 rows, 3 columns" in data["text/html"] and "showing the first 5" in data["text/html"]
    assert "BIGINT" in data["text/html"] and "stored as clean" in data["text/html"]
    assert len(data[DATARESOURCE]["data"]) == 5
    assert "16 ['id', 'customer', 'amount']" in text_of(executed["check_out"])
    assert LOCAL_NOTICE in text_of(executed["cell_sql"])  # no server: the first %rat says it runs locally
    assert text_of(executed["line_sql"]).strip() == "16"
    assert "fox" in executed["namespace_option"][0]["data"]["text/html"]
    assert text_of(executed["last_result"]).strip() == "['owl', 'fox', 'lynx']"
    assert text_of(executed["arrow"]).strip() == "1"


def test_sql_errors_are_one_line_with_line_number_and_suggestion(executed: dict[str, list[dict[str, Any]]]) -> None:
    (err,) = executed["error"]
    assert err["output_type"] == "error"
    assert "did you mean 'silver.orders_clean'" in err["evalue"] and "line 2" in err["evalue"]
    assert len(err["traceback"]) == 1 and "Traceback" not in err["traceback"][0]


def test_run_shows_progress_and_logs_and_lands_in_run_history(seeded: Seeded,
                                                              executed: dict[str, list[dict[str, Any]]]) -> None:
    assert "Published analytics.bronze.orders as version 2" in text_of(executed["publish"])
    out = executed["run"]
    logs = "".join(o["text"] for o in out if o["output_type"] == "stream")
    assert "[bronze.orders] info  Running analytics.bronze.orders" in logs
    assert "[silver.orders_clean]" in logs and "Quality test 'positive_amount'" in logs
    assert "Compiled SQL" not in logs  # debug lines only with --verbose
    bars = [o for o in out if o["output_type"] == "display_data"]
    assert bars and "runs" in bars[0]["data"]["text/html"]
    assert "('revenue', 'success')" in text_of(executed["check_run"])
    # Jupyter interrupts a kernel with SIGINT to its process group: the workers ignore it and survive.
    assert text_of(executed["workers"]).strip() == "True"
    # 30 new orders, of which ids 5..30 pass the silver filter: the next cell already sees them.
    assert text_of(executed["fresh"]).strip() == "26"
    with Workspace.open(seeded.settings(), server=False) as ws:
        runs, _ = ws.list_runs(namespace="analytics")
        notebook_runs = [r for r in runs if r["trigger"] == "notebook"]
        assert sorted(r["name"] for r in notebook_runs) == ["orders", "orders_clean", "revenue"]
        assert {r["status"] for r in notebook_runs} == {"success"}


def test_listing_lineage_preview_and_tests(executed: dict[str, list[dict[str, Any]]]) -> None:
    (ls,) = [o for o in executed["ls"] if o["output_type"] == "execute_result"]
    html = ls["data"]["text/html"]
    for text in ("analytics.bronze.orders", "analytics.gold.revenue", "silver", "sql", "success", "3 pipeline(s)"):
        assert text in html
    (picture,) = [o for o in executed["lineage"] if o["output_type"] == "execute_result"]
    svg = picture["data"]["image/svg+xml"]
    assert svg.lstrip().startswith("<svg") and "bronze.orders" in svg and "gold.revenue" in svg
    assert "#1a7f37" in svg  # coloured by the latest run: success
    (preview,) = [o for o in executed["preview"] if o["output_type"] == "execute_result"]
    assert len(preview["data"][DATARESOURCE]["data"]) == 3
    assert "26 rows" in preview["data"]["text/html"]
    (tests,) = [o for o in executed["tests"] if o["output_type"] == "execute_result"]
    assert "positive_amount" in tests["data"]["text/html"] and "1 passed, 0 failed of 1" in tests["data"]["text/html"]
    assert "unknown subcommand 'frobnicate'" in text_of(executed["unknown"])
    assert "%rat run SELECTION" in text_of(executed["unknown"])
