"""Two real ``jupyter server`` processes sharing one platform (PostgreSQL state, a PostgreSQL Iceberg catalog,
SeaweedFS S3 for storage and tables). The one that leads the scheduler and executes a run is killed with
SIGKILL; the survivor fails that run within seconds (the dead server's presence lock is free), ``main`` is
untouched, the survivor takes the scheduler lead within seconds and fires the schedules from then on, and
runs go on on the survivor."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.scheduler.service import DUE_SECONDS
from rat_jupyter.stores.postgres_state import DEAD_SERVER_ERROR, PRESENCE_SECONDS
from tests.conftest import make_pipeline, rows
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401
from tests.fixtures.seaweed import SeaweedServer, seaweed  # noqa: F401
from tests.fixtures.server import JupyterProcess, clean_env

SLOW = ("# @merge_strategy: incremental\n# @unique_key: id\nimport pathlib, time\n"
        "time.sleep(float(pathlib.Path({control!r}).read_text()))\n"
        "result = pa.table({{'id': [time.time_ns()], 'v': [1]}})\n")
REAPED_WITHIN = PRESENCE_SECONDS + 8.0  # seconds from the kill to the run marked failed by the survivor


class Server(JupyterProcess):
    """One jupyter server on the shared platform; ``PGAPPNAME`` names its PostgreSQL sessions."""

    def __init__(self, tmp: Path, name: str, settings: Settings) -> None:
        self.name = name
        env = {k: v for k, v in clean_env(tmp / f"runtime-{name}").items() if not k.startswith("PG")}
        env.update(PGAPPNAME=f"rat-{name}", AWS_ACCESS_KEY_ID=settings.s3.access_key_id or "",
                   AWS_SECRET_ACCESS_KEY=settings.s3.secret_access_key or "")
        super().__init__(
            f"--RatApp.data_dir={tmp / f'data-{name}'}", "--RatApp.concurrency=1", f"--RatApp.server_id={name}",
            f"--RatApp.state_url={settings.state_url}", f"--RatApp.catalog_uri={settings.catalog_uri}",
            f"--RatApp.warehouse={settings.warehouse}", f"--RatApp.storage_url={settings.storage_url}",
            f"--RatApp.s3_endpoint={settings.s3.endpoint}", cwd=tmp, log=tmp / f"server-{name}.log", env=env)

    def wait_listening(self, timeout: float = 90) -> None:
        # No data-directory lock on a shared (PostgreSQL) state store: ask the port the server was given.
        self.wait_until(lambda: "rat_jupyter | extension was successfully loaded" in self.log()
                        and self.serves_jupyter(), timeout, what=f"server {self.name}")


def _scheduler_leader(postgres: PostgresServer, database: str) -> str | None:  # noqa: F811
    """Which server's session holds the scheduler's leader lock (by its PGAPPNAME), if any."""
    import psycopg

    from rat_jupyter.stores.postgres_state import _key

    key = _key("rat:leader:scheduler") & (2**64 - 1)
    with psycopg.connect(postgres.url(database)) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s AND l.objid = %s",
            (key >> 32, key & 0xFFFFFFFF)).fetchone()
    return str(row[0]).removeprefix("rat-") if row else None


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(0.05)
    return value


def test_kill_9_of_the_leading_server_the_survivor_reaps_and_takes_over(postgres: PostgresServer,  # noqa: F811
                                                                        seaweed: SeaweedServer,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    state_db = f"state_{tag}"
    catalog = postgres.create_database(f"cat_{tag}").replace("postgresql://", "postgresql+psycopg://", 1)
    settings = Settings(data_dir=tmp_path / "client", storage_url=f"s3://{seaweed.bucket}/kill-{tag}",
                        warehouse=f"s3://{seaweed.bucket}/kill-wh-{tag}", catalog_uri=catalog,
                        state_url=postgres.create_database(state_db), s3=seaweed.s3_options())
    control = tmp_path / "sleep"
    control.write_text("0")
    client = Workspace.open(settings, server=False)  # a notebook: submits and reads, never executes
    alpha = beta = None
    try:
        client.create_namespace("shop")
        make_pipeline(client, "shop", "bronze", "slow", SLOW.format(control=str(control)), type="python")
        make_pipeline(client, "shop", "bronze", "tick", "SELECT 1 AS v")
        schedule = client.schedules.create_schedule("shop", "bronze", "tick", "0 0 1 1 *")  # not due for months

        alpha = Server(tmp_path, "alpha", settings)
        alpha.wait_listening()
        _wait("alpha leads the scheduler", lambda: _scheduler_leader(postgres, state_db) == "alpha", 30)
        (first,) = client.run_selection("shop.bronze.slow", wait=True, timeout=120)
        assert first.status == "success", first.error
        main = client.catalog.load(client.pid("shop", "bronze", "slow")).current_snapshot().snapshot_id
        before = rows(client, "shop", "bronze", "slow")

        # A long run on alpha (the only server yet), then beta joins while it runs.
        control.write_text("90")
        (doomed,) = client.run_selection("shop.bronze.slow")
        running = _wait("the slow run is running",
                        lambda: (r := client.get_run(doomed.id))["status"] == "running" and r, 60)
        assert running["server_id"].startswith("alpha:"), running
        beta = Server(tmp_path, "beta", settings)
        beta.wait_listening()
        assert _scheduler_leader(postgres, state_db) == "alpha"  # one leader at a time
        assert client.get_run(doomed.id)["status"] == "running"

        alpha.kill()
        killed = time.monotonic()
        failed = _wait("the survivor fails the dead server's run",
                       lambda: (r := client.get_run(doomed.id))["status"] != "running" and r, REAPED_WITHIN)
        reaped_after = time.monotonic() - killed
        assert failed["status"] == "failed" and failed["error"] == DEAD_SERVER_ERROR, failed
        assert failed["publishing_at"] is None and failed["finished_at"]
        table = client.catalog.load(client.pid("shop", "bronze", "slow"))
        assert table.current_snapshot().snapshot_id == main  # main untouched
        assert set(table.metadata.refs) == {"main"}
        assert rows(client, "shop", "bronze", "slow") == before

        # A schedule falls due while nobody leads; the survivor takes the lead within seconds (it tries every
        # DUE_SECONDS) and fires it.
        due = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        assert client.state.update_row("schedules", schedule["id"], next_run_at=due)
        _wait("beta leads the scheduler", lambda: _scheduler_leader(postgres, state_db) == "beta", DUE_SECONDS + 10)
        led_after = time.monotonic() - killed
        fired = _wait("the schedule fires from the survivor",
                      lambda: client.state.get_schedule_row(schedule["id"])["last_run_id"], 10)
        (tick,) = client.wait_for_runs([fired], timeout=120)
        assert tick["status"] == "success" and tick["trigger"].startswith("schedule:"), tick
        assert tick["server_id"].startswith("beta:"), tick

        # Runs go on, on the survivor, from the main the dead server left alone.
        control.write_text("0")
        (after,) = client.run_selection("shop.bronze.slow", wait=True, timeout=120)
        assert after.status == "success", after.error
        assert client.get_run(after.id)["server_id"].startswith("beta:")
        assert len(rows(client, "shop", "bronze", "slow")) == len(before) + 1
        print(f"\nkill -9 of the leader: its run failed after {reaped_after:.2f}s, "
              f"the survivor led the scheduler after {led_after:.1f}s (it tries every {DUE_SECONDS}s)")
    finally:
        for server in (alpha, beta):
            if server is not None:
                server.stop()
        client.close()


@pytest.mark.parametrize("claimed", [True, False])
def test_presence_of_a_claimer_is_its_session(postgres: PostgresServer, claimed: bool) -> None:  # noqa: F811
    """A claimer is present exactly while its session lives; a gone claimer's unstarted run goes back to the
    pool and its running run fails (the store alone, no servers)."""
    from rat_jupyter.stores.postgres_state import PostgresState
    from rat_jupyter.stores.state import new_id, now_iso

    url = postgres.create_database(f"presence_{secrets.token_hex(4)}")
    gone, watcher = PostgresState(url), PostgresState(url)
    try:
        run_id = new_id()
        gone.create_run({"id": run_id, "namespace": "n", "layer": "bronze", "name": "p", "status": "pending",
                         "trigger": "t", "created_at": now_iso()})
        assert gone.claim_run(run_id, "gone:1:abc", "gone")
        if not claimed:
            gone.update_run(run_id, status="running", started_at=now_iso())
        assert watcher.is_present("gone:1:abc") and gone.is_present("gone:1:abc")
        assert watcher.reap_dead_claimers() == 0  # alive: nothing touched
        gone.close()  # its sessions end, as when the process is killed
        assert not watcher.is_present("gone:1:abc")
        assert watcher.reap_dead_claimers() == 1
        run = watcher.get_run(run_id)
        if claimed:
            assert (run["status"], run["server_id"], run["owner"]) == ("pending", None, None)
        else:
            assert (run["status"], run["error"]) == ("failed", DEAD_SERVER_ERROR)
        assert watcher.reap_dead_claimers() == 0  # once
    finally:
        watcher.close()
