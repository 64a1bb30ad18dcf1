"""Smoke: the extension loads and a pipeline can be created, published and run over REST."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.both_profiles


async def test_create_publish_run_and_query_over_rest(api) -> None:
    assert (await api("GET", "health"))[0] == 200
    status, body = await api("POST", "namespaces", {"name": "shop"})
    assert status == 201, body
    status, body = await api("POST", "pipelines", {"namespace": "shop", "layer": "bronze", "name": "orders",
                                                   "source": "SELECT 1 AS id, 'x' AS v"})
    assert status == 201, body
    status, body = await api("POST", "pipelines/shop/bronze/orders/publish", {"message": "first"})
    assert (status, body["version"]) == (200, 1)
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "orders"})
    assert status == 202, body
    run_id = body["run_id"]
    for _ in range(200):
        status, run = await api("GET", f"runs/{run_id}")
        if run["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "success", run
    status, out = await api("POST", "query", {"sql": "SELECT * FROM shop.bronze.orders"})
    assert (status, out["rows"]) == (200, [{"id": 1, "v": "x"}])
    status, err = await api("POST", "query", {"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert status == 400 and set(err) >= {"message", "reason", "code"}
    status, err = await api("GET", "pipelines/shop/bronze/nope")
    assert status == 404 and err["code"] == "NOT_FOUND"
