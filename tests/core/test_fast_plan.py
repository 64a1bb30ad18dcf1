"""The fast path's plan (``fastwrite.plan``) reads a result's schema from its bound DuckDB types, without
executing it: the type table it uses must say what DuckDB's own Arrow export says, on RAT's connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from rat_jupyter.core import engine, fastwrite
from rat_jupyter.core.config import PipelineConfig
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.pipelines import PipelineSpec
from rat_jupyter.core.settings import Settings

EVERY_TYPE = ("SELECT 1::INTEGER AS a, 2::BIGINT AS b, 1.5::FLOAT AS c, 2.5::DOUBLE AS d, true AS e, 'x' AS f, "
              "DATE '2020-01-02' AS g, 'x'::BLOB AS h, TIMESTAMP '2020-01-02 03:04:05.123456' AS i, "
              "TIMESTAMPTZ '2020-01-02 03:04:05+02' AS j, 1.25::DECIMAL(12,2) AS k, 1.5::DECIMAL(38,10) AS l, "
              "0.5::DECIMAL(4,1) AS m, NULL::BIGINT AS n")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    base = engine.connect(Settings(data_dir=tmp_path), extensions=())  # RAT's session set-up (time zone UTC)
    yield base
    base.close()


def spec(strategy: str = "full_refresh") -> PipelineSpec:
    return PipelineSpec(PipelineId("ns", "silver", "t"), "sql", "", PipelineConfig(merge_strategy=strategy))


def test_the_type_table_is_what_duckdb_exports(conn: duckdb.DuckDBPyConnection) -> None:
    relation = conn.sql(EVERY_TYPE)
    exported = relation.limit(0).arrow().schema
    assert [fastwrite.arrow_of_duckdb(str(t)) for t in relation.types] == exported.types
    assert set(fastwrite._ARROW_OF_DUCKDB) <= {str(t) for t in relation.types}  # every entry is exercised


def test_the_planned_schema_is_the_executed_one(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    planned = fastwrite.plan(conn, spec(), EVERY_TYPE, tmp_path.as_uri(), first_load=False)
    assert planned is not None
    executed = conn.sql(EVERY_TYPE).arrow()
    assert planned == pa.schema([pa.field(f.name, f.type, nullable=True) for f in executed.schema])
    assert planned.names == list("abcdefghijklmn")


@pytest.mark.parametrize("sql", [
    "SELECT '{}'::JSON AS j",  # looks like a string in Arrow, written with its own logical type
    "SELECT uuid() AS u",
    "SELECT 'a'::ENUM('a', 'b') AS e",
    "SELECT 1::SMALLINT AS s",
    "SELECT [1, 2] AS l",
    "SELECT * FROM no_such_table",  # the real execution reports the error
])
def test_results_the_fast_path_does_not_take(conn: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str) -> None:
    assert fastwrite.plan(conn, spec(), sql, tmp_path.as_uri(), first_load=False) is None


def test_planning_does_not_execute_the_query(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """A query that fails only when it runs still plans: binding it is all the plan does."""
    sql = "SELECT error('ran')::VARCHAR AS v, 1::BIGINT AS id"
    with pytest.raises(duckdb.Error, match="ran"):
        conn.sql(sql).fetchall()
    planned = fastwrite.plan(conn, spec(), sql, tmp_path.as_uri(), first_load=False)
    assert planned is not None and planned.names == ["v", "id"]


def test_a_keyed_strategy_plans_only_its_first_load(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    sql = "SELECT 1::BIGINT AS id"
    assert fastwrite.plan(conn, spec("incremental"), sql, tmp_path.as_uri(), first_load=True) is not None
    assert fastwrite.plan(conn, spec("incremental"), sql, tmp_path.as_uri(), first_load=False) is None


def test_repeated_names_plan_as_the_copy_writes_them(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """The plan's names are the file's: ``SELECT *`` renames a repeated column, and so does the ``COPY``."""
    sql = "SELECT 1::BIGINT AS x, 2::BIGINT AS x"
    planned = fastwrite.plan(conn, spec(), sql, tmp_path.as_uri(), first_load=False)
    assert planned is not None and planned.names == ["x", "x_1"]
    staged = fastwrite.stage(conn, tmp_path.as_uri(), {"x": 1, "x_1": 2}, sql, "r1", engine.WriteOptions("V2"))
    assert conn.sql(f"SELECT * FROM {staged.relation}").columns == planned.names
