"""Platform state: namespaces, pipelines, versions, runs, logs, quality results, metadata, audit, …

One SQL implementation with numbered migrations. SQLite (WAL) is the embedded default; PostgreSQL subclasses
the same class (different connection and placeholders). Connections are per thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..common.errors import Busy, Conflict, Invalid, NotFound
from ..common.ids import new_id, now_iso
from .lock import init_lock

__all__ = ["SQLiteState", "SqlState", "new_id", "now_iso", "open_state"]  # new_id/now_iso: moved to common.ids

_IN_BATCH = 500  # values in one ``IN (...)``: well below SQLite's and PostgreSQL's parameter limits


MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE namespaces (
            name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created_by TEXT,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE pipelines (
            id TEXT PRIMARY KEY, namespace TEXT NOT NULL, layer TEXT NOT NULL, name TEXT NOT NULL,
            type TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', owner TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT,
            draft_dirty INTEGER NOT NULL DEFAULT 1, published_version INTEGER, published_at TEXT,
            retention_config TEXT)""",
        """CREATE UNIQUE INDEX pipelines_live ON pipelines (namespace, layer, name)
            WHERE deleted_at IS NULL""",
        "CREATE TABLE blobs (hash TEXT PRIMARY KEY, content TEXT NOT NULL)",
        """CREATE TABLE pipeline_versions (
            pipeline_id TEXT NOT NULL, version INTEGER NOT NULL, message TEXT NOT NULL DEFAULT '',
            files TEXT NOT NULL, created_at TEXT NOT NULL, rolled_back_from INTEGER,
            PRIMARY KEY (pipeline_id, version))""",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, pipeline_id TEXT, namespace TEXT NOT NULL, layer TEXT NOT NULL,
            name TEXT NOT NULL, status TEXT NOT NULL, trigger TEXT NOT NULL, version TEXT,
            batch_id TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
            duration_ms INTEGER, rows_written INTEGER, error TEXT, phases TEXT, attempt INTEGER
            NOT NULL DEFAULT 1, snapshot_id TEXT)""",
        "CREATE INDEX runs_pipeline ON runs (namespace, layer, name, created_at)",
        "CREATE INDEX runs_status ON runs (status)",
        """CREATE TABLE run_logs (
            run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, level TEXT NOT NULL,
            message TEXT NOT NULL, PRIMARY KEY (run_id, seq))""",
        """CREATE TABLE quality_results (
            id TEXT PRIMARY KEY, run_id TEXT, namespace TEXT NOT NULL, layer TEXT NOT NULL,
            pipeline TEXT NOT NULL, test TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,
            violations INTEGER NOT NULL DEFAULT 0, sample TEXT, duration_ms INTEGER, error TEXT,
            created_at TEXT NOT NULL)""",
        "CREATE INDEX quality_run ON quality_results (run_id)",
        """CREATE TABLE table_metadata (
            namespace TEXT NOT NULL, layer TEXT NOT NULL, name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '', owner TEXT, column_descriptions TEXT,
            updated_at TEXT NOT NULL, PRIMARY KEY (namespace, layer, name))""",
        """CREATE TABLE landing_zones (
            namespace TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
            owner TEXT, expected_schema TEXT NOT NULL DEFAULT '', processed_max_age_days INTEGER
            NOT NULL DEFAULT 30, auto_purge INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
            PRIMARY KEY (namespace, name))""",
        """CREATE TABLE landing_files (
            id TEXT PRIMARY KEY, namespace TEXT NOT NULL, zone TEXT NOT NULL, filename TEXT NOT NULL,
            path TEXT NOT NULL, size_bytes INTEGER NOT NULL, content_type TEXT,
            uploaded_at TEXT NOT NULL)""",
        """CREATE TABLE schedules (
            id TEXT PRIMARY KEY, namespace TEXT NOT NULL, layer TEXT NOT NULL, pipeline TEXT NOT NULL,
            cron TEXT NOT NULL, timezone TEXT NOT NULL DEFAULT 'UTC', enabled INTEGER NOT NULL DEFAULT 1,
            last_fired_at TEXT, next_run_at TEXT, last_run_id TEXT, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE triggers (
            id TEXT PRIMARY KEY, namespace TEXT NOT NULL, layer TEXT NOT NULL, pipeline TEXT NOT NULL,
            type TEXT NOT NULL, config TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,
            cooldown_seconds INTEGER NOT NULL DEFAULT 0, token_hash TEXT, last_triggered_at TEXT,
            last_run_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        """CREATE TABLE audit (
            id TEXT PRIMARY KEY, user_id TEXT, action TEXT NOT NULL, resource TEXT NOT NULL,
            detail TEXT, ip TEXT, created_at TEXT NOT NULL)""",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
    [
        "ALTER TABLE triggers ADD COLUMN next_run_at TEXT",
        "ALTER TABLE triggers ADD COLUMN pending_since TEXT",
        "ALTER TABLE schedules ADD COLUMN last_skipped_at TEXT",
        "CREATE INDEX triggers_type ON triggers (type)",
        "CREATE INDEX triggers_token ON triggers (token_hash)",
    ],
    [
        # dependencies recorded when files are saved/published, so the DAG needs no parse pass per request
        "ALTER TABLE pipelines ADD COLUMN deps TEXT",
        "ALTER TABLE pipelines ADD COLUMN zones TEXT",
        "ALTER TABLE pipelines ADD COLUMN published_deps TEXT",
    ],
    [
        # which server executes a run: a restarting server recovers only its own runs
        "ALTER TABLE runs ADD COLUMN owner TEXT",
    ],
    [
        # run ownership: a run is a pending row any process may create; one server claims it (server_id),
        # a cancel is a state change (cancel_requested_at), publishing_at closes the door to cancels
        "ALTER TABLE runs ADD COLUMN server_id TEXT",
        "ALTER TABLE runs ADD COLUMN claimed_at TEXT",
        "ALTER TABLE runs ADD COLUMN cancel_requested_at TEXT",
        "ALTER TABLE runs ADD COLUMN publishing_at TEXT",
        "ALTER TABLE runs ADD COLUMN depends_on TEXT",
        "ALTER TABLE runs ADD COLUMN submitted_by TEXT",
        "CREATE INDEX runs_claimable ON runs (status, server_id)",
    ],
    [
        # a batch's runs (a selection run's progress, polled by every client that follows it) and the run
        # history's newest-first page are read without scanning or sorting every run the server has had
        "CREATE INDEX runs_batch ON runs (batch_id, status)",
        "CREATE INDEX runs_created ON runs (created_at, id)",
    ],
    [
        # a zone's files are listed, and an archiving run's files forgotten, without scanning every zone's
        "CREATE INDEX landing_files_zone ON landing_files (namespace, zone, path)",
    ],
    [
        # "has this pipeline a pending or running run?" (asked on every submit) seeks the active runs instead
        # of walking every run the pipeline ever had (runs_pipeline): a minute-scheduled pipeline has 43,200
        # in a month. runs_status is the prefix of runs_claimable, which serves whatever it served.
        "CREATE INDEX runs_pipeline_status ON runs (namespace, layer, name, status)",
        "DROP INDEX IF EXISTS runs_status",
    ],
    [
        # the reaper's sweep for records of files that never arrived asks for the old records of every zone
        "CREATE INDEX landing_files_uploaded ON landing_files (uploaded_at)",
    ],
]

RUN_SORT = ("created_at", "started_at", "finished_at", "status", "trigger", "duration_ms")
PIPELINE_SORT = ("name", "namespace", "layer", "created_at", "updated_at", "type")


def _order(sort: str | None, allowed: Sequence[str], default: str) -> str:
    """``sort=field`` / ``-field`` against an allow-list (unknown fields fall back to the default)."""
    if sort:
        field, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
        if field in allowed:
            return f"{field} {'DESC' if desc else 'ASC'}"
    return default


class SqlState:
    """State over a DB-API connection. Subclasses provide ``_connect`` and the placeholder style."""

    placeholder = "?"
    dialect = "sqlite"

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.RLock()

    # -- plumbing ---------------------------------------------------------------------------------
    def _connect(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    @contextmanager
    def tx(self) -> Iterator[Any]:
        conn = self._conn()
        try:
            cur = conn.cursor()
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.tx() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return cur.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        conn = self._conn()
        cur = conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        finally:
            conn.commit()  # end the read transaction so WAL readers see new data next time
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    def _is_unique_violation(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def _migration_guard(self, cur: Any) -> None:
        """Serialize migrations between servers (PostgreSQL); one SQLite file has one server."""

    def migrate(self) -> None:
        with self._lock, self.tx() as cur:
            self._migration_guard(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
            for number, statements in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                for statement in statements:
                    cur.execute(statement)
                cur.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"), (number,))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- namespaces -------------------------------------------------------------------------------
    def create_namespace(self, name: str, description: str = "", created_by: str | None = None) -> dict:
        try:
            self.execute(
                "INSERT INTO namespaces (name, description, created_by, created_at) VALUES (?,?,?,?)",
                (name, description, created_by, now_iso()),
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise Conflict(f"namespace '{name}' already exists") from None
            raise
        return self.get_namespace(name)

    def get_namespace(self, name: str) -> dict:
        row = self.one("SELECT * FROM namespaces WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"namespace '{name}' not found")
        return row

    def list_namespaces(self) -> list[dict]:
        return self.query("SELECT * FROM namespaces ORDER BY name")

    def update_namespace(self, name: str, description: str) -> dict:
        if self.execute("UPDATE namespaces SET description = ? WHERE name = ?", (description, name)) == 0:
            raise NotFound(f"namespace '{name}' not found")
        return self.get_namespace(name)

    def delete_namespace(self, name: str) -> None:
        """Refused (``Conflict``) while the namespace has a pending or running run. Checked under the same
        guard as :meth:`submit_runs`, which refuses runs in a missing namespace: a delete and a submission
        are serialised, so no run can start in a namespace that is being deleted."""
        with self._lock, self.tx() as cur:
            self._submit_guard(cur)
            cur.execute(self._sql("SELECT id FROM runs WHERE namespace = ? AND status IN ('pending', 'running')"),
                        (name,))
            if cur.fetchone() is not None:
                raise Conflict(f"namespace '{name}' has active runs; cancel them first")
            cur.execute(self._sql("DELETE FROM namespaces WHERE name = ?"), (name,))
            if cur.rowcount == 0:
                raise NotFound(f"namespace '{name}' not found")
            stamp = now_iso()
            cur.execute(
                self._sql("UPDATE pipelines SET deleted_at = ? WHERE namespace = ? AND deleted_at IS NULL"),
                (stamp, name),
            )
            for table in ("landing_zones", "landing_files", "schedules", "triggers", "table_metadata"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE namespace = ?"), (name,))

    # -- pipelines --------------------------------------------------------------------------------
    def create_pipeline(self, ns: str, layer: str, name: str, type_: str, description: str = "",
                        owner: str | None = None) -> dict:
        stamp = now_iso()
        try:
            self.execute(
                "INSERT INTO pipelines (id, namespace, layer, name, type, description, owner, created_at,"
                " updated_at, draft_dirty) VALUES (?,?,?,?,?,?,?,?,?,1)",
                (new_id(), ns, layer, name, type_, description, owner, stamp, stamp),
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise Conflict(f"pipeline {ns}.{layer}.{name} already exists") from None
            raise
        return self.get_pipeline(ns, layer, name)

    def find_pipeline(self, ns: str, layer: str, name: str) -> dict | None:
        return self.one(
            "SELECT * FROM pipelines WHERE namespace = ? AND layer = ? AND name = ? AND deleted_at IS NULL",
            (ns, layer, name),
        )

    def get_pipeline(self, ns: str, layer: str, name: str) -> dict:
        row = self.find_pipeline(ns, layer, name)
        if row is None:
            raise NotFound(f"pipeline {ns}.{layer}.{name} not found")
        return row

    def list_pipelines(self, namespace: str | None = None, layer: str | None = None,
                       search: str | None = None, sort: str | None = None,
                       limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        where, params = ["deleted_at IS NULL"], []
        if namespace:
            where.append("namespace = ?")
            params.append(namespace)
        if layer:
            where.append("layer = ?")
            params.append(layer)
        if search:
            where.append("name LIKE ?")
            params.append(f"%{search}%")
        clause = " AND ".join(where)
        total = self.scalar(f"SELECT COUNT(*) FROM pipelines WHERE {clause}", params)
        order = _order(sort, PIPELINE_SORT, "namespace, layer, name")
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self.query(f"SELECT * FROM pipelines WHERE {clause} ORDER BY {order}{page}", params)
        return rows, int(total or 0)

    def pipeline_counts(self) -> dict[str, int]:
        """Live pipelines per namespace, counted by the database (a sidebar must not list every pipeline)."""
        rows = self.query("SELECT namespace, COUNT(*) AS n FROM pipelines WHERE deleted_at IS NULL GROUP BY namespace")
        return {r["namespace"]: int(r["n"]) for r in rows}

    def update_pipeline(self, pipeline_id: str, **fields: Any) -> None:
        allowed = {"description", "owner", "type", "draft_dirty", "published_version", "published_at",
                   "retention_config", "deps", "zones", "published_deps"}
        bad = set(fields) - allowed
        if bad:
            raise Invalid(f"cannot update {', '.join(sorted(bad))}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.execute(f"UPDATE pipelines SET {sets}, updated_at = ? WHERE id = ?",
                     (*fields.values(), now_iso(), pipeline_id))

    def soft_delete_pipeline(self, pipeline_id: str) -> None:
        self.execute("UPDATE pipelines SET deleted_at = ? WHERE id = ?", (now_iso(), pipeline_id))

    def deleted_pipelines(self, before: str) -> list[dict]:
        return self.query("SELECT * FROM pipelines WHERE deleted_at IS NOT NULL AND deleted_at < ?", (before,))

    def purge_pipeline(self, pipeline_id: str) -> None:
        with self.tx() as cur:
            cur.execute(self._sql("DELETE FROM pipeline_versions WHERE pipeline_id = ?"), (pipeline_id,))
            cur.execute(self._sql("DELETE FROM pipelines WHERE id = ?"), (pipeline_id,))

    def rename_pipeline(self, pipeline_id: str, new_name: str) -> None:
        """Rename a live pipeline in one transaction, with what refers to it by name: its runs and quality
        results (history and the last-run badge follow it), table metadata, the schedules and triggers that
        target it, and the triggers that fire after it (``pipeline_success``, ``cron_dependency``)."""
        row = self.one("SELECT * FROM pipelines WHERE id = ? AND deleted_at IS NULL", (pipeline_id,))
        if row is None:
            raise NotFound("pipeline not found")
        ns, layer, old = row["namespace"], row["layer"], row["name"]
        key, new_key = f"{ns}.{layer}.{old}", f"{ns}.{layer}.{new_name}"
        try:
            with self.tx() as cur:
                cur.execute(self._sql("UPDATE pipelines SET name = ?, updated_at = ? WHERE id = ?"),
                            (new_name, now_iso(), pipeline_id))
                cur.execute(self._sql("UPDATE runs SET name = ? WHERE namespace = ? AND layer = ? AND name = ?"),
                            (new_name, ns, layer, old))
                cur.execute(self._sql("UPDATE quality_results SET pipeline = ? WHERE namespace = ? AND layer = ?"
                                      " AND pipeline = ?"), (new_name, ns, layer, old))
                cur.execute(self._sql("DELETE FROM table_metadata WHERE namespace = ? AND layer = ? AND name = ?"),
                            (ns, layer, new_name))
                cur.execute(self._sql("UPDATE table_metadata SET name = ? WHERE namespace = ? AND layer = ?"
                                      " AND name = ?"), (new_name, ns, layer, old))
                for table in ("schedules", "triggers"):
                    cur.execute(self._sql(f"UPDATE {table} SET pipeline = ? WHERE namespace = ? AND layer = ?"
                                          " AND pipeline = ?"), (new_name, ns, layer, old))
                cur.execute(self._sql("SELECT id, type, config FROM triggers WHERE type IN"
                                      " ('pipeline_success', 'cron_dependency')"))
                for trigger_id, type_, text in cur.fetchall():
                    config = json.loads(text)
                    if type_ == "pipeline_success" and (config.get("namespace"), config.get("layer"),
                                                        config.get("pipeline")) == (ns, layer, old):
                        config["pipeline"] = new_name
                    elif type_ == "cron_dependency" and key in (config.get("dependencies") or []):
                        config["dependencies"] = [new_key if d == key else d for d in config["dependencies"]]
                    else:
                        continue
                    cur.execute(self._sql("UPDATE triggers SET config = ? WHERE id = ?"),
                                (json.dumps(config), trigger_id))
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise Conflict(f"pipeline {new_key} already exists") from None
            raise

    def pipelines_fingerprint(self) -> tuple[Any, ...]:
        """Changes when any pipeline row does (created, updated, published, deleted, purged): one aggregate
        row, so a cached DAG is checked without reading every pipeline (``Workspace.dag``)."""
        row = self.one("SELECT COUNT(*) AS n, MAX(updated_at) AS u, MAX(deleted_at) AS d FROM pipelines")
        return (row["n"], row["u"], row["d"]) if row else (0, None, None)

    # -- blobs and versions -----------------------------------------------------------------------
    def put_blobs(self, blobs: dict[str, str]) -> None:
        with self.tx() as cur:
            for digest, content in blobs.items():
                if self.dialect == "sqlite":
                    cur.execute("INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", (digest, content))
                else:
                    cur.execute(self._sql("INSERT INTO blobs (hash, content) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                                (digest, content))

    def get_blobs(self, hashes: Iterable[str]) -> dict[str, str]:
        hashes = list(set(hashes))
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        rows = self.query(f"SELECT hash, content FROM blobs WHERE hash IN ({marks})", hashes)
        return {r["hash"]: r["content"] for r in rows}

    def add_version(self, pipeline_id: str, files: dict[str, str], message: str,
                    rolled_back_from: int | None = None, max_versions: int = 50) -> dict:
        with self._lock, self.tx() as cur:
            cur.execute(self._sql("SELECT MAX(version) FROM pipeline_versions WHERE pipeline_id = ?"),
                        (pipeline_id,))
            number = (cur.fetchone()[0] or 0) + 1
            stamp = now_iso()
            cur.execute(
                self._sql("INSERT INTO pipeline_versions (pipeline_id, version, message, files, created_at,"
                          " rolled_back_from) VALUES (?,?,?,?,?,?)"),
                (pipeline_id, number, message, json.dumps(files, sort_keys=True), stamp, rolled_back_from),
            )
            cur.execute(
                self._sql("UPDATE pipelines SET published_version = ?, published_at = ?, draft_dirty = 0,"
                          " updated_at = ? WHERE id = ?"),
                (number, stamp, stamp, pipeline_id),
            )
            cur.execute(
                self._sql("DELETE FROM pipeline_versions WHERE pipeline_id = ? AND version <= ?"),
                (pipeline_id, number - max_versions),
            )
        return self.get_version(pipeline_id, number)

    def get_version(self, pipeline_id: str, number: int) -> dict:
        row = self.one("SELECT * FROM pipeline_versions WHERE pipeline_id = ? AND version = ?",
                       (pipeline_id, number))
        if row is None:
            raise NotFound(f"version {number} not found")
        row["files"] = json.loads(row["files"])
        return row

    def list_versions(self, pipeline_id: str) -> list[dict]:
        rows = self.query("SELECT * FROM pipeline_versions WHERE pipeline_id = ? ORDER BY version DESC",
                          (pipeline_id,))
        for r in rows:
            r["files"] = json.loads(r["files"])
        return rows

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> dict:
        run = _encode_run(run)
        cols = list(run)
        self.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                     [run[c] for c in cols])
        return self.get_run(run["id"])

    def _submit_guard(self, cur: Any) -> None:
        """Make check-then-insert of runs atomic across processes. SQLite: take the write lock first
        (a no-op UPDATE), so two submitters serialize instead of both seeing "not busy"."""
        cur.execute("UPDATE runs SET id = id WHERE 1 = 0")

    def submit_runs(self, runs: Sequence[dict[str, Any]]) -> list[dict]:
        """Insert pending runs in one transaction, refusing (``Busy``) when one of their pipelines already
        has a pending or running run — checked and inserted atomically, whichever process submits."""
        with self._lock, self.tx() as cur:
            self._submit_guard(cur)
            for ns in sorted({run["namespace"] for run in runs}):
                cur.execute(self._sql("SELECT name FROM namespaces WHERE name = ?"), (ns,))
                if cur.fetchone() is None:
                    raise NotFound(f"namespace '{ns}' not found")
            for run in runs:
                cur.execute(self._sql("SELECT id FROM runs WHERE namespace = ? AND layer = ? AND name = ?"
                                      " AND status IN ('pending', 'running')"),
                            (run["namespace"], run["layer"], run["name"]))
                if cur.fetchone() is not None:
                    raise Busy(f"pipeline {run['namespace']}.{run['layer']}.{run['name']} already has a pending "
                               "or running run")
            for run in runs:
                row = _encode_run(run)
                cols = list(row)
                cur.execute(self._sql(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})"),
                            [row[c] for c in cols])
        return [self.get_run(r["id"]) for r in runs]

    def claimable_runs(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict]:
        """Pending runs no server has claimed, oldest first (only what the claimer needs to decide); ``after``
        a run's ``(created_at, id)``, the ones that come after it (the claimer reads them a page at a time)."""
        where, params = "", ()
        if after is not None:
            where, params = " AND (created_at > ? OR (created_at = ? AND id > ?))", (after[0], after[0], after[1])
        rows = self.query("SELECT id, created_at, namespace, layer, name, version, depends_on FROM runs"
                          f" WHERE status = 'pending' AND server_id IS NULL{where}"
                          f" ORDER BY created_at, id LIMIT {int(limit)}", params)
        return [_decode_run(r) for r in rows]

    def claim_run(self, run_id: str, server_id: str, owner: str) -> bool:
        """Compare-and-set: exactly one server wins a pending run (the others see 0 rows changed). The run
        stays ``pending`` until a worker starts it (``running`` means "on a worker")."""
        return self.execute(
            "UPDATE runs SET server_id = ?, owner = ?, claimed_at = ?"
            " WHERE id = ? AND status = 'pending' AND server_id IS NULL AND cancel_requested_at IS NULL",
            (server_id, owner, now_iso(), run_id)) > 0

    def skip_run(self, run_id: str, error: str) -> bool:
        """A pending run whose upstream did not succeed ends ``skipped`` (once, whoever sees it first)."""
        return self.execute(
            "UPDATE runs SET status = 'skipped', finished_at = ?, error = ? WHERE id = ? AND status = 'pending'"
            " AND server_id IS NULL", (now_iso(), error, run_id)) > 0

    def request_cancel(self, run_id: str) -> str:
        """Cancel as a state change. Returns what happened: ``cancelled`` (a pending, unclaimed run ended at
        once), ``requested`` (the owning server will stop it; the run is recorded cancelled now and can no
        longer publish), or the reason it could not: ``publishing`` or ``ended``."""
        stamp = now_iso()
        if self.execute("UPDATE runs SET status = 'cancelled', cancel_requested_at = ?, finished_at = ?,"
                        " error = 'cancelled by request' WHERE id = ? AND status = 'pending' AND server_id IS NULL",
                        (stamp, stamp, run_id)):
            return "cancelled"
        if self.execute("UPDATE runs SET status = 'cancelled', cancel_requested_at = ?,"
                        " error = 'cancelled by request' WHERE id = ? AND status IN ('pending', 'running')"
                        " AND publishing_at IS NULL AND cancel_requested_at IS NULL", (stamp, run_id)):
            return "requested"
        run = self.get_run(run_id)
        if run["status"] in ("pending", "running") and run.get("publishing_at"):
            return "publishing"
        return "ended"

    def begin_publish(self, run_id: str, server_id: str) -> bool:
        """The publish fence: True (and ``publishing_at`` recorded) only while the run is running on this
        server, nobody asked to cancel it, and its namespace still exists. One row, one statement: it and a
        cancel, a restarted server's ``recover()`` (status no longer ``running``) or a namespace delete cannot
        both win."""
        return self.execute(
            "UPDATE runs SET publishing_at = ? WHERE id = ? AND status = 'running' AND cancel_requested_at IS NULL"
            " AND server_id = ? AND publishing_at IS NULL"
            " AND EXISTS (SELECT 1 FROM namespaces WHERE namespaces.name = runs.namespace)",
            (now_iso(), run_id, server_id)) > 0

    def cancel_requested(self, run_ids: Sequence[str]) -> list[str]:
        """Which of these runs someone asked to cancel (the owning server polls this)."""
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        rows = self.query(f"SELECT id FROM runs WHERE id IN ({marks}) AND cancel_requested_at IS NOT NULL",
                          list(run_ids))
        return [r["id"] for r in rows]

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.query(f"SELECT id, status FROM runs WHERE id IN ({marks})", chunk):
                out[r["id"]] = r["status"]
        return out

    def get_run(self, run_id: str) -> dict:
        row = self.one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"run '{run_id}' not found")
        return _decode_run(row)

    def update_run(self, run_id: str, *, only_if_status: Sequence[str] | None = None, **fields: Any) -> bool:
        """Update a run; with ``only_if_status`` the update is a compare-and-set on the status."""
        if "phases" in fields and not isinstance(fields["phases"], str | None):
            fields["phases"] = json.dumps(fields["phases"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        params: list[Any] = [*fields.values(), run_id]
        sql = f"UPDATE runs SET {sets} WHERE id = ?"
        if only_if_status:
            sql += f" AND status IN ({','.join('?' * len(only_if_status))})"
            params.extend(only_if_status)
        return self.execute(sql, params) > 0

    def list_runs(self, *, namespace: str | None = None, layer: str | None = None,
                  pipeline: str | None = None, status: str | None = None, batch_id: str | None = None,
                  started_after: str | None = None, started_before: str | None = None,
                  sort: str | None = None, limit: int | None = 50, offset: int = 0) -> tuple[list[dict], int]:
        where, params = ["1=1"], []
        for col, value in (("namespace", namespace), ("layer", layer), ("name", pipeline),
                           ("status", status), ("batch_id", batch_id)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        if started_after:
            where.append("started_at >= ?")
            params.append(started_after)
        if started_before:
            where.append("started_at < ?")
            params.append(started_before)
        clause = " AND ".join(where)
        total = self.scalar(f"SELECT COUNT(*) FROM runs WHERE {clause}", params)
        order = _order(sort, RUN_SORT, "created_at DESC")
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self.query(f"SELECT * FROM runs WHERE {clause} ORDER BY {order}, id{page}", params)
        return [_decode_run(r) for r in rows], int(total or 0)

    def active_runs(self, ns: str | None = None, layer: str | None = None, name: str | None = None) -> list[dict]:
        where, params = ["status IN ('pending', 'running')"], []
        if name:
            where += ["namespace = ?", "layer = ?", "name = ?"]
            params += [ns, layer, name]
        # sorted here, not by ORDER BY: that would make SQLite walk runs_pipeline (every run the pipeline ever
        # had, in order) instead of seeking the few active ones through runs_pipeline_status
        rows = self.query(f"SELECT * FROM runs WHERE {' AND '.join(where)}", params)
        return [_decode_run(r) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    def latest_runs(self) -> dict[tuple[str, str, str], dict]:
        rows = self.query(
            "SELECT r.* FROM runs r JOIN (SELECT namespace, layer, name, MAX(created_at) AS m FROM runs"
            " GROUP BY namespace, layer, name) l ON r.namespace = l.namespace AND r.layer = l.layer AND"
            " r.name = l.name AND r.created_at = l.m"
        )
        return {(r["namespace"], r["layer"], r["name"]): _decode_run(r) for r in rows}

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        if not run_ids:
            return 0
        with self.tx() as cur:
            for i in range(0, len(run_ids), 500):
                chunk = list(run_ids[i : i + 500])
                marks = ",".join("?" * len(chunk))
                cur.execute(self._sql(f"DELETE FROM run_logs WHERE run_id IN ({marks})"), chunk)
                cur.execute(self._sql(f"DELETE FROM quality_results WHERE run_id IN ({marks})"), chunk)
                cur.execute(self._sql(f"DELETE FROM runs WHERE id IN ({marks})"), chunk)
        return len(run_ids)

    # -- logs -------------------------------------------------------------------------------------
    def append_logs(self, run_id: str, lines: Sequence[tuple[str, str, str]]) -> None:
        """Append ``(ts, level, message)`` lines in order."""
        if not lines:
            return
        with self._lock, self.tx() as cur:
            cur.execute(self._sql("SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE run_id = ?"), (run_id,))
            seq = cur.fetchone()[0]
            for i, (ts, level, message) in enumerate(lines, start=1):
                cur.execute(self._sql("INSERT INTO run_logs (run_id, seq, ts, level, message) VALUES (?,?,?,?,?)"),
                            (run_id, seq + i, ts, level, message))

    def get_logs(self, run_id: str, after_seq: int = 0) -> list[dict]:
        return self.query(
            "SELECT seq, ts AS timestamp, level, message FROM run_logs WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )

    def delete_logs_before(self, before: str) -> int:
        return self.execute(
            "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE created_at < ?)", (before,))

    # -- quality results --------------------------------------------------------------------------
    def save_quality_results(self, run_id: str | None, ns: str, layer: str, pipeline: str,
                             results: Sequence[dict[str, Any]]) -> None:
        stamp = now_iso()
        with self.tx() as cur:
            for r in results:
                cur.execute(
                    self._sql("INSERT INTO quality_results (id, run_id, namespace, layer, pipeline, test,"
                              " severity, status, violations, sample, duration_ms, error, created_at)"
                              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
                    (new_id(), run_id, ns, layer, pipeline, r["test"], r["severity"], r["status"],
                     r.get("violations", 0), json.dumps(r.get("sample", []), default=str),
                     r.get("duration_ms"), r.get("error"), stamp),
                )

    def quality_results(self, run_id: str) -> list[dict]:
        rows = self.query("SELECT * FROM quality_results WHERE run_id = ? ORDER BY test", (run_id,))
        return [_decode_quality(r) for r in rows]

    def latest_quality(self, ns: str, layer: str, pipeline: str) -> list[dict]:
        rows = self.query(
            "SELECT q.* FROM quality_results q WHERE q.namespace = ? AND q.layer = ? AND q.pipeline = ?"
            " AND q.created_at = (SELECT MAX(created_at) FROM quality_results WHERE namespace = q.namespace"
            " AND layer = q.layer AND pipeline = q.pipeline AND test = q.test) ORDER BY q.test",
            (ns, layer, pipeline),
        )
        return [_decode_quality(r) for r in rows]

    # -- table metadata ---------------------------------------------------------------------------
    def get_table_metadata(self, ns: str, layer: str, name: str) -> dict:
        row = self.one("SELECT * FROM table_metadata WHERE namespace = ? AND layer = ? AND name = ?",
                       (ns, layer, name))
        if row is None:
            return {"description": "", "owner": None, "column_descriptions": {}}
        row["column_descriptions"] = json.loads(row["column_descriptions"] or "{}")
        return row

    def put_table_metadata(self, ns: str, layer: str, name: str, description: str, owner: str | None,
                           column_descriptions: dict[str, str]) -> dict:
        with self.tx() as cur:
            cur.execute(self._sql("DELETE FROM table_metadata WHERE namespace = ? AND layer = ? AND name = ?"),
                        (ns, layer, name))
            cur.execute(
                self._sql("INSERT INTO table_metadata (namespace, layer, name, description, owner,"
                          " column_descriptions, updated_at) VALUES (?,?,?,?,?,?,?)"),
                (ns, layer, name, description, owner, json.dumps(column_descriptions), now_iso()),
            )
        return self.get_table_metadata(ns, layer, name)

    # -- landing zones ----------------------------------------------------------------------------
    def create_zone(self, ns: str, name: str, description: str = "") -> dict:
        try:
            self.execute("INSERT INTO landing_zones (namespace, name, description, created_at) VALUES (?,?,?,?)",
                         (ns, name, description, now_iso()))
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise Conflict(f"landing zone {ns}.{name} already exists") from None
            raise
        return self.get_zone(ns, name)

    def get_zone(self, ns: str, name: str) -> dict:
        row = self.one("SELECT * FROM landing_zones WHERE namespace = ? AND name = ?", (ns, name))
        if row is None:
            raise NotFound(f"landing zone {ns}.{name} not found")
        row["auto_purge"] = bool(row["auto_purge"])
        return row

    def list_zones(self, ns: str | None = None) -> list[dict]:
        if ns:
            rows = self.query("SELECT * FROM landing_zones WHERE namespace = ? ORDER BY name", (ns,))
        else:
            rows = self.query("SELECT * FROM landing_zones ORDER BY namespace, name")
        for r in rows:
            r["auto_purge"] = bool(r["auto_purge"])
        return rows

    def update_zone(self, ns: str, name: str, **fields: Any) -> dict:
        self.get_zone(ns, name)
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.execute(f"UPDATE landing_zones SET {sets} WHERE namespace = ? AND name = ?",
                         (*fields.values(), ns, name))
        return self.get_zone(ns, name)

    def delete_zone(self, ns: str, name: str) -> None:
        with self.tx() as cur:
            cur.execute(self._sql("DELETE FROM landing_files WHERE namespace = ? AND zone = ?"), (ns, name))
            cur.execute(self._sql("DELETE FROM landing_zones WHERE namespace = ? AND name = ?"), (ns, name))

    def add_landing_file(self, ns: str, zone: str, filename: str, path: str, size: int,
                         content_type: str | None) -> dict:
        fid = new_id()
        self.execute(
            "INSERT INTO landing_files (id, namespace, zone, filename, path, size_bytes, content_type,"
            " uploaded_at) VALUES (?,?,?,?,?,?,?,?)",
            (fid, ns, zone, filename, path, size, content_type, now_iso()),
        )
        return self.get_landing_file(ns, zone, fid)

    def get_landing_file(self, ns: str, zone: str, fid: str) -> dict:
        row = self.one("SELECT * FROM landing_files WHERE id = ? AND namespace = ? AND zone = ?", (fid, ns, zone))
        if row is None:
            raise NotFound(f"landing file '{fid}' not found")
        return row

    def list_landing_files(self, ns: str, zone: str) -> list[dict]:
        return self.query("SELECT * FROM landing_files WHERE namespace = ? AND zone = ? ORDER BY uploaded_at DESC",
                          (ns, zone))

    def landing_files_recorded_before(self, cutoff: str) -> list[dict]:
        """Every zone's file records older than ``cutoff`` (an ISO time), by zone, oldest first."""
        return self.query("SELECT * FROM landing_files WHERE uploaded_at < ? ORDER BY namespace, zone, uploaded_at",
                          (cutoff,))

    def delete_landing_file(self, fid: str) -> None:
        self.execute("DELETE FROM landing_files WHERE id = ?", (fid,))

    def forget_landing_files(self, ns: str, zone: str, paths: Iterable[str]) -> int:
        """Delete the records of the zone's files at ``paths`` (a run archived them), in one transaction.

        Batched: an archiving run can take thousands of files, and a statement per file made the records
        outlive the run's final status by seconds on PostgreSQL.
        """
        paths = sorted(set(paths))
        deleted = 0
        with self.tx() as cur:
            for start in range(0, len(paths), _IN_BATCH):
                batch = paths[start:start + _IN_BATCH]
                cur.execute(self._sql("DELETE FROM landing_files WHERE namespace = ? AND zone = ?"
                                      f" AND path IN ({','.join('?' * len(batch))})"), (ns, zone, *batch))
                deleted += max(cur.rowcount, 0)
        return deleted

    # -- schedules and triggers -------------------------------------------------------------------
    def insert_row(self, table: str, row: dict[str, Any]) -> None:
        cols = list(row)
        self.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                     [row[c] for c in cols])

    def update_row(self, table: str, row_id: str, expect: dict[str, Any] | None = None, **fields: Any) -> bool:
        """Update one row; ``expect`` makes it a compare-and-set (exactly-once firing across servers)."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        params: list[Any] = [*fields.values(), row_id]
        where = "id = ?"
        for key, value in (expect or {}).items():
            if value is None:
                where += f" AND {key} IS NULL"
            else:
                where += f" AND {key} = ?"
                params.append(value)
        return self.execute(f"UPDATE {table} SET {sets} WHERE {where}", params) > 0

    def get_row(self, table: str, row_id: str, what: str) -> dict[str, Any]:
        row = self.one(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if row is None:
            raise NotFound(f"{what} '{row_id}' not found")
        return row

    def delete_row(self, table: str, row_id: str, what: str) -> None:
        if self.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,)) == 0:
            raise NotFound(f"{what} '{row_id}' not found")

    def get_schedule_row(self, schedule_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))

    def list_schedule_rows(self, namespace: str | None, limit: int, offset: int) -> tuple[list[dict], int]:
        where, params = ("WHERE namespace = ?", [namespace]) if namespace else ("", [])
        total = self.scalar(f"SELECT COUNT(*) FROM schedules {where}", params)
        rows = self.query(f"SELECT * FROM schedules {where} ORDER BY created_at, id "
                          f"LIMIT {int(limit)} OFFSET {int(offset)}", params)
        return rows, int(total or 0)

    def due_schedule_ids(self, now: str) -> list[str]:
        return [r["id"] for r in self.query("SELECT id FROM schedules WHERE enabled = 1 AND next_run_at <= ?",
                                            (now,))]

    def schedule_ids(self) -> list[str]:
        return [r["id"] for r in self.query("SELECT id FROM schedules")]

    def get_trigger_row(self, trigger_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM triggers WHERE id = ?", (trigger_id,))

    def list_trigger_rows(self, ns: str, layer: str, pipeline: str) -> list[dict]:
        return self.query("SELECT * FROM triggers WHERE namespace = ? AND layer = ? AND pipeline = ? "
                          "ORDER BY created_at, id", (ns, layer, pipeline))

    def triggers_of_type(self, *types: str, config: str | None = None) -> list[dict]:
        """Triggers of the given types; ``config`` (JSON text) narrows to an exact configuration."""
        sql = f"SELECT * FROM triggers WHERE type IN ({','.join('?' * len(types))})"
        params: list[Any] = list(types)
        if config is not None:
            sql += " AND config = ?"
            params.append(config)
        return self.query(sql + " ORDER BY created_at, id", params)

    def webhook_trigger(self, token_hash: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM triggers WHERE type = 'webhook' AND token_hash = ?", (token_hash,))

    def due_cron_trigger_ids(self, now: str) -> list[str]:
        return [r["id"] for r in self.query("SELECT id FROM triggers WHERE enabled = 1 AND next_run_at <= ? "
                                            "AND type IN ('cron', 'cron_dependency')", (now,))]

    def pending_triggers(self) -> list[dict]:
        return self.query("SELECT * FROM triggers WHERE enabled = 1 AND pending_since IS NOT NULL")

    def succeeded_since(self, ns: str, layer: str, name: str, since: str) -> bool:
        """A run of the pipeline finished with success after ``since`` (cron_dependency triggers)."""
        return self.one("SELECT id FROM runs WHERE namespace = ? AND layer = ? AND name = ? AND status = 'success' "
                        "AND finished_at > ? LIMIT 1", (ns, layer, name, since)) is not None

    # -- retention (the reaper) -------------------------------------------------------------------
    def retention_overrides(self) -> dict[tuple[str, str, str], dict[str, int]]:
        """Per-pipeline retention overrides of live pipelines, by (namespace, layer, name)."""
        rows = self.query("SELECT namespace, layer, name, retention_config FROM pipelines "
                          "WHERE deleted_at IS NULL AND retention_config IS NOT NULL")
        return {(r["namespace"], r["layer"], r["name"]): json.loads(r["retention_config"]) for r in rows}

    def finished_runs_newest_first(self) -> list[dict]:
        """Finished runs (id, pipeline, created_at), grouped by pipeline and newest first within it."""
        return self.query("SELECT id, namespace, layer, name, created_at FROM runs WHERE status IN "
                          "('success', 'failed', 'cancelled', 'skipped') "
                          "ORDER BY namespace, layer, name, created_at DESC")

    def runs_created_before(self, before: str) -> list[dict]:
        return self.query("SELECT id, namespace, layer, name FROM runs WHERE created_at < ?", (before,))

    def delete_pipeline_logs_before(self, ns: str, layer: str, name: str, before: str) -> int:
        return self.execute(
            "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE namespace = ? AND layer = ? "
            "AND name = ? AND created_at < ?)", (ns, layer, name, before))

    def delete_run_logs(self, run_id: str) -> int:
        return self.execute("DELETE FROM run_logs WHERE run_id = ?", (run_id,))

    def quality_results_newest_first(self) -> list[dict]:
        """Quality results (id, pipeline, test), grouped by test and newest first within it."""
        return self.query("SELECT id, namespace, layer, pipeline, test FROM quality_results "
                          "ORDER BY namespace, layer, pipeline, test, created_at DESC")

    def delete_quality_results(self, ids: Sequence[str]) -> int:
        count = 0
        for i in range(0, len(ids), 500):
            chunk = list(ids[i:i + 500])
            count += self.execute(f"DELETE FROM quality_results WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return count

    def delete_audit_before(self, before: str) -> int:
        return self.execute("DELETE FROM audit WHERE created_at < ?", (before,))

    # -- metrics and readiness --------------------------------------------------------------------
    def run_counts(self) -> dict[str, int]:
        """Runs per status."""
        return {r["status"]: int(r["n"]) for r in self.query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")}

    def ping(self) -> None:
        """A round trip to the database (readiness)."""
        self.scalar("SELECT 1")

    def acquire_leader(self, name: str) -> bool:
        """Leader election for the scheduler. One SQLite file serves one server, which always leads;
        the PostgreSQL store overrides this with an advisory lock."""
        return True

    def release_leader(self, name: str) -> None:
        return None

    # -- audit and settings -----------------------------------------------------------------------
    def audit(self, action: str, resource: str, detail: str | None = None, user_id: str | None = None,
              ip: str | None = None) -> None:
        self.execute("INSERT INTO audit (id, user_id, action, resource, detail, ip, created_at)"
                     " VALUES (?,?,?,?,?,?,?)", (new_id(), user_id, action, resource, detail, ip, now_iso()))

    def list_audit(self, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        total = self.scalar("SELECT COUNT(*) FROM audit")
        rows = self.query(f"SELECT * FROM audit ORDER BY created_at DESC LIMIT {int(limit)} OFFSET {int(offset)}")
        return rows, int(total or 0)

    def get_setting(self, key: str, default: Any = None) -> Any:
        value = self.scalar("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(value) if value is not None else default

    def put_setting(self, key: str, value: Any) -> None:
        with self.tx() as cur:
            cur.execute(self._sql("DELETE FROM settings WHERE key = ?"), (key,))
            cur.execute(self._sql("INSERT INTO settings (key, value) VALUES (?, ?)"), (key, json.dumps(value)))


def _decode_run(row: dict) -> dict:
    row["phases"] = json.loads(row["phases"]) if row.get("phases") else []
    if "depends_on" in row:
        row["depends_on"] = json.loads(row["depends_on"]) if row.get("depends_on") else []
    return row


def _encode_run(run: dict[str, Any]) -> dict[str, Any]:
    row = dict(run)
    if isinstance(row.get("depends_on"), list | tuple):
        row["depends_on"] = json.dumps(list(row["depends_on"]))
    if isinstance(row.get("phases"), list):
        row["phases"] = json.dumps(row["phases"])
    return row


def _decode_quality(row: dict) -> dict:
    row["sample"] = json.loads(row["sample"]) if row.get("sample") else []
    return row


class SQLiteState(SqlState):
    """The embedded default: one SQLite file in WAL mode."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching a fresh file to WAL and creating the schema race with another process doing the same.
        with init_lock(self.path.parent):
            self.migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level="DEFERRED", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn


def open_state(url: str) -> SqlState:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return SQLiteState(Path(url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path))
    if parsed.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from .postgres_state import PostgresState

        return PostgresState(url)
    raise Invalid(f"unsupported state URL '{url}'")
