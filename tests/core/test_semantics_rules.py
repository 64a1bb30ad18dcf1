"""One test per rule of docs/strategies.md (keys, batches, watermarks, deletes, snapshots, previews, errors)."""

from __future__ import annotations

import pytest

from rat_jupyter.core.errors import Invalid
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one

pytestmark = pytest.mark.both_profiles

BOX = ("│", "┃", "─", "━", "╭", "┏", "Traceback")


def vals(cols: str, *data: tuple) -> str:
    body = ", ".join("(" + ", ".join("NULL" if v is None else repr(v) for v in r) + ")" for r in data)
    return f"SELECT * FROM (VALUES {body}) AS t({cols})"


def table_rows(ws: Workspace, ns: str, name: str) -> list[tuple]:
    return sorted((tuple(r.values()) for r in ws.read_table(ns, "silver", name).to_pylist()), key=repr)


def runs(ws: Workspace, ns: str, header: str, *bodies: str, name: str = "t") -> list:
    out = []
    for i, body in enumerate(bodies):
        if i == 0:
            make_pipeline(ws, ns, "silver", name, header + body)
        else:
            republish(ws, ns, "silver", name, header + body + " " * i)
        out.append(run_one(ws, ns, "silver", name))
    return out


def assert_clean_error(error: str, *needles: str) -> None:
    assert error, "the run should have failed"
    for needle in needles:
        assert needle in error, (needle, error)
    assert not any(mark in error for mark in BOX), error
    assert error.count(". ") <= 3 and len(error) < 600, error


# ---------------------------------------------------------------------------------------------- NULL keys

def test_null_keys_are_rejected_by_default_naming_the_pipeline_and_key(workspace: Workspace, ns: str) -> None:
    for strategy in ("incremental", "delete_insert", "scd2"):
        header = f"-- @merge_strategy: {strategy}\n-- @unique_key: id\n"
        (run,) = runs(workspace, ns, header, vals("id, v", (1, "a"), (None, "b")), name=strategy)
        assert run.status == "failed"
        assert_clean_error(run.error, f"{ns}.silver.{strategy}", "'id'", "null_keys: allow", "1 result row")
        assert workspace.catalog.load(workspace.pid(ns, "silver", strategy)) is None


