"""What a ``ref()`` costs a run: an upstream table's snapshot is read as its data files, listed once per
worker, instead of DuckDB's ``iceberg_scan`` re-reading the table's metadata each time the query is bound
(three times a run). Counted in kind (views, file listings), not timed; the rows read are the table's rows,
and any table a plain Parquet read would not return exactly (an evolved schema) keeps ``iceberg_scan``.
"""

from __future__ import annotations

from typing import Any

import pytest

from rat_jupyter.core import engine, runner
from rat_jupyter.core.reporter import ListReporter
from rat_jupyter.core.runner import CancelToken, Session
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, run_one


def _view_sql(session: Session, ns: str, layer: str, name: str) -> str:
    row = session.conn.execute("SELECT sql FROM duckdb_views() WHERE database_name = ? AND schema_name = ? "
                               "AND view_name = ?", [ns, layer, name]).fetchone()
    assert row is not None
    return str(row[0])


def _read(ws: Workspace, ns: str, layer: str, name: str) -> tuple[str, list[tuple]]:
    session = Session(ws.settings, ws.pid(ns, "gold", "reader"), ns)
    try:
        sql = session.resolve_ref(ws.pid(ns, layer, name))
        rows = session.conn.execute(f"SELECT * FROM {sql} ORDER BY ALL").fetchall()
        return _view_sql(session, ns, layer, name), rows
    finally:
        session.close()


def test_an_upstream_is_read_as_its_files_listed_once_per_snapshot(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a",
                  "-- @merge_strategy: full_refresh\nSELECT range AS id, 'x' || range AS label FROM range(5)")
    assert run_one(workspace, ns, "bronze", "a").status == "success"
    planned = runner._Files.planned
    view, rows = _read(workspace, ns, "bronze", "a")
    assert "read_parquet" in view and "iceberg_scan" not in view
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "a"))
    assert rows == sorted(tuple(r.values()) for r in table.scan().to_arrow().to_pylist())
    assert runner._Files.planned == planned + 1
    assert _read(workspace, ns, "bronze", "a")[1] == rows
    assert runner._Files.planned == planned + 1  # the same snapshot: its files are not listed again

    republish(workspace, ns, "bronze", "a",
              "-- @merge_strategy: full_refresh\nSELECT range AS id, 'y' || range AS label FROM range(3)")
    assert run_one(workspace, ns, "bronze", "a").status == "success"  # another process commits
    view, rows = _read(workspace, ns, "bronze", "a")
    assert rows == [(0, "y0"), (1, "y1"), (2, "y2")]  # the new snapshot, never the cached files
    assert runner._Files.planned == planned + 2


def test_an_evolved_table_keeps_iceberg_scan(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "e", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(2)")
    assert run_one(workspace, ns, "bronze", "e").status == "success"
    republish(workspace, ns, "bronze", "e",
              "-- @merge_strategy: full_refresh\nSELECT range AS id, range * 10 AS v FROM range(2)")
    assert run_one(workspace, ns, "bronze", "e").status == "success"
    assert len(workspace.catalog.load(workspace.pid(ns, "bronze", "e")).metadata.schemas) > 1
    view, rows = _read(workspace, ns, "bronze", "e")
    assert "iceberg_scan" in view
    assert rows == [(0, 0), (1, 10)]


@pytest.fixture
def views(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    seen = {"iceberg_scan": 0, "files": 0}
    table_view, parquet_view = engine.register_table_view, engine.register_parquet_view

    def counting_table(*args: Any, **kwargs: Any) -> None:
        seen["iceberg_scan"] += 1
        table_view(*args, **kwargs)

    def counting_parquet(*args: Any, **kwargs: Any) -> None:
        seen["files"] += 1
        parquet_view(*args, **kwargs)

    monkeypatch.setattr(engine, "register_table_view", counting_table)
    monkeypatch.setattr(engine, "register_parquet_view", counting_parquet)
    return seen


def test_a_mid_dag_run_reads_its_refs_without_table_metadata(workspace: Workspace, ns: str,
                                                             views: dict[str, int]) -> None:
    make_pipeline(workspace, ns, "bronze", "o", "SELECT range AS id, range % 3 AS c FROM range(100)")
    make_pipeline(workspace, ns, "bronze", "c", "SELECT range AS c, 'c' || range AS name FROM range(3)")
    make_pipeline(workspace, ns, "gold", "g",
                  "SELECT c.name, count(*) AS n FROM {{ ref('bronze.o') }} o JOIN {{ ref('bronze.c') }} c "
                  "USING (c) GROUP BY ALL")
    for name in ("o", "c"):
        assert run_one(workspace, ns, "bronze", name).status == "success"
    assert run_one(workspace, ns, "gold", "g").status == "success"
    pid = workspace.pid(ns, "gold", "g")
    files, _ = workspace.published_files(pid)
    planned = None
    for i in range(3):
        views.update(iceberg_scan=0, files=0)
        outcome = runner.execute_run(workspace.settings, f"refcost{i}", pid, files, ListReporter(), CancelToken())
        assert outcome.status == "success", outcome.error
        assert views == {"iceberg_scan": 0, "files": 3}  # both refs and its own table from their files
        if planned is None:
            planned = runner._Files.planned
        # upstreams unchanged: their files are not listed again; nor is its own table's snapshot after the
        # first run: the previous run made it in this process and recorded its one file (ADR 0030)
        assert runner._Files.planned == planned
    got = workspace.catalog.load(pid).scan().to_arrow().sort_by("name").to_pylist()
    assert got == [{"name": "c0", "n": 34}, {"name": "c1", "n": 33}, {"name": "c2", "n": 33}]


def test_a_table_with_delete_files_keeps_iceberg_scan(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
    make_pipeline(workspace, ns, "bronze", "u", header + "SELECT range AS id, 'a' AS v FROM range(100)")
    assert run_one(workspace, ns, "bronze", "u").status == "success"
    republish(workspace, ns, "bronze", "u", header + "SELECT range AS id, 'b' AS v FROM range(98, 102)")
    assert run_one(workspace, ns, "bronze", "u").status == "success"  # replaces ids 98, 99: a delete file
    snap = workspace.catalog.load(workspace.pid(ns, "bronze", "u")).metadata.snapshot_by_name("main")
    assert snap.summary.additional_properties.get("total-delete-files") != "0"
    view, rows = _read(workspace, ns, "bronze", "u")
    assert "iceberg_scan" in view  # a plain read of the files would return the replaced rows too
    assert len(rows) == 102 and rows[97:] == [(97, "a"), (98, "b"), (99, "b"), (100, "b"), (101, "b")]
