"""The read-only query service (escape attempts, limits, timeout, freshness) and the table routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Api, create_pipeline, files_under, is_error, run_pipeline

# no test here runs two pipelines at once
pytestmark = [pytest.mark.both_profiles, pytest.mark.rat_config(concurrency=1)]

ORDERS = "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) t(id, v)"


def escape_attempts(data: Path, location: str) -> dict[str, str]:
    """Distinct ways out of a read-only SELECT over catalog tables. ``data`` is the server's data dir."""
    target = data.parent / "escaped"
    wh = data / "warehouse"
    passwd = "read_text('/etc/passwd')"
    return {
        "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
        "read_csv_auto": "SELECT * FROM read_csv_auto('/etc/passwd')",
        "read_csv of a list": "SELECT * FROM read_csv(['/etc/passwd'])",
        "read_parquet of the warehouse": f"SELECT * FROM read_parquet('{wh}/**/*.parquet')",
        "read_json": "SELECT * FROM read_json('/etc/passwd')",
        "read_json_auto": "SELECT * FROM read_json_auto('/etc/passwd')",
        "read_text": f"SELECT * FROM {passwd}",
        "read_blob": "SELECT * FROM read_blob('/etc/passwd')",
        "glob": "SELECT * FROM glob('/etc/*')",
        "parquet_scan": f"SELECT * FROM parquet_scan('{wh}/**/*.parquet')",
        "parquet_metadata": f"SELECT * FROM parquet_metadata('{wh}/**/*.parquet')",
        "iceberg_scan": f"SELECT * FROM iceberg_scan('{location}')",
        "iceberg_metadata": f"SELECT * FROM iceberg_metadata('{location}')",
        "COPY TO": f"COPY (SELECT 1) TO '{target}.csv'",
        "COPY FROM": "COPY shop.bronze.orders FROM '/etc/passwd'",
        "ATTACH": f"ATTACH '{target}.db' AS escaped",
        "DETACH": "DETACH shop",
        "INSTALL": "INSTALL httpfs",
        "LOAD": "LOAD httpfs",
        "SET": "SET enable_external_access = true",
        "SET VARIABLE": "SET VARIABLE x = 1",
        "RESET": "RESET memory_limit",
        "PRAGMA setting": "PRAGMA memory_limit = '64GB'",
        "PRAGMA threads": "PRAGMA threads = 1",
        "CREATE TABLE": "CREATE TABLE t AS SELECT 1 AS x",
        "CREATE VIEW": "CREATE VIEW v AS SELECT 1 AS x",
        "CREATE OR REPLACE VIEW over a table": "CREATE OR REPLACE VIEW shop.bronze.orders AS SELECT 0 AS id",
        "CREATE MACRO": "CREATE MACRO m(x) AS x",
        "CREATE SECRET": "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "INSERT": "INSERT INTO shop.bronze.orders VALUES (9, 'z')",
        "UPDATE": "UPDATE shop.bronze.orders SET v = 'z'",
        "DELETE": "DELETE FROM shop.bronze.orders",
        "DROP": "DROP VIEW shop.bronze.orders",
        "ALTER": "ALTER VIEW shop.bronze.orders RENAME TO gone",
        "EXPORT DATABASE": f"EXPORT DATABASE '{target}'",
        "IMPORT DATABASE": f"IMPORT DATABASE '{data}'",
        "CALL": "CALL pragma_version()",
        "CHECKPOINT": "CHECKPOINT",
        "VACUUM": "VACUUM",
        "USE": "USE shop",
        "BEGIN": "BEGIN TRANSACTION",
        "PREPARE": "PREPARE p AS SELECT 1",
        "EXPLAIN ANALYZE COPY": f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}.csv'",
        "two statements": "SELECT 1; DROP VIEW shop.bronze.orders",
        "statement after a line comment": "SELECT 1 -- harmless\n; DROP VIEW shop.bronze.orders",
        "statement after a block comment": "SELECT 1 /* ; */; COPY (SELECT 1) TO '{target}.csv'",
        "getenv": "SELECT getenv('HOME')",
        "current_setting": "SELECT current_setting('allowed_directories')",
        "getvariable": "SELECT getvariable('x')",
        "setseed": "SELECT setseed(0.5)",
        "write_log": "SELECT write_log('x')",
        "http URL": "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')",
        "https URL as a FROM string": "SELECT * FROM 'https://127.0.0.1:9/x.csv'",
        "sqlite_scan": f"SELECT * FROM sqlite_scan('{data}/state.db', 'runs')",
        "query_table": "SELECT * FROM query_table('shop.bronze.orders')",
        "query()": "SELECT * FROM query('SELECT 1')",
        "json_execute_serialized_sql": "SELECT * FROM json_execute_serialized_sql("
                                       f"json_serialize_sql('SELECT * FROM {passwd}'))",
        "table function in a CTE": f"WITH a AS (SELECT * FROM {passwd}) SELECT * FROM a",
        "table function in a subquery": f"SELECT * FROM (SELECT * FROM {passwd}) s",
        "table function in a scalar subquery": f"SELECT (SELECT count(*) FROM {passwd})",
        "table function in EXISTS": f"SELECT 1 WHERE EXISTS (FROM {passwd})",
        "table function in a LATERAL join": f"SELECT * FROM range(1) r, LATERAL (SELECT * FROM {passwd})",
        "table function in a UNION": f"SELECT 'a' AS x UNION ALL SELECT content FROM {passwd}",
        "table function in FROM-first": f"FROM {passwd}",
        "NUL byte": "SELECT 1\x00; DROP VIEW shop.bronze.orders",
        "bare FROM string": "FROM '/etc/passwd'",
        "bare SELECT FROM string": "SELECT * FROM '/etc/passwd'",
        "FROM string of warehouse files": f"SELECT * FROM '{wh}/**/*.parquet'",
        "FROM string of table metadata": f"SELECT * FROM '{location.removeprefix('file://')}/metadata/*.json'",
        "quoted identifier path": f'SELECT * FROM "{wh}/x.parquet"',
        "duckdb_secrets": "SELECT * FROM duckdb_secrets()",
        "duckdb_settings": "SELECT * FROM duckdb_settings()",
        "duckdb_extensions": "SELECT * FROM duckdb_extensions()",
        "pragma_database_size": "SELECT * FROM pragma_database_size()",
    }


