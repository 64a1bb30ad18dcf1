"""Row order of the files runs write (ADR 0039): a SQL query's ORDER BY is kept in the table's file, a query
without one is written as DuckDB's threads produce it in row groups of half the default size (about half the
writer's memory), a Python pipeline's rows keep its table's order, and ``preserve_insertion_order`` keeps
every order."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from rat_jupyter.core import engine, fastwrite
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, run_one

N = 200_000  # more than three row groups of UNORDERED_ROW_GROUP_ROWS: the writer threads all have work
DEFAULT_ROW_GROUP = 122_880  # DuckDB's


def _file(ws: Workspace, ns: str, name: str) -> pq.ParquetFile:
    table = ws.catalog.load(PipelineId(ns, "silver", name))
    (data,) = fastwrite.live_files(table, "main").data
    local = fastwrite.local_path(data.file_path)
    assert local is not None
    return pq.ParquetFile(local)


def _inversions(values: list[int]) -> int:
    return sum(1 for a, b in pairwise(values) if b < a)


def test_a_query_with_order_by_keeps_its_order_in_the_table_file(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "sorted",
                  f"SELECT i::BIGINT AS id, (hash(i) // 2)::BIGINT AS h FROM range({N}) t(i)\nORDER BY h")
    run = run_one(workspace, ns, "silver", "sorted")
    assert run.status == "success", run.error
    f = _file(workspace, ns, "sorted")
    h = f.read(columns=["h"]).column("h").to_pylist()
    assert len(h) == N and _inversions(h) == 0
    assert f.metadata.row_group(0).num_rows == DEFAULT_ROW_GROUP  # the ordered writer's layout


def test_a_query_without_order_by_is_written_in_half_size_row_groups(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "plain", f"SELECT i::BIGINT AS id, i % 7 AS k FROM range({N}) t(i)")
    run = run_one(workspace, ns, "silver", "plain")
    assert run.status == "success", run.error
    f = _file(workspace, ns, "plain")
    sizes = [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)]
    assert sum(sizes) == N and max(sizes) == fastwrite.UNORDERED_ROW_GROUP_ROWS
    assert sorted(f.read(columns=["id"]).column("id").to_pylist()) == list(range(N))  # every row, once
    got = workspace.query(f"SELECT count(*) AS n, sum(k) AS k FROM {ns}.silver.plain")["rows"]
    assert got == [{"n": N, "k": sum(i % 7 for i in range(N))}]


def test_a_python_pipeline_keeps_the_order_of_its_table(workspace: Workspace, ns: str) -> None:
    code = ("# @merge_strategy: full_refresh\n"
            f"result = pa.table({{'id': pa.array(range({N}, 0, -1), pa.int64())}})\n")
    make_pipeline(workspace, ns, "silver", "py", code, type="python")
    run = run_one(workspace, ns, "silver", "py")
    assert run.status == "success", run.error
    ids = _file(workspace, ns, "py").read(columns=["id"]).column("id").to_pylist()
    assert ids == list(range(N, 0, -1))


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """RAT's session set-up with four threads, whatever the machine: enough writers to reorder rows."""
    base = engine.connect(Settings(data_dir=tmp_path), extensions=(), config={"threads": 4})
    yield base
    base.close()


SORTED = f"SELECT (hash(i) // 2)::BIGINT AS h FROM range({3 * N}) t(i) ORDER BY h"


def _h(conn: duckdb.DuckDBPyConnection, path: str) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT h FROM read_parquet('{path}', file_row_number = true) "
                                       "ORDER BY file_row_number").fetchall()]


def test_staging_keeps_an_order_by_that_the_unordered_copy_would_lose(conn: duckdb.DuckDBPyConnection,
                                                                      tmp_path: Path) -> None:
    staged = fastwrite.stage(conn, tmp_path.as_uri(), {"h": 1}, SORTED, "r1", engine.WriteOptions("V2"))
    assert staged.local is not None and _inversions(_h(conn, staged.local)) == 0
    # what the rule guards against: the unordered COPY drops even an ORDER BY's order
    out = str(tmp_path / "unordered.parquet")
    assert fastwrite._copy(conn, SORTED, out, {"h": 1}, "V2", ordered=False) == 3 * N
    assert _inversions(_h(conn, out)) > 0


@pytest.mark.parametrize(("sql", "ordered"), [
    ("SELECT * FROM t", False),
    ("SELECT * FROM t\nORDER  BY x DESC", True),
    ("select * from t order\n by x", True),
    ("SELECT row_number() OVER (ORDER BY x) AS n FROM t", True),  # a window's order counts too
    ("SELECT * FROM t -- sorted by the reader\n", False),
    ("SELECT x AS border_by FROM t", False),
])
def test_what_keeps_order(sql: str, ordered: bool) -> None:
    assert fastwrite.keeps_order(sql, engine.WriteOptions("V2")) is ordered
    assert fastwrite.keeps_order(sql, engine.WriteOptions.of(Settings(preserve_insertion_order=True))) is True
    assert engine.WriteOptions.of(Settings()).preserve_order is False
