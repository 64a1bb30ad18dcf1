"""Resource limits through the real server: query bombs and hostile templates fail fast with a 4xx, the
server's memory stays within the configured limit plus a margin, and ``/health`` keeps answering quickly.

The Jupyter server runs in this test process (pytest-jupyter), so this process's resident memory is the
server's.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.handlers.conftest import Api, is_error

MEMORY_LIMIT = "500MB"
LIMIT_BYTES = 500 * 1000**2
MARGIN_BYTES = 400 * 1024**2  # the guard's 256 MiB allowance plus one poll's worth of growth and allocator slack
pytestmark = pytest.mark.rat_config(concurrency=1, query_memory_limit=MEMORY_LIMIT, query_timeout_seconds=20)


def _rss() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Peak:
    """Samples this process's RSS every 5 ms while active."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / 1024**2


async def _idle_health(api: Api, samples: int = 40) -> list[float]:
    """``/health`` latencies with nothing hostile running: what this machine's load alone costs."""
    latencies = []
    for _ in range(samples):
        start = time.perf_counter()
        assert (await api("GET", "health"))[0] == 200
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)
    return latencies


def _assert_fast(latencies: list[float], idle: list[float]) -> None:
    """Under 100 ms while the hostile request runs (the bug this guards against froze it for seconds).

    A loaded shared machine deschedules the process now and then on its own (load averages of 30+ on two
    cores were seen while this was written), so: the median and the 90th percentile must be under 100 ms
    (plus the slowest idle sample, a few ms on a quiet machine), and no answer may take a second."""
    ordered = sorted(latencies)
    median, p90 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.9)]
    note = f"(idle slowest {max(idle) * 1000:.0f} ms, all {[round(x * 1000) for x in ordered]})"
    assert median < 0.1, f"median /health {median * 1000:.0f} ms {note}"
    assert p90 < 0.1 + max(idle), f"90th percentile /health {p90 * 1000:.0f} ms {note}"
    assert ordered[-1] < 1.0, f"slowest /health {ordered[-1] * 1000:.0f} ms {note}"


async def _health_while(api: Api, work: Callable[[], Awaitable[Any]]) -> tuple[Any, list[float]]:
    """Run ``work`` and poll ``GET /health`` until it finishes; return its result and every latency."""
    task = asyncio.ensure_future(work())
    latencies: list[float] = []
    await asyncio.sleep(0.05)  # let the hostile request reach its worker thread
    while not task.done():
        start = time.perf_counter()
        status, _ = await api("GET", "health")
        latencies.append(time.perf_counter() - start)
        assert status == 200
        await asyncio.sleep(0.02)
    return await task, latencies


async def test_query_bombs_fail_fast_with_a_4xx_and_memory_stays_bounded(api: Api) -> None:
    assert (await api("POST", "query", {"sql": "SELECT 1 AS warm"}))[0] == 200  # build the service first
    bombs = ["SELECT len(list_sort(range(300000000))) AS n", "SELECT length(repeat('x', 1500000000)) AS n",
             "SELECT generate_series(1, 10**12) AS s", "SELECT rpad('x', 2000000000, 'y') AS s",
             "SELECT printf('%999999999d', 1) AS s"]
    for sql in bombs:
        with _Peak() as peak:
            start = time.perf_counter()
            reply = await api("POST", "query", {"sql": sql})
            elapsed = time.perf_counter() - start
        assert is_error(reply, 400, "QUERY_ERROR"), (sql, reply)
        assert "at most" in reply[1]["message"] or "literal" in reply[1]["message"], reply
        assert elapsed < 1.0, (sql, elapsed)
        assert peak.growth_mib < 50, (sql, peak.growth_mib)
    # A query that passes the static checks but grows without bound is stopped by the memory limit / guard.
    grow = "SELECT len(list(x)) AS n FROM range(10000000) t(x), range(40) u(y)"
    with _Peak() as peak:
        reply = await api("POST", "query", {"sql": grow})
    assert is_error(reply, 413, "QUERY_LIMIT"), reply
    assert MEMORY_LIMIT in reply[1]["message"]
    assert peak.peak - peak.baseline < LIMIT_BYTES + MARGIN_BYTES, f"grew {peak.growth_mib:.0f} MiB"
    # and the service keeps working
    status, body = await api("POST", "query", {"sql": "SELECT sum(x) AS total FROM range(1000) t(x)"})
    assert (status, body["rows"]) == (200, [{"total": 499500}])  # a number, not a string


