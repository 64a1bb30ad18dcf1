"""A commit's metadata work does not grow with the number of times the commit reads its staged metadata.

pyiceberg replays the staged updates and deep-copies the whole table metadata (every live snapshot) on each
read of ``Transaction.table_metadata``; one commit reads it about twenty times, so a table's commit cost grew
with its snapshots. ``stores.catalog`` computes it once per staged state. Tested in kind (calls counted), not
by time, on a real table with real commits.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import update as table_update

from rat_jupyter.core import engine, fastwrite, runner
from rat_jupyter.core.reporter import ListReporter
from rat_jupyter.core.runner import CancelToken
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, run_one


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the staged updates were replayed onto the metadata (one entry per replay)."""
    seen: list[int] = []
    original = table_update.update_table_metadata

    def counting(base: Any, updates: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(updates))
        return original(base, updates, *args, **kwargs)

    monkeypatch.setattr(table_update, "update_table_metadata", counting)
    import pyiceberg.table as table_module

    monkeypatch.setattr(table_module, "update_table_metadata", counting)
    return seen


def _overwrite(table: Any, rows: int) -> None:
    table.overwrite(pa.table({"id": pa.array(range(rows), pa.int64())}))


def test_staged_metadata_is_computed_once_per_staged_state(workspace: Workspace, ns: str,
                                                           replays: list[int]) -> None:
    make_pipeline(workspace, ns, "silver", "t", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "t"))
    tx = table.transaction()
    first = tx.table_metadata
    assert tx.table_metadata is first and tx.table_metadata is first  # read three times, computed once
    assert len(replays) == 1
    tx.set_properties({"rat.test": "1"})  # a new staged state: computed again, and it shows the update
    assert tx.table_metadata.properties["rat.test"] == "1"
    assert tx.table_metadata is tx.table_metadata
    assert len(replays) == 2
    tx.commit_transaction()
    assert table.metadata.properties["rat.test"] == "1"


def test_commit_replays_do_not_grow_with_snapshots(workspace: Workspace, ns: str, replays: list[int]) -> None:
    """The replays one overwrite makes are as many with 40 snapshots as with 2, and few."""
    make_pipeline(workspace, ns, "silver", "s", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "s").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "s"))
    counts = {}
    for i in range(1, 41):
        replays.clear()
        _overwrite(table, i)
        counts[i] = len(replays)
    assert len(table.metadata.snapshots) >= 40
    assert counts[40] == counts[2], counts
    assert counts[40] <= 8, counts  # pyiceberg alone: about twenty
    assert table.scan().to_arrow().num_rows == 40


def _entries(table: Any, snapshot: Any) -> list[tuple[str, str]]:
    """(status, file path) of every entry of ``snapshot``'s manifests, DELETED ones included."""
    return [(e.status.name, e.data_file.file_path) for m in snapshot.manifests(table.io)
            for e in m.fetch_manifest_entry(table.io, discard_deleted=False)]


@pytest.fixture
def manifest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The manifest files read (entries fetched), one path per read."""
    from pyiceberg import manifest

    seen: list[str] = []
    original = manifest.ManifestFile.fetch_manifest_entry

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.manifest_path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(manifest.ManifestFile, "fetch_manifest_entry", counting)
    return seen


def test_a_full_refresh_commits_one_manifest_read_once(workspace: Workspace, ns: str, manifest_reads: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A full refresh replaces every live file: its snapshot has ONE manifest with the new file ADDED and the
    replaced ones DELETED (sequence numbers kept), the parent's manifests are read once, and every reader —
    pyiceberg, DuckDB's iceberg_scan, time travel — sees the same tables as before (ADR 0029)."""
    sql = "-- @merge_strategy: full_refresh\nSELECT range AS id, {v} AS v FROM range({n})"
    make_pipeline(workspace, ns, "silver", "r", sql.format(v=1, n=5))
    assert run_one(workspace, ns, "silver", "r").status == "success"
    pid = workspace.pid(ns, "silver", "r")
    first = workspace.catalog.load(pid)
    first_snap = first.metadata.snapshot_by_name("main")
    (old_file,) = [p for _, p in _entries(first, first_snap)]
    old_seq = next(e.sequence_number for m in first_snap.manifests(first.io) for e in m.fetch_manifest_entry(first.io))

    republish(workspace, ns, "silver", "r", sql.format(v=2, n=3))
    in_commit: list[str] = []
    commit = fastwrite.commit

    def counted(*args: Any, **kwargs: Any) -> Any:
        before = len(manifest_reads)
        try:
            return commit(*args, **kwargs)
        finally:
            in_commit.extend(manifest_reads[before:])

    monkeypatch.setattr(fastwrite, "commit", counted)
    files, _ = workspace.published_files(pid)  # in this process, where the reads are counted
    before = len(manifest_reads)
    outcome = runner.execute_run(workspace.settings, "lean1", pid, files, ListReporter(), CancelToken())
    assert outcome.status == "success", outcome.error
    # listed once for the whole run: {{ this }}'s view reads it, the commit takes the same entries (ADR 0030)
    assert manifest_reads[before:] == [first_snap.manifests(first.io)[0].manifest_path]
    assert in_commit == []

    table = workspace.catalog.load(pid)
    snap = table.metadata.snapshot_by_name("main")
    assert snap.parent_snapshot_id == first_snap.snapshot_id
    (manifest,) = snap.manifests(table.io)
    assert manifest.added_files_count == 1 and manifest.deleted_files_count == 1
    entries = list(manifest.fetch_manifest_entry(table.io, discard_deleted=False))
    deleted = [e for e in entries if e.status.name == "DELETED"]
    assert [e.data_file.file_path for e in deleted] == [old_file]
    assert deleted[0].sequence_number == old_seq and deleted[0].snapshot_id == snap.snapshot_id
    summary = snap.summary.additional_properties
    assert snap.summary.operation.value == "overwrite"
    assert (summary["added-records"], summary["deleted-records"], summary["total-records"]) == ("3", "5", "3")
    assert (summary["deleted-data-files"], summary["total-data-files"]) == ("1", "1")

    assert sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == [
        {"id": i, "v": 2} for i in range(3)]
    assert table.scan(snapshot_id=first_snap.snapshot_id).to_arrow().num_rows == 5  # time travel
    conn = engine.connect(workspace.settings)
    try:
        got = conn.execute(f"SELECT count(*), min(v), max(v) FROM iceberg_scan('{table.metadata_location}')").fetchone()
    finally:
        conn.close()
    assert got == (3, 2, 2)
