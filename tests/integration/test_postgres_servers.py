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
