"""A real Jupyter server and a real IPython kernel it started: ``%rat run`` submits, the server executes.

The kernel gets the server's environment (``RAT_SERVER``, ``RAT_SETTINGS`` without secrets), so it is a client:
its runs are pending rows the server claims, they show up in ``GET /runs`` and stream over SSE like any run,
the server's triggers fire for them, a cancel through REST stops them before they publish — and the kernel
never starts a worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.names import PipelineId
from tests.handlers.conftest import Api, Http, api, create_pipeline, http, rat_data_dir, wait_run  # noqa: F401
from tests.handlers.test_runs import parse_events

pytestmark = pytest.mark.timeout(600)

SLOW_PY = """# @merge_strategy: full_refresh
import time
log('first')
time.sleep({seconds})
log('second')
result = duckdb_conn.sql(f"SELECT 1 AS id, '{{run_started_at}}' AS at").arrow()
"""
# Busy in DuckDB for a while: a cancel interrupts the query (cooperative), so no worker has to be killed and
# respawned between the attempts of the cancel loop, and the random moments land in every phase of a run.
BUSY_PY = """# @merge_strategy: full_refresh
import time
log('first')
until = time.monotonic() + {seconds}
while time.monotonic() < until:
    duckdb_conn.sql("SELECT count(*) FROM range(3000000) t(x) WHERE x % 7 = 3").fetchall()
log('second')
result = duckdb_conn.sql(f"SELECT 1 AS id, '{{run_started_at}}' AS at").arrow()
"""
FAILING_SQL = "SELECT * FROM no_such_table\n"


@pytest.fixture
def jp_server_config(rat_data_dir: Path) -> dict[str, Any]:  # noqa: F811 - the imported fixture, configured here
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}},
            "RatApp": {"data_dir": str(rat_data_dir), "concurrency": 1, "cancel_grace_seconds": 0.5}}


class Kernel:
    """An IPython kernel started by the server's own kernel manager, driven over its channels."""

    def __init__(self, manager: Any, kernel_id: str) -> None:
        self.manager = manager
        self.kernel_id = kernel_id
        self.km = manager.get_kernel(kernel_id)
        self.client = self.km.client()

    @property
    def pid(self) -> int:
        return int(self.km.provisioner.pid)

    async def run(self, code: str, timeout: float = 120) -> tuple[dict[str, Any], str]:
        """Execute a cell; the reply content and everything it printed or displayed as text."""
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(content["text"])
            elif msg["msg_type"] in ("display_data", "execute_result", "update_display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif msg["msg_type"] == "error":
                out.append(f"{content['ename']}: {content['evalue']}\n")

        reply = await self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        return reply["content"], "".join(out)


@contextlib.asynccontextmanager
async def server_kernel(jp_serverapp: Any) -> AsyncIterator[Kernel]:
    """A kernel the server starts (so it inherits what the server exports), with ``%rat`` loaded."""
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel(kernel_name="python3")
    k = Kernel(manager, kernel_id)
    k.client.start_channels()
    try:
        await k.client.wait_for_ready(timeout=60)
        content, text = await k.run("%load_ext rat_jupyter.kernel")
        assert content["status"] == "ok", text
        yield k
    finally:
        k.client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)


def descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below ``pid``: (pid, command line)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[tuple[int, str]] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            cmd = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out.append((child, cmd))
        todo.extend(children.get(child, []))
    return out


def assert_no_worker(kernel: Kernel) -> None:
    below = descendants(kernel.pid)
    assert not [cmd for _, cmd in below if "rat_jupyter.core.worker" in cmd], below
    assert below == [], below  # a client kernel starts no process at all


async def newest_run(api: Api, ns: str, name: str, seen: set[str], timeout: float = 30) -> dict[str, Any]:  # noqa: F811
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = await api("GET", "runs", namespace=ns, pipeline=name)
        assert status == 200, body
        fresh = [r for r in body["runs"] if r["id"] not in seen]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no new run of {ns}.{name} appeared in GET /runs")


