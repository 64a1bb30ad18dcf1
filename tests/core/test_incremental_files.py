"""Keyed upserts change files in proportion to the change (ADR 0023): not timed, checked on the Iceberg
metadata itself — which files a run added and removed, and how many bytes it wrote."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DataFileContent

from rat_jupyter.core import engine, fastwrite
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one

HEADER = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
pytestmark = pytest.mark.both_profiles
# DuckDB's row-level write path (position deletes, files written by DuckDB) is taken on local and S3
# warehouses alike (ADR 0007, ADR 0023), so every file-level check here runs on both profiles.


def source(low: int, high: int, tag: str) -> str:
    """Rows ``low..high`` with a value that says which run wrote them."""
    return (f"SELECT i::BIGINT AS id, '{tag}' || i AS v, (i * 7) % 1000 AS n "
            f"FROM range({low}, {high + 1}) r(i)")


def table(ws: Workspace, ns: str) -> Any:
    return ws.catalog.load(PipelineId(ns, "silver", "t"))


def summary(ws: Workspace, ns: str) -> dict[str, str]:
    snap = table(ws, ns).current_snapshot()
    return dict(snap.summary.additional_properties, operation=str(snap.summary.operation))


def deleted_positions(ws: Workspace, ns: str) -> list[tuple[str, int]]:
    t = table(ws, ns)
    live = fastwrite.live_files(t, "main")
    out: list[tuple[str, int]] = []
    for f in live.deletes:
        with t.io.new_input(f.file_path).open() as stream:
            out += [(r["file_path"], r["pos"]) for r in pq.read_table(stream).to_pylist()]
    return out


def connect(ws: Workspace) -> duckdb.DuckDBPyConnection:
    """A DuckDB database opened the way a run opens one: the workspace's extensions, and on S3 its secret."""
    return engine.connect(ws.settings, extensions=engine.needed_extensions(ws.settings))


def upsert(ws: Workspace, ns: str, sql: str) -> Any:
    republish(ws, ns, "silver", "t", HEADER + sql)
    run = run_one(ws, ns, "silver", "t")
    assert run.status == "success", run.error
    return run