async def test_the_query_service_refuses_every_escape_attempt_without_side_effects(api: Api,
                                                                                   rat_data_dir: Path) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", ORDERS)
    await run_pipeline(api, "shop", "bronze", "orders")
    location = (await api("GET", "tables/shop/bronze/orders"))[1]["location"]
    status, before_rows = await api("POST", "query", {"sql": "SELECT * FROM shop.bronze.orders ORDER BY id"})
    assert status == 200 and len(before_rows["rows"]) == 3
    views = {"sql": "SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal"}
    status, before_views = await api("POST", "query", views)
    assert status == 200 and len(before_views["rows"]) == 1
    before_tables = (await api("GET", "tables"))[1]
    before_files = files_under(rat_data_dir.parent)

    attempts = escape_attempts(rat_data_dir, location)
    assert len(attempts) >= 25
    for name, sql in attempts.items():
        status, error = await api("POST", "query", {"sql": sql})
        assert status == 400 and error["code"] in ("QUERY_ERROR", "INVALID_ARGUMENT"), (name, status, error)
        assert error["message"] and "root:" not in error["message"], (name, error)
    status, error = await api("POST", "query", {"sql": "SELECT 1 AS x -- " + "x" * 100_001})
    assert is_error((status, error), 413, "TOO_LARGE")

    assert files_under(rat_data_dir.parent) == before_files
    assert (await api("POST", "query", {"sql": "SELECT * FROM shop.bronze.orders ORDER BY id"}))[1]["rows"] == \
        before_rows["rows"]
    assert (await api("POST", "query", views))[1]["rows"] == before_views["rows"]
    assert (await api("GET", "tables"))[1] == before_tables
    assert len((await api("GET", "tables/shop/bronze/orders/history"))[1]["snapshots"]) == 1


