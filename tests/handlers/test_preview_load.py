"""No thread waits on a worker: slow previews in flight do not slow the rest of the API down.

Before the executor interface, each preview held a pool thread on ``fut.result()`` while its worker ran, so
eight slow previews starved every other request (``GET /namespaces`` took 29 s). Previews are now futures the
handlers await on the event loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from .conftest import Api, create_pipeline, is_error

SLEEPY = "# @merge_strategy: full_refresh\nimport time\ntime.sleep(15)\nresult = pa.table({'v': [1]})\n"


@pytest.mark.rat_config(concurrency=2, max_inflight_previews=8)
async def test_namespaces_stay_fast_while_eight_slow_previews_are_in_flight(api: Api, jp_serverapp: Any) -> None:
    await create_pipeline(api, "shop", "bronze", "sleepy", SLEEPY, type="python", publish=False)
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    previews = [asyncio.ensure_future(api("POST", "pipelines/shop/bronze/sleepy/preview", {}))
                for _ in range(8)]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        # all eight reached the executor: two on workers (for 15 s), six waiting behind them
        while (ws.executor.stats()["running"], ws.executor.stats()["queued"]) != (2, 6):
            assert loop.time() < deadline, ws.executor.stats()
            await asyncio.sleep(0.05)
        timings = []
        for _ in range(60):
            started = time.perf_counter()
            status, body = await api("GET", "namespaces")
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200 and [n["name"] for n in body["namespaces"]] == ["shop"]
        assert not any(p.done() for p in previews)  # measured while all eight were still in flight
        # past the admission limit (8 here) the answer is 429 at once instead of a longer queue
        assert is_error(await api("POST", "pipelines/shop/bronze/sleepy/preview", {}), 429, "RATE_LIMITED")
        p95 = statistics.quantiles(timings, n=20)[-1]
        print(f"\nGET /namespaces with 8 sleeping previews in flight: p95 {p95:.1f} ms, "
              f"median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms (60 requests)")
        assert p95 < 50, timings
    finally:
        for p in previews:
            p.cancel()
