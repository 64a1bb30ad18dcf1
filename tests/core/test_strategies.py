"""Every merge strategy, on two successive runs with changed input, with exact table contents."""

from __future__ import annotations

from datetime import date

import pytest

from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one

pytestmark = pytest.mark.both_profiles


def values(*rows_: tuple) -> str:
    body = ", ".join("(" + ", ".join(repr(v) for v in r) + ")" for r in rows_)
    return f"SELECT * FROM (VALUES {body}) AS t(id, v)"


def two_runs(ws: Workspace, ns: str, header: str, first: str, second: str) -> tuple:
    make_pipeline(ws, ns, "silver", "t", header + first)
    r1 = run_one(ws, ns, "silver", "t")
    assert r1.status == "success", r1.error
    republish(ws, ns, "silver", "t", header + second)
    r2 = run_one(ws, ns, "silver", "t")
    assert r2.status == "success", r2.error
    return r1, r2


def test_full_refresh_replaces_the_whole_table(workspace: Workspace, ns: str) -> None:
    r1, r2 = two_runs(workspace, ns, "-- @merge_strategy: full_refresh\n",
                      values((1, "a"), (2, "b")), values((2, "B"), (3, "c")))
    assert rows(workspace, ns, "silver", "t") == [(2, "B"), (3, "c")]
    assert (r1.rows_written, r2.rows_written) == (2, 2)


def test_incremental_upserts_on_the_unique_key_and_keeps_the_last_duplicate(workspace: Workspace, ns: str) -> None:
    r1, r2 = two_runs(workspace, ns, "-- @merge_strategy: incremental\n-- @unique_key: id\n",
                      values((1, "a"), (2, "b")), values((2, "B"), (2, "B2"), (3, "c")))
    assert rows(workspace, ns, "silver", "t") == [(1, "a"), (2, "B2"), (3, "c")]
    assert (r1.rows_written, r2.rows_written) == (2, 2)


