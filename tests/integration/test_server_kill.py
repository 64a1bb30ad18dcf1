"""The server-kill drill: ``kill -9`` a real ``jupyter server`` in the middle of a run, restart it on the same
data directory, and check that the stale worker published nothing.

Each iteration: the server executes an incremental run (a Python pipeline that sleeps, no tests) submitted
by a client-mode workspace; the server is killed with SIGKILL at a random moment while the run is on its
worker; its worker must be gone within seconds (``PR_SET_PDEATHSIG`` plus the worker's watchdog); a server
restarted on the same data directory (it must get the data-directory lock) marks the run ``failed``;
``main`` is exactly as before; the next run of the pipeline succeeds. The restarted server is the next
iteration's server, so 10 iterations start 11 servers.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.lock import holder
from tests.conftest import make_pipeline
from tests.fixtures.server import JupyterProcess, clean_env

ITERATIONS = 10
# The run sleeps as long as the drill's control file says: long for the run that is killed (so a worker that
# merely went on to the publish fence would still be alive when the drill looks), zero for the others.
PIPELINE = ("# @merge_strategy: incremental\n# @unique_key: id\nimport pathlib, time\n"
            "time.sleep(float(pathlib.Path({control!r}).read_text()))\n"
            "result = pa.table({{'id': [time.time_ns()], 'v': [1]}})\n")
KILLED_RUN_SLEEP = 4.0
WORKER_GONE_WITHIN = 1.5  # seconds after the server died


class Server(JupyterProcess):
    def __init__(self, tmp: Path, data_dir: Path, n: int) -> None:
        super().__init__(f"--RatApp.data_dir={data_dir}", "--RatApp.concurrency=1", "--RatApp.server_id=drill",
                         cwd=tmp, log=tmp / f"server-{n}.log", env=clean_env(tmp / "runtime"))
        self.data_dir = data_dir

    def wait_listening(self, timeout: float = 90) -> None:
        """Until this process holds the data-directory lock and answers."""
        def ready() -> bool:
            info = holder(self.data_dir)
            return bool(info and info.get("pid") == self.process.pid and info.get("url") and self.serves_jupyter())

        self.wait_until(ready, timeout)

    def workers(self) -> list[int]:
        """Pids of this server's worker processes (the drill needs them; the product never does)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for child in children:
            try:
                if "rat_jupyter.core.worker" in " ".join(child.cmdline()):
                    out.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return out


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_status(ws: Workspace, run_id: str, statuses: tuple[str, ...], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = ws.get_run(run_id)
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} stayed {run['status']}"
        time.sleep(0.05)


def _main_snapshot(ws: Workspace) -> int:
    snap = ws.catalog.load(ws.pid("drill", "bronze", "slow")).metadata.snapshot_by_name("main")
    assert snap is not None
    return int(snap.snapshot_id)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the drill reads /proc through psutil")
def test_kill_9_of_the_server_mid_run_publishes_nothing_and_leaves_no_worker(
        tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    server = Server(tmp_path, data_dir, 0)
    servers.append(server)
    server.wait_listening()
    client = Workspace.open(Settings(data_dir=data_dir), server=False)
    rng = random.Random(12)
    counts = {"killed_mid_run": 0, "worker_gone": 0, "failed_after_restart": 0, "main_unchanged": 0,
              "next_run_succeeded": 0}
    started = time.monotonic()
    try:
        client.create_namespace("drill")
        control = tmp_path / "sleep"
        control.write_text("0")
        make_pipeline(client, "drill", "bronze", "slow", PIPELINE.format(control=str(control)), type="python")
        (first,) = client.run_selection("drill.bronze.slow", wait=True, timeout=120)
        assert first.status == "success", first.error
        for i in range(ITERATIONS):
            before = _main_snapshot(client)
            control.write_text(str(KILLED_RUN_SLEEP))
            (run,) = client.run_selection("drill.bronze.slow")
            _wait_status(client, run.id, ("running",))
            workers = server.workers()
            assert workers, "the server has no worker process"
            time.sleep(rng.uniform(0.1, 1.5))
            assert client.get_run(run.id)["status"] == "running"
            server.kill()
            counts["killed_mid_run"] += 1

            control.write_text("0")
            deadline = time.monotonic() + WORKER_GONE_WITHIN
            while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [pid for pid in workers if _alive(pid)], f"iteration {i}: a worker outlived its server"
            counts["worker_gone"] += 1

            server = Server(tmp_path, data_dir, i + 1)  # the same data dir: it must get the lock now
            servers.append(server)
            server.wait_listening()
            final = _wait_status(client, run.id, ("success", "failed", "cancelled"))
            assert final["status"] == "failed", final
            assert final["publishing_at"] is None and not final["snapshot_id"], final
            counts["failed_after_restart"] += 1
            assert _main_snapshot(client) == before, f"iteration {i}: the stale worker published"
            counts["main_unchanged"] += 1

            (after,) = client.run_selection("drill.bronze.slow", wait=True, timeout=120)
            assert after.status == "success", after.error
            assert _main_snapshot(client) == int(after.snapshot_id) != before
            counts["next_run_succeeded"] += 1
    finally:
        client.close()
    print(f"\nserver-kill drill ({ITERATIONS} iterations, {time.monotonic() - started:.0f}s): {counts}")
    assert counts == dict.fromkeys(counts, ITERATIONS)
