"""Runs over REST: start, list (filters, sort, pages), get, cancel, logs as JSON and as server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import Api, Http, create_pipeline, is_error, run_pipeline, wait_run

pytestmark = pytest.mark.both_profiles

SLOW_PY = """# @merge_strategy: full_refresh
import time
log('first')
time.sleep({seconds})
log('second')
result = duckdb_conn.sql("SELECT 1 AS id").arrow()
"""


def parse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event: dict[str, Any] = {}
        for line in block.splitlines():
            key, _, value = line.partition(": ")
            event[key] = json.loads(value) if key == "data" else value
        events.append(event)
    return events


async def test_runs_are_started_listed_filtered_sorted_and_paged(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT * FROM range(3) t(id)")
    await create_pipeline(api, "shop", "silver", "totals", "SELECT count(*) AS n FROM {{ ref('bronze.orders') }}")
    await create_pipeline(api, "shop", "gold", "draft_only", "SELECT 1 AS id", publish=False)
    new = {"namespace": "shop", "layer": "bronze", "pipeline": "orders"}
    for bad in ({**new, "trigger": "x" * 101}, {**new, "downstream": "yes"}, {**new, "other": 1},
                {"namespace": "shop", "layer": "bronze"}, {**new, "layer": "platinum"}, {**new, "version": "v2"}):
        assert is_error(await api("POST", "runs", bad), 400), bad
    assert is_error(await api("POST", "runs", {**new, "pipeline": "nope"}), 404, "NOT_FOUND")
    # Never published: only the draft can run.
    gold = {"namespace": "shop", "layer": "gold", "pipeline": "draft_only"}
    assert is_error(await api("POST", "runs", gold), 409, "CONFLICT")
    status, body = await api("POST", "runs", {**gold, "version": "draft"})
    assert status == 202 and body["status"] == "pending" and body["run_id"] == body["runs"][0]["id"]
    draft_run = await wait_run(api, body["run_id"])
    assert draft_run["status"] == "success"

    status, body = await api("POST", "runs", {**new, "downstream": True, "trigger": "api-test"})
    assert status == 202 and len(body["runs"]) == 2, body
    runs = [await wait_run(api, r["id"]) for r in body["runs"]]
    assert [(r["layer"], r["status"], r["trigger"]) for r in runs] == [
        ("bronze", "success", "api-test"), ("silver", "success", "api-test")]
    assert runs[0]["rows_written"] == 3 and runs[0]["finished_at"] and runs[0]["quality"] == []

    status, body = await api("GET", "runs")
    assert status == 200 and body["total"] == 3 and body["limit"] == 50
    assert [r["created_at"] for r in body["runs"]] == sorted((r["created_at"] for r in body["runs"]), reverse=True)
    status, body = await api("GET", "runs", sort="created_at", limit="1")
    assert len(body["runs"]) == 1 and body["runs"][0]["id"] == draft_run["id"] and body["total"] == 3
    status, body = await api("GET", "runs", sort="-created_at", limit="2", offset="1")
    assert [r["id"] for r in body["runs"]] == [runs[0]["id"], draft_run["id"]]
    status, body = await api("GET", "runs", layer="silver")
    assert [r["id"] for r in body["runs"]] == [runs[1]["id"]]
    status, body = await api("GET", "runs", namespace="shop", pipeline="orders", status="success")
    assert [r["id"] for r in body["runs"]] == [runs[0]["id"]]
    status, body = await api("GET", "runs", status="failed")
    assert status == 200 and body["runs"] == [] and body["total"] == 0
    status, body = await api("GET", "runs", started_after="2000-01-01T00:00:00", started_before="2999-01-01")
    assert status == 200 and body["total"] == 3
    # "queued" is no state a run is ever in (a run waiting for a worker is "pending"): refused, not silently empty
    for params in ({"status": "exploded"}, {"status": "queued"}, {"limit": "201"}, {"limit": "0"}, {"offset": "x"},
                   {"offset": "9" * 30}):
        assert is_error(await api("GET", "runs", **params), 400), params

    assert is_error(await api("GET", "runs/abcdef123456"), 404, "NOT_FOUND")
    assert is_error(await api("GET", "runs/not-an-id"), 400)
    assert is_error(await api("POST", f"runs/{runs[0]['id']}/cancel"), 409, "CONFLICT")
    assert is_error(await api("POST", "runs/abcdef123456/cancel"), 404)

    status, body = await api("GET", f"runs/{runs[0]['id']}/logs")
    assert status == 200 and body["status"] == "success" and body["logs"]
    seqs = [line["seq"] for line in body["logs"]]
    assert seqs == sorted(seqs) and {"timestamp", "level", "message"} <= set(body["logs"][0])
    status, tail = await api("GET", f"runs/{runs[0]['id']}/logs", after=str(seqs[-2]))
    assert [line["seq"] for line in tail["logs"]] == seqs[-1:]
    for after in ("-1", "9" * 30):
        assert is_error(await api("GET", f"runs/{runs[0]['id']}/logs", after=after), 400), after
    assert is_error(await api("GET", "runs/abcdef123456/logs"), 404)
    assert is_error(await api("GET", "runs/abcdef123456/logs", headers={"Accept": "text/event-stream"}), 404)

    # The lineage shows the latest run of each pipeline.
    status, body = await api("GET", "lineage")
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes["pipeline:shop.silver.totals"]["latest_run"]["status"] == "success"


async def test_the_log_stream_follows_a_running_pipeline_and_ends_with_its_status(api: Api, http: Http) -> None:
    await create_pipeline(api, "shop", "bronze", "slow", SLOW_PY.format(seconds=1.5), type="python")
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "slow"})
    assert status == 202
    run_id = body["run_id"]
    received: list[tuple[float, datetime, str]] = []

    def on_chunk(chunk: bytes) -> None:
        received.append((time.monotonic(), datetime.now(UTC), chunk.decode()))

    resp = await http("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"},
                      streaming_callback=on_chunk)
    assert resp.code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-cache"
    events = parse_events("".join(c for _, _, c in received))
    logs = [e["data"]["message"] for e in events if e["event"] == "log"]
    assert logs.index("first") < logs.index("second")
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "success"
    assert all(int(e["id"]) > 0 for e in events if e["event"] == "log")
    # The first line arrived while the pipeline was still sleeping, not when it ended.
    first_at = next((t, wall) for t, wall, c in received if '"message": "first"' in c)
    second_at = next(t for t, _, c in received if '"message": "second"' in c)
    assert second_at - first_at[0] > 1.0, received
    run = (await api("GET", f"runs/{run_id}"))[1]
    assert first_at[1] < datetime.fromisoformat(run["finished_at"])
    # A finished run replays its log and ends at once; `after` skips what the client already has.
    status, replay = await api("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"})
    assert status == 200 and parse_events(replay)[-1]["data"]["status"] == "success"
    first_seq = next(int(e["id"]) for e in events if e.get("data", {}).get("message") == "first")
    status, replay = await api("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"},
                               after=str(first_seq))
    assert "first" not in [e["data"].get("message") for e in parse_events(replay)]


async def test_a_running_pipeline_can_be_cancelled_once(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "slow", SLOW_PY.format(seconds=3), type="python")
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "slow"})
    run_id = body["run_id"]
    for _ in range(100):
        if (await api("GET", f"runs/{run_id}/logs"))[1]["logs"]:
            break
        await asyncio.sleep(0.1)
    status, body = await api("POST", f"runs/{run_id}/cancel")
    assert (status, body) == (200, {"run_id": run_id, "status": "cancelled"})
    run = await wait_run(api, run_id, timeout=20)
    assert run["status"] == "cancelled" and run["error"]
    assert is_error(await api("POST", f"runs/{run_id}/cancel"), 409, "CONFLICT")
    assert (await api("GET", "tables"))[1]["tables"] == []
    # The worker is free again: the next run succeeds.
    await api("PUT", "files/shop/pipelines/bronze/slow/pipeline.py", {"content": SLOW_PY.format(seconds=0)})
    await api("POST", "pipelines/shop/bronze/slow/publish")
    assert (await run_pipeline(api, "shop", "bronze", "slow"))["status"] == "success"


async def test_open_log_streams_are_limited_per_client(api: Api, http: Http, jp_serverapp: Any) -> None:
    limiter = jp_serverapp.web_app.settings["rat_sse_limiter"]  # built by RatApp, one per server
    limiter.per_client = 1
    await create_pipeline(api, "shop", "bronze", "slow", SLOW_PY.format(seconds=1.5), type="python")
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "slow"})
    assert status == 202
    run_id = body["run_id"]
    opened = asyncio.Event()
    first = asyncio.ensure_future(http("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"},
                                       streaming_callback=lambda chunk: opened.set()))
    await asyncio.wait_for(opened.wait(), 30)
    second = await api("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"})
    assert is_error(second, 429, "RATE_LIMITED"), second
    assert (await first).code == 200
    third = await http("GET", f"runs/{run_id}/logs", headers={"Accept": "text/event-stream"})
    assert third.code == 200  # the finished stream gave its slot back
