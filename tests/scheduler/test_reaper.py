"""The reaper prunes exactly what its settings say, and nothing else."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rat_jupyter.core.reaper import Reaper
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.state import new_id
from rat_jupyter.stores.storage import FileInfo
from tests.conftest import make_pipeline, republish, run_one

NOW = datetime.now(UTC)
pytestmark = pytest.mark.both_profiles
# These backdate files with os.utime on their local paths (an S3 object's time cannot be set).
LOCAL_FILES = pytest.mark.embedded_only(reason="backdates files through their local paths")


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat(timespec="microseconds")


def add_run(ws: Workspace, ns: str, name: str, status: str, created: str, started: str | None = None) -> str:
    run_id = new_id()
    ws.state.create_run({"id": run_id, "namespace": ns, "layer": "bronze", "name": name, "status": status,
                         "trigger": "test", "created_at": created, "started_at": started or created})
    ws.state.append_logs(run_id, [(created, "info", "hello")])
    return run_id


def configure(ws: Workspace, **values: int) -> None:
    defaults = {"runs_max_per_pipeline": 1000, "runs_max_age_days": 100_000, "logs_max_age_days": 100_000,
                "quality_results_max_per_test": 1000, "soft_delete_purge_days": 100_000,
                "stuck_run_timeout_minutes": 100_000, "audit_log_max_age_days": 100_000,
                "orphan_branch_max_age_hours": 100_000, "iceberg_snapshot_max_age_days": 100_000,
                "iceberg_orphan_file_max_age_days": 100_000}
    ws.update_retention_config({**defaults, **values})


def test_runs_are_pruned_by_count_and_age_and_stuck_runs_fail(workspace: Workspace, ns: str) -> None:
    configure(workspace, runs_max_per_pipeline=3, runs_max_age_days=90, stuck_run_timeout_minutes=120)
    ids = {d: add_run(workspace, ns, "p", "success", ago(days=d)) for d in (1, 2, 3, 100, 200)}
    stuck = add_run(workspace, ns, "p", "running", ago(hours=3))
    fresh = add_run(workspace, ns, "q", "running", ago(minutes=10))
    other = add_run(workspace, ns, "q", "failed", ago(days=5))
    stats = workspace.run_reaper(lambda: NOW)["stats"]
    assert stats["stuck_runs_failed"] == 1 and stats["runs_pruned"] == 3
    left = {r["id"]: r["status"] for r in workspace.list_runs(namespace=ns, limit=None)[0]}
    assert left == {stuck: "failed", ids[1]: "success", ids[2]: "success", fresh: "running", other: "failed"}
    assert "reaper" in workspace.get_run(stuck)["error"]
    assert workspace.state.query("SELECT COUNT(*) AS n FROM run_logs WHERE run_id = ?", (ids[200],))[0]["n"] == 0
    workspace.state.update_run(fresh, status="success")


def test_logs_older_than_the_limit_are_pruned_but_runs_stay(workspace: Workspace, ns: str) -> None:
    configure(workspace, logs_max_age_days=30)
    old = add_run(workspace, ns, "p", "success", ago(days=40))
    new = add_run(workspace, ns, "p", "success", ago(days=1))
    workspace.run_reaper(lambda: NOW)
    assert workspace.run_logs(old)["logs"] == []
    assert len(workspace.run_logs(new)["logs"]) == 1
    assert workspace.get_run(old)["status"] == "success"


def test_soft_deleted_pipelines_are_purged_with_their_files_and_table(workspace: Workspace, ns: str) -> None:
    configure(workspace, soft_delete_purge_days=30)
    make_pipeline(workspace, ns, "bronze", "gone", "SELECT 1 AS v")
    make_pipeline(workspace, ns, "bronze", "recent", "SELECT 1 AS v")
    assert run_one(workspace, ns, "bronze", "gone").status == "success"
    workspace.delete_pipeline(ns, "bronze", "gone")
    workspace.delete_pipeline(ns, "bronze", "recent")
    workspace.state.execute("UPDATE pipelines SET deleted_at = ? WHERE name = 'gone' AND namespace = ?",
                            (ago(days=31), ns))
    stats = workspace.run_reaper(lambda: NOW)["stats"]
    assert stats["pipelines_purged"] == 1
    assert workspace.storage.list(f"{ns}/pipelines/bronze/gone/") == []
    assert workspace.catalog.load(workspace.pid(ns, "bronze", "gone")) is None
    assert workspace.storage.list(f"{ns}/pipelines/bronze/recent/") != []
    assert workspace.state.query("SELECT COUNT(*) AS n FROM pipelines WHERE namespace = ?", (ns,))[0]["n"] == 1


@LOCAL_FILES
def test_orphan_branches_expired_snapshots_and_orphan_files_are_cleaned(workspace: Workspace, ns: str) -> None:
    configure(workspace, orphan_branch_max_age_hours=6, iceberg_snapshot_max_age_days=7,
              iceberg_orphan_file_max_age_days=3)
    make_pipeline(workspace, ns, "bronze", "t", "SELECT 1 AS v")
    for i in (2, 3):
        assert run_one(workspace, ns, "bronze", "t").status == "success"
        republish(workspace, ns, "bronze", "t", f"SELECT {i} AS v")
    assert run_one(workspace, ns, "bronze", "t").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "t"))
    head = table.metadata.snapshot_by_name("main").snapshot_id
    table.manage_snapshots().create_branch(head, "rat-run-deadbeef").commit()
    table.manage_snapshots().create_branch(head, "keep-me").commit()
    data_dir = table.location().removeprefix("file://") + "/data"
    stray = os.path.join(data_dir, "stray.parquet")
    with open(stray, "wb") as fh:
        fh.write(b"not referenced")
    old = time.time() - 10 * 86400
    os.utime(stray, (old, old))
    before = workspace.read_table(ns, "bronze", "t").to_pylist()

    stats = workspace.run_reaper(lambda: NOW + timedelta(days=8))["stats"]
    assert stats["branches_dropped"] >= 1
    assert stats["snapshots_expired"] >= 2
    assert stats["orphan_files_deleted"] >= 1
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "t"))
    assert set(table.metadata.refs) == {"main", "keep-me"}
    assert [s.snapshot_id for s in table.metadata.snapshots] == [head]
    assert not os.path.exists(stray)
    assert workspace.read_table(ns, "bronze", "t").to_pylist() == before == [{"v": 3}]


def test_orphan_files_are_found_on_the_tables_own_storage(workspace: Workspace, ns: str) -> None:
    """The reaper lists a table's files through the table's FileIO: on S3 with its endpoint and credentials
    (pyarrow's defaults asked AWS for the bucket's region and the step failed on every run)."""
    configure(workspace, iceberg_orphan_file_max_age_days=3)
    make_pipeline(workspace, ns, "bronze", "o", "SELECT 1 AS v")
    assert run_one(workspace, ns, "bronze", "o").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "bronze", "o"))
    stray = f"{table.location()}/data/stray.parquet"
    with table.io.new_output(stray).create() as fh:
        fh.write(b"not referenced")
    status = workspace.run_reaper(lambda: datetime.now(UTC) + timedelta(days=4))
    assert status["errors"] == {}
    assert status["stats"]["orphan_files_deleted"] >= 1
    assert not table.io.new_input(stray).exists()
    assert workspace.read_table(ns, "bronze", "o").to_pylist() == [{"v": 1}]


@LOCAL_FILES
def test_processed_landing_files_are_purged_only_in_auto_purge_zones(workspace: Workspace, ns: str) -> None:
    configure(workspace)
    for zone in ("auto", "manual"):
        workspace.create_landing_zone(ns, zone)
        workspace.storage.write(f"{ns}/landing/{zone}/_processed/r1/old.csv", b"x")
        workspace.storage.write(f"{ns}/landing/{zone}/_processed/r2/new.csv", b"x")
        old = time.time() - 40 * 86400
        os.utime(workspace.storage.uri(f"{ns}/landing/{zone}/_processed/r1/old.csv"), (old, old))
    workspace.zone_lifecycle(ns, "auto", processed_max_age_days=30, auto_purge=True)
    stats = workspace.run_reaper(lambda: NOW)["stats"]
    assert stats["landing_files_purged"] == 1
    assert not workspace.storage.exists(f"{ns}/landing/auto/_processed/r1/old.csv")
    assert workspace.storage.exists(f"{ns}/landing/auto/_processed/r2/new.csv")
    assert workspace.storage.exists(f"{ns}/landing/manual/_processed/r1/old.csv")


def test_audit_entries_older_than_the_limit_are_pruned(workspace: Workspace, ns: str) -> None:
    configure(workspace, audit_log_max_age_days=365)
    workspace.state.audit("post", f"/x/{ns}/old")
    workspace.state.execute("UPDATE audit SET created_at = ? WHERE resource = ?", (ago(days=400), f"/x/{ns}/old"))
    workspace.state.audit("post", f"/x/{ns}/new")
    workspace.run_reaper(lambda: NOW)
    resources = {e["resource"] for e in workspace.audit_log(200)[0]}
    assert f"/x/{ns}/new" in resources and f"/x/{ns}/old" not in resources


def test_reaper_status_reports_the_last_run(workspace: Workspace) -> None:
    status = workspace.run_reaper(lambda: NOW)
    assert status["errors"] == {}
    assert workspace.reaper_status()["last_run_at"] == status["last_run_at"]


def test_per_pipeline_overrides_win_over_the_system_settings(workspace: Workspace, ns: str) -> None:
    configure(workspace, runs_max_per_pipeline=10, quality_results_max_per_test=10)
    make_pipeline(workspace, ns, "bronze", "strict", "SELECT 1 AS v")
    make_pipeline(workspace, ns, "bronze", "loose", "SELECT 1 AS v")
    out = workspace.pipeline_retention(ns, "bronze", "strict", {"runs_max_per_pipeline": 2,
                                                                 "quality_results_max_per_test": 1})
    assert out["effective"]["runs_max_per_pipeline"] == 2 and out["system"]["runs_max_per_pipeline"] == 10
    for name in ("strict", "loose"):
        for d in (1, 2, 3, 4):
            add_run(workspace, ns, name, "success", ago(days=d))
        result = {"test": "t", "severity": "error", "status": "pass"}
        workspace.state.save_quality_results(None, ns, "bronze", name, [result])
        workspace.state.save_quality_results(None, ns, "bronze", name, [result])
    workspace.run_reaper(lambda: NOW)
    assert len(workspace.list_runs(namespace=ns, pipeline="strict", limit=None)[0]) == 2
    assert len(workspace.list_runs(namespace=ns, pipeline="loose", limit=None)[0]) == 4
    counts = {r["pipeline"]: r["n"] for r in workspace.state.query(
        "SELECT pipeline, COUNT(*) AS n FROM quality_results WHERE namespace = ? GROUP BY pipeline", (ns,))}
    assert counts == {"strict": 1, "loose": 2}


def test_orphan_file_age_cannot_go_below_a_day(workspace: Workspace) -> None:
    import pytest

    from rat_jupyter.core.errors import Invalid

    with pytest.raises(Invalid, match="iceberg_orphan_file_max_age_days"):
        workspace.update_retention_config({"iceberg_orphan_file_max_age_days": 0})
    with pytest.raises(Invalid, match="unknown retention setting"):
        workspace.update_retention_config({"nope": 1})
    with pytest.raises(Invalid, match="must be an integer"):
        workspace.update_retention_config({"runs_max_age_days": "10"})


@LOCAL_FILES
def test_pins_of_ended_runs_and_stale_upload_files_are_removed(workspace: Workspace, ns: str) -> None:
    """A worker killed mid-run never releases its pins, which would keep every file it read alive."""
    configure(workspace)
    storage = workspace.storage
    workspace.create_landing_zone(ns, "pins")
    storage.write(f"{ns}/landing/pins/a.csv", b"a")
    ended = add_run(workspace, ns, "p", "failed", ago(minutes=5))
    running = add_run(workspace, ns, "q", "running", ago(minutes=1))
    unknown = new_id()
    for run_id in (ended, running, unknown):
        storage.pin(f"{ns}/landing/pins/a.csv", f"run-{run_id}")
    tmp = Path(storage.uri("")) / ".rat-tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / "w-killed").write_bytes(b"half an upload")
    old = time.time() - 7200
    os.utime(tmp / "w-killed", (old, old))

    now = datetime.now(UTC)
    stats = workspace.run_reaper(lambda: now)["stats"]
    assert stats["leftovers_removed"] == 2  # the ended run's pins and the stale upload file
    assert set(storage.pin_areas()) >= {f"run-{running}", f"run-{unknown}"}
    assert f"run-{ended}" not in storage.pin_areas()
    assert not (tmp / "w-killed").exists()

    later = now + timedelta(hours=2)  # an unknown run's pins go once nobody pinned into them for an hour
    assert workspace.run_reaper(lambda: later)["stats"]["leftovers_removed"] == 1
    assert set(storage.pin_areas()) == {f"run-{running}"}
    assert storage.read(f"{ns}/landing/pins/a.csv") == b"a"  # originals are never touched
    workspace.state.update_run(running, status="success")
    assert workspace.run_reaper(lambda: later)["stats"]["leftovers_removed"] == 1
    assert storage.pin_areas() == {}


def test_records_of_landing_files_that_are_not_there_are_forgotten_after_an_hour(workspace: Workspace,
                                                                                   ns: str) -> None:
    """An upload records its file before writing it; a server killed in between left it listed for ever."""
    configure(workspace)
    workspace.create_landing_zone(ns, "lost")
    kept = workspace.upload_landing_file(ns, "lost", "kept.csv", b"id\n1\n")
    lost = workspace.state.add_landing_file(ns, "lost", "lost.csv", f"{ns}/landing/lost/lost.csv", 5, "text/csv")

    now = datetime.now(UTC)
    assert workspace.run_reaper(lambda: now)["stats"]["leftovers_removed"] == 0  # it may be uploading now
    assert {r["id"] for r in workspace.list_landing_files(ns, "lost")} == {kept["id"], lost["id"]}

    later = now + timedelta(hours=2)
    assert workspace.run_reaper(lambda: later)["stats"]["leftovers_removed"] == 1
    assert [r["id"] for r in workspace.list_landing_files(ns, "lost")] == [kept["id"]]
    assert workspace.storage.read(kept["path"]) == b"id\n1\n"  # a file that is there keeps its record


def test_the_sweep_for_missing_landing_files_lists_only_the_top_level_of_zones_with_old_records(
        workspace: Workspace, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: every zone was listed recursively on every reaper run, ``_processed/`` (which grows with
    every archiving run) and ``_samples/`` included, and each zone's records were filtered in Python."""
    configure(workspace)
    for zone in ("busy", "fresh", "empty"):
        workspace.create_landing_zone(ns, zone)
    for i in range(30):
        workspace.storage.write(f"{ns}/landing/busy/_processed/r{i}/f.csv", b"x")
    kept = workspace.upload_landing_file(ns, "busy", "kept.csv", b"id\n1\n")
    workspace.state.add_landing_file(ns, "busy", "lost.csv", f"{ns}/landing/busy/lost.csv", 5, None)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="microseconds")
    workspace.state.execute("UPDATE landing_files SET uploaded_at = ? WHERE namespace = ? AND zone = ?",
                            (two_hours_ago, ns, "busy"))
    workspace.upload_landing_file(ns, "fresh", "new.csv", b"id\n2\n")  # recorded now: it may be uploading
    listed: list[tuple[str, bool]] = []
    real_list = workspace.storage.list

    def spy(prefix: str = "", *, recursive: bool = True) -> list[FileInfo]:
        listed.append((prefix, recursive))
        return real_list(prefix, recursive=recursive)

    monkeypatch.setattr(workspace.storage, "list", spy)
    assert Reaper(workspace)._forget_missing_landing_files(datetime.now(UTC)) == 1
    assert listed == [(f"{ns}/landing/busy/", False)]  # not fresh, not empty; not busy's _processed/
    assert [r["id"] for r in workspace.list_landing_files(ns, "busy")] == [kept["id"]]
    assert [r["filename"] for r in workspace.list_landing_files(ns, "fresh")] == ["new.csv"]