async def test_read_only_queries_answer_with_columns_rows_and_limits(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", ORDERS)
    await run_pipeline(api, "shop", "bronze", "orders")
    status, body = await api("POST", "query", {"sql": "SELECT id, v FROM shop.bronze.orders ORDER BY id"})
    assert status == 200, body
    assert body["columns"] == [{"name": "id", "type": "int32"}, {"name": "v", "type": "string"}]
    assert body["rows"] == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]
    assert (body["total_rows"], body["truncated"], body["limit"]) == (3, False, 1000)
    assert body["matched_rows"] == 3
    assert isinstance(body["duration_ms"], int)
    status, body = await api("POST", "query", {"sql": "SELECT count(*) AS n FROM bronze.orders", "namespace": "shop"})
    assert (status, body["rows"]) == (200, [{"n": 3}])
    status, body = await api("POST", "query", {"sql": "FROM shop.bronze.orders SELECT max(id) AS m"})
    assert body["rows"] == [{"m": 3}]
    status, body = await api("POST", "query", {
        "sql": "WITH o AS (SELECT * FROM shop.bronze.orders) SELECT o.v FROM o JOIN range(2, 4) r ON o.id = r.range "
               "ORDER BY 1"})
    assert body["rows"] == [{"v": "b"}, {"v": "c"}]
    status, body = await api("POST", "query", {"sql": "SELECT * FROM range(10)", "limit": 4})
    assert (len(body["rows"]), body["truncated"], body["limit"]) == (4, True, 4)
    assert body["matched_rows"] == 10  # "showing 4 of 10": the whole result is counted
    status, body = await api("POST", "query", {"sql": "SELECT 1.5::DOUBLE AS d, NULL AS n, [1, 2] AS l, "
                                                      "'nan'::DOUBLE AS nan, DATE '2024-01-02' AS day"})
    assert body["rows"] == [{"d": 1.5, "n": None, "l": [1, 2], "nan": None, "day": "2024-01-02"}]
    for bad in ({"sql": ""}, {"sql": 5}, {}, {"sql": "SELECT 1", "limit": 0}, {"sql": "SELECT 1", "limit": "5"},
                {"sql": "SELECT 1", "limit": 100_001}, {"sql": "SELECT 1", "other": 1},
                {"sql": "SELECT 1", "namespace": "Bad-Ns"}, {"sql": "SELEC 1"},
                {"sql": "SELECT * FROM shop.bronze.missing"}):
        assert is_error(await api("POST", "query", bad), 400), bad
    assert is_error(await api("POST", "query", {"sql": "SELECT 1", "namespace": "nope"}), 404)
    status, body = await api("GET", "schema")
    assert status == 200 and body["total"] == 1
    assert body["tables"][0]["columns"] == [{"name": "id", "type": "INTEGER"}, {"name": "v", "type": "VARCHAR"}]
    assert (await api("GET", "schema", namespace="other"))[1]["tables"] == []
    assert is_error(await api("GET", "schema", namespace="Bad-Ns"), 400)


@pytest.mark.rat_config(query_timeout_seconds=0.5)
async def test_a_query_running_past_the_timeout_is_stopped_and_reported(api: Api) -> None:
    slow = "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7"
    status, error = await api("POST", "query", {"sql": slow})
    assert is_error((status, error), 408, "QUERY_TIMEOUT") and "0.5 s" in error["message"]
    status, body = await api("POST", "query", {"sql": "SELECT 42 AS answer"})
    assert (status, body["rows"]) == (200, [{"answer": 42}])