def test_null_keys_allowed_are_one_value_for_single_and_composite_keys(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @null_keys: allow\n"
    r = runs(workspace, ns, header, vals("id, v", (1, "a"), (None, "b"), (None, "c")),
             vals("id, v", (None, "d"), (2, "e")))
    assert [x.status for x in r] == ["success", "success"], [x.error for x in r]
    assert table_rows(workspace, ns, "t") == sorted([(1, "a"), (None, "d"), (2, "e")], key=repr)

    header = "-- @merge_strategy: incremental\n-- @unique_key: id, k\n-- @null_keys: allow\n"
    r = runs(workspace, ns, header, vals("id, k, v", (1, None, "a"), (1, "x", "b")),
             "SELECT 1 AS id, NULL::VARCHAR AS k, 'c' AS v", name="c")
    assert [x.status for x in r] == ["success", "success"], [x.error for x in r]
    assert table_rows(workspace, ns, "c") == sorted([(1, None, "c"), (1, "x", "b")], key=repr)

    header = "-- @merge_strategy: delete_insert\n-- @unique_key: id\n-- @null_keys: allow\n"
    r = runs(workspace, ns, header, vals("id, v", (None, "a"), (None, "b")), vals("id, v", (None, "c")), name="d")
    assert [x.status for x in r] == ["success", "success"]
    assert table_rows(workspace, ns, "d") == [(None, "c")]


# ------------------------------------------------------------------------------------ batches, tie-break

def test_duplicates_in_a_batch_are_broken_by_watermark_then_whole_row(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: ts\n"
    # newest ts wins; on equal ts the greatest row wins — whatever the order in the batch
    first = vals("id, ts, v", (1, 5, "late"), (1, 9, "b"), (1, 9, "a"), (2, 1, "x"), (2, None, "z"))
    (r,) = runs(workspace, ns, header, first)
    assert r.status == "success", r.error
    assert rows(workspace, ns, "silver", "t") == [(1, 9, "b"), (2, 1, "x")]
    assert r.rows_written == 2
    header2 = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
    (r,) = runs(workspace, ns, header2, vals("id, v", (1, "b"), (1, "c"), (1, "a")), name="n")
    assert rows(workspace, ns, "silver", "n") == [(1, "c")]


def test_scd2_dedups_and_delete_insert_keeps_every_batch_row(workspace: Workspace, ns: str) -> None:
    (r,) = runs(workspace, ns, "-- @merge_strategy: scd2\n-- @unique_key: id\n",
                vals("id, v", (1, "a"), (1, "b")))
    assert r.status == "success" and r.rows_written == 1
    assert rows(workspace, ns, "silver", "t", drop=("valid_from", "valid_to")) == [(1, "b")]
    (r,) = runs(workspace, ns, "-- @merge_strategy: delete_insert\n-- @unique_key: id\n",
                vals("id, v", (1, "a"), (1, "b")), name="d")
    assert r.rows_written == 2 and rows(workspace, ns, "silver", "d") == [(1, "a"), (1, "b")]


# ----------------------------------------------------------------------------------------------- deletes

def test_hard_deletes_delete_for_incremental_and_invalidate_for_scd2(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @hard_deletes: delete\n"
    r = runs(workspace, ns, header, vals("id, v", (1, "a"), (2, "b")), vals("id, v", (2, "B")))
    assert [x.status for x in r] == ["success", "success"]
    assert rows(workspace, ns, "silver", "t") == [(2, "B")]

    header = "-- @merge_strategy: scd2\n-- @unique_key: id\n-- @hard_deletes: invalidate\n"
    r = runs(workspace, ns, header, vals("id, v", (1, "a"), (2, "b")), vals("id, v", (2, "b")),
             vals("id, v", (1, "a"), (2, "b")), name="s")
    assert [x.status for x in r] == ["success"] * 3, [x.error for x in r]
    table = workspace.read_table(ns, "silver", "s").to_pylist()
    one = sorted((x["valid_to"] is None, x["valid_from"]) for x in table if x["id"] == 1)
    assert [open_ for open_, _ in one] == [False, True]  # closed by the delete, re-opened when it came back
    assert sum(1 for x in table if x["id"] == 2) == 1  # unchanged key: never closed


def test_hard_deletes_ignore_keeps_keys_and_bad_values_are_config_errors(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
    runs(workspace, ns, header, vals("id, v", (1, "a"), (2, "b")), vals("id, v", (2, "B")))
    assert rows(workspace, ns, "silver", "t") == [(1, "a"), (2, "B")]
    with pytest.raises(Invalid, match="invalidate"):
        make_pipeline(workspace, ns, "silver", "bad",
                      "-- @merge_strategy: scd2\n-- @unique_key: id\n-- @hard_deletes: delete\nSELECT 1 AS id")


# ----------------------------------------------------------------------------------------------- snapshots

def test_every_strategy_commits_one_snapshot_and_time_travel_gives_the_previous_table(
        workspace: Workspace, ns: str) -> None:
    cases = {
        "full_refresh": "", "append_only": "", "incremental": "-- @unique_key: id\n",
        "delete_insert": "-- @unique_key: id\n", "snapshot": "-- @partition_column: id\n",
        "scd2": "-- @unique_key: id\n",
    }
    for strategy, extra in cases.items():
        header = f"-- @merge_strategy: {strategy}\n{extra}"
        runs(workspace, ns, header, vals("id, v", (1, "a"), (2, "b")), name=strategy)
        pid = workspace.pid(ns, "silver", strategy)
        before = workspace.catalog.load(pid)
        first = before.metadata.current_snapshot_id
        previous = sorted(before.scan().to_arrow().to_pylist(), key=repr)
        republish(workspace, ns, "silver", strategy, header + vals("id, v", (2, "B"), (3, "c")))
        r = run_one(workspace, ns, "silver", strategy)
        assert r.status == "success", (strategy, r.error)
        table = workspace.catalog.load(pid)
        snap = table.metadata.snapshot_by_id(table.metadata.current_snapshot_id)
        assert snap.parent_snapshot_id == first, strategy  # exactly one new snapshot
        old = sorted(table.scan(snapshot_id=snap.parent_snapshot_id).to_arrow().to_pylist(), key=repr)
        assert old == previous, strategy
        if strategy == "full_refresh":
            assert snap.summary.operation.value == "overwrite"


# ---------------------------------------------------------------------------------------------- watermarks

def test_readme_watermark_pattern_survives_a_first_run_with_zero_rows(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "src", "SELECT 1 AS id, TIMESTAMP '2026-01-01 10:00' AS ts LIMIT 0")
    assert run_one(workspace, ns, "bronze", "src").status == "success"
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: ts\n"
    body = ("SELECT id, ts FROM {{ ref('bronze.src') }}\n"
            "{% if is_incremental() %}WHERE ts >= TIMESTAMP '{{ watermark_value }}'{% endif %}")
    make_pipeline(workspace, ns, "silver", "t", header + body)
    assert run_one(workspace, ns, "silver", "t").status == "success"  # zero rows
    again = run_one(workspace, ns, "silver", "t")
    assert again.status == "success", again.error  # is_incremental() is false: no TIMESTAMP 'None'
    republish(workspace, ns, "bronze", "src", "SELECT * FROM (VALUES (1, TIMESTAMP '2026-01-01 10:00'), "
                                              "(2, TIMESTAMP '2026-01-01 11:00')) t(id, ts)")
    assert run_one(workspace, ns, "bronze", "src").status == "success"
    r = run_one(workspace, ns, "silver", "t")
    assert r.status == "success", r.error
    assert [x[0] for x in rows(workspace, ns, "silver", "t")] == [1, 2]
    # a late row with the same timestamp as the watermark is not lost with >=
    republish(workspace, ns, "bronze", "src", "SELECT * FROM (VALUES (1, TIMESTAMP '2026-01-01 10:00'), "
                                              "(2, TIMESTAMP '2026-01-01 11:00'), "
                                              "(3, TIMESTAMP '2026-01-01 11:00')) t(id, ts)")
    assert run_one(workspace, ns, "bronze", "src").status == "success"
    r = run_one(workspace, ns, "silver", "t")
    assert r.status == "success" and r.rows_written == 2  # ids 2 and 3 (the boundary re-read is an upsert)
    assert [x[0] for x in rows(workspace, ns, "silver", "t")] == [1, 2, 3]


def test_incremental_preview_says_it_is_incremental(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: ts\n"
    body = ("SELECT * FROM (VALUES (1, 5, 'a'), (2, 7, 'b'), (2, 8, 'c')) t(id, ts, v) "
            "{% if is_incremental() %}WHERE ts >= {{ watermark_value }}{% endif %}")
    make_pipeline(workspace, ns, "silver", "t", header + "SELECT 1 AS id, 6 AS ts, 'x' AS v")
    first = workspace.preview(ns, "silver", "t")
    assert first["is_incremental"] is False and first["watermark_value"] is None
    assert run_one(workspace, ns, "silver", "t").status == "success"
    workspace.write_file(f"{ns}/pipelines/silver/t/pipeline.sql", header + body)
    p = workspace.preview(ns, "silver", "t")
    assert p["error"] is None, p["error"]
    assert p["is_incremental"] is True and p["watermark_value"] == "6"
    assert "next run would merge" in p["note"]
    assert [r["id"] for r in p["rows"]] == [2] and p["rows"][0]["v"] == "c" and p["total_row_count"] == 1


# ------------------------------------------------------------------------------------------ config errors

def test_config_naming_a_missing_column_fails_naming_it(workspace: Workspace, ns: str) -> None:
    cases = {
        "uk": ("-- @merge_strategy: incremental\n-- @unique_key: idd\n", "unique_key column 'idd'"),
        "wm": ("-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: tss\n",
               "watermark_column column 'tss'"),
        "pc": ("-- @merge_strategy: snapshot\n-- @partition_column: pp\n", "partition_column column 'pp'"),
        "fr": ("-- @merge_strategy: append_only\n-- @watermark_column: nope\n", "watermark_column column 'nope'"),
    }
    for name, (header, needle) in cases.items():
        (r,) = runs(workspace, ns, header, "SELECT 1 AS id, 2 AS v", name=name)
        assert r.status == "failed"
        assert_clean_error(r.error, f"{ns}.silver.{name}", needle, "columns: id, v")
    workspace.create_pipeline(ns, "silver", "pb", source="SELECT 1 AS id",
                              config={"partition_by": [{"column": "day", "transform": "identity"}]})
    workspace.publish_pipeline(ns, "silver", "pb")
    r = run_one(workspace, ns, "silver", "pb")
    assert r.status == "failed"
    assert_clean_error(r.error, "partition_by column 'day'")


def test_quality_test_sql_accepts_trailing_comments_and_semicolons(workspace: Workspace, ns: str) -> None:
    tests = {"a": "SELECT * FROM {{ this }} WHERE v < 0; -- no negatives",
             "b": "SELECT * FROM {{ this }} WHERE v > 100 -- too big\n;\n/* done */",
             "c": "SELECT * FROM {{ this }} WHERE v::VARCHAR = '--;' -- a string that looks like a comment"}
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS id, 5 AS v;  -- trailing", tests=tests)
    r = run_one(workspace, ns, "silver", "t")
    assert r.status == "success", r.error
    assert [q["status"] for q in workspace.get_run(r.id)["quality"]] == ["pass", "pass", "pass"]


def test_partitioned_tables_upsert_and_replace_partitions_in_one_snapshot(workspace: Workspace, ns: str) -> None:
    for strategy, extra in (("incremental", {"unique_key": "id"}), ("snapshot", {"partition_column": "region"})):
        workspace.create_pipeline(ns, "silver", strategy, source=vals("id, region, v", (1, "eu", "a"), (2, "us", "b")),
                                  config={"merge_strategy": strategy, **extra,
                                          "partition_by": [{"column": "region", "transform": "identity"}]})
        workspace.publish_pipeline(ns, "silver", strategy)
        assert run_one(workspace, ns, "silver", strategy).status == "success"
        first = workspace.catalog.load(workspace.pid(ns, "silver", strategy)).metadata.current_snapshot_id
        republish(workspace, ns, "silver", strategy, vals("id, region, v", (2, "eu", "B"), (3, "eu", "c")))
        r = run_one(workspace, ns, "silver", strategy)
        assert r.status == "success", r.error
        table = workspace.catalog.load(workspace.pid(ns, "silver", strategy))
        assert table.metadata.snapshot_by_id(table.metadata.current_snapshot_id).parent_snapshot_id == first
        expected = {"incremental": [(1, "eu", "a"), (2, "eu", "B"), (3, "eu", "c")],
                    "snapshot": [(2, "eu", "B"), (2, "us", "b"), (3, "eu", "c")]}[strategy]
        assert rows(workspace, ns, "silver", strategy) == expected
