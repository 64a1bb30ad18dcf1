"""Run ownership: any process submits pending rows, the server claims and executes them; cancel is a state
change honoured by the owning server; the publish fence means a cancelled run never moves ``main``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from rat_jupyter.core.errors import Busy, Conflict, Invalid, NotFound
from rat_jupyter.core.executor import LocalProcessExecutor, load_executor_class
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.scheduler.service import SchedulerService
from rat_jupyter.stores.state import new_id, now_iso
from tests.conftest import make_pipeline, rows


@pytest.fixture(scope="module")
def client(workspace: Workspace) -> Iterator[Workspace]:
    """A second workspace on the same data dir in client mode, like a notebook's: it only submits."""
    ws = Workspace.open(workspace.settings, server=False)
    yield ws
    ws.close()


def main_snapshot(ws: Workspace, ns: str, layer: str, name: str) -> tuple[int | None, list[dict]]:
    table = ws.catalog.load(ws.pid(ns, layer, name))
    snap = table.metadata.snapshot_by_name("main")
    return (snap.snapshot_id if snap else None), table.scan().to_arrow().to_pylist()


def wait_stopped(ws: Workspace, run_id: str, timeout: float = 60) -> dict:
    """Until the run is terminal *and* its worker has stopped (``finished_at`` is recorded then)."""
    deadline = time.monotonic() + timeout
    while True:
        run = ws.get_run(run_id)
        if run["status"] not in ("pending", "running") and run["finished_at"]:
            return run
        assert time.monotonic() < deadline, f"run {run_id} did not stop: {run['status']}"
        time.sleep(0.05)