def test_incremental_with_a_composite_key(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id, k\n"
    first = "SELECT * FROM (VALUES (1, 'x', 10), (1, 'y', 20)) t(id, k, n)"
    make_pipeline(workspace, ns, "silver", "t", header + first)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", header + "SELECT * FROM (VALUES (1, 'y', 21), (2, 'x', 30)) t(id, k, n)")
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert rows(workspace, ns, "silver", "t") == [(1, "x", 10), (1, "y", 21), (2, "x", 30)]
    assert r2.rows_written == 2


def test_append_only_appends_every_run(workspace: Workspace, ns: str) -> None:
    r1, r2 = two_runs(workspace, ns, "-- @merge_strategy: append_only\n",
                      values((1, "a"), (2, "b")), values((2, "B"), (3, "c")))
    assert rows(workspace, ns, "silver", "t") == [(1, "a"), (2, "B"), (2, "b"), (3, "c")]
    assert (r1.rows_written, r2.rows_written) == (2, 2)


def test_delete_insert_replaces_keys_without_dedup(workspace: Workspace, ns: str) -> None:
    r1, r2 = two_runs(workspace, ns, "-- @merge_strategy: delete_insert\n-- @unique_key: id\n",
                      values((1, "a"), (2, "b")), values((2, "B"), (2, "B2"), (3, "c")))
    assert rows(workspace, ns, "silver", "t") == [(1, "a"), (2, "B"), (2, "B2"), (3, "c")]
    assert (r1.rows_written, r2.rows_written) == (2, 3)


def test_snapshot_replaces_only_the_partitions_present(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: snapshot\n-- @partition_column: p\n"
    make_pipeline(workspace, ns, "silver", "t",
                  header + "SELECT * FROM (VALUES (1, 'x'), (1, 'y'), (2, 'z')) AS t(p, v)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", header + "SELECT * FROM (VALUES (2, 'w'), (3, 'q')) AS t(p, v)")
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert rows(workspace, ns, "silver", "t") == [(1, "x"), (1, "y"), (2, "w"), (3, "q")]
    assert r2.rows_written == 2


def test_scd2_adds_versions_only_for_changed_rows(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: scd2\n-- @unique_key: id\n"
    make_pipeline(workspace, ns, "silver", "t", header + values((1, "a"), (2, "b")))
    r1 = run_one(workspace, ns, "silver", "t")
    assert r1.status == "success", r1.error
    assert r1.rows_written == 2
    # same input again: nothing changes, no new versions
    republish(workspace, ns, "silver", "t", header + values((1, "a"), (2, "b")) + " ")
    r_same = run_one(workspace, ns, "silver", "t")
    assert r_same.status == "success", r_same.error
    assert r_same.rows_written == 0
    table = workspace.read_table(ns, "silver", "t").to_pylist()
    assert len(table) == 2 and all(r["valid_to"] is None for r in table)
    first_from = {r["id"]: r["valid_from"] for r in table}

    republish(workspace, ns, "silver", "t", header + values((1, "a"), (2, "B"), (3, "c")))
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert r2.rows_written == 2  # a new version of 2 and the new key 3
    table = workspace.read_table(ns, "silver", "t").to_pylist()
    by = sorted((r["id"], r["v"], r["valid_to"] is None) for r in table)
    assert by == [(1, "a", True), (2, "B", True), (2, "b", False), (3, "c", True)]
    one = next(r for r in table if r["id"] == 1)
    assert one["valid_from"] == first_from[1]  # unchanged key keeps its original version
    closed = next(r for r in table if r["id"] == 2 and r["v"] == "b")
    opened = next(r for r in table if r["id"] == 2 and r["v"] == "B")
    assert closed["valid_to"] == opened["valid_from"]


def test_is_incremental_is_false_on_the_first_run_and_true_after(workspace: Workspace, ns: str) -> None:
    sql = ("-- @merge_strategy: append_only\n"
           "SELECT {{ 'true' if is_incremental() else 'false' }} AS inc, "
           "'{{ watermark_value }}' AS wm, {{ run_started_at is string }} AS has_ts")
    make_pipeline(workspace, ns, "silver", "t", sql)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    assert run_one(workspace, ns, "silver", "t").status == "success"
    assert rows(workspace, ns, "silver", "t") == [(False, "None", True), (True, "None", True)]


def test_watermark_value_is_the_max_of_the_watermark_column(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: ts\n"
    body = ("SELECT * FROM (VALUES (1, 5), (2, 7), (3, 9)) t(id, ts) "
            "{% if is_incremental() %}WHERE ts > {{ watermark_value }}{% endif %}")
    make_pipeline(workspace, ns, "silver", "t", header + "SELECT * FROM (VALUES (1, 5), (2, 7)) t(id, ts)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", header + body)
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert r2.rows_written == 1  # only ts=9 is newer than the watermark 7
    assert rows(workspace, ns, "silver", "t") == [(1, 5), (2, 7), (3, 9)]


def test_new_columns_are_added_to_the_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS id")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", "SELECT 2 AS id, 'x' AS extra")
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert rows(workspace, ns, "silver", "t") == [(2, "x")]


def test_python_pipeline_returns_an_arrow_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "src", "SELECT 1 AS id UNION ALL SELECT 2")
    assert run_one(workspace, ns, "bronze", "src").status == "success"
    code = (
        "# @merge_strategy: full_refresh\n"
        "src = duckdb_conn.sql(f\"SELECT id * 10 AS id FROM {ref('bronze.src')}\").to_arrow_table()\n"
        "log(f'got {src.num_rows} rows')\n"
        "result = src\n"
    )
    make_pipeline(workspace, ns, "silver", "py", code, type="python")
    run = run_one(workspace, ns, "silver", "py")
    assert run.status == "success", run.error
    assert rows(workspace, ns, "silver", "py") == [(10,), (20,)]
    logs = [entry["message"] for entry in workspace.run_logs(run.id)["logs"]]
    assert "got 2 rows" in logs


def test_python_pipeline_error_names_the_line(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "py", "x = 1\ny = 1 / 0\nresult = None\n", type="python")
    run = run_one(workspace, ns, "silver", "py")
    assert run.status == "failed"
    assert "line 2" in run.error and "ZeroDivisionError" in run.error


def test_python_pipeline_without_result_fails_clearly(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "py", "x = 1\n", type="python")
    run = run_one(workspace, ns, "silver", "py")
    assert run.status == "failed"
    assert "result" in run.error


def test_full_refresh_with_fewer_columns_keeps_the_table_readable(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS id, 'x' AS extra")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", "SELECT 2 AS id")
    r2 = run_one(workspace, ns, "silver", "t")
    assert r2.status == "success", r2.error
    assert rows(workspace, ns, "silver", "t") == [(2, None)]


def test_types_outside_the_fast_path_still_write_through_arrow(workspace: Workspace, ns: str) -> None:
    sql = ("SELECT 1::SMALLINT AS s, 2::UTINYINT AS u, [1, 2] AS l, {'a': 1} AS st, "
           "sum(i)::HUGEINT AS h FROM range(3) t(i)")
    make_pipeline(workspace, ns, "silver", "t", sql)
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    assert workspace.read_table(ns, "silver", "t").to_pylist() == [
        {"s": 1, "u": 2, "l": [1, 2], "st": {"a": 1}, "h": 3}]


def test_partition_by_creates_a_partitioned_table(workspace: Workspace, ns: str) -> None:
    sql = ("SELECT * FROM (VALUES (1, DATE '2026-01-01', 'eu'), (2, DATE '2026-01-02', 'us')) t(id, d, region)")
    workspace.create_pipeline(ns, "silver", "p", source=sql,
                              config={"partition_by": [{"column": "d", "transform": "day"}, "region"]})
    workspace.publish_pipeline(ns, "silver", "p")
    for _ in range(2):
        run = run_one(workspace, ns, "silver", "p")
        assert run.status == "success", run.error
    table = workspace.catalog.load(workspace.pid(ns, "silver", "p"))
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("d_day", "day"), ("region_identity",
                                                                                          "identity")]
    assert rows(workspace, ns, "silver", "p") == [(1, date(2026, 1, 1), "eu"), (2, date(2026, 1, 2), "us")]
    assert len(table.inspect.files()) >= 2  # one data file per partition
