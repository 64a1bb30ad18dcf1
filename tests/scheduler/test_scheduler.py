"""Schedules, triggers and the reaper, driven by an injected clock (no sleeping for minutes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rat_jupyter.core.errors import Invalid, NotFound, RateLimited
from rat_jupyter.core.schedules import Schedules
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.scheduler.service import SchedulerService
from tests.conftest import make_pipeline

pytestmark = pytest.mark.both_profiles


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))


@pytest.fixture
def sched(workspace: Workspace, clock: Clock) -> Iterator[SchedulerService]:
    service = SchedulerService(workspace, clock)
    yield service
    workspace.state.execute("DELETE FROM schedules")  # tests share a workspace: leave no due work behind
    workspace.state.execute("DELETE FROM triggers")
    workspace.runs._listeners.remove(service.on_run_finished)
    workspace._upload_listeners.remove(service.on_upload)


def runs_of(ws: Workspace, ns: str, name: str | None = None) -> list[dict]:
    return ws.list_runs(namespace=ns, pipeline=name, limit=None)[0]


def settle(ws: Workspace, ns: str, expected: int, timeout: float = 60) -> list[dict]:
    """Wait until ``expected`` runs of the namespace have ended."""
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_of(ws, ns)
        done = [r for r in runs if r["status"] not in ("pending", "running")]
        if len(done) >= expected and len(done) == len(runs):
            return runs
        assert time.monotonic() < deadline, f"runs did not settle: {[(r['name'], r['status']) for r in runs]}"
        time.sleep(0.05)


def test_a_schedule_fires_at_its_time_and_not_before(workspace: Workspace, ns: str, sched: SchedulerService,
                                                     clock: Clock) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    s = sched.create_schedule(ns, "bronze", "a", "0 * * * *")
    assert s["next_run_at"].startswith("2026-03-01T11:00:00")
    assert sched.tick(clock.now.replace(minute=59))["schedules"] == 0
    assert runs_of(workspace, ns) == []
    assert sched.tick(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))["schedules"] == 1
    (run,) = settle(workspace, ns, 1)
    assert run["trigger"] == "schedule:0 * * * *" and run["status"] == "success"
    assert sched.get_schedule(s["id"])["next_run_at"].startswith("2026-03-01T12:00:00")


def test_missed_slots_after_downtime_collapse_into_exactly_one_run(workspace: Workspace, ns: str,
                                                                   sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    s = sched.create_schedule(ns, "bronze", "a", "0 * * * *")
    back = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)  # 11:00, 12:00, 13:00 and 14:00 were missed
    assert sched.tick(back)["schedules"] == 1
    assert sched.tick(back + timedelta(minutes=1))["schedules"] == 0
    assert len(settle(workspace, ns, 1)) == 1
    assert sched.get_schedule(s["id"])["next_run_at"].startswith("2026-03-01T15:00:00")


def test_a_slot_fires_exactly_once_even_when_two_jobs_race(workspace: Workspace, ns: str,
                                                           sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    s = sched.create_schedule(ns, "bronze", "a", "*/5 * * * *")
    due = datetime(2026, 3, 1, 10, 35, tzinfo=UTC)
    # a second server sharing the state store: its own service instance, its own lock
    other = Schedules.for_workspace(workspace, clock=lambda: due)
    assert other is not workspace.schedules and other._lock is not sched._lock
    fired = [sched.fire_schedule(s["id"], due), other.fire_schedule(s["id"], due)]
    assert sum(1 for f in fired if f) == 1
    assert len(settle(workspace, ns, 1)) == 1


def test_no_overlap_a_busy_pipeline_skips_the_slot(workspace: Workspace, ns: str, sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "slow", "import time\ntime.sleep(3)\nresult = pa.table({'a': [1]})\n",
                  type="python")
    s = sched.create_schedule(ns, "bronze", "slow", "* * * * *")
    first = datetime(2026, 3, 1, 10, 31, tzinfo=UTC)
    assert sched.tick(first)["schedules"] == 1
    assert sched.tick(first + timedelta(minutes=1))["schedules"] == 0
    assert sched.get_schedule(s["id"])["last_skipped_at"] is not None
    assert len(settle(workspace, ns, 1)) == 1


def test_disabled_schedule_never_fires(workspace: Workspace, ns: str, sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    s = sched.create_schedule(ns, "bronze", "a", "0 * * * *", enabled=False)
    assert sched.tick(datetime(2026, 3, 2, tzinfo=UTC))["schedules"] == 0
    updated = sched.update_schedule(s["id"], enabled=True, cron="30 12 * * *", timezone="Europe/Paris")
    assert updated["next_run_at"].startswith("2026-03-01T11:30:00")  # 12:30 in Paris is 11:30 UTC


def test_pipeline_success_chains_bronze_silver_gold(workspace: Workspace, ns: str, sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "b", "SELECT 1 AS v")
    make_pipeline(workspace, ns, "silver", "s", "SELECT v + 1 AS v FROM {{ ref('bronze.b') }}")
    make_pipeline(workspace, ns, "gold", "g", "SELECT v + 1 AS v FROM {{ ref('silver.s') }}")
    sched.create_trigger(ns, "silver", "s", "pipeline_success", {"namespace": ns, "layer": "bronze", "pipeline": "b"})
    sched.create_trigger(ns, "gold", "g", "pipeline_success", {"namespace": ns, "layer": "silver", "pipeline": "s"})
    workspace.run_selection(f"{ns}.bronze.b")
    runs = settle(workspace, ns, 3)
    by = {r["name"]: r for r in runs}
    assert {n: r["status"] for n, r in by.items()} == {"b": "success", "s": "success", "g": "success"}
    assert by["s"]["trigger"] == f"trigger:pipeline_success:{ns}/bronze/b"
    assert by["g"]["trigger"] == f"trigger:pipeline_success:{ns}/silver/s"
    assert workspace.read_table(ns, "gold", "g").to_pylist() == [{"v": 3}]


def test_upload_fires_zone_trigger_and_matching_file_pattern_only(workspace: Workspace, ns: str,
                                                                  sched: SchedulerService) -> None:
    workspace.create_landing_zone(ns, "drop")
    make_pipeline(workspace, ns, "bronze", "any_file", "SELECT 1 AS v")
    make_pipeline(workspace, ns, "bronze", "csv_only", "SELECT 2 AS v")
    make_pipeline(workspace, ns, "bronze", "json_only", "SELECT 3 AS v")
    sched.create_trigger(ns, "bronze", "any_file", "landing_zone_upload", {"namespace": ns, "zone_name": "drop"})
    sched.create_trigger(ns, "bronze", "csv_only", "file_pattern",
                         {"namespace": ns, "zone_name": "drop", "pattern": "orders_*.csv"})
    sched.create_trigger(ns, "bronze", "json_only", "file_pattern",
                         {"namespace": ns, "zone_name": "drop", "pattern": "*.json"})
    workspace.upload_landing_file(ns, "drop", "orders_2026.csv", b"a\n1\n")
    runs = settle(workspace, ns, 2)
    assert sorted(r["name"] for r in runs) == ["any_file", "csv_only"]
    labels = {r["name"]: r["trigger"] for r in runs}
    assert labels["csv_only"] == f"trigger:file_pattern:{ns}/drop:orders_*.csv"


def test_webhook_token_cooldown_and_unknown_token(workspace: Workspace, ns: str, sched: SchedulerService,
                                                  clock: Clock) -> None:
    make_pipeline(workspace, ns, "bronze", "hook", "SELECT 1 AS v")
    trig = sched.create_trigger(ns, "bronze", "hook", "webhook", cooldown_seconds=600)
    token = trig["webhook_token"]
    assert len(token) == 64 and "token_hash" not in trig
    assert "webhook_token" not in sched.list_triggers(ns, "bronze", "hook")[0]
    with pytest.raises(NotFound):
        sched.webhook("0" * 64)
    out = sched.webhook(token)
    assert out["run_id"]
    settle(workspace, ns, 1)
    clock.now += timedelta(seconds=60)
    with pytest.raises(RateLimited):
        sched.webhook(token)
    clock.now += timedelta(seconds=600)
    assert sched.webhook(token)["run_id"]
    assert len(settle(workspace, ns, 2)) == 2


def test_busy_event_trigger_stays_pending_and_is_retried(workspace: Workspace, ns: str,
                                                         sched: SchedulerService) -> None:
    make_pipeline(workspace, ns, "bronze", "slow", "import time\ntime.sleep(1.5)\nresult = pa.table({'a': [1]})\n",
                  type="python")
    trig = sched.create_trigger(ns, "bronze", "slow", "webhook")
    assert sched.webhook(trig["webhook_token"])["run_id"]
    assert sched.webhook(trig["webhook_token"])["status"] == "pending"  # busy: kept, not dropped
    assert sched.get_trigger(workspace.pid(ns, "bronze", "slow"), trig["id"])["pending_since"] is not None
    settle(workspace, ns, 1)
    assert sched.tick()["retried"] == 1
    assert len(settle(workspace, ns, 2)) == 2
    assert sched.get_trigger(workspace.pid(ns, "bronze", "slow"), trig["id"])["pending_since"] is None


def test_cron_dependency_fires_only_when_a_dependency_succeeded(workspace: Workspace, ns: str,
                                                                sched: SchedulerService, clock: Clock) -> None:
    make_pipeline(workspace, ns, "bronze", "up", "SELECT 1 AS v")
    make_pipeline(workspace, ns, "silver", "down", "SELECT 1 AS v")
    sched.create_trigger(ns, "silver", "down", "cron_dependency",
                         {"cron_expr": "0 * * * *", "dependencies": [f"{ns}.bronze.up"]})
    assert sched.tick(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))["cron_triggers"] == 0  # up never ran
    workspace.run_selection(f"{ns}.bronze.up", wait=True, timeout=60)
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    assert sched.tick(later)["cron_triggers"] == 1
    assert sorted(r["name"] for r in settle(workspace, ns, 2)) == ["down", "up"]


@pytest.mark.parametrize("kwargs, message", [
    ({"cron": "61 * * * *"}, "invalid cron expression"),
    ({"cron": "* * *"}, "invalid cron expression"),
    ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"cron": "0 * * * *", "pipeline": "missing"}, "not found"),
])
def test_invalid_schedules_are_rejected_with_a_message(workspace: Workspace, ns: str, sched: SchedulerService,
                                                       kwargs: dict, message: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v", publish=False)
    args = {"namespace": ns, "layer": "bronze", "pipeline": "a", **kwargs}
    with pytest.raises(Invalid, match=message):
        sched.create_schedule(**args)
    assert sched.list_schedules(ns)[1] == 0


@pytest.mark.parametrize("type_, config, message", [
    ("pipeline_success", {"layer": "bronze", "pipeline": "nope"}, "bronze.nope not found"),
    ("landing_zone_upload", {"zone_name": "nozone"}, "not found"),
    ("file_pattern", {"zone_name": "z", "pattern": "a/b"}, "pattern"),
    ("cron", {"cron_expr": "nope"}, "invalid cron"),
    ("cron_dependency", {"cron_expr": "0 * * * *", "dependencies": ["a.b"]}, "ns.layer.pipeline"),
    ("teleport", {}, "unknown trigger type"),
    ("pipeline_success", {"layer": "bronze", "pipeline": "a"}, "cannot trigger itself"),
])
def test_invalid_triggers_are_rejected_with_a_message(workspace: Workspace, ns: str, sched: SchedulerService,
                                                      type_: str, config: dict, message: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v", publish=False)
    workspace.create_landing_zone(ns, "z")
    if type_ in ("pipeline_success", "landing_zone_upload", "file_pattern"):
        config = {"namespace": ns, **config}
    with pytest.raises(Invalid, match=message):
        sched.create_trigger(ns, "bronze", "a", type_, config)
    assert sched.list_triggers(ns, "bronze", "a") == []


@pytest.mark.parametrize("kind", ["schedule", "cron trigger"])
def test_a_schedule_written_by_another_process_fires_within_seconds(workspace: Workspace, ns: str,
                                                                   sched: SchedulerService, clock: Clock,
                                                                   kind: str) -> None:
    """A notebook's kernel writes schedules straight into the shared state store, and this server is not told:
    no job per schedule or trigger exists anywhere, and its 30 s sweep must not be what makes them fire (they
    fire within ``DUE_SECONDS``)."""
    import asyncio

    from rat_jupyter.scheduler.service import DUE_SECONDS, SWEEP_SECONDS

    make_pipeline(workspace, ns, "bronze", "elsewhere", "SELECT 1 AS v")
    other = Schedules(workspace.state, lambda *_: "", clock=clock)  # another process's service on the same store

    async def drive() -> float:
        sched.start()
        try:
            deadline = time.monotonic() + 10
            while not sched.leader:  # the first sweep takes the leader lock and ticks once, at once
                assert time.monotonic() < deadline, "the scheduler never became leader"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            if kind == "schedule":
                other.create_schedule(ns, "bronze", "elsewhere", "0 * * * *")
            else:
                other.create_trigger(ns, "bronze", "elsewhere", "cron", {"cron_expr": "0 * * * *"})
            assert {j.id for j in sched._aps.get_jobs()} == {"sweep", "due"}
            clock.now = clock.now + timedelta(hours=1)  # the slot has come; the next sweep is ~30 s away
            started = time.monotonic()
            while not runs_of(workspace, ns, "elsewhere"):
                assert time.monotonic() - started < SWEEP_SECONDS / 2, "the schedule waited for the sweep"
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            sched.stop()

    waited = asyncio.run(drive())
    assert waited <= DUE_SECONDS + 2.5, waited
    expected = "schedule:0 * * * *" if kind == "schedule" else "trigger:cron:0 * * * *"
    assert [r["trigger"] for r in runs_of(workspace, ns, "elsewhere")] == [expected]
    settle(workspace, ns, 1)