def test_runs_submitted_by_a_client_are_claimed_and_executed_by_the_server(
        workspace: Workspace, client: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v UNION ALL SELECT 2")
    make_pipeline(workspace, ns, "silver", "b", "SELECT v * 10 AS v FROM {{ ref('bronze.a') }}")
    runs = client.run_selection(f"{ns}.bronze.a+", trigger="notebook", submitted_by="alice")
    assert [r.status for r in runs] == ["pending", "pending"]
    assert runs[1].depends_on == [runs[0].id] and runs[0].depends_on == []
    assert client._executor is None and not client.runs.executes  # a client never starts workers
    final = client.wait_for_runs([r.id for r in runs], timeout=60)
    assert [r["status"] for r in final] == ["success", "success"], [r["error"] for r in final]
    assert {r["server_id"] for r in final} == {workspace.runs.server_id}
    assert {r["submitted_by"] for r in final} == {"alice"}
    assert final[1]["started_at"] >= final[0]["finished_at"]  # the dependency was honoured
    logs = [line["message"] for line in client.run_logs(final[1]["id"])["logs"]]
    assert any(m.startswith(f"Running {ns}.silver.b") for m in logs), logs
    assert rows(workspace, ns, "silver", "b") == [(10,), (20,)]
    (again,) = client.run_selection(f"{ns}.bronze.a")
    with pytest.raises(Busy):  # one active run per pipeline, whichever process submits
        workspace.run_selection(f"{ns}.bronze.a")
    assert client.wait_for_runs([again.id], timeout=60)[0]["status"] == "success"


def test_a_failed_upstream_skips_the_dependent_runs_of_a_client_batch(
        workspace: Workspace, client: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT error('boom') AS v")
    make_pipeline(workspace, ns, "silver", "b", "SELECT * FROM {{ ref('bronze.a') }}")
    runs = client.run_selection(f"{ns}.bronze.a+", wait=True, timeout=60)
    assert [r.status for r in runs] == ["failed", "skipped"]
    assert f"upstream {ns}.bronze.a did not succeed" in runs[1].error


def test_a_claimed_run_fires_the_servers_pipeline_success_trigger(
        workspace: Workspace, client: Workspace, ns: str) -> None:
    sched = SchedulerService(workspace)
    try:
        make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
        make_pipeline(workspace, ns, "silver", "b", "SELECT v + 1 AS v FROM {{ ref('bronze.a') }}")
        sched.create_trigger(ns, "silver", "b", "pipeline_success", {"namespace": ns, "layer": "bronze",
                                                                      "pipeline": "a"})
        (run,) = client.run_selection(f"{ns}.bronze.a", trigger="notebook", wait=True, timeout=60)
        assert run.status == "success"
        deadline = time.monotonic() + 60
        while True:
            followers = workspace.list_runs(namespace=ns, pipeline="b", limit=None)[0]
            if followers and followers[0]["status"] == "success":
                break
            assert time.monotonic() < deadline, "the trigger never ran b"
            time.sleep(0.1)
        assert followers[0]["trigger"] == f"trigger:pipeline_success:{ns}/bronze/a"
        assert rows(workspace, ns, "silver", "b") == [(2,)]
    finally:
        workspace.state.execute("DELETE FROM triggers")
        workspace.runs._listeners.remove(sched.on_run_finished)
        workspace._upload_listeners.remove(sched.on_upload)


def test_listeners_hear_every_run_the_server_executed_whoever_submitted_it(
        workspace: Workspace, client: Workspace, ns: str) -> None:
    heard: list[dict] = []
    got = threading.Event()

    def listener(run: dict) -> None:
        if run["namespace"] == ns:
            heard.append(run)
            got.set()

    workspace.runs.add_listener(listener)
    try:
        make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
        (run,) = client.run_selection(f"{ns}.bronze.a", wait=True, timeout=60)
        assert got.wait(30)
        assert [(r["id"], r["status"]) for r in heard] == [(run.id, "success")]
    finally:
        workspace.runs._listeners.remove(listener)


def test_cancel_from_a_client_at_random_moments_never_publishes(
        workspace: Workspace, client: Workspace, ns: str) -> None:
    """20 runs, each cancelled through the client at a random moment: every run ends either ``cancelled``
    with ``main`` exactly as before, or — when the cancel came after the publish fence — the cancel is
    refused (409) and the run ends ``success``. Never cancelled-but-published."""
    code = ("# @merge_strategy: full_refresh\nimport time\ntime.sleep(0.4)\n"
            "result = pa.table({'v': [time.time_ns()]})\n")
    make_pipeline(workspace, ns, "silver", "t", code, type="python",
                  tests={"one_row": "SELECT 1 WHERE (SELECT count(*) FROM {{ this }}) <> 1"})
    (first,) = client.run_selection(f"{ns}.silver.t", wait=True, timeout=60)
    assert first.status == "success", first.error
    rng = random.Random(14)
    outcomes = {"cancelled": 0, "of_which_stopped_at_the_fence": 0, "refused_publishing": 0, "already_ended": 0}
    for _ in range(20):
        before = main_snapshot(workspace, ns, "silver", "t")
        (run,) = client.run_selection(f"{ns}.silver.t")
        time.sleep(rng.uniform(0, 1.5))
        try:
            answer = client.cancel_run(run.id)
        except Conflict as exc:
            final = wait_stopped(client, run.id)
            assert final["status"] == "success", (exc.message, final["error"])
            outcomes["refused_publishing" if "publishing" in exc.message else "already_ended"] += 1
            assert main_snapshot(workspace, ns, "silver", "t")[0] == int(final["snapshot_id"])
            continue
        assert answer["status"] == "cancelled"
        final = wait_stopped(client, run.id)
        assert final["status"] == "cancelled" and final["publishing_at"] is None
        assert main_snapshot(workspace, ns, "silver", "t") == before
        table = workspace.catalog.load(workspace.pid(ns, "silver", "t"))
        assert list(table.metadata.refs) == ["main"]  # the run branch was dropped
        outcomes["cancelled"] += 1
        logs = [line["message"] for line in client.run_logs(run.id)["logs"]]
        outcomes["of_which_stopped_at_the_fence"] += any(m.startswith("Publish refused") for m in logs)
    print(f"\ncancel at random moments (20 runs): {outcomes}")
    assert outcomes["cancelled"] + outcomes["refused_publishing"] + outcomes["already_ended"] == 20
    assert outcomes["cancelled"] > 0


def test_cancel_of_a_pending_unclaimed_run_ends_it_at_once(tmp_path) -> None:
    """No server on this data dir: the pending row stays pending until someone cancels it."""
    with Workspace.open(Settings(data_dir=tmp_path), server=False) as ws:
        ws.create_namespace("n")
        make_pipeline(ws, "n", "bronze", "a", "SELECT 1 AS v")
        (run,) = ws.run_selection("n.bronze.a")
        time.sleep(0.6)
        assert ws.get_run(run.id)["status"] == "pending" and ws.get_run(run.id)["server_id"] is None
        final = ws.cancel_run(run.id)
        assert final["status"] == "cancelled" and final["finished_at"] and final["cancel_requested_at"]
        with pytest.raises(Conflict):
            ws.cancel_run(run.id)
        with pytest.raises(TimeoutError):  # nobody executes in client mode
            ws.run_selection("n.bronze.a", wait=True, timeout=0.5)
        assert ws._executor is None


def test_a_publishing_run_refuses_a_cancel_and_a_cancelled_run_refuses_to_publish(workspace: Workspace,
                                                                                  ns: str) -> None:
    state = workspace.state
    publishing, cancelled = new_id(), new_id()
    for run_id in (publishing, cancelled):
        state.create_run({"id": run_id, "namespace": ns, "layer": "bronze", "name": run_id[:8], "status": "running",
                          "trigger": "t", "created_at": now_iso(), "server_id": "me", "owner": "x"})
    assert state.begin_publish(publishing, "someone-else") is False  # only the owner may publish
    assert state.begin_publish(publishing, "me") is True
    with pytest.raises(Conflict, match="publishing"):
        workspace.cancel_run(publishing)
    assert workspace.get_run(publishing)["status"] == "running"
    assert workspace.cancel_run(cancelled)["status"] == "cancelled"
    assert state.begin_publish(cancelled, "me") is False
    for run_id in (publishing, cancelled):
        state.update_run(run_id, status="failed", finished_at=now_iso())


def test_recover_fails_only_claimed_runs_and_leaves_unclaimed_ones_for_claiming(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, server_id="alpha")
    with Workspace.open(settings, server=False) as ws:
        ws.create_namespace("n")
        make_pipeline(ws, "n", "bronze", "a", "SELECT 7 AS v")
        (pending,) = ws.run_selection("n.bronze.a")
        claimed = new_id()
        ws.state.create_run({"id": claimed, "namespace": "n", "layer": "bronze", "name": "other",
                             "status": "running", "trigger": "t", "created_at": now_iso(), "owner": "alpha",
                             "server_id": "alpha:1:dead"})
    with Workspace.open(settings) as server:  # a restart of alpha: its claimed run can never finish
        assert server.get_run(claimed)["status"] == "failed"
        (final,) = server.wait_for_runs([pending.id], timeout=60)
        assert final["status"] == "success" and final["owner"] == "alpha"
        assert rows(server, "n", "bronze", "a") == [(7,)]


def test_previews_and_test_runs_are_futures_under_an_admission_limit(tmp_path) -> None:
    from rat_jupyter.core.errors import RateLimited

    settings = Settings(data_dir=tmp_path, concurrency=1, max_inflight_previews=2)
    with Workspace.open(settings) as ws:
        ws.create_namespace("n")
        make_pipeline(ws, "n", "bronze", "slow", "import time\ntime.sleep(2)\nresult = pa.table({'v': [1]})\n",
                      type="python", publish=False)
        first = ws.preview_future("n", "bronze", "slow")
        second = ws.run_tests_future("n", "bronze", "slow")
        assert not first.done()
        with pytest.raises(RateLimited):
            ws.preview_future("n", "bronze", "slow")
        assert first.result(60)["rows"] == [{"v": 1}]
        with pytest.raises(NotFound, match="run the pipeline first"):  # domain errors travel through it
            second.result(60)
        # the slots came back
        assert ws.preview("n", "bronze", "slow", code="result = pa.table({'v': [3]})")["rows"] == [{"v": 3}]


def test_the_executor_is_chosen_by_an_import_string() -> None:
    assert load_executor_class("rat_jupyter.core.executor:LocalProcessExecutor") is LocalProcessExecutor
    assert load_executor_class("rat_jupyter.core.executor.LocalProcessExecutor") is LocalProcessExecutor
    for bad in ("rat_jupyter.core.executor:Nope", "no_such_module:X", "rat_jupyter.core.settings:Settings"):
        with pytest.raises(Invalid):
            load_executor_class(bad)
    caps = LocalProcessExecutor.capabilities
    assert (caps.live_logs, caps.cooperative_cancel, caps.timeout) == (True, True, True)
