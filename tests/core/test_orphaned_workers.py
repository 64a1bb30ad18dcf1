"""Workers die with their owner, and the publish fence is the state store's: a run that is no longer
``running`` on this server (failed by a restarted server's ``recover()``, cancelled, or whose namespace was
deleted) never moves ``main``. Namespace deletes and run submissions are serialised.

The server-kill drill (a real ``jupyter server`` killed with SIGKILL mid-run) is in
``tests/integration/test_server_kill.py``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

import pytest

from rat_jupyter.core.errors import Conflict, NotFound
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.worker import ORPHANED_EXIT
from rat_jupyter.core.workspace import Workspace
from tests.conftest import data_dir, make_pipeline

SLOW = ("# @merge_strategy: incremental\n# @unique_key: id\nimport time\ntime.sleep({sleep})\n"
        "result = pa.table({{'id': [time.time_ns()], 'v': [1]}})\n")


def _spawn_worker(parent_pid: int | None) -> tuple[subprocess.Popen[bytes], Connection]:
    """A worker exactly as the executor starts one (its settings first on the channel)."""
    parent, child = socket.socketpair()
    args = [sys.executable, "-m", "rat_jupyter.core.worker", str(child.fileno())]
    if parent_pid is not None:
        args.append(str(parent_pid))
    proc = subprocess.Popen(args, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    child.close()
    conn = Connection(parent.detach())
    conn.send(Settings())
    return proc, conn


def test_a_worker_whose_control_channel_closes_exits_at_once() -> None:
    proc, conn = _spawn_worker(os.getpid())
    assert conn.poll(120) and conn.recv() == ("ready",)
    started = time.monotonic()
    conn.close()  # what a dead server looks like from the worker: EOF on the channel
    assert proc.wait(timeout=10) == ORPHANED_EXIT
    assert time.monotonic() - started < 5
    assert b"the server that started this worker is gone" in proc.stderr.read()


def test_a_worker_whose_parent_is_already_gone_does_not_start() -> None:
    """The parent died between fork and ``prctl``: the worker sees a different parent and exits."""
    proc, conn = _spawn_worker(1 if os.getpid() != 1 else 2)
    try:
        assert proc.wait(timeout=60) == ORPHANED_EXIT
    finally:
        conn.close()


def _wait_status(ws: Workspace, run_id: str, statuses: tuple[str, ...], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = ws.get_run(run_id)
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} stayed {run['status']}"
        time.sleep(0.05)


def test_a_run_marked_failed_by_another_process_mid_run_never_publishes(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "slow", SLOW.format(sleep=1.5), type="python")
    (first,) = workspace.run_selection(f"{ns}.bronze.slow", wait=True, timeout=120)
    assert first.status == "success", first.error
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "slow"))
    before = table.metadata.snapshot_by_name("main").snapshot_id

    (run,) = workspace.run_selection(f"{ns}.bronze.slow")
    _wait_status(workspace, run.id, ("running",))
    # Another process (a restarted server's recover(), an operator) marks the row failed while the worker
    # is still sleeping in the pipeline: the fence's compare-and-set must refuse the publish.
    script = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute(\"UPDATE runs SET status = 'failed', error = 'failed elsewhere' WHERE id = ?\", "
              "(sys.argv[2],)); c.commit()")
    subprocess.run([sys.executable, "-c", script, str(data_dir(workspace) / "state.db"), run.id], check=True,
                   timeout=60)
    final = _wait_status(workspace, run.id, ("failed",))
    deadline = time.monotonic() + 60
    while not workspace.get_run(run.id)["finished_at"]:  # the worker reached the fence and stopped
        assert time.monotonic() < deadline
        time.sleep(0.05)
    final = workspace.get_run(run.id)
    assert final["status"] == "failed" and final["publishing_at"] is None and not final["snapshot_id"]
    logs = [line["message"] for line in workspace.run_logs(run.id)["logs"]]
    assert any(m.startswith("Publish refused") for m in logs), logs
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "slow"))
    assert table.metadata.snapshot_by_name("main").snapshot_id == before
    (after,) = workspace.run_selection(f"{ns}.bronze.slow", wait=True, timeout=120)
    assert after.status == "success", after.error


def test_the_fence_refuses_a_run_whose_namespace_is_gone(workspace: Workspace, ns: str) -> None:
    state = workspace.state
    from rat_jupyter.stores.state import new_id, now_iso

    run_id = new_id()
    state.create_run({"id": run_id, "namespace": ns, "layer": "bronze", "name": "x", "status": "running",
                      "trigger": "t", "created_at": now_iso(), "server_id": "me", "owner": "x"})
    with sqlite3.connect(data_dir(workspace) / "state.db") as conn:  # deleted behind the guard's back
        conn.execute("DELETE FROM namespaces WHERE name = ?", (ns,))
    try:
        assert state.begin_publish(run_id, "me") is False
    finally:
        state.update_run(run_id, status="failed", finished_at=now_iso())


def test_namespace_delete_and_run_submission_are_serialised(workspace: Workspace) -> None:
    """16+ races of a delete against a submission: either the delete is refused (the run is active) or the
    submission is refused (the namespace is gone) — never a run, or a table, in a deleted namespace."""
    outcomes = {"delete_won": 0, "submit_won": 0}
    for i in range(20):
        ns = f"race_{i}"
        workspace.create_namespace(ns)
        make_pipeline(workspace, ns, "bronze", "a", "import time\ntime.sleep(0.3)\nresult = pa.table({'v': [1]})\n",
                      type="python")
        barrier = threading.Barrier(2)
        result: dict[str, object] = {}

        def delete(ns: str = ns, barrier: threading.Barrier = barrier, result: dict = result) -> None:
            barrier.wait()
            try:
                workspace.delete_namespace(ns)
                result["deleted"] = True
            except Conflict:
                result["deleted"] = False

        def submit(ns: str = ns, barrier: threading.Barrier = barrier, result: dict = result) -> None:
            barrier.wait()
            try:
                (run,) = workspace.run_selection(f"{ns}.bronze.a")
                result["run"] = run.id
            except NotFound:
                result["run"] = None

        threads = [threading.Thread(target=delete), threading.Thread(target=submit)]
        if i % 2:
            threads.reverse()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if result["run"] is not None:
            (final,) = workspace.wait_for_runs([str(result["run"])], timeout=120)
        if result["deleted"]:
            outcomes["delete_won"] += 1
            assert result["run"] is None  # the submission saw the namespace gone
            assert workspace.catalog.list_tables(ns) == []
            with pytest.raises(NotFound):
                workspace.state.get_namespace(ns)
        else:
            outcomes["submit_won"] += 1
            assert result["run"] is not None and final["status"] == "success", final["error"]
            workspace.delete_namespace(ns)  # no longer active: the delete goes through
            assert workspace.catalog.list_tables(ns) == []
        assert not [r for r in workspace.state.active_runs() if r["namespace"] == ns]
    print(f"\nnamespace delete vs submit (20 races): {outcomes}")
    assert sum(outcomes.values()) == 20