def test_an_upsert_of_one_key_touches_only_the_file_holding_it(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 5000, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    upsert(workspace, ns, source(5001, 10000, "b"))  # a second data file with keys 5001..10000
    files = {f.file_path: f for f in fastwrite.live_files(table(workspace, ns), "main").data}
    assert len(files) == 2
    before = set(files)

    upsert(workspace, ns, "SELECT 7500::BIGINT AS id, 'changed' AS v, 1 AS n")

    s = summary(workspace, ns)
    assert "deleted-data-files" not in s, s  # no data file was rewritten
    assert s["added-data-files"] == "1" and s["added-records"] == "1"
    assert s["added-position-deletes"] == "1" and s["added-delete-files"] == "1"
    (path, pos), = deleted_positions(workspace, ns)
    assert path in before
    assert files[path].lower_bounds is not None  # the deleted row is in the file whose keys are 5001..10000
    with table(workspace, ns).io.new_input(path).open() as stream:
        assert pq.read_table(stream).slice(pos, 1).column("id").to_pylist() == [7500]
    got = rows(workspace, ns, "silver", "t")
    assert len(got) == 10000
    assert (7500, "changed", 1) in got and (7499, "b7499", (7499 * 7) % 1000) in got


def test_storage_grows_with_the_change_not_the_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 50000, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    base = int(summary(workspace, ns)["total-files-size"])
    expected = {i: ("a" + str(i), (i * 7) % 1000) for i in range(1, 50001)}
    for run in range(4):  # 1% of the rows, spread over the whole key range, each run
        changed = [i for i in range(1 + run, 50001, 100)]
        upsert(workspace, ns, f"SELECT id::BIGINT AS id, 'r{run}-' || id AS v, {run} AS n "
                              f"FROM range({1 + run}, 50001, 100) r(id)")
        for i in changed:
            expected[i] = (f"r{run}-{i}", run)
        s = summary(workspace, ns)
        assert "deleted-data-files" not in s
        assert int(s["added-position-deletes"]) == len(changed)
        assert int(s["added-files-size"]) < 0.1 * base, (s["added-files-size"], base)
    assert rows(workspace, ns, "silver", "t") == sorted((i, v, n) for i, (v, n) in expected.items())
    # pyiceberg's reader applies the deletes too (the Python API and exports read through it)
    scanned = table(workspace, ns).scan().to_arrow()
    assert scanned.num_rows == 50000
    assert sorted(scanned.column("id").to_pylist()) == list(range(1, 50001))


def test_deletes_that_pile_up_are_compacted_away(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 1000, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    upsert(workspace, ns, source(1, 200, "b"))  # 20%: below the compaction threshold
    assert len(fastwrite.live_files(table(workspace, ns), "main").deletes) == 1
    upsert(workspace, ns, source(201, 400, "c"))  # 40% deleted: the run rewrites the table instead
    live = fastwrite.live_files(table(workspace, ns), "main")
    assert live.deletes == [] and len(live.data) == 1 and live.records == 1000
    s = summary(workspace, ns)
    assert s["deleted-data-files"] == "2" and s["removed-delete-files"] == "1"
    got = rows(workspace, ns, "silver", "t")
    tags = [v[0] for _, v, _ in got]
    assert (tags.count("a"), tags.count("b"), tags.count("c")) == (600, 200, 200)
    # DuckDB alone (no RAT code beyond opening it as a run does: httpfs and the S3 secret on S3) reads it
    conn = connect(workspace)
    t = table(workspace, ns)
    assert conn.execute(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{live.data[0].file_path}')"
                        ).fetchone() == (1000, 1000)
    assert t.scan().to_arrow().num_rows == 1000


def test_a_failed_upsert_leaves_main_and_its_files_as_they_were(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 1000, "a"),
                  tests={"no_bad": "SELECT * FROM {{ this }} WHERE v = 'bad'",
                         "one_row_per_key": "SELECT id FROM {{ this }} GROUP BY id HAVING count(*) > 1"})
    assert run_one(workspace, ns, "silver", "t").status == "success"
    before = table(workspace, ns)
    snap = before.current_snapshot().snapshot_id
    republish(workspace, ns, "silver", "t", HEADER + "SELECT 5::BIGINT AS id, 'bad' AS v, 0 AS n")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "failed" and "no_bad" in (run.error or "")
    after = table(workspace, ns)
    assert after.current_snapshot().snapshot_id == snap
    assert fastwrite.live_files(after, "main").deletes == []
    assert not [r for r in after.metadata.refs if r.startswith("rat-run-")]
    assert (5, "a5", 35) in rows(workspace, ns, "silver", "t")
    # the audit reads the run branch with its delete file applied: no key appears twice there
    upsert(workspace, ns, "SELECT 5::BIGINT AS id, 'good' AS v, 0 AS n")
    got = rows(workspace, ns, "silver", "t")
    assert (5, "good", 0) in got and len(got) == 1000
    assert len(fastwrite.live_files(table(workspace, ns), "main").deletes) == 1


def test_delete_insert_with_a_composite_key_and_null_keys(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: delete_insert\n-- @unique_key: id, k\n-- @null_keys: allow\n"
    filler = " UNION ALL SELECT i::INT, 'z', i::INT FROM range(100, 120) r(i)"  # keeps deletes below compaction
    make_pipeline(workspace, ns, "silver", "t", header + "SELECT * FROM (VALUES (1, 'x', 1), (1, NULL, 2), "
                                                        "(2, 'x', 3)) t(id, k, n)" + filler)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", header + "SELECT * FROM (VALUES (1, NULL, 20), (1, NULL, 21), "
                                                     "(3, 'y', 4)) t(id, k, n)")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    got = workspace.read_table(ns, "silver", "t").to_pylist()
    assert sorted(((r["id"], r["k"], r["n"]) for r in got), key=repr) == sorted(
        [(1, "x", 1), (1, None, 20), (1, None, 21), (2, "x", 3), (3, "y", 4)]
        + [(i, "z", i) for i in range(100, 120)], key=repr)
    s = summary(workspace, ns)
    assert s["added-position-deletes"] == "1" and "deleted-data-files" not in s
    assert all(f.content == DataFileContent.POSITION_DELETES
               for f in fastwrite.live_files(table(workspace, ns), "main").deletes)


def test_an_upsert_after_the_key_column_widened_finds_the_rows_of_older_files(workspace: Workspace,
                                                                              ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + "SELECT i::INT AS id, 'a' || i AS v FROM range(1, 1001) r(i)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    upsert(workspace, ns, "SELECT 5000000000::BIGINT AS id, 'big' AS v UNION ALL SELECT 7::BIGINT, 'seven'")
    assert str(table(workspace, ns).schema().find_field("id").field_type) == "long"
    upsert(workspace, ns, "SELECT 8::BIGINT AS id, 'eight' AS v")
    got = rows(workspace, ns, "silver", "t")
    assert len(got) == 1001
    assert (7, "seven") in got and (8, "eight") in got and (5000000000, "big") in got and (9, "a9") in got
    assert int(summary(workspace, ns)["total-position-deletes"]) == 2


def test_a_first_load_is_written_by_duckdb_straight_from_the_query(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 3000, "a"))
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    (data,) = fastwrite.live_files(table(workspace, ns), "main").data
    assert f"rat-{run.id}-" in data.file_path  # staged by the query's COPY, not written from Arrow
    assert run.rows_written == 3000


def test_a_first_load_with_repeated_keys_still_keeps_one_winner_per_key(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + "SELECT * FROM (VALUES (1, 'a', 1), (1, 'b', 1), "
                                                        "(2, 'c', 2)) t(id, v, n)")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    assert rows(workspace, ns, "silver", "t") == [(1, "b", 1), (2, "c", 2)]
    assert run.rows_written == 2


def test_a_first_load_with_null_keys_fails_and_creates_no_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", HEADER + "SELECT * FROM (VALUES (1, 'a'), (NULL, 'b')) t(id, v)")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "failed"
    assert "1 result row(s) have NULL in unique_key column 'id'" in (run.error or "")
    assert table(workspace, ns) is None


def test_the_repeated_key_check_agrees_with_a_group_by() -> None:
    import pyarrow as pa

    conn = duckdb.connect()
    cases: list[list[Any]] = [[1, 2, 3], [1, 2, 2], [None, 1], [None, None, 1], [5, 10**12], [5, 10**12, 5],
                              [-3, -1, -3], ["a", "b"], ["a", "a"], [], list(range(100000)),
                              [*range(100000), 99999]]
    for values in cases:
        conn.register("t", pa.table({"k": pa.array(values, pa.string() if values and isinstance(values[0], str)
                                                    else pa.int64())}))
        expected = conn.execute("SELECT count(*) = 0 FROM (SELECT k FROM t GROUP BY k HAVING count(*) > 1)"
                                ).fetchone()[0]
        assert fastwrite.keys_unique(conn, "t", ("k",)) is expected, values[:5]
    conn.register("t", pa.table({"a": [1, 1, None, None], "b": [1, 2, None, None]}))
    assert not fastwrite.keys_unique(conn, "t", ("a", "b"))


def test_row_counts_shown_leave_out_the_rows_delete_files_remove(workspace: Workspace, ns: str) -> None:
    """The table list and the history count the rows a reader sees, not the rows of the data files."""
    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 1000, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    upsert(workspace, ns, source(991, 1010, "b"))  # 10 rows replaced, 10 new
    assert int(summary(workspace, ns)["total-position-deletes"]) == 10
    (seen,) = workspace.query(f"SELECT count(*) AS n FROM {ns}.silver.t")["rows"]
    assert seen["n"] == 1010
    (listed,) = [t for t in workspace.list_tables() if t["namespace"] == ns and t["name"] == "t"]
    assert listed["row_count"] == 1010
    assert [h["total_records"] for h in workspace.table_history(ns, "silver", "t")] == [1010, 1000]


def test_replacing_the_whole_table_drops_its_delete_files_and_lists_the_manifests_once(
        workspace: Workspace, ns: str, monkeypatch: Any) -> None:
    from rat_jupyter.core import strategies

    make_pipeline(workspace, ns, "silver", "t", HEADER + source(1, 1000, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    upsert(workspace, ns, source(1, 10, "b"))
    assert len(fastwrite.live_files(table(workspace, ns), "main").deletes) == 1
    listings = []
    real = fastwrite.live_files
    monkeypatch.setattr(fastwrite, "live_files", lambda t, target: listings.append(target) or real(t, target))
    t = table(workspace, ns)
    new = t.scan(limit=3).to_arrow()
    write = engine.WriteOptions.of(workspace.settings)
    assert strategies.commit(t, new, "main", duckdb.connect(), write, delete_all=True)
    assert listings == ["main"]  # one listing serves both the data files and the delete files removed
    monkeypatch.undo()
    live = fastwrite.live_files(table(workspace, ns), "main")
    assert live.deletes == [] and live.records == 3
    s = summary(workspace, ns)
    assert s["removed-delete-files"] == "1" and s["total-position-deletes"] == "0"
    assert table(workspace, ns).scan().to_arrow().num_rows == 3

    listings.clear()  # a table without delete files: still one listing
    monkeypatch.setattr(fastwrite, "live_files", lambda t, target: listings.append(target) or real(t, target))
    assert strategies.commit(table(workspace, ns), new.slice(0, 2), "main", duckdb.connect(), write,
                             delete_all=True)
    assert listings == ["main"]
    monkeypatch.undo()
    assert table(workspace, ns).scan().to_arrow().num_rows == 2


def test_rows_duckdb_writes_go_through_the_runs_database(workspace: Workspace, ns: str, monkeypatch: Any) -> None:
    """An append writes its file on the run's connection (with its thread and memory settings), never on
    a database of its own."""
    from datetime import UTC, datetime

    from rat_jupyter.core import strategies
    from rat_jupyter.core.config import PipelineConfig

    make_pipeline(workspace, ns, "silver", "t", "-- @merge_strategy: append_only\n" + source(1, 5, "a"))
    assert run_one(workspace, ns, "silver", "t").status == "success"
    t = table(workspace, ns)
    conn = connect(workspace)
    assert fastwrite.row_level(t, conn)  # with the run's connection: on S3 too, through its secret
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: pytest.fail("commit opened a database of its own"))
    config = PipelineConfig(merge_strategy="append_only")
    result = strategies.apply(t, t.scan().to_arrow(), config, "main", conn, None, datetime.now(UTC),
                              write=engine.WriteOptions.of(workspace.settings))
    assert result.rows_written == 5
    monkeypatch.undo()
    assert table(workspace, ns).scan().to_arrow().num_rows == 10