async def test_queries_and_table_routes_always_see_the_latest_published_snapshot(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "-- @merge_strategy: full_refresh\n" + ORDERS)
    await run_pipeline(api, "shop", "bronze", "orders")
    query = {"sql": "SELECT id, v FROM shop.bronze.orders ORDER BY id"}
    assert [r["id"] for r in (await api("POST", "query", query))[1]["rows"]] == [1, 2, 3]

    status, body = await api("GET", "tables")
    assert status == 200 and body["total"] == 1
    table = body["tables"][0]
    assert (table["namespace"], table["layer"], table["name"], table["row_count"]) == ("shop", "bronze", "orders", 3)
    assert table["size_bytes"] > 0 and table["snapshot_id"]
    assert (await api("GET", "tables", namespace="shop", layer="silver"))[1]["tables"] == []
    assert (await api("GET", "tables", namespace="other"))[1]["tables"] == []
    for params in ({"layer": "platinum"}, {"namespace": "Bad-Ns"}):
        assert is_error(await api("GET", "tables", **params), 400)
    status, body = await api("GET", "tables/shop/bronze/orders")
    assert status == 200 and [(c["name"], c["type"]) for c in body["columns"]] == [("id", "int"), ("v", "string")]
    assert body["row_count"] == 3 and body["location"]
    for path in ("tables/shop/bronze/nope", "tables/shop/bronze/nope/preview", "tables/shop/bronze/nope/history"):
        assert is_error(await api("GET", path), 404), path
    assert is_error(await api("GET", "tables/shop/platinum/orders"), 400)
    status, body = await api("GET", "tables/shop/bronze/orders/preview", limit="2")
    assert status == 200 and len(body["rows"]) == 2 and body["truncated"] is True
    assert body["matched_rows"] == 3  # from the table's snapshot, not a second scan
    status, body = await api("GET", "tables/shop/bronze/orders/preview")
    assert body["limit"] == 50 and len(body["rows"]) == 3
    for limit in ("0", "1001", "x"):
        assert is_error(await api("GET", "tables/shop/bronze/orders/preview", limit=limit), 400), limit

    status, body = await api("PUT", "tables/shop/bronze/orders/metadata",
                             {"description": "all orders", "owner": "ana", "column_descriptions": {"id": "key"}})
    assert status == 200 and body["description"] == "all orders" and body["column_descriptions"] == {"id": "key"}
    status, body = await api("PUT", "tables/shop/bronze/orders/metadata", {"column_descriptions": {"v": "value"}})
    assert status == 200 and body["column_descriptions"] == {"id": "key", "v": "value"}
    assert body["description"] == "all orders" and body["owner"] == "ana"
    for bad in ({"column_descriptions": ["id"]}, {"owner": 5}, {"description": 5}, {"colour": "red"}):
        assert is_error(await api("PUT", "tables/shop/bronze/orders/metadata", bad), 400), bad
    assert is_error(await api("PUT", "tables/shop/bronze/nope/metadata", {"owner": "ana"}), 404)
    status, body = await api("GET", "tables/shop/bronze/orders")
    assert {c["name"]: c["description"] for c in body["columns"]} == {"id": "key", "v": "value"}
    assert (await api("GET", "tables"))[1]["tables"][0]["description"] == "all orders"

    # Change the pipeline: a draft edit changes nothing until it is published and run.
    new = "-- @merge_strategy: full_refresh\nSELECT * FROM (VALUES (10, 'x'), (20, 'y')) t(id, v)"
    assert (await api("PUT", "files/shop/pipelines/bronze/orders/pipeline.sql", {"content": new}))[0] == 200
    assert [r["id"] for r in (await api("POST", "query", query))[1]["rows"]] == [1, 2, 3]
    assert (await api("POST", "pipelines/shop/bronze/orders/publish"))[0] == 200
    assert (await run_pipeline(api, "shop", "bronze", "orders"))["status"] == "success"
    assert (await api("POST", "query", query))[1]["rows"] == [{"id": 10, "v": "x"}, {"id": 20, "v": "y"}]
    status, body = await api("GET", "tables/shop/bronze/orders/preview")
    assert [r["id"] for r in body["rows"]] == [10, 20]
    assert (await api("GET", "tables"))[1]["tables"][0]["row_count"] == 2

    status, body = await api("GET", "tables/shop/bronze/orders/history")
    snaps = body["snapshots"]  # a full refresh commits ONE overwrite snapshot (docs/strategies.md)
    assert status == 200 and body["total"] == len(snaps) >= 2, body
    assert [s["timestamp"] for s in snaps] == sorted((s["timestamp"] for s in snaps), reverse=True)
    assert [s["parent_id"] for s in snaps] == [s["snapshot_id"] for s in snaps[1:]] + [None]
    newest, oldest = snaps[0], snaps[-1]
    assert (newest["total_records"], oldest["total_records"]) == (2, 3)
    assert (newest["operation"], oldest["operation"]) == ("overwrite", "append")
    assert newest["parent_id"] == oldest["snapshot_id"]
    assert newest["snapshot_id"] == (await api("GET", "tables/shop/bronze/orders"))[1]["snapshot_id"]
