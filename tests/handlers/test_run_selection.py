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


async def test_a_selection_starts_the_chain_most_of_the_dag_waits_on_first(api: Api) -> None:
    """Runs are created, claimed and started critical path first: ``silver.customers`` (which ``silver.facts``
    and the gold model on top of it wait on) before the gold leaves that became runnable at the same time,
    although ``gold.*`` sorts before ``silver.*``."""
    await create_pipeline(api, "cp", "bronze", "orders", "SELECT * FROM range(3) t(id)")
    await create_pipeline(api, "cp", "silver", "clean", "SELECT id FROM {{ ref('bronze.orders') }}")
    for leaf in ("a", "b", "c"):
        await create_pipeline(api, "cp", "gold", leaf, "SELECT count(*) AS n FROM {{ ref('silver.clean') }}")
    await create_pipeline(api, "cp", "silver", "customers", "SELECT id FROM {{ ref('silver.clean') }}")
    await create_pipeline(api, "cp", "silver", "facts", "SELECT id FROM {{ ref('silver.customers') }}")
    await create_pipeline(api, "cp", "gold", "top", "SELECT max(id) AS m FROM {{ ref('silver.facts') }}")
    status, body = await api("POST", "runs", {"select": "cp.*"})
    assert status == 202, body
    names = [f"{r['layer']}.{r['name']}" for r in body["runs"]]
    assert names == ["bronze.orders", "silver.clean", "silver.customers", "silver.facts",
                     "gold.a", "gold.b", "gold.c", "gold.top"]  # equal chains below: by name
    done = {f"{r['layer']}.{r['name']}": r for r in [await wait_run(api, r["id"]) for r in body["runs"]]}
    assert all(r["status"] == "success" for r in done.values()), done
    created = [done[n]["created_at"] for n in names]
    assert created == sorted(created)  # the claimer takes the oldest runnable run first
    # two workers take silver.customers and gold.a; gold.b waits for one of them
    assert done["silver.customers"]["started_at"] < done["gold.b"]["started_at"]
