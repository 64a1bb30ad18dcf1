"""``POST /runs`` with ``select``: a whole selection (``ns.*``, ``ns.layer.*``, ``x+``, ``+x``) in one call."""

from __future__ import annotations

import pytest

from .conftest import Api, create_pipeline, is_error, wait_run

pytestmark = pytest.mark.both_profiles


async def test_a_selection_runs_in_one_call(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT * FROM range(3) t(id)")
    await create_pipeline(api, "shop", "bronze", "items", "SELECT * FROM range(2) t(id)")
    await create_pipeline(api, "shop", "silver", "totals", "SELECT count(*) AS n FROM {{ ref('bronze.orders') }}")
    await create_pipeline(api, "shop", "gold", "report", "SELECT n FROM {{ ref('silver.totals') }}")
    await create_pipeline(api, "other", "bronze", "x", "SELECT 1 AS id")

    async def select(selector: str, **extra: object) -> list[dict]:
        status, body = await api("POST", "runs", {"select": selector, **extra})
        assert status == 202, (selector, body)
        assert body["run_id"] == body["runs"][0]["id"] and body["status"] == "pending"
        done = [await wait_run(api, r["id"]) for r in body["runs"]]
        assert all(r["status"] == "success" for r in done), done
        return done

    everything = await select("shop.*", trigger="nightly")
    names = [f"{r['layer']}.{r['name']}" for r in everything]
    assert sorted(names) == ["bronze.items", "bronze.orders", "gold.report", "silver.totals"]
    assert names.index("bronze.orders") < names.index("silver.totals") < names.index("gold.report")  # DAG order
    assert {r["trigger"] for r in everything} == {"nightly"}
    assert [r["name"] for r in await select("shop.bronze.*")] == ["items", "orders"]
    assert [r["name"] for r in await select("shop.bronze.orders+")] == ["orders", "totals", "report"]
    assert [r["name"] for r in await select("+shop.gold.report")] == ["orders", "totals", "report"]
    assert [r["name"] for r in await select("shop.silver.totals")] == ["totals"]
    status, body = await api("GET", "runs")
    assert status == 200 and all(r["namespace"] == "shop" for r in body["runs"])  # `other` never ran

    # exactly one of the two forms; a malformed selection is a 400, an empty one a 404
    one = {"namespace": "shop", "layer": "bronze", "pipeline": "orders"}
    for bad in ({**one, "select": "shop.*"}, {"select": "shop.*", "downstream": True}, {"select": "shop.*",
                "layer": "bronze"}, {}, {"select": ""}, {"select": "shop"}, {"select": "shop.platinum.*"},
                {"select": "shop.bronze.orders.x"}, {"select": "Shop.*"}, {"select": "shop.*; DROP"},
                {"select": 5}, {"select": "++shop.*"}):
        assert is_error(await api("POST", "runs", bad), 400), bad
    assert is_error(await api("POST", "runs", {"select": "nowhere.*"}), 404, "NOT_FOUND")
    assert is_error(await api("POST", "runs", {"select": "shop.gold.nope"}), 404, "NOT_FOUND")
    # a never-published pipeline in the selection: nothing is submitted (409), the draft can run
    await create_pipeline(api, "shop", "gold", "draft_only", "SELECT 1 AS id", publish=False)
    status, before = await api("GET", "runs")
    assert is_error(await api("POST", "runs", {"select": "shop.gold.*"}), 409, "CONFLICT")
    status, after = await api("GET", "runs")
    assert after["total"] == before["total"]
    assert sorted(r["name"] for r in await select("shop.gold.*", version="draft")) == ["draft_only", "report"]
