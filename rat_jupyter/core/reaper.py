"""The reaper (RET-02): prunes what retention says, fails stuck runs, and cleans the lakehouse.

Each task is isolated: one failing task is recorded in the stats and the others still run. Every
retention setting is applied here (RAT stored several without ever applying them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from .ids import now_iso
from .names import PipelineId
from .retention import RetentionConfig

STATUS_KEY = "reaper_status"
LEFTOVER_AGE_S = 3600  # a temporary file or an unknown run's pins untouched this long is a leftover


def _ago(now: datetime, **delta: float) -> str:
    return (now - timedelta(**delta)).isoformat(timespec="microseconds")


class Reaper:
    def __init__(self, ws: Any, clock: Callable[[], datetime] | None = None) -> None:
        self.ws = ws
        self.clock = clock or (lambda: datetime.now(UTC))

    def run(self) -> dict[str, Any]:
        config = RetentionConfig.load(self.ws.state)
        now = self.clock()
        started = time.perf_counter()
        stats: dict[str, Any] = {}
        errors: dict[str, str] = {}
        tasks: list[tuple[str, Callable[[RetentionConfig, datetime], int]]] = [
            ("stuck_runs_failed", self.fail_stuck_runs),
            ("runs_pruned", self.prune_runs),
            ("logs_pruned", self.prune_logs),
            ("quality_results_pruned", self.prune_quality_results),
            ("pipelines_purged", self.purge_deleted_pipelines),
            ("branches_dropped", self.drop_orphan_branches),
            ("snapshots_expired", self.expire_snapshots),
            ("orphan_files_deleted", self.delete_orphan_files),
            ("landing_files_purged", self.purge_processed_landing),
            ("leftovers_removed", self.remove_leftovers),
            ("audit_pruned", self.prune_audit),
        ]
        for name, task in tasks:
            try:
                stats[name] = task(config, now)
            except Exception as exc:  # noqa: BLE001 - one failing task must not stop the others
                stats[name] = 0
                errors[name] = f"{type(exc).__name__}: {exc}"
        status = {"last_run_at": now.isoformat(), "duration_ms": int((time.perf_counter() - started) * 1000),
                  "stats": stats, "errors": errors}
        self.ws.state.put_setting(STATUS_KEY, status)
        return status

    # -- runs and logs ----------------------------------------------------------------------------
    def fail_stuck_runs(self, config: RetentionConfig, now: datetime) -> int:
        cutoff = _ago(now, minutes=config.stuck_run_timeout_minutes)
        count = 0
        error = f"stuck for more than {config.stuck_run_timeout_minutes} min; failed by the reaper"
        for run in self.ws.state.active_runs():
            if (run["started_at"] or run["created_at"]) >= cutoff:
                continue
            # cancel_requested_at: the server that owns the run (this one or another) stops its worker
            stamp = now_iso()
            if self.ws.state.update_run(run["id"], only_if_status=("pending", "running"), status="failed",
                                        finished_at=stamp, error=error, cancel_requested_at=stamp):
                count += 1
        return count

    def _overrides(self) -> dict[tuple[str, str, str], dict[str, int]]:
        """Per-pipeline retention overrides (API-22); they win over the system settings."""
        return self.ws.state.retention_overrides()

    def prune_runs(self, config: RetentionConfig, now: datetime) -> int:
        state = self.ws.state
        overrides = self._overrides()
        ranked = state.finished_runs_newest_first()
        seen: dict[tuple[str, str, str], int] = {}
        drop = []
        for r in ranked:
            key = (r["namespace"], r["layer"], r["name"])
            own = overrides.get(key, {})
            max_count = own.get("runs_max_per_pipeline", config.runs_max_per_pipeline)
            max_age = own.get("runs_max_age_days", config.runs_max_age_days)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > max_count or r["created_at"] < _ago(now, days=max_age):
                drop.append(r["id"])
        return state.delete_runs(drop)

    def prune_logs(self, config: RetentionConfig, now: datetime) -> int:
        state = self.ws.state
        count = 0
        overrides = self._overrides()
        for (ns, layer, name), own in overrides.items():
            if "logs_max_age_days" in own:
                count += state.delete_pipeline_logs_before(ns, layer, name, _ago(now, days=own["logs_max_age_days"]))
        cutoff = _ago(now, days=config.logs_max_age_days)
        special = [k for k, own in overrides.items() if "logs_max_age_days" in own]
        if not special:
            return count + state.delete_logs_before(cutoff)
        for run in state.runs_created_before(cutoff):
            if (run["namespace"], run["layer"], run["name"]) not in special:
                count += state.delete_run_logs(run["id"])
        return count

    def prune_quality_results(self, config: RetentionConfig, now: datetime) -> int:
        state = self.ws.state
        overrides = self._overrides()
        rows = state.quality_results_newest_first()
        seen: dict[tuple[str, ...], int] = {}
        drop = []
        for r in rows:
            key = (r["namespace"], r["layer"], r["pipeline"], r["test"])
            limit = overrides.get(key[:3], {}).get("quality_results_max_per_test",
                                                  config.quality_results_max_per_test)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > limit:
                drop.append(r["id"])
        state.delete_quality_results(drop)
        return len(drop)

    def prune_audit(self, config: RetentionConfig, now: datetime) -> int:
        return self.ws.state.delete_audit_before(_ago(now, days=config.audit_log_max_age_days))

    # -- pipelines and landing --------------------------------------------------------------------
    def purge_deleted_pipelines(self, config: RetentionConfig, now: datetime) -> int:
        count = 0
        for row in self.ws.state.deleted_pipelines(_ago(now, days=config.soft_delete_purge_days)):
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            if self.ws.state.find_pipeline(*pid.table_identifier) is None:
                # the name was not reused: its files and table go too
                self.ws.storage.delete_prefix(pid.prefix)
                self.ws.catalog.drop(pid)
            self.ws.state.purge_pipeline(row["id"])
            count += 1
        return count

    def purge_processed_landing(self, config: RetentionConfig, now: datetime) -> int:
        count = 0
        for zone in self.ws.state.list_zones():
            if not zone["auto_purge"]:
                continue
            cutoff = now - timedelta(days=zone["processed_max_age_days"])
            prefix = f"{zone['namespace']}/landing/{zone['name']}/_processed/"
            for f in self.ws.storage.list(prefix):
                if f.modified < cutoff:
                    self.ws.storage.delete(f.path)
                    count += 1
        return count

    # -- Iceberg ----------------------------------------------------------------------------------
    def remove_leftovers(self, config: RetentionConfig, now: datetime) -> int:
        """Pins of runs that ended without releasing them, and stale temporary upload files.

        A run releases its pins when it ends; a worker killed mid-run cannot, and its pins would keep every
        file it read alive (hard links locally, copies on S3) after archiving moved the originals. A pin
        area is removed once its run is no longer pending or running; one whose run is unknown (pruned, or
        never recorded) only after an hour, so a run being created is never touched."""
        count = self.ws.storage.sweep_tmp(now - timedelta(seconds=LEFTOVER_AGE_S))
        areas = {k: t for k, t in self.ws.storage.pin_areas().items() if k.startswith("run-")}
        statuses = self.ws.state.run_statuses([k[4:] for k in areas]) if areas else {}
        for key, last_pinned in areas.items():
            status = statuses.get(key[4:])
            if status in ("pending", "running"):
                continue
            if status is None and last_pinned > now - timedelta(seconds=LEFTOVER_AGE_S):
                continue
            self.ws.storage.unpin(key)
            count += 1
        return count + self._forget_missing_landing_files(now)

    def _forget_missing_landing_files(self, now: datetime) -> int:
        """Records of landing files that are not there, recorded over an hour ago.

        An upload records its file before writing it (so an archiving run always finds the record to
        forget), and a run forgets the records of what it archived; a server killed between the two steps
        leaves a record of a file that is not there, listed as waiting for ever. The state store picks the old
        records; only their zones are listed, and only their top level, where uploads go: not ``_processed/``
        and ``_samples/``, which grow with every archiving run."""
        by_zone: dict[tuple[str, str], list[dict]] = {}
        for record in self.ws.state.landing_files_recorded_before(_ago(now, seconds=LEFTOVER_AGE_S)):
            by_zone.setdefault((record["namespace"], record["zone"]), []).append(record)
        count = 0
        for (ns, zone), records in by_zone.items():
            present = {f.path for f in self.ws.storage.list(f"{ns}/landing/{zone}/", recursive=False)}
            for record in records:
                if record["path"] not in present:
                    self.ws.state.delete_landing_file(record["id"])
                    count += 1
        return count

    def _tables(self) -> list[tuple[PipelineId, Any]]:
        out = []
        for pid in self.ws.catalog.list_tables():
            table = self.ws.catalog.load(pid)
            if table is not None:
                out.append((pid, table))
        return out

    def drop_orphan_branches(self, config: RetentionConfig, now: datetime) -> int:
        cutoff_ms = (now - timedelta(hours=config.orphan_branch_max_age_hours)).timestamp() * 1000
        count = 0
        for _pid, table in self._tables():
            for ref_name, ref in list(table.metadata.refs.items()):
                if not ref_name.startswith("rat-run-"):
                    continue
                run_id = ref_name[len("rat-run-"):]
                try:
                    status = self.ws.state.get_run(run_id)["status"]
                except Exception:  # noqa: BLE001 - a missing run makes the branch an orphan
                    status = None
                snap = table.metadata.snapshot_by_id(ref.snapshot_id)
                old = snap is None or snap.timestamp_ms < cutoff_ms
                if status in ("pending", "running") or not old:
                    continue
                table.manage_snapshots().remove_branch(ref_name).commit()
                count += 1
        return count

    def expire_snapshots(self, config: RetentionConfig, now: datetime) -> int:
        cutoff = now - timedelta(days=config.iceberg_snapshot_max_age_days)
        count = 0
        for _pid, table in self._tables():
            protected = {r.snapshot_id for r in table.metadata.refs.values()}
            expired = [s.snapshot_id for s in table.metadata.snapshots
                       if s.timestamp_ms < cutoff.timestamp() * 1000 and s.snapshot_id not in protected]
            if expired:
                table.maintenance.expire_snapshots().by_ids(expired).commit()
                count += len(expired)
        return count

    def delete_orphan_files(self, config: RetentionConfig, now: datetime) -> int:
        """Delete files under a table's location that no live snapshot or metadata references."""
        import pyarrow.fs as pafs

        cutoff = now - timedelta(days=config.iceberg_orphan_file_max_age_days)
        count = 0
        for _pid, table in self._tables():
            referenced = {_norm(table.metadata_location)}
            referenced |= {_norm(m.metadata_file) for m in table.metadata.metadata_log}
            for snap in table.metadata.snapshots:
                referenced.add(_norm(snap.manifest_list))
                for manifest in snap.manifests(table.io):
                    referenced.add(_norm(manifest.manifest_path))
                    for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                        referenced.add(_norm(entry.data_file.file_path))
            fs, root = _table_fs(table)
            try:
                infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
            except FileNotFoundError:
                continue
            scheme = urlparse(table.location()).scheme
            for info in infos:
                if info.type != pafs.FileType.File:
                    continue
                uri = _norm(f"{scheme}://{info.path}" if scheme == "s3" else info.path)
                if uri in referenced or info.mtime is None or info.mtime.replace(tzinfo=UTC) >= cutoff:
                    continue
                fs.delete_file(info.path)
                count += 1
        return count


def _table_fs(table: Any) -> tuple[Any, str]:
    """The file system holding a table's files and the root of its location on it: through the table's own
    FileIO (which carries the S3 endpoint and credentials), not pyarrow's defaults (AWS, no credentials)."""
    import pyarrow.fs as pafs
    from pyiceberg.io.pyarrow import PyArrowFileIO

    if isinstance(table.io, PyArrowFileIO):
        scheme, netloc, path = PyArrowFileIO.parse_location(table.location())
        return table.io.fs_by_scheme(scheme, netloc), path
    return pafs.FileSystem.from_uri(table.location())


def _norm(location: str) -> str:
    """Compare locations without their scheme spelling (file:///x vs /x)."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return parsed.path
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
