"""The RAT SQL kernel, started for real with jupyter_client from its installed kernelspec."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from rat_jupyter.kernel.display import DATARESOURCE
from rat_jupyter.kernel.session import NotebookSession
from tests.kernel.conftest import CLEAN_SQL, REVENUE_SQL, Seeded

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def kernelspecs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Install the kernelspec with the install command into a temp prefix, found through JUPYTER_PATH."""
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    done = subprocess.run([sys.executable, "-m", "rat_jupyter.kernel", "install", "--prefix", str(prefix)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        ksm = KernelSpecManager()
        spec = ksm.get_kernel_spec("rat_sql")  # resolves kernel_dirs while JUPYTER_PATH is set
    assert Path(spec.resource_dir).is_relative_to(prefix)
    return ksm


@contextmanager
def running_kernel(seeded: Seeded, kernelspecs: KernelSpecManager
                   ) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A real RAT SQL kernel on the seeded data dir, shut down afterwards."""
    km = KernelManager(kernel_name="rat_sql", kernel_spec_manager=kernelspecs)
    km.start_kernel(env=seeded.env())
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield km, client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kc(seeded: Seeded, kernelspecs: KernelSpecManager) -> Iterator[BlockingKernelClient]:
    with running_kernel(seeded, kernelspecs) as (_km, client):
        yield client


def execute(kc: BlockingKernelClient, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a cell; return the reply content and the iopub output messages it produced."""
    outputs: list[dict[str, Any]] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("execute_result", "display_data", "stream", "error"):
            outputs.append(msg)

    reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
    return reply["content"], outputs


def result_of(kc: BlockingKernelClient, code: str) -> dict[str, Any]:
    reply, outputs = execute(kc, code)
    assert reply["status"] == "ok", reply
    results = [m["content"]["data"] for m in outputs if m["msg_type"] == "execute_result"]
    assert len(results) == 1, outputs
    return results[0]


def rows_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return bundle[DATARESOURCE]["data"]


def error_of(kc: BlockingKernelClient, code: str) -> dict[str, Any]:
    reply, outputs = execute(kc, code)
    assert reply["status"] == "error", reply
    (err,) = [m["content"] for m in outputs if m["msg_type"] == "error"]
    return err


# -- the kernel -------------------------------------------------------------------------------------------
def test_kernelspec_and_kernel_info(kernelspecs: KernelSpecManager, kc: BlockingKernelClient) -> None:
    spec = kernelspecs.get_kernel_spec("rat_sql")
    assert spec.display_name == "RAT SQL" and spec.language == "sql"
    assert spec.argv == ["python", "-m", "rat_jupyter.kernel", "-f", "{connection_file}"]
    shipped = json.loads((Path(__file__).parents[2] / "rat_jupyter/kernel/kernelspec/kernel.json").read_text())
    assert shipped["argv"] == spec.argv
    info = kc.kernel_info(reply=True, timeout=30)["content"]
    assert info["implementation"] == "rat_sql"
    assert info["language_info"]["name"] == "sql"
    assert info["language_info"]["file_extension"] == ".sql"
    assert info["language_info"]["codemirror_mode"] == "sql"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first chunk, right after the 8-byte signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_kernelspec_installs_its_own_icon(kernelspecs: KernelSpecManager) -> None:
    """The launcher shows the kernel's logo: a rat and the word RAT, never a bare "R" (the R kernel's mark)."""
    folder = Path(kernelspecs.get_kernel_spec("rat_sql").resource_dir)
    assert png_size((folder / "logo-32x32.png").read_bytes()) == (32, 32)
    assert png_size((folder / "logo-64x64.png").read_bytes()) == (64, 64)
    svg = ET.fromstring((folder / "logo-svg.svg").read_text())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 64 64"
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.findtext("s:title", namespaces=ns) == "RAT SQL"
    assert [t.text for t in svg.iterfind(".//s:text", ns)] == ["RAT"]
    # jupyter_server lists a kernelspec's resources from the logo-* files of its folder
    assert {p.name for p in folder.iterdir()} >= {"kernel.json", "logo-svg.svg", "logo-32x32.png", "logo-64x64.png"}


def test_ref_cell_shows_html_text_and_data_resource_with_types_and_row_count(kc: BlockingKernelClient) -> None:
    bundle = result_of(kc, "SELECT id, customer, amount\nFROM {{ ref('silver.orders_clean') }}\nORDER BY id")
    assert {"text/html", "text/plain", DATARESOURCE} <= set(bundle)
    html = bundle["text/html"]
    for text in ("id", "customer", "amount", "BIGINT", "VARCHAR", "DOUBLE", "16 rows, 3 columns"):
        assert text in html
    assert "BIGINT" in bundle["text/plain"] and "16 rows" in bundle["text/plain"]
    resource = bundle[DATARESOURCE]
    assert [f["name"] for f in resource["schema"]["fields"]] == ["id", "customer", "amount"]
    assert [f["type"] for f in resource["schema"]["fields"]] == ["integer", "string", "number"]
    assert rows_of(bundle)[0] == {"id": 5, "customer": "carol", "amount": 12.5}


def test_refs_across_namespaces_and_namespace_directives(kc: BlockingKernelClient) -> None:
    bundle = result_of(kc, "SELECT count(*) AS n FROM {{ ref('zoo.bronze.animals') }}")
    assert rows_of(bundle) == [{"n": 3}]
    reply, outputs = execute(kc, "%namespace zoo")
    assert reply["status"] == "ok"
    assert "namespace: zoo" in "".join(m["content"].get("text", "") for m in outputs)
    assert rows_of(result_of(kc, "SELECT animal FROM {{ ref('bronze.animals') }} WHERE id = 2")) == [{"animal": "fox"}]
    bundle = result_of(kc, "-- @namespace: analytics\nSELECT count(*) AS n FROM {{ ref('gold.revenue') }}")
    assert rows_of(bundle) == [{"n": 3}]
    # The annotation sets the namespace for later cells too, like %namespace.
    assert rows_of(result_of(kc, "SELECT count(*) AS n FROM {{ ref('bronze.orders') }}")) == [{"n": 20}]


def test_last_result_and_named_results_are_tables_for_later_cells(kc: BlockingKernelClient) -> None:
    result_of(kc, "-- @name: big_orders\nSELECT * FROM {{ ref('silver.orders_clean') }} WHERE amount >= 40")
    assert rows_of(result_of(kc, "SELECT count(*) AS n, min(id) AS first FROM _")) == [{"n": 5, "first": 16}]
    assert rows_of(result_of(kc, "SELECT n * 10 AS m FROM _")) == [{"m": 50}]
    bundle = result_of(kc, "SELECT customer, count(*) AS n FROM big_orders GROUP BY customer ORDER BY customer")
    assert rows_of(bundle) == [{"customer": "alice", "n": 1}, {"customer": "bob", "n": 2},
                               {"customer": "carol", "n": 2}]
    assert "stored as" not in bundle["text/html"]
    _, outputs = execute(kc, "%name doubled\nSELECT 2 * n AS n2 FROM _")
    assert "stored as doubled" in outputs[-1]["content"]["data"]["text/html"]
    assert rows_of(result_of(kc, "SELECT min(n2) AS m, count(*) AS c FROM doubled")) == [{"m": 2, "c": 3}]


def test_display_limit_keeps_the_full_result(kc: BlockingKernelClient) -> None:
    bundle = result_of(kc, "-- @limit: 3\nSELECT * FROM range(1000) t(i)")
    assert len(rows_of(bundle)) == 3
    assert "1,000 rows, 1 column" in bundle["text/html"] and "showing the first 3" in bundle["text/html"]
    assert rows_of(result_of(kc, "SELECT count(*) AS n FROM _")) == [{"n": 1000}]
    result_of(kc, "%limit 4\nSELECT 1")  # %limit sets the default for later cells
    assert len(rows_of(result_of(kc, "SELECT * FROM range(10)"))) == 4
    result_of(kc, "%limit 50\nSELECT 1")


def test_errors_are_short_with_the_line_and_a_suggestion(kc: BlockingKernelClient) -> None:
    err = error_of(kc, "-- @namespace: analytics\nSELECT *\nFROM {{ ref('silver.orders_clen') }}")
    assert "line 3" in err["evalue"]
    assert "did you mean 'silver.orders_clean'" in err["evalue"]
    assert len(err["traceback"]) == 1 and "Traceback" not in err["traceback"][0]
    err = error_of(kc, "SELECT id,\n       amout\nFROM {{ ref('silver.orders_clean') }}")
    assert err["ename"] == "BinderError"
    assert "amout" in err["evalue"] and "(line 2)" in err["evalue"]
    assert len(err["evalue"].splitlines()) == 1
    err = error_of(kc, "SELECT 1\nFROM {{ this }}")
    assert "only defined inside a pipeline" in err["evalue"] and "line 2" in err["evalue"]
    err = error_of(kc, "SELECT 1;\n\nSELEC 2")
    assert err["ename"] == "ParserError" and "(line 3)" in err["evalue"]
    err = error_of(kc, "%namespace zo")
    assert "did you mean 'zoo'" in err["evalue"]


def test_this_annotation_runs_a_quality_test_in_a_cell(kc: BlockingKernelClient) -> None:
    """``-- @this: layer.name`` makes ``{{ this }}`` a pipeline's table, so a test's SQL runs unchanged."""
    test_sql = "-- @severity: error\nSELECT * FROM {{ this }} WHERE amount <= 20"
    bundle = result_of(kc, "-- @namespace: analytics\n-- @this: silver.orders_clean\n" + test_sql)
    assert sorted(r["id"] for r in rows_of(bundle)) == [5, 6, 7, 8]  # amounts 12.5 .. 20.0: the violations
    bundle = result_of(kc, "-- @this: analytics.silver.orders_clean\nSELECT count(*) AS n FROM {{ this }}")
    assert rows_of(bundle) == [{"n": 16}]
    err = error_of(kc, "-- @namespace: analytics\n-- @this: silver.orders_clen\nSELECT * FROM {{ this }}")
    assert err["ename"] == "NotFound" and "line 2" in err["evalue"], err
    assert "did you mean 'silver.orders_clean'" in err["evalue"]
    err = error_of(kc, "-- @this: not a ref\nSELECT 1")
    assert err["ename"] == "UsageError" and err["evalue"].startswith("-- @this: "), err


def test_statements_without_rows_report_and_keep_the_last_result(kc: BlockingKernelClient) -> None:
    result_of(kc, "SELECT 7 AS seven")
    reply, outputs = execute(kc, "CREATE TEMP TABLE scratch AS SELECT * FROM range(3) t(i);\nINSERT INTO scratch "
                                 "VALUES (9)")
    assert reply["status"] == "ok"
    assert "1 row affected" in "".join(m["content"].get("text", "") for m in outputs)
    assert rows_of(result_of(kc, "SELECT seven FROM _")) == [{"seven": 7}]
    reply, outputs = execute(kc, "-- only a comment")
    assert reply["status"] == "ok" and outputs == []


def test_completion_of_tables_refs_and_columns(kc: BlockingKernelClient) -> None:
    def complete(code: str, pos: int | None = None) -> list[str]:
        reply = kc.complete(code, len(code) if pos is None else pos, reply=True, timeout=30)["content"]
        assert reply["status"] == "ok"
        return reply["matches"]

    execute(kc, "%namespace analytics")
    assert complete("SELECT * FROM analytics.sil") == ["analytics.silver.orders_clean"]
    assert "zoo.bronze.animals" in complete("SELECT * FROM zo")
    assert complete("SELECT * FROM {{ ref('silver.") == ["silver.orders_clean"]
    assert "zoo.bronze.animals" in complete("SELECT * FROM {{ ref('zoo")
    code = "SELECT cus, am FROM {{ ref('silver.orders_clean') }}"
    assert complete(code, len("SELECT cus")) == ["customer"]
    assert complete(code, len("SELECT cus, am")) == ["amount"]
    assert complete("SELECT o.ord FROM analytics.bronze.orders o", len("SELECT o.ord")) == ["o.ordered_at"]
    result_of(kc, "-- @name: picked\nSELECT 1 AS chosen_value")
    assert complete("SELECT chos FROM picked", len("SELECT chos")) == ["chosen_value"]
    assert "picked" in complete("SELECT * FROM pic")


def test_a_cell_compiles_exactly_like_the_pipeline_with_the_same_text(seeded: Seeded,
                                                                       kc: BlockingKernelClient) -> None:
    session = NotebookSession(seeded.settings(), namespace="analytics")
    try:
        for key, source in (("analytics.gold.revenue", REVENUE_SQL), ("analytics.silver.orders_clean", CLEAN_SQL)):
            compiled = session.compile(source)
            assert compiled.strip() == seeded.compiled[key]
        assert '"analytics"."silver"."orders_clean"' in session.compile(REVENUE_SQL)
    finally:
        session.close()
    execute(kc, "%namespace analytics")
    _, outputs = execute(kc, "%compile\n" + REVENUE_SQL)
    (shown,) = [m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "display_data"]
    assert shown == seeded.compiled["analytics.gold.revenue"]
    # Running the same text in a cell gives the rows the pipeline wrote.
    rows = rows_of(result_of(kc, REVENUE_SQL + "ORDER BY customer"))
    assert [r["customer"] for r in rows] == ["alice", "bob", "carol"]
    assert sum(r["orders"] for r in rows) == 16


def test_default_namespace_follows_rat_namespace(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    session = NotebookSession(seeded.settings())
    try:
        assert session.namespace == "analytics"  # the first namespace
    finally:
        session.close()
    monkeypatch.setenv("RAT_NAMESPACE", "zoo")
    session = NotebookSession(seeded.settings())
    try:
        assert session.namespace == "zoo"
        assert session.run("SELECT count(*) AS n FROM {{ ref('bronze.animals') }}").table.to_pylist() == [{"n": 3}]
    finally:
        session.close()


def test_a_reopened_session_rebuilds_its_views(seeded: Seeded) -> None:
    session = NotebookSession(seeded.settings(), namespace="analytics")
    try:
        assert session.run("SELECT count(*) AS n FROM {{ ref('bronze.orders') }}").table.to_pylist() == [{"n": 20}]
        session.close()
        assert session.run("SELECT count(*) AS n FROM analytics.bronze.orders").table.to_pylist() == [{"n": 20}]
    finally:
        session.close()


def test_interrupt_stops_a_long_query_and_the_kernel_keeps_working(seeded: Seeded,
                                                                   kernelspecs: KernelSpecManager) -> None:
    import time

    with running_kernel(seeded, kernelspecs) as (km, client):
        msg_id = client.execute("SELECT sum(a.range * b.range) AS s FROM range(400000) a, range(400000) b")
        while True:  # the kernel has taken the cell …
            msg = client.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                    and msg["content"]["execution_state"] == "busy":
                break
        time.sleep(2.0)  # … and the query is running (it takes minutes when not interrupted)
        started = time.monotonic()
        km.interrupt_kernel()
        # wait_for_ready sends kernel_info again while a kernel is slow to start: skip any late reply to it
        reply = client.get_shell_msg(timeout=30)
        while reply["parent_header"]["msg_id"] != msg_id:
            assert reply["msg_type"] == "kernel_info_reply", reply
            reply = client.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        assert time.monotonic() - started < 10
        again = client.execute_interactive("SELECT 1 AS one", timeout=60)
        assert again["content"]["status"] == "ok"
