"""Renaming a pipeline over REST (files, Iceberg table, runs, schedules and triggers follow it; refused while
it is used) and the one-request tree the JupyterLab sidebar draws."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
import pytest

from .conftest import Api, create_pipeline, is_error, run_pipeline, wait_run

pytestmark = [pytest.mark.both_profiles, pytest.mark.rat_config(concurrency=1)]

SLOW_PY = """# @merge_strategy: full_refresh
import time
time.sleep(30)
result = duckdb_conn.sql("SELECT 1 AS id").arrow()
"""


def files_of(ws: Any, prefix: str) -> list[str]:
    return sorted(f.path[len(prefix):] for f in ws.storage.list(prefix))


async def test_a_renamed_pipeline_keeps_its_table_history_runs_tests_schedules_and_triggers(
        api: Api, jp_serverapp: Any) -> None:
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT * FROM range(3) t(id)")
    assert (await api("POST", "pipelines/shop/bronze/orders/tests",
                      {"name": "has_rows", "sql": "SELECT 1 WHERE (SELECT count(*) FROM {{ this }}) = 0"}))[0] == 201
    await create_pipeline(api, "shop", "bronze", "other", "SELECT 1 AS id")
    assert (await run_pipeline(api, "shop", "bronze", "orders"))["status"] == "success"
    assert (await api("POST", "schedules", {"namespace": "shop", "layer": "bronze", "pipeline": "orders",
                                            "cron": "0 3 * * *"}))[0] == 201
    assert (await api("POST", "pipelines/shop/bronze/orders/triggers", {"type": "webhook"}))[0] == 201
    status, after = await api("POST", "pipelines/shop/bronze/other/triggers", {"type": "pipeline_success", "config": {
        "namespace": "shop", "layer": "bronze", "pipeline": "orders"}})
    assert status == 201, after
    old_files = files_of(ws, "shop/pipelines/bronze/orders/")
    assert "pipeline.sql" in old_files and "tests/quality/has_rows.sql" in old_files
    history = (await api("GET", "tables/shop/bronze/orders/history"))[1]

    status, body = await api("POST", "pipelines/shop/bronze/orders/rename", {"name": "sales"})
    assert status == 200, body
    assert (body["namespace"], body["layer"], body["name"]) == ("shop", "bronze", "sales")
    assert body["published_version"] == 1
    assert files_of(ws, "shop/pipelines/bronze/sales/") == old_files
    assert files_of(ws, "shop/pipelines/bronze/orders/") == []
    assert is_error(await api("GET", "pipelines/shop/bronze/orders"), 404, "NOT_FOUND")
    # the table's data and history are read under the new name
    status, q = await api("POST", "query", {"sql": "SELECT id FROM shop.bronze.sales ORDER BY id"})
    assert status == 200 and q["rows"] == [{"id": 0}, {"id": 1}, {"id": 2}], q
    assert (await api("GET", "tables/shop/bronze/sales/history"))[1]["snapshots"] == history["snapshots"]
    assert is_error(await api("GET", "tables/shop/bronze/orders"), 404)
    # runs, versions, schedules and triggers follow it
    listed = (await api("GET", "pipelines", None, namespace="shop"))[1]["pipelines"]
    sales = next(p for p in listed if p["name"] == "sales")
    assert sales["last_run"]["status"] == "success"
    assert (await api("GET", "runs", None, pipeline="sales"))[1]["total"] == 1
    assert [v["version"] for v in (await api("GET", "pipelines/shop/bronze/sales/versions"))[1]["versions"]] == [1]
    assert [s["pipeline"] for s in (await api("GET", "schedules"))[1]["schedules"]] == ["sales"]
    assert [t["type"] for t in (await api("GET", "pipelines/shop/bronze/sales/triggers"))[1]["triggers"]] \
        == ["webhook"]
    other = (await api("GET", "pipelines/shop/bronze/other/triggers"))[1]["triggers"]
    assert other[0]["config"]["pipeline"] == "sales"
    # and it runs under its new name, its quality test too
    run = await run_pipeline(api, "shop", "bronze", "sales")
    assert run["status"] == "success", run


async def test_a_rename_is_refused_while_it_is_used_or_the_name_is_taken(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "raw", "SELECT 1 AS id")
    await create_pipeline(api, "shop", "silver", "clean", "SELECT * FROM {{ ref('bronze.raw') }}")
    await create_pipeline(api, "shop", "gold", "report", "SELECT * FROM {{ ref('shop.bronze.raw') }}")
    status, err = await api("POST", "pipelines/shop/bronze/raw/rename", {"name": "landed"})
    assert is_error((status, err), 409, "CONFLICT")
    assert "shop.silver.clean" in err["message"] and "shop.gold.report" in err["message"], err
    await create_pipeline(api, "shop", "bronze", "taken", "SELECT 2 AS id")
    await create_pipeline(api, "shop", "silver", "alone", "SELECT 3 AS id")
    err = await api("POST", "pipelines/shop/silver/alone/rename", {"name": "clean"})
    assert is_error(err, 409, "CONFLICT") and "already exists" in err[1]["message"]
    # bad names at the boundary: 400 JSON, nothing renamed
    for bad in ("Clean", "9x", "a-b", "", "x" * 200, 5, None):
        assert is_error(await api("POST", "pipelines/shop/silver/alone/rename", {"name": bad}), 400), bad
    assert is_error(await api("POST", "pipelines/shop/silver/alone/rename", {}), 400)
    assert is_error(await api("POST", "pipelines/shop/silver/alone/rename", {"name": "ok", "x": 1}), 400)
    assert is_error(await api("POST", "pipelines/shop/silver/alone/rename", raw=b"{nope"), 400)
    assert is_error(await api("POST", "pipelines/shop/silver/nope/rename", {"name": "x"}), 404, "NOT_FOUND")
    assert is_error(await api("POST", "pipelines/shop/Bad-Layer/alone/rename", {"name": "x"}), 400)
    assert (await api("GET", "pipelines/shop/silver/alone"))[0] == 200


async def test_a_pipeline_with_a_run_in_progress_is_not_renamed(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "slow", SLOW_PY, type="python")
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "slow"})
    assert status == 202, body
    run_id = body["run_id"]
    err = await api("POST", "pipelines/shop/bronze/slow/rename", {"name": "fast"})
    assert is_error(err, 409, "CONFLICT") and run_id in err[1]["message"], err
    assert (await api("POST", f"runs/{run_id}/cancel"))[0] == 200
    await wait_run(api, run_id, timeout=30)
    status, body = await api("POST", "pipelines/shop/bronze/slow/rename", {"name": "fast"})
    assert status == 200 and body["name"] == "fast"


async def test_a_rename_whose_table_rename_fails_leaves_the_files_where_they_were(
        api: Api, jp_serverapp: Any) -> None:
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT * FROM range(2) t(id)")
    assert (await run_pipeline(api, "shop", "bronze", "orders"))["status"] == "success"
    before = files_of(ws, "shop/pipelines/bronze/orders/")
    # a table named like the target exists in the catalog (written by another tool): the catalog refuses
    from rat_jupyter.core.names import PipelineId

    await asyncio.to_thread(ws.catalog.create, PipelineId("shop", "bronze", "sales"), pa.schema([("x", pa.int64())]))
    err = await api("POST", "pipelines/shop/bronze/orders/rename", {"name": "sales"})
    assert is_error(err, 409, "CONFLICT") and "already exists" in err[1]["message"], err
    assert files_of(ws, "shop/pipelines/bronze/orders/") == before
    assert files_of(ws, "shop/pipelines/bronze/sales/") == []
    assert (await api("GET", "pipelines/shop/bronze/orders"))[0] == 200
    status, q = await api("POST", "query", {"sql": "SELECT count(*) AS n FROM shop.bronze.orders"})
    assert status == 200 and q["rows"] == [{"n": 2}], q


async def test_the_tree_gives_the_sidebar_everything_in_one_answer(api: Api) -> None:
    assert (await api("GET", "tree"))[1] == {"namespaces": []}
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT 1 AS id")
    assert (await run_pipeline(api, "shop", "bronze", "orders"))["status"] == "success"
    assert (await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"}))[0] == 201
    status, tree = await api("GET", "tree")
    assert status == 200
    [shop] = tree["namespaces"]  # the only namespace comes expanded
    assert shop["name"] == "shop" and shop["pipeline_count"] == 1
    assert [(p["name"], p["last_run"]["status"]) for p in shop["pipelines"]] == [("orders", "success")]
    assert shop["tables"] == [{"namespace": "shop", "layer": "bronze", "name": "orders"}]
    assert shop["zones"] == [{"namespace": "shop", "name": "raw"}]
    assert (await api("POST", "namespaces", {"name": "big"}))[0] == 201
    tree = (await api("GET", "tree"))[1]
    assert [(n["name"], n["pipeline_count"], n["pipelines"]) for n in tree["namespaces"]] == [
        ("big", 0, None), ("shop", 1, None)]
    tree = (await api("GET", "tree", None, namespace="shop"))[1]
    assert [n["name"] for n in tree["namespaces"]] == ["shop"] and len(tree["namespaces"][0]["pipelines"]) == 1
    assert is_error(await api("GET", "tree", None, namespace="nope"), 404, "NOT_FOUND")
    assert is_error(await api("GET", "tree", None, namespace="No-Pe"), 400)