def main_of(ws: Any, pid: PipelineId) -> tuple[Any, ...]:
    """What must not move when a run is cancelled: main's snapshot, the schema and the table properties."""
    table = ws.catalog.load(pid)
    assert table is not None
    meta = table.metadata
    return meta.current_snapshot_id, meta.current_schema_id, dict(meta.properties), table.scan().to_arrow().to_pylist()


async def test_a_notebook_run_is_executed_by_the_server_like_any_run(
        jp_serverapp: Any, api: Api, http: Http) -> None:  # noqa: F811
    async with server_kernel(jp_serverapp) as kernel:
        await _a_notebook_run_is_a_server_run(jp_serverapp, api, http, kernel)


async def _a_notebook_run_is_a_server_run(jp_serverapp: Any, api: Api, http: Http, kernel: Kernel) -> None:  # noqa: F811
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    scheduler = jp_serverapp.web_app.settings["rat_scheduler"]
    await create_pipeline(api, "nb", "bronze", "slow", SLOW_PY.format(seconds=1.5), type="python")
    await create_pipeline(api, "nb", "silver", "after", "SELECT id + 1 AS id FROM {{ ref('bronze.slow') }}")
    scheduler.create_trigger("nb", "silver", "after", "pipeline_success",
                             {"namespace": "nb", "layer": "bronze", "pipeline": "slow"})

    cell = asyncio.ensure_future(kernel.run("runs = %rat run nb.bronze.slow"))
    run = await newest_run(api, "nb", "slow", set())
    assert run["trigger"] == "notebook" and run["submitted_by"]
    received: list[tuple[float, str]] = []
    resp = await http("GET", f"runs/{run['id']}/logs", headers={"Accept": "text/event-stream"},
                      streaming_callback=lambda chunk: received.append((time.monotonic(), chunk.decode())))
    content, text = await cell
    assert content["status"] == "ok", text
    assert resp.code == 200
    events = parse_events("".join(c for _, c in received))
    logs = [e["data"]["message"] for e in events if e["event"] == "log"]
    assert logs.index("first") < logs.index("second")
    assert events[-1]["data"]["status"] == "success"
    first_at = next(t for t, c in received if '"message": "first"' in c)
    second_at = next(t for t, c in received if '"message": "second"' in c)
    assert second_at - first_at > 1.0  # live: the first line arrived while the pipeline still slept
    assert "[bronze.slow] info  first" in text and "[bronze.slow] info  second" in text  # the kernel followed it

    record = (await api("GET", f"runs/{run['id']}"))[1]
    assert record["status"] == "success" and record["server_id"] == ws.runs.server_id  # claimed by the server
    # The server's pipeline_success trigger fired for the notebook's run.
    deadline = time.monotonic() + 60
    while True:
        after = (await api("GET", "runs", namespace="nb", pipeline="after"))[1]["runs"]
        if after and after[0]["status"] in ("success", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, after
        await asyncio.sleep(0.2)
    assert after[0]["status"] == "success" and after[0]["trigger"] == "trigger:pipeline_success:nb/bronze/slow"

    # A Workspace opened in the notebook with the server's settings is a client too, even with server=True.
    content, text = await kernel.run(
        "from rat_jupyter.core.settings import Settings\nfrom rat_jupyter.core.workspace import Workspace\n"
        "w = Workspace.open(Settings.from_env())\n"
        "r = w.run_selection('nb.bronze.slow', trigger='script', wait=True, timeout=120)[0]\n"
        "print(w.server, r.status, r.server_id)\nw.close()")
    assert content["status"] == "ok", text
    assert text.split() == ["False", "success", ws.runs.server_id], text
    assert_no_worker(kernel)

    # Previews and tests run in the kernel's own process; still no worker process below the kernel.
    content, text = await kernel.run("%rat preview nb.silver.after --limit 3")
    assert content["status"] == "ok" and "id" in text, text
    content, text = await kernel.run("%rat tests nb.silver.after")
    assert content["status"] == "ok" and "no quality tests" in text, text
    content, text = await kernel.run("_rat = get_ipython().magics_manager.registry['RatMagics']\n"
                                     "print(_rat.door.mode, type(_rat.workspace.executor).__name__)")
    assert text.split() == ["client", "InProcessExecutor"], text
    assert_no_worker(kernel)

    # A failed run raises (so "Run All" stops) with one line; configurable.
    await create_pipeline(api, "nb", "bronze", "broken", FAILING_SQL)
    content, text = await kernel.run("%rat run nb.bronze.broken")
    assert content["status"] == "error" and content["ename"] == "RunFailed", text
    assert content["evalue"].startswith("nb.bronze.broken failed") and len(content["traceback"]) == 1
    content, text = await kernel.run("%config RatMagics.raise_on_failure = False\n"
                                     "runs = %rat run nb.bronze.broken\nprint([r.status for r in runs])")
    assert content["status"] == "ok" and "['failed']" in text, text
    assert_no_worker(kernel)


async def test_notebook_runs_cancelled_through_rest_never_publish(jp_serverapp: Any, api: Api) -> None:  # noqa: F811
    async with server_kernel(jp_serverapp) as kernel:
        await _cancel_twenty_times(jp_serverapp, api, kernel)


async def _cancel_twenty_times(jp_serverapp: Any, api: Api, kernel: Kernel) -> None:  # noqa: F811
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    pid = PipelineId("nb", "bronze", "slow")
    await create_pipeline(api, "nb", "bronze", "slow", BUSY_PY.format(seconds=1.0), type="python")
    content, text = await kernel.run("%rat run nb.bronze.slow")
    assert content["status"] == "ok", text
    before = main_of(ws, pid)
    seen = {r["id"] for r in (await api("GET", "runs", namespace="nb"))[1]["runs"]}
    rnd = random.Random(14)
    counts = {"cancelled": 0, "409 then success": 0}
    moments: list[str] = []  # the run's status when the cancel was asked
    for attempt in range(20):
        # A run cancelled while it ran had its worker killed: start the next one on a free worker, so the
        # random moments spread over every phase instead of all landing on a run still queued behind it.
        deadline = time.monotonic() + 60
        while ws.executor.stats().get("running") or ws.executor.stats().get("queued"):
            assert time.monotonic() < deadline, ws.executor.stats()
            await asyncio.sleep(0.1)
        cell = asyncio.ensure_future(kernel.run("%rat run nb.bronze.slow"))
        run = await newest_run(api, "nb", "slow", seen)
        seen.add(run["id"])
        await asyncio.sleep(rnd.uniform(0.0, 2.0))  # pending, claimed, running, publishing or done
        moments.append((await api("GET", f"runs/{run['id']}"))[1]["status"])
        status, body = await api("POST", f"runs/{run['id']}/cancel")
        content, text = await cell
        final = await wait_run(api, run["id"])
        if status == 200:
            assert final["status"] == "cancelled", (attempt, final)
            assert content["status"] == "error" and content["ename"] == "RunFailed", text
            assert main_of(ws, pid) == before, f"attempt {attempt}: a cancelled run moved main"
            counts["cancelled"] += 1
        else:
            assert status == 409, (status, body)
            assert final["status"] == "success", (attempt, final, body)
            assert content["status"] == "ok", text
            assert main_of(ws, pid) != before
            before = main_of(ws, pid)
            counts["409 then success"] += 1
    print(f"20 notebook runs cancelled through REST at random moments: {counts}; "
          f"status just before the cancel: { {m: moments.count(m) for m in sorted(set(moments))} }")
    assert counts["cancelled"] >= 3  # the random moments do land while runs are pending or running
    started = time.monotonic()
    content, text = await kernel.run("%rat run nb.bronze.slow")  # the server is still healthy
    assert content["status"] == "ok", text
    print(f"a run after the cancels took {time.monotonic() - started:.1f} s")
    assert_no_worker(kernel)
