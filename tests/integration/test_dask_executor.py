"""``DaskExecutor`` against real processes on loopback: a Dask ``LocalCluster`` (two worker processes, one
``rat`` slot each), PostgreSQL for the state store and the Iceberg catalog, SeaweedFS S3 for storage and
warehouse. Runs execute in the Dask workers, never in this process."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rat_jupyter.core.errors import Invalid
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows
from tests.fixtures.memory import HEAVY_PIPELINE, own_anon_mib
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401
from tests.fixtures.seaweed import SeaweedServer, seaweed  # noqa: F401

distributed = pytest.importorskip("distributed", reason="the dask extra is part of the test extra")

DASK = "rat_jupyter.core.dask_executor:DaskExecutor"
CANCELS = 20  # cancels of a running run in a row, each must leave main unchanged
SLOW = "SELECT sum(a.range * b.range) AS s FROM range(300000) a, range(300000) b"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, resources={"rat": 1},
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def _settings(postgres: PostgresServer, seaweed: SeaweedServer, tmp_path: Any, **extra: Any) -> Settings:  # noqa: F811
    tag = secrets.token_hex(4)
    catalog = postgres.create_database(f"cat_{tag}").replace("postgresql://", "postgresql+psycopg://", 1)
    return Settings(data_dir=tmp_path, storage_url=f"s3://{seaweed.bucket}/dask-{tag}",
                    warehouse=f"s3://{seaweed.bucket}/dask-wh-{tag}", catalog_uri=catalog,
                    state_url=postgres.create_database(f"state_{tag}"), s3=seaweed.s3_options(), **extra)


def _wait(ws: Workspace, run_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (run := ws.get_run(run_id))["status"] not in statuses:
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.05)
    return run


def _wait_finished(ws: Workspace, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not (run := ws.get_run(run_id))["finished_at"]:
        assert time.monotonic() < deadline, f"run {run_id} did not finish ({run['status']})"
        time.sleep(0.05)
    return run


def test_refuses_settings_remote_workers_cannot_reach(tmp_path, postgres: PostgresServer) -> None:  # noqa: F811
    from rat_jupyter.core.dask_executor import DaskExecutor

    with pytest.raises(Invalid) as err:
        DaskExecutor(Settings(data_dir=tmp_path, executor_class=DASK, dask_scheduler_address="tcp://127.0.0.1:1"))
    text = err.value.message
    for needed in ("storage_url to s3://", "warehouse to s3://", "postgresql+psycopg://", "catalog_type='rest'",
                   "state_url to postgresql://"):
        assert needed in text, text
    # Only what is still local is named.
    half = Settings(data_dir=tmp_path, storage_url="s3://b/p", warehouse="s3://b/w", state_url=postgres.url(),
                    dask_scheduler_address="tcp://127.0.0.1:1")
    with pytest.raises(Invalid) as err:
        DaskExecutor(half)
    assert "catalog is SQLite" in err.value.message and "storage" not in err.value.message
    # Reachable settings but no scheduler configured: said so, no silent local cluster.
    with pytest.raises(Invalid, match="dask_scheduler_address"):
        DaskExecutor(half.with_(catalog_type="rest", catalog_uri="http://127.0.0.1:1", dask_scheduler_address=""))


def test_a_jupyter_server_with_the_dask_executor_on_local_files_refuses_to_start(tmp_path) -> None:
    from tests.test_app_config import _refusal, _server

    proc = _server(tmp_path, tmp_path / "data", f"--RatApp.executor_class={DASK}",
                   "--RatApp.dask_scheduler_address=tcp://127.0.0.1:1")
    code, critical, err = _refusal(proc)
    assert code != 0
    assert len(critical) == 1 and "RAT cannot start: DaskExecutor:" in critical[0], err
    assert "set storage_url to s3://" in critical[0] and "set state_url to postgresql://" in critical[0], err


def test_runs_previews_cancel_and_lost_worker_on_dask(cluster: Any, postgres: PostgresServer,  # noqa: F811
                                                       seaweed: SeaweedServer, tmp_path) -> None:  # noqa: F811
    settings = _settings(postgres, seaweed, tmp_path, executor_class=DASK,
                         dask_scheduler_address=cluster.scheduler_address, cancel_grace_seconds=10)
    with Workspace.open(settings) as ws:
        assert ws.executor.wait_ready(60)
        assert ws.executor.capacity == 2
        ws.create_namespace("n")
        make_pipeline(ws, "n", "bronze", "a", "SELECT 1 AS v UNION ALL SELECT 2")

        # A preview runs on a worker too.
        assert ws.preview("n", "bronze", "a")["total_row_count"] == 2

        # A run: on a Dask worker process, logs recorded in order, data on main.
        started = time.monotonic()
        (run,) = ws.run_selection("n.bronze.a", wait=True, timeout=180)
        dask_latency = time.monotonic() - started
        assert run.status == "success", run.error
        assert run.publishing_at is not None
        assert rows(ws, "n", "bronze", "a") == [(1,), (2,)]
        logs = ws.run_logs(run.id)["logs"]
        messages = [line["message"] for line in logs]
        assert messages[0].startswith("Running n.bronze.a"), messages
        assert any("Created" in m for m in messages), messages
        assert [line["seq"] for line in logs] == sorted(line["seq"] for line in logs)
        dask_warm = _best_of(ws, "n.bronze.a", 3)

        # Test runs execute on a worker too, against the table on S3.
        ws.save_test("n", "bronze", "a", "no_big", "SELECT * FROM {{ this }} WHERE v > 1")
        out = ws.run_tests("n", "bronze", "a")
        assert (out["total"], out["failed"]) == (1, 1)
        assert out["results"][0]["violations"] == 1
        ws.delete_test("n", "bronze", "a", "no_big")

        # Cancel a running run on a Dask worker, repeatedly: cancelled, main unchanged.
        table = ws.catalog.load(ws.pid("n", "bronze", "a"))
        snapshot = table.current_snapshot().snapshot_id
        republish(ws, "n", "bronze", "a", SLOW)
        for attempt in range(CANCELS):
            (slow,) = ws.run_selection("n.bronze.a")
            _wait(ws, slow.id, ("running",))
            where = _where(ws, slow.id)
            if attempt == 0:  # logs are live: there while the run is still running on the worker
                deadline = time.monotonic() + 30
                while not any(line["message"].startswith("Running n.bronze.a")
                              for line in ws.run_logs(slow.id)["logs"]):
                    assert time.monotonic() < deadline, "no live log line from the Dask worker"
                    time.sleep(0.05)
                assert ws.get_run(slow.id)["status"] == "running"
            assert where["pid"] != os.getpid(), "the run executed in the server process"
            time.sleep(0.3 + 0.1 * attempt)  # cancel at different points of the run
            assert ws.cancel_run(slow.id)["status"] == "cancelled"
            final = _wait_finished(ws, slow.id, timeout=60)
            assert final["status"] == "cancelled", final
            assert final["publishing_at"] is None
            current = ws.catalog.load(ws.pid("n", "bronze", "a"))
            assert current.current_snapshot().snapshot_id == snapshot
            assert rows(ws, "n", "bronze", "a") == [(1,), (2,)]

        # The fence fails closed: an owner that does not answer in time means "no", never a publish.
        republish(ws, "n", "bronze", "a", "SELECT 7 AS v")
        real = ws.runs.state.begin_publish
        ws.executor.gate_timeout = 1.0

        def slow_owner(run_id: str, server_id: str) -> bool:
            time.sleep(4)
            return real(run_id, server_id)

        ws.runs.state.begin_publish = slow_owner
        try:
            (unanswered,) = ws.run_selection("n.bronze.a")
            final = _wait_finished(ws, unanswered.id, timeout=60)
        finally:
            ws.runs.state.begin_publish = real
            ws.executor.gate_timeout = 30.0
        assert final["status"] == "cancelled", final
        assert ws.catalog.load(ws.pid("n", "bronze", "a")).current_snapshot().snapshot_id == snapshot
        assert rows(ws, "n", "bronze", "a") == [(1,), (2,)]
        republish(ws, "n", "bronze", "a", SLOW)

        # Kill the worker process of one run: that run fails, the other one keeps running, main unchanged.
        make_pipeline(ws, "n", "bronze", "other", SLOW)
        (victim,) = ws.run_selection("n.bronze.a")
        (survivor,) = ws.run_selection("n.bronze.other")
        _wait(ws, victim.id, ("running",))
        _wait(ws, survivor.id, ("running",))
        victim_pid = _where(ws, victim.id)["pid"]
        assert victim_pid != _where(ws, survivor.id)["pid"]
        os.kill(victim_pid, signal.SIGKILL)
        failed = _wait_finished(ws, victim.id, timeout=60)
        assert failed["status"] == "failed", failed
        assert "lost" in (failed["error"] or ""), failed
        assert ws.get_run(survivor.id)["status"] == "running"
        assert ws.catalog.load(ws.pid("n", "bronze", "a")).current_snapshot().snapshot_id == snapshot
        assert ws.cancel_run(survivor.id)["status"] == "cancelled"
        assert _wait_finished(ws, survivor.id, timeout=60)["status"] == "cancelled"
        assert ws.catalog.load(ws.pid("n", "bronze", "other")) is None

        # The cluster recovers (the nanny restarts the worker) and runs go on.
        assert ws.executor.wait_ready(60)
        make_pipeline(ws, "n", "bronze", "after", "SELECT 3 AS v")
        (again,) = ws.run_selection("n.bronze.after", wait=True, timeout=180)
        assert again.status == "success", again.error

    # The same pipeline on the same stack with the local process pool, for comparison.
    local = settings.with_(executor_class="rat_jupyter.core.executor:LocalProcessExecutor")
    with Workspace.open(local) as ws:
        assert ws.executor.wait_ready(120)
        make_pipeline(ws, "n", "bronze", "b", "SELECT 1 AS v UNION ALL SELECT 2")
        started = time.monotonic()
        (run,) = ws.run_selection("n.bronze.b", wait=True, timeout=180)
        local_latency = time.monotonic() - started
        assert run.status == "success", run.error
        local_warm = _best_of(ws, "n.bronze.b", 3)
    print(f"\nsubmit-to-success, one pipeline, S3 + PostgreSQL (first run / best of 3 after): "
          f"DaskExecutor {dask_latency:.2f}s / {dask_warm:.2f}s, LocalProcessExecutor {local_latency:.2f}s / "
          f"{local_warm:.2f}s")


def _best_of(ws: Workspace, selector: str, times: int) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.monotonic()
        (run,) = ws.run_selection(selector, wait=True, timeout=180)
        best = min(best, time.monotonic() - started)
        assert run.status == "success", run.error
    return best


def _where(ws: Workspace, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not (where := ws.executor.where(run_id)):
        assert time.monotonic() < deadline, "the run never reported its worker"
        time.sleep(0.05)
    return where


def test_a_dask_worker_returns_a_large_tasks_memory_when_the_task_ends(cluster: Any, postgres: PostgresServer,  # noqa: F811
                                                                        seaweed: SeaweedServer, tmp_path) -> None:  # noqa: F811
    """ADR 0037 on Dask: Dask trims glibc's heap, not DuckDB's allocator, which kept a task's pages."""
    settings = _settings(postgres, seaweed, tmp_path, executor_class=DASK,
                         dask_scheduler_address=cluster.scheduler_address)
    with Workspace.open(settings) as ws, distributed.Client(cluster, set_as_default=False) as client:
        assert ws.executor.wait_ready(60)
        ws.create_namespace("mem")
        ws.create_pipeline("mem", "silver", "heavy", type="python", source=HEAVY_PIPELINE)
        ws.publish_pipeline("mem", "silver", "heavy")
        (run,) = ws.run_selection("mem.silver.heavy", wait=True, timeout=180)
        assert run.status == "success", run.error
        (row,) = ws.catalog.load(ws.pid("mem", "silver", "heavy")).scan().to_arrow().to_pylist()
        grown = row["after_query_mib"] - row["before_mib"]
        assert grown > 100  # the sort's pages, freed by DuckDB but still the worker's while the task ran
        now = dict(client.run(own_anon_mib).values())
        assert now[row["pid"]] < row["before_mib"] + 0.25 * grown, (row, now)
