"""Two RAT servers sharing one PostgreSQL state store: runs work, and a schedule fires exactly once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.scheduler.service import SchedulerService
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401


def test_two_servers_share_state_and_fire_each_slot_once(postgres: PostgresServer, tmp_path) -> None:  # noqa: F811
    url = postgres.create_database("shared")
    settings = Settings(data_dir=tmp_path, state_url=url, concurrency=1)
    one, two = Workspace.open(settings), Workspace.open(settings)
    try:
        one.create_namespace("shop")
        one.create_pipeline("shop", "bronze", "a", source="SELECT 42 AS answer")
        one.publish_pipeline("shop", "bronze", "a")
        assert [n["name"] for n in two.list_namespaces()] == ["shop"]  # the second server sees it

        clock = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
        a, b = SchedulerService(one, lambda: clock), SchedulerService(two, lambda: clock)
        assert one.state.acquire_leader("scheduler") is True
        assert two.state.acquire_leader("scheduler") is False  # only the leader schedules
        schedule = a.create_schedule("shop", "bronze", "a", "0 * * * *")
        due = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
        fired: list[str | None] = []
        threads = [threading.Thread(target=lambda s=s: fired.append(s.fire_schedule(schedule["id"], due)))
                   for s in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len([f for f in fired if f]) == 1
        (run_id,) = [f for f in fired if f]
        deadline = time.monotonic() + 60
        while two.get_run(run_id)["status"] in ("pending", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        run = two.get_run(run_id)
        assert run["status"] == "success", run["error"]
        assert any("Created" in line["message"] for line in two.run_logs(run_id)["logs"])
        assert two.query("SELECT answer FROM shop.bronze.a")["rows"] == [{"answer": 42}]
    finally:
        one.close()
        two.close()


def test_a_restarting_server_recovers_only_its_own_runs(postgres: PostgresServer, tmp_path) -> None:  # noqa: F811
    from rat_jupyter.stores.state import new_id, now_iso

    url = postgres.create_database("recover")
    mine, theirs = new_id(), new_id()
    first = Workspace.open(Settings(data_dir=tmp_path, state_url=url, server_id="alpha"), server=False)
    for run_id, owner in ((mine, "alpha"), (theirs, "beta")):
        first.state.create_run({"id": run_id, "namespace": "n", "layer": "bronze", "name": "p", "status": "running",
                                "trigger": "t", "created_at": now_iso(), "owner": owner})
    first.close()
    restarted = Workspace.open(Settings(data_dir=tmp_path, state_url=url, server_id="alpha"))
    try:
        assert restarted.get_run(mine)["status"] == "failed"
        assert restarted.get_run(theirs)["status"] == "running"  # beta may still be executing it
    finally:
        restarted.close()


def test_two_servers_never_run_the_same_run_twice_and_either_one_cancels(postgres: PostgresServer,  # noqa: F811
                                                                           tmp_path) -> None:
    url = postgres.create_database("claims")
    settings = Settings(data_dir=tmp_path, state_url=url, concurrency=2)
    one, two = Workspace.open(settings), Workspace.open(settings)
    client = Workspace.open(settings, server=False)  # a notebook: submits, never executes
    marker = tmp_path / "executions.txt"
    try:
        one.create_namespace("shop")
        code = (f"with open({str(marker)!r}, 'a') as f:\n    f.write('x\\n')\n"
                "result = pa.table({'v': [1]})\n")
        names = [f"p{i}" for i in range(12)]
        for name in names:
            one.create_pipeline("shop", "bronze", name, type="python", source=code)
            one.publish_pipeline("shop", "bronze", name)
        submitters = [client, one, two]
        runs = [submitters[i % 3].run_selection(f"shop.bronze.{name}")[0] for i, name in enumerate(names)]
        final = client.wait_for_runs([r.id for r in runs], timeout=120)
        assert [r["status"] for r in final] == ["success"] * 12, [r["error"] for r in final]
        assert marker.read_text().count("x") == 12  # every run executed exactly once
        for run in final:
            starts = [m["message"] for m in client.run_logs(run["id"])["logs"] if m["message"].startswith("Running")]
            assert len(starts) == 1, starts
        owners = {r["server_id"] for r in final}
        assert owners <= {one.runs.server_id, two.runs.server_id}
        print(f"\n12 runs over two servers: {sorted(sum(r['server_id'] == s for r in final) for s in owners)}")

        # a cancel sent through the server that does not execute the run stops it all the same
        one.create_pipeline("shop", "bronze", "slow", type="python",
                            source="import time\ntime.sleep(60)\nresult = pa.table({'v': [1]})\n")
        one.publish_pipeline("shop", "bronze", "slow")
        (slow,) = client.run_selection("shop.bronze.slow")
        deadline = time.monotonic() + 60
        while (run := client.get_run(slow.id))["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other = two if run["server_id"] == one.runs.server_id else one
        assert other.cancel_run(slow.id)["status"] == "cancelled"
        while not (run := client.get_run(slow.id))["finished_at"]:  # the owner stopped the worker
            assert time.monotonic() < deadline, run
            time.sleep(0.05)
        assert run["status"] == "cancelled" and run["publishing_at"] is None
        assert one.catalog.load(one.pid("shop", "bronze", "slow")) is None  # nothing was published
    finally:
        client.close()
        one.close()
        two.close()