async def test_health_stays_fast_while_a_hostile_query_runs(api: Api) -> None:
    assert (await api("POST", "query", {"sql": "SELECT 1 AS warm"}))[0] == 200
    grow = "SELECT len(list(x)) AS n FROM range(10000000) t(x), range(40) u(y)"
    idle = await _idle_health(api)
    reply, latencies = await _health_while(api, lambda: api("POST", "query", {"sql": grow}))
    assert reply[0] in (408, 413), reply
    assert len(latencies) >= 5
    _assert_fast(latencies, idle)


async def test_hostile_templates_are_refused_quickly_and_health_stays_fast(api: Api) -> None:
    status, body = await api("POST", "namespaces", {"name": "tpl"})
    assert status == 201, body
    hostile = {
        "pow": "SELECT {{ 7**(10**7) }} AS x",
        "str": "SELECT {{ (10**5000)|string }} AS x",
        "rep": "SELECT '{{ 'x' * 10**9 }}' AS x",
        "fmt": "SELECT '{{ '{:>999999999}'.format(1) }}' AS x",
    }
    for name, source in hostile.items():
        start = time.perf_counter()
        status, out = await api("POST", "pipelines", {"namespace": "tpl", "layer": "bronze", "name": name,
                                                      "type": "sql", "source": source})
        if status == 201:  # saved as a draft: publishing parses it (renders the template)
            status, out = await api("POST", f"pipelines/tpl/bronze/{name}/publish", {"message": "x"})
        assert 400 <= status < 500 and {"message", "reason", "code"} <= set(out), (name, status, out)
        assert "too large" in out["message"] or "format width" in out["message"], out
        assert time.perf_counter() - start < 2.0, name

    # a template that loops for ever is stopped by the render time budget; the server stays responsive
    spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}SELECT 1 AS x"

    async def save_and_publish() -> tuple[int, Any]:
        status, out = await api("POST", "pipelines", {"namespace": "tpl", "layer": "bronze", "name": "spin",
                                                      "type": "sql", "source": spin})
        if status == 201:
            status, out = await api("POST", "pipelines/tpl/bronze/spin/publish", {"message": "x"})
        return status, out

    idle = await _idle_health(api)
    (status, out), latencies = await _health_while(api, save_and_publish)
    assert 400 <= status < 500 and "longer than" in out["message"], (status, out)
    assert len(latencies) >= 5
    _assert_fast(latencies, idle)

    big = "SELECT 1 AS x -- " + "y" * 2_000_000
    status, out = await api("POST", "pipelines", {"namespace": "tpl", "layer": "bronze", "name": "big",
                                                  "type": "sql", "source": big})
    assert 400 <= status < 500 and {"message", "reason", "code"} <= set(out), (status, out)


async def test_the_query_console_shows_no_server_paths(api: Api, rat_data_dir: Any) -> None:
    from tests.handlers.conftest import create_pipeline, run_pipeline

    await create_pipeline(api, "shop", "bronze", "t", "SELECT 1 AS id")
    run = await run_pipeline(api, "shop", "bronze", "t")
    assert run["status"] == "success", run
    secret = str(rat_data_dir)
    for sql in ("SELECT sql FROM duckdb_views()", "SELECT * FROM duckdb_views()",
                "SELECT macro_definition FROM duckdb_functions() WHERE macro_definition IS NOT NULL",
                "SELECT * FROM duckdb_databases()"):
        status, body = await api("POST", "query", {"sql": sql, "limit": 100000})
        assert status == 200, (sql, body)
        assert secret not in str(body), sql
    status, body = await api("POST", "query", {"sql": "SELECT sql FROM duckdb_views() WHERE view_name = 't'"})
    assert status == 200 and "warehouse/" in body["rows"][0]["sql"], body
    for sql in ("SELECT * FROM pg_settings", "SELECT * FROM information_schema.views",
                "SELECT * FROM system.main.duckdb_views()", "SELECT * FROM duckdb_settings()",
                "SELECT * FROM sqlite_master"):
        status, body = await api("POST", "query", {"sql": sql})
        assert status == 400 and secret not in str(body), (sql, body)
    status, body = await api("POST", "query", {"sql": "SELECT * FROM iceberg_scan('/etc/passwd')"})
    assert status == 400 and secret not in str(body)
    # values Python cannot hold come back as text instead of failing the request
    status, body = await api("POST", "query", {"sql": "SELECT DATE '-5000-01-01' AS d, 'infinity'::TIMESTAMP AS t"})
    assert status == 200 and body["rows"][0]["d"] == "-5000-01-01", body
