"""Schema changes (docs/strategies.md §4) and types (§5): widening, refusals, on_schema_change, scd2 history,
every Arrow/DuckDB type written or refused by name, Python results."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one
from tests.core.test_semantics_rules import assert_clean_error

pytestmark = pytest.mark.both_profiles


def two(ws: Workspace, ns: str, first: str, second: str, name: str = "t", header: str = "") -> object:
    make_pipeline(ws, ns, "silver", name, header + first)
    r1 = run_one(ws, ns, "silver", name)
    assert r1.status == "success", r1.error
    republish(ws, ns, "silver", name, header + second)
    return run_one(ws, ns, "silver", name)


def types_of(ws: Workspace, ns: str, name: str = "t") -> dict[str, str]:
    table = ws.catalog.load(ws.pid(ns, "silver", name))
    return {f.name: str(f.field_type) for f in table.schema().fields}


@pytest.mark.parametrize("strategy", ["full_refresh", "append_only", "incremental"])
def test_iceberg_type_widenings_are_applied(workspace: Workspace, ns: str, strategy: str) -> None:
    header = f"-- @merge_strategy: {strategy}\n-- @unique_key: id\n"
    r = two(workspace, ns, "SELECT 1 AS id, 1::INTEGER AS i, 1.5::FLOAT AS f, 1.25::DECIMAL(10, 2) AS d",
            "SELECT 2 AS id, 5000000000::BIGINT AS i, 2.5::DOUBLE AS f, 123456789.25::DECIMAL(12, 2) AS d",
            header=header)
    assert r.status == "success", r.error
    assert types_of(workspace, ns) == {"id": "int", "i": "long", "f": "double", "d": "decimal(12, 2)"}
    got = rows(workspace, ns, "silver", "t")
    assert (2, 5000000000, 2.5, Decimal("123456789.25")) in got
    if strategy != "full_refresh":
        assert (1, 1, 1.5, Decimal("1.25")) in got


def test_narrower_results_are_cast_up_and_other_changes_refused_cleanly(workspace: Workspace, ns: str) -> None:
    r = two(workspace, ns, "SELECT 1::BIGINT AS id, 1.5::DOUBLE AS f", "SELECT 2::INTEGER AS id, 2.5::FLOAT AS f",
            header="-- @merge_strategy: append_only\n")
    assert r.status == "success", r.error
    assert types_of(workspace, ns) == {"id": "long", "f": "double"}
    r = two(workspace, ns, "SELECT 1::BIGINT AS amount", "SELECT 'x' AS amount", name="n",
            header="-- @merge_strategy: append_only\n")
    assert r.status == "failed"
    assert_clean_error(r.error, f"{ns}.silver.n", "'amount'", "bigint", "varchar", "CAST(amount AS BIGINT)")
    r = two(workspace, ns, "SELECT 1.5::DECIMAL(10, 2) AS d", "SELECT 1.5::DECIMAL(10, 3) AS d", name="s")
    assert r.status == "failed"
    assert_clean_error(r.error, "'d'", "decimal(10, 2)", "decimal(10, 3)")


def test_on_schema_change_fail_and_sync_all_columns(workspace: Workspace, ns: str) -> None:
    r = two(workspace, ns, "SELECT 1 AS id, 'a' AS old", "SELECT 2 AS id, 'b' AS new",
            header="-- @merge_strategy: append_only\n-- @on_schema_change: fail\n")
    assert r.status == "failed"
    assert_clean_error(r.error, f"{ns}.silver.t", "added: new", "missing: old", "on_schema_change")
    assert types_of(workspace, ns) == {"id": "int", "old": "string"}

    r = two(workspace, ns, "SELECT 1 AS id, 'a' AS old", "SELECT 2 AS id, 'b' AS new", name="s",
            header="-- @merge_strategy: append_only\n-- @on_schema_change: sync_all_columns\n")
    assert r.status == "success", r.error
    assert list(types_of(workspace, ns, "s")) == ["id", "new"]
    assert rows(workspace, ns, "silver", "s") == [(1, None), (2, "b")]

    # append_new_columns (default): a dropped column stays, a renamed one is dropped + added
    r = two(workspace, ns, "SELECT 1 AS id, 'a' AS old", "SELECT 2 AS id, 'b' AS new", name="d",
            header="-- @merge_strategy: append_only\n")
    assert r.status == "success", r.error
    assert list(types_of(workspace, ns, "d")) == ["id", "old", "new"]
    assert rows(workspace, ns, "silver", "d") == [(1, "a", None), (2, None, "b")]


def test_scd2_keeps_the_history_of_a_dropped_column(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: scd2\n-- @unique_key: id\n"
    r = two(workspace, ns, "SELECT 1 AS id, 'a' AS v, 'x' AS gone", "SELECT 1 AS id, 'b' AS v", header=header)
    assert r.status == "success", r.error
    table = workspace.read_table(ns, "silver", "t").to_pylist()
    by_v = {x["v"]: x for x in table}
    assert by_v["a"]["gone"] == "x" and by_v["a"]["valid_to"] is not None  # history kept
    assert by_v["b"]["gone"] is None and by_v["b"]["valid_to"] is None


def test_scd2_added_column_works_on_the_first_run_after_the_change(workspace: Workspace, ns: str) -> None:
    header = "-- @merge_strategy: scd2\n-- @unique_key: id\n"
    r = two(workspace, ns, "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(id, v)",
            "SELECT * FROM (VALUES (1, 'a', 'e1'), (2, 'b', NULL)) t(id, v, email)", header=header)
    assert r.status == "success", r.error
    assert r.rows_written == 1  # key 1 got a value in the new column; key 2 did not change
    table = workspace.read_table(ns, "silver", "t").to_pylist()
    opened = sorted((x["id"], x["email"]) for x in table if x["valid_to"] is None)
    assert opened == [(1, "e1"), (2, None)]
    assert len(table) == 3


@pytest.mark.parametrize(("expr", "expected", "iceberg"), [
    ("'{\"a\": 1}'::JSON", '{"a": 1}', "string"),
    ("'5b6c0b1e-7d1f-4d2a-9d3e-1f2a3b4c5d6e'::UUID", "5b6c0b1e-7d1f-4d2a-9d3e-1f2a3b4c5d6e", "string"),
    ("'b'::ENUM('a', 'b')", "b", "string"),
    ("18446744073709551615::UBIGINT", Decimal("18446744073709551615"), "decimal(20, 0)"),
    ("4000000000::UINTEGER", 4000000000, "long"),
    ("1::UHUGEINT", Decimal(1), "decimal(38, 0)"),
    ("TIMESTAMP_NS '2026-01-01 10:00:00.123456789'", datetime(2026, 1, 1, 10, 0, 0, 123456), "timestamp"),
    ("TIMESTAMP_S '2026-01-01 10:00:00'", datetime(2026, 1, 1, 10), "timestamp"),
    ("TIMESTAMPTZ '2026-01-01 10:00:00+02'", datetime(2026, 1, 1, 8, tzinfo=UTC), "timestamptz"),
    ("[1, 2]::INTEGER[2]", [1, 2], "list<int>"),
    ("MAP {'k': 1}", [("k", 1)], "map<string, int>"),
    ("{'a': 1::TINYINT}", {"a": 1}, "struct<1000: a: optional int>"),
])
def test_types_are_written(workspace: Workspace, ns: str, expr: str, expected: object, iceberg: str) -> None:
    name = f"x{abs(hash(expr)) % 10**8}"
    make_pipeline(workspace, ns, "silver", name, f"SELECT {expr} AS x")
    r = run_one(workspace, ns, "silver", name)
    assert r.status == "success", r.error
    value = workspace.read_table(ns, "silver", name).to_pylist()[0]["x"]
    if isinstance(expected, datetime) and expected.tzinfo is not None:
        assert value.astimezone(UTC) == expected
    else:
        assert value == expected
    got = types_of(workspace, ns, name)["x"]
    assert got.split("<")[0] == iceberg.split("<")[0], got


@pytest.mark.parametrize(("expr", "what"), [
    ("INTERVAL 1 DAY", "interval"), ("union_value(k := 1)", "union"), ("1::VARINT", "bignum"),
    ("TIMETZ '10:00:00+01'", "TIME WITH TIME ZONE"), ("[INTERVAL 1 DAY]", "interval"),
])
def test_types_iceberg_cannot_store_are_refused_naming_the_column(workspace: Workspace, ns: str, expr: str,
                                                                 what: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", f"SELECT 1 AS id, {expr} AS odd")
    r = run_one(workspace, ns, "silver", "t")
    assert r.status == "failed"
    assert_clean_error(r.error, f"{ns}.silver.t", "'odd'", what, "Cast it")


def test_python_results_keep_a_named_index_and_accept_batches(workspace: Workspace, ns: str) -> None:
    code = ("import pandas as pd\n"
            "df = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1, 2, 3]})\n"
            "result = df.groupby('k').sum()\n")
    make_pipeline(workspace, ns, "silver", "idx", code, type="python")
    r = run_one(workspace, ns, "silver", "idx")
    assert r.status == "success", r.error
    assert rows(workspace, ns, "silver", "idx") == [("a", 4), ("b", 2)]
    code = "import pandas as pd\nresult = pd.DataFrame({'v': [1, 2]}, index=[10, 20])\n"
    make_pipeline(workspace, ns, "silver", "plain", code, type="python")
    assert run_one(workspace, ns, "silver", "plain").status == "success"
    assert workspace.read_table(ns, "silver", "plain").column_names == ["v"]  # unnamed index: not data
    for name, expr in (("batch", "pa.record_batch({'v': [1, 2]})"),
                       ("reader", "pa.RecordBatchReader.from_batches(pa.schema([('v', pa.int64())]), "
                                  "[pa.record_batch({'v': [1, 2]})])")):
        make_pipeline(workspace, ns, "silver", name, f"result = {expr}\n", type="python")
        r = run_one(workspace, ns, "silver", name)
        assert r.status == "success", r.error
        assert rows(workspace, ns, "silver", name) == [(1,), (2,)]
