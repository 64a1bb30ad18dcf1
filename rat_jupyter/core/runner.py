"""One pipeline run, start to finish, with write-audit-publish. Runs inside a worker process.

Phases (each timed and logged): render → execute → write (to branch ``rat-run-{id}``, or straight to
``main`` when there are no quality tests to audit) → quality tests (reading the branch) → publish (move
``main`` to the branch snapshot in one catalog commit, asserting ``main`` did not move) → clean up.
Any failure before publish leaves ``main`` as it was; a table created by a failed first run is dropped.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.update import (
    AssertRefSnapshotId,
    RemoveSnapshotRefUpdate,
    SetPropertiesUpdate,
    SetSnapshotRefUpdate,
)

from ..common import history
from ..common.memo import MISSING, Lru
from ..common.tables import METADATA_UNITS, live_records, metadata_weight
from . import engine, fastwrite, strategies
from .errors import Conflict, Invalid, NotFound, RatError, RunCancelled, TemplateError
from .landing import LandingPins
from .names import PipelineId
from .pipelines import PipelineSpec, QualityTest, load_spec
from .reporter import Reporter
from .settings import Settings
from .templating import RenderContext, render

if TYPE_CHECKING:
    from .composition import Catalog

MAIN = "main"
T = TypeVar("T")


class CancelToken:
    """Set by the worker's control thread; interrupts the DuckDB connection that is running."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._conns: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self.gate: Callable[[], bool] | None = None  # the publish fence's question to the run's owner
        self._granted = False

    def watch(self, conn: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._conns.append(conn)
            if self._event.is_set():
                conn.interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            for conn in self._conns:
                try:
                    conn.interrupt()
                except duckdb.Error:
                    pass

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise RunCancelled("run cancelled")

    def fence(self) -> None:
        """The publish fence: call right before ``main`` moves. The run's owner records "publishing" (after
        which a cancel is refused) or refuses because a cancel was requested; refused → ``RunCancelled``,
        so a cancelled run never publishes, whichever process asked for the cancel."""
        self.check()
        if self._granted or self.gate is None:
            return
        if not self.gate():
            self._event.set()
            raise RunCancelled("cancelled before publishing; main was not changed")
        self._granted = True


@dataclass
class RunOutcome:
    status: str
    rows_written: int = 0
    error: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)
    snapshot_id: int | None = None
    archived_zones: list[tuple[str, str]] = field(default_factory=list)
    landing_files: list[dict[str, Any]] = field(default_factory=list)  # what the run read (core/landing.py)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "rows_written": self.rows_written, "error": self.error,
                "phases": self.phases, "quality": self.quality,
                "snapshot_id": str(self.snapshot_id) if self.snapshot_id else None,
                "archived_zones": self.archived_zones, "landing_files": self.landing_files}


class _Context:
    """Per-process cache of the catalog and storage (building a pyiceberg catalog is not free)."""

    _cache: dict[str, Any] = {}

    @classmethod
    def catalog(cls, settings: Settings) -> Any:
        from .composition import Catalog

        key = repr(settings)
        if key not in cls._cache:
            cls._cache[key] = Catalog(settings)
        return cls._cache[key]

    @classmethod
    def storage(cls, settings: Settings) -> Any:
        from .composition import open_storage

        key = "storage:" + repr(settings)
        if key not in cls._cache:  # an S3 client is not free to build: one per process
            cls._cache[key] = open_storage(settings.resolved_storage_url, settings.s3)
        return cls._cache[key]


class _Tables:
    """Per-process cache of loaded tables, keyed by pipeline and checked against the catalog's pointer.

    Loading a table reads and parses its ``metadata.json`` (and, through pyiceberg's ORM, costs a few ms
    more); a DAG run loads every upstream table again for each model that refers to it. A metadata file is
    immutable once written, so a cached table whose ``metadata_location`` is still the catalog's current one
    (:meth:`Catalog.metadata_location`, one indexed query on a SQL catalog) is exactly what a fresh load
    would return; a catalog that cannot tell cheaply (REST) always loads. The pointer is the only
    invalidation: a commit made through a cached table updates it in place (pyiceberg sets the new metadata
    and location together, and only on success), and any other commit, a drop or a failed run's clean-up
    moves the catalog's pointer away from the cached one.

    Bounded by the snapshots the tables hold (:func:`metadata_weight`, :data:`METADATA_UNITS`), not by their
    count: a table's metadata grows with its history up to the expiry bound, and 4,096 cached tables with
    full histories would hold ~900 MiB in every worker. The bound is set above a 500-model workspace at full
    history, since a DAG pass over more tables than fit misses on every load (a parse, ~2-8 ms).
    """

    # by (id(catalog), pid), bounded by what the tables' metadata holds
    _cache: Lru[Table] = Lru(METADATA_UNITS, weight=lambda table: metadata_weight(table.metadata))

    @classmethod
    def load(cls, catalog: Catalog, pid: PipelineId) -> Table | None:
        key = (id(catalog), pid)
        location = catalog.metadata_location(pid)
        cached = cls._cache.get(key)
        if location is not None and cached is not MISSING and cached.metadata_location == location:
            cls._cache.put(key, cached)  # a commit through it grew it in place: weighed again
            return cached
        table = catalog.load_at(pid, location) if location is not None else catalog.load(pid)
        if table is None or location is None:
            cls._cache.pop(key)
        else:
            cls._cache.put(key, table)
        return table


class _Files:
    """Per-process cache of the data files of upstream snapshots that a plain Parquet read returns exactly.

    ``iceberg_scan`` reads and parses the table's ``metadata.json``, manifest list and manifests each time
    DuckDB binds it, and a run binds every ``ref()`` three times (the view's creation, the fast-write probe,
    the ``COPY``): most of a mid-DAG model's ``ref()`` cost. A snapshot's files never change, so they are
    listed once per worker (pyiceberg's scan planning) and the view reads them with ``read_parquet``, which
    only reads the files' footers. That read is the Iceberg read only when the snapshot has no delete files
    and every file was written with the table's one schema (never evolved: names and columns match the
    files); any other table keeps ``iceberg_scan`` (:meth:`plain_files`).
    """

    MAX_FILES = 64  # beyond that, footer reads add up: iceberg_scan reads only what a query needs
    _cache: Lru[tuple[str, ...] | None] = Lru(4096)  # by (table uuid, snapshot id); None: not a plain read
    planned = 0  # how many times a snapshot's files were listed (tests count it)

    @classmethod
    def plain_files(cls, table: Table, snapshot_id: int) -> tuple[str, ...] | None:
        metadata = table.metadata
        if len(metadata.schemas) != 1:
            return None  # evolved (or a schema staged by a run): field ids, not names, decide
        key = (str(metadata.table_uuid), snapshot_id)
        hit = cls._cache.get(key)
        if hit is not MISSING:
            return hit
        files = cls._plan(table, snapshot_id)
        cls._cache.put(key, files)
        return files

    @classmethod
    def seed(cls, table: Table, snapshot_id: int, files: tuple[str, ...]) -> None:
        """Record ``files`` as the data files of the snapshot this process just committed (a full refresh:
        its added files are all there is), so a later ``ref()`` to it here lists nothing. Only when the
        committed snapshot reads plainly and its own summary counts as many data files."""
        snap = cls._plain_snapshot(table, snapshot_id)
        if snap is None or not files or len(files) > cls.MAX_FILES or (
                snap.summary.additional_properties.get("total-data-files") != str(len(files))):
            return
        cls._cache.put((str(table.metadata.table_uuid), snapshot_id), files)

    @staticmethod
    def _plain_snapshot(table: Table, snapshot_id: int) -> Any:
        """The snapshot, when reading its files plainly is the Iceberg read: the table's one schema ever,
        no delete files (by the snapshot's summary), written with the current schema. Else ``None``."""
        metadata = table.metadata
        snap = metadata.snapshot_by_id(snapshot_id)
        if snap is None or snap.summary is None or len(metadata.schemas) != 1:
            return None
        summary = snap.summary.additional_properties
        if any(summary.get(k) != "0" for k in ("total-delete-files", "total-position-deletes",
                                                "total-equality-deletes")):
            return None
        if snap.schema_id is not None and snap.schema_id != metadata.current_schema_id:
            return None
        return snap

    @classmethod
    def _plan(cls, table: Table, snapshot_id: int) -> tuple[str, ...] | None:
        from pyiceberg.manifest import DataFileContent, FileFormat

        snap = cls._plain_snapshot(table, snapshot_id)
        if snap is None:
            return None
        cls.planned += 1
        # no row filter and no delete files: the scan's files are the snapshot's live data entries
        files = [e.data_file for e in fastwrite.snapshot_entries(table, snap)]
        if not files or len(files) > cls.MAX_FILES:
            return None
        if any(f.content != DataFileContent.DATA or f.file_format != FileFormat.PARQUET for f in files):
            return None
        return tuple(f.file_path for f in files)


def warm(settings: Settings) -> None:
    """Build the per-process catalog and DuckDB database before the first task arrives."""
    catalog = _Context.catalog(settings)
    catalog.iceberg.list_namespaces()
    engine.session_connection(settings).close()


class _Phases:
    def __init__(self, reporter: Reporter, outcome: RunOutcome) -> None:
        self.reporter = reporter
        self.outcome = outcome

    def run(self, name: str, fn: Callable[[], Any], meta: Callable[[Any], dict[str, Any]] | None = None) -> Any:
        start = time.perf_counter()
        value = fn()
        ms = int((time.perf_counter() - start) * 1000)
        metadata = meta(value) if meta else {}
        self.outcome.phases.append({"name": name, "duration_ms": ms, "metadata": metadata})
        self.reporter.phase(name, ms, metadata)
        return value


class Session:
    """DuckDB + catalog wiring shared by runs, previews and test runs: resolves ``ref()`` to views."""

    def __init__(self, settings: Settings, pid: PipelineId | None, namespace: str,
                 cancel: CancelToken | None = None) -> None:
        self.settings = settings
        self.pid = pid
        self.namespace = namespace
        self.catalog = _Context.catalog(settings)
        self.conn = engine.session_connection(settings)
        self.write = engine.WriteOptions.of(settings)  # how the files it writes are encoded
        self.cancel = cancel or CancelToken()
        self.cancel.watch(self.conn)
        self.attached: set[str] = set()
        self.registered: dict[PipelineId, str] = {}
        self.use_samples = False
        self.pins: LandingPins | None = None  # a run pins the landing files it reads; previews do not

    def close(self) -> None:
        engine.close_session(self.conn, self.attached)

    def resolve_ref(self, pid: PipelineId) -> str:
        if pid in self.registered:
            return self.registered[pid]
        table = _Tables.load(self.catalog, pid)
        if table is None:
            raise NotFound(f"ref('{pid.layer}.{pid.name}'): table {pid} does not exist — run its pipeline first")
        self._register(pid, table)
        return pid.sql

    def _register(self, pid: PipelineId, table: Table, ref: str = MAIN) -> None:
        snap = table.metadata.snapshot_by_name(ref)
        if snap is None:
            schema = table.schema().as_arrow()
            empty = f"__rat_empty_{len(self.registered)}"
            self.conn.register(empty, schema.empty_table())
            engine.register_empty_view(self.conn, pid, f"SELECT * FROM {empty}", self.attached)
        else:
            files = _Files.plain_files(table, snap.snapshot_id)
            if files is not None:
                engine.register_parquet_view(self.conn, pid, files, table.schema().column_names, self.attached)
            else:
                engine.register_table_view(self.conn, pid, table.metadata_location,
                                           snap.snapshot_id if ref != MAIN else None, self.attached)
        self.registered[pid] = pid.sql

    def resolve_landing(self, ns: str, zone: str, pattern: str) -> str:
        """The zone's files (not its ``_samples/`` or ``_processed/`` folders); a preview reads the curated
        samples instead when the zone has any."""
        storage = _Context.storage(self.settings)
        if self.use_samples and storage.list(f"{ns}/landing/{zone}/_samples/"):
            return storage.uri(f"{ns}/landing/{zone}/_samples") + "/" + pattern
        if self.pins is not None:
            return self.pins.resolve(ns, zone, pattern)
        return storage.uri(f"{ns}/landing/{zone}") + "/" + pattern

    def render_context(self, spec: PipelineSpec | None, *, is_incremental: bool, watermark: str | None,
                       run_started_at: str) -> RenderContext:
        return RenderContext(
            namespace=self.namespace, pipeline=self.pid,
            strategy=spec.config.merge_strategy if spec else "full_refresh",
            is_incremental=is_incremental, watermark_value=watermark, run_started_at=run_started_at,
            resolve_ref=self.resolve_ref, resolve_landing=self.resolve_landing,
            this_sql=self.pid.sql if self.pid else None,
        )

    def execute_sql(self, sql: str) -> pa.Table:
        def run() -> Any:
            result = self.conn.execute(sql)
            for column, kind, *_ in result.description or ():
                if str(kind) == "TIME WITH TIME ZONE":  # Arrow has no zoned time: the offset would be lost
                    who = f"pipeline {self.pid}: " if self.pid else ""
                    raise Invalid(
                        f"{who}column '{column}' has type TIME WITH TIME ZONE, which Iceberg cannot store. "
                        "Cast it in the query, e.g. to TIME (in UTC) or VARCHAR.")
            return result.arrow()

        out = self.query(run)
        if isinstance(out, pa.RecordBatchReader):
            out = out.read_all()
        return out

    def query(self, fn: Callable[[], T]) -> T:
        """Run DuckDB work: an interrupt (or any error after a cancel) is a cancel, other errors are SQL errors."""
        self.cancel.check()
        try:
            return fn()
        except duckdb.InterruptException:
            raise RunCancelled("run cancelled while the query was running") from None
        except duckdb.Error as exc:
            if self.cancel.cancelled:
                raise RunCancelled("run cancelled while the query was running") from None
            raise _SqlError(str(exc)) from None

    def execute_python(self, spec: PipelineSpec, reporter: Reporter, is_incremental: bool,
                       run_started_at: str) -> pa.Table:
        scope: dict[str, Any] = {
            "__name__": "__rat_pipeline__",
            "duckdb_conn": self.conn,
            "pa": pa,
            "ref": lambda name: self.resolve_ref(PipelineId.parse(name, self.namespace)),
            "landing_zone": lambda zone, pattern="*": self.resolve_landing(self.namespace, zone, pattern),
            "this": str(self.pid),
            "config": spec.config,
            "is_incremental": is_incremental,
            "run_started_at": run_started_at,
            "log": lambda message, level="info": reporter.log(level, str(message)),
            "result": None,
        }
        code = compile(spec.source, "pipeline.py", "exec")
        try:
            exec(code, scope)
        except RatError:
            raise
        except duckdb.InterruptException:
            raise RunCancelled("run cancelled") from None
        except Exception as exc:  # noqa: BLE001 - user code can raise anything; report it with its line
            line = _python_line(exc)
            where = f" at line {line}" if line else ""
            raise _PipelineError(f"Python pipeline failed{where}: {type(exc).__name__}: {exc}") from None
        result = scope.get("result")
        if result is None:
            raise _PipelineError("Python pipeline did not set `result` to an Arrow table or DataFrame")
        if isinstance(result, pa.Table):
            return result
        if isinstance(result, pa.RecordBatch):
            return pa.Table.from_batches([result])
        if isinstance(result, pa.RecordBatchReader):
            return result.read_all()
        if isinstance(result, duckdb.DuckDBPyRelation):
            return result.to_arrow_table()
        if hasattr(result, "to_arrow"):
            return result.to_arrow()
        try:
            index = getattr(result, "index", None)
            if index is not None and any(n is not None for n in getattr(index, "names", [])):
                result = result.reset_index()  # a named index is data (e.g. a groupby key): keep it
            return pa.Table.from_pandas(result, preserve_index=False)
        except (TypeError, ValueError, AttributeError):
            raise _PipelineError(f"`result` must be an Arrow table or DataFrame, not {type(result).__name__}") from None


class _SqlError(RatError):
    code = "SQL_ERROR"
    status = 422


class _PipelineError(RatError):
    code = "PIPELINE_ERROR"
    status = 422


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else "no message"


def _python_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "pipeline.py":
            line = frame.lineno
    return line


def _watermark(session: Session, spec: PipelineSpec, table: Table | None) -> str | None:
    column = spec.config.watermark_column
    if not column or table is None or table.metadata.snapshot_by_name(MAIN) is None:
        return None
    if column not in table.schema().column_names:
        return None
    value = session.conn.execute(f"SELECT MAX({engine.quote_ident(column)})::VARCHAR FROM {spec.pid.sql}").fetchone()
    return value[0] if value else None


def _table_rows(table: Table | None) -> int:
    snap = table.metadata.snapshot_by_name(MAIN) if table is not None else None
    if snap is None:
        return 0
    return live_records(snap.summary.additional_properties if snap.summary is not None else {})


def incremental_state(session: Session, spec: PipelineSpec, table: Table | None) -> tuple[bool, str | None]:
    """``(is_incremental, watermark_value)`` as docs/strategies.md §3 defines them.

    ``is_incremental()`` is true only when the table has rows and, with a ``watermark_column``, a watermark:
    after a first run that returned no rows the pipeline simply runs its full query again (the strategies
    merge idempotently), instead of rendering ``TIMESTAMP 'None'`` forever.
    """
    if not spec.config.is_incremental_like or _table_rows(table) == 0:
        return False, None
    watermark = _watermark(session, spec, table)
    if spec.config.watermark_column and watermark is None:
        return False, None
    return True, watermark


def run_quality_tests(session: Session, spec: PipelineSpec, tests: list[QualityTest], reporter: Reporter,
                      run_started_at: str) -> list[dict[str, Any]]:
    """Run tests on ``session`` (where ``this`` already points at the data to audit)."""
    results = []
    for test in tests:
        session.cancel.check()
        start = time.perf_counter()
        record: dict[str, Any] = {"test": test.name, "severity": test.severity, "description": test.description,
                                  "violations": 0, "sample": [], "error": None}
        try:
            ctx = session.render_context(spec, is_incremental=False, watermark=None, run_started_at=run_started_at)
            sql = engine.contained_statement(session.conn, render(test.sql, ctx).sql, f"quality test {test.name}")
            rows = session.conn.execute(
                f"SELECT *, count(*) OVER () AS __rat_violations FROM ({sql}\n) AS t LIMIT 5").arrow()
            if isinstance(rows, pa.RecordBatchReader):
                rows = rows.read_all()
            sample = rows.drop_columns(["__rat_violations"]).to_pylist()
            record["violations"] = int(rows["__rat_violations"][0].as_py()) if rows.num_rows else 0
            record["sample"] = [{k: _jsonable(v) for k, v in row.items()} for row in sample]
            record["status"] = "fail" if record["violations"] else "pass"
        except (RatError, duckdb.Error) as exc:
            if isinstance(exc, duckdb.InterruptException) or session.cancel.cancelled:
                raise RunCancelled("run cancelled during quality tests") from None
            record["status"] = "error"
            record["error"] = exc.message if isinstance(exc, RatError) else str(exc)
        record["duration_ms"] = int((time.perf_counter() - start) * 1000)
        results.append(record)
        level = "info" if record["status"] == "pass" else ("warn" if test.severity == "warn" else "error")
        detail = (f"{record['violations']} rows" if record["status"] != "error" else record["error"])
        reporter.log(level, f"Quality test '{test.name}' [{test.severity}]: {record['status']} ({detail}, "
                            f"{record['duration_ms']}ms)")
    return results


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def execute_run(settings: Settings, run_id: str, pid: PipelineId, files: dict[str, str], reporter: Reporter,
                cancel: CancelToken, run_started_at: str | None = None) -> RunOutcome:
    """Run one pipeline with write-audit-publish. Never raises: failures become a ``failed`` outcome."""
    outcome = RunOutcome(status="running")
    phases = _Phases(reporter, outcome)
    started = run_started_at or datetime.now(UTC).isoformat()
    run_ts = datetime.fromisoformat(started)
    branch = f"rat-run-{run_id}"
    session: Session | None = None
    table: Table | None = None
    try:
        spec = phases.run("resolve", lambda: load_spec(pid, files),
                          lambda s: {"type": s.kind, "strategy": s.config.merge_strategy, "tests": len(s.tests)})
        for warning in spec.warnings:
            reporter.log("warn", warning)
        session = Session(settings, pid, pid.namespace, cancel)
        storage = _Context.storage(settings)
        archive = spec.config.archive_landing_zones and spec.kind == "sql"
        session.pins = LandingPins(storage, run_id, copy=archive or storage.cheap_pins)
        catalog = session.catalog
        table = _Tables.load(catalog, pid)
        has_data = table is not None and table.metadata.snapshot_by_name(MAIN) is not None
        if table is not None:
            session._register(pid, table)
        is_incremental, watermark = incremental_state(session, spec, table)
        reporter.log("info", f"Running {pid} ({spec.kind}, {spec.config.merge_strategy}, "
                             f"is_incremental={is_incremental})")

        fast_schema = None
        rendered_sql = ""
        if spec.kind == "sql":
            ctx = session.render_context(spec, is_incremental=is_incremental, watermark=watermark,
                                         run_started_at=started)
            rendered = phases.run("render", lambda: render(spec.source, ctx),
                                  lambda r: {"refs": [str(x) for x in r.refs],
                                             "landing_files": session.pins.record() if session.pins else []})
            rendered_sql = engine.contained_statement(session.conn, rendered.sql, f"pipeline {pid}")
            reporter.log("debug", "Compiled SQL:\n" + rendered_sql.strip())
            fast_schema = fastwrite.plan(session.conn, spec, rendered_sql, settings.resolved_warehouse,
                                         first_load=not has_data)
            if fastwrite.arrow_forced():
                reporter.log("debug", f"fast write path turned off ({fastwrite.ENV_WRITE_PATH}=arrow); "
                                      "using the Arrow path")
        done = False
        if fast_schema is not None:
            try:
                _fast_run(session, spec, table, fast_schema, rendered_sql, run_id, has_data, branch, started,
                          outcome, phases, reporter)
                done = True
            except fastwrite.Unsupported as exc:
                reporter.log("debug", f"fast write path not possible ({exc}); using the Arrow path")
                table = _Tables.load(catalog, pid)
                has_data = table is not None and table.metadata.snapshot_by_name(MAIN) is not None
        if not done:
            _arrow_run(session, spec, table, has_data, rendered_sql, is_incremental, branch, started, run_ts,
                       outcome, phases, reporter)
        outcome.status = "success"

        if archive:
            outcome.archived_zones = session.pins.archive(rendered.landing_zones, reporter.log)
    except RunCancelled as exc:
        outcome.status, outcome.error = "cancelled", exc.message
        reporter.log("warn", f"Cancelled: {exc.message}")
    except _QualityFailed as exc:
        outcome.status, outcome.error = "failed", exc.message
        reporter.log("error", exc.message)
    except RatError as exc:
        outcome.status, outcome.error = "failed", exc.message
        reporter.log("error", exc.message)
    except duckdb.InterruptException:
        # Only a cancel interrupts the run's connection, and never once the fence let the run publish: this is
        # DuckDB work outside Session.query (a strategy writing its files on the run's connection).
        outcome.status, outcome.error = "cancelled", "run cancelled while writing; main was not changed"
        reporter.log("warn", f"Cancelled: {outcome.error}")
    except (CommitFailedException, ValidationException) as exc:
        # ValidationException: pyiceberg found another writer's files in the table since the run read it
        outcome.status = "failed"
        outcome.error = f"commit rejected, main was not changed (another writer changed the table): {_first_line(exc)}"
        reporter.log("error", outcome.error)
    except Exception as exc:  # noqa: BLE001 - a run must always end with a status
        # one line: libraries (pyiceberg's schema tables …) put drawings and dumps after the first line;
        # the whole message and the traceback go to the debug log
        outcome.status, outcome.error = "failed", f"pipeline {pid}: {type(exc).__name__}: {_first_line(exc)}"
        reporter.log("debug", f"{type(exc).__name__}: {exc}")
        reporter.log("error", f"Run failed: {outcome.error}")
        reporter.log("debug", traceback.format_exc())
    finally:
        if outcome.status != "success":
            _discard(session, pid, branch, reporter)
        if session is not None:
            if session.pins is not None:
                outcome.landing_files = session.pins.record()
                session.pins.release()
            session.close()
    return outcome


def _audit_first_load(session: Session, spec: PipelineSpec, rows_sql: str, started: str, outcome: RunOutcome,
                      phases: _Phases, reporter: Reporter) -> None:
    """Audit a first load before its table holds anything: ``{{ this }}`` and ``ref()`` of the pipeline read
    ``rows_sql`` (the rows about to be committed), so a failing test leaves no table behind."""
    pid = spec.pid
    engine.register_empty_view(session.conn, pid, rows_sql, session.attached)
    engine.register_table_sql(session.conn, pid, rows_sql)
    session.registered[pid] = pid.sql
    _audit(session, spec, started, outcome, phases, reporter)


def _audit(session: Session, spec: PipelineSpec, started: str, outcome: RunOutcome, phases: _Phases,
           reporter: Reporter) -> None:
    outcome.quality = phases.run(
        "quality", lambda: run_quality_tests(session, spec, spec.tests, reporter, started),
        lambda q: {"total": len(q), "failed": sum(r["status"] != "pass" for r in q)})
    blocking = [r for r in outcome.quality if r["severity"] == "error" and r["status"] != "pass"]
    if blocking:
        raise _QualityFailed(blocking)


def _write_audit_publish(session: Session, spec: PipelineSpec, table: Table, plan: strategies.SchemaPlan,
                         write: Callable[[Table, str], strategies.WriteResult], branch: str,
                         started: str, outcome: RunOutcome, phases: _Phases, reporter: Reporter) -> Table:
    """Write to a run branch, audit the branch, then move ``main`` to it (only if ``main`` did not move);
    the table as published.

    A schema change (``plan``) is staged first — added to the metadata, not made current — and becomes
    ``main``'s schema in the same commit that publishes the data, so a failed run never changes it.
    Without quality tests or a schema change there is nothing to audit: the strategy commits to ``main``
    directly, which is just as atomic (one catalog commit) and saves two commits per run.
    """
    pid = spec.pid
    base = table.metadata.snapshot_by_name(MAIN)
    base_id = base.snapshot_id if base else None
    audit = bool(spec.tests) or plan.changed
    target = branch if audit else MAIN
    if audit and base_id is not None:
        table.manage_snapshots().create_branch(base_id, branch).commit()
    writer = strategies.stage_schema(table, plan)
    if plan.changed:
        reporter.log("info", f"Schema change staged with this run: {', '.join(plan.changes)}")
    if not audit:
        session.cancel.fence()  # the write below commits to main
    result = phases.run("write", lambda: write(writer, target),
                        lambda r: {"rows_written": r.rows_written, "target": target, "detail": r.detail})
    outcome.rows_written = result.rows_written
    detail = f", {result.detail}" if result.detail else ""
    where = f"branch {branch}" if audit else "main"
    reporter.log("info", f"Wrote {result.rows_written} rows to {where} ({spec.config.merge_strategy}{detail})")
    session.cancel.check()
    table = _Tables.load(session.catalog, pid)
    if audit:
        session.registered.pop(pid, None)
        session._register(pid, table, ref=branch)
        _audit(session, spec, started, outcome, phases, reporter)
        session.cancel.fence()
        outcome.snapshot_id = phases.run("publish", lambda: _publish(table, branch, base_id, pid, plan))
        reporter.log("info", f"Published snapshot {outcome.snapshot_id} to main")
    else:
        snap = table.metadata.snapshot_by_name(MAIN)
        outcome.snapshot_id = snap.snapshot_id if snap else None
    _trim_history(table, reporter)
    return table


def _trim_history(table: Table, reporter: Reporter) -> None:
    """After a successful publish: expire the snapshots beyond the table's bound (``common.history``).

    ``main`` is already published, so a problem here is only worth a warning; the reaper's expiry catches up.
    """
    try:
        expired = history.trim(table)
    except Exception as exc:  # noqa: BLE001 - the run has published; trimming history is housekeeping
        reporter.log("warn", f"could not expire old snapshots: {str(exc).splitlines()[0][:200]}")
        return
    if expired:
        reporter.log("info", f"Expired {expired} old snapshots (the table keeps {history.max_snapshots(table)})")


def _arrow_run(session: Session, spec: PipelineSpec, table: Table | None, has_data: bool, sql: str,
               is_incremental: bool, branch: str, started: str, run_ts: datetime, outcome: RunOutcome,
               phases: _Phases, reporter: Reporter) -> None:
    """The general path: the result comes back as Arrow and a merge strategy writes it with pyiceberg."""
    pid = spec.pid
    if spec.kind == "sql":
        data = phases.run("execute", lambda: session.execute_sql(sql), lambda d: {"rows": d.num_rows})
    else:
        data = phases.run("execute", lambda: session.execute_python(spec, reporter, is_incremental, started),
                          lambda d: {"rows": d.num_rows})
    label = str(pid)
    data = strategies.normalize_arrow(data, label)
    data = strategies.prepare(data, spec.config, session.conn, label)
    session.cancel.check()
    if has_data:
        assert table is not None
        plan = strategies.plan_schema(table, data.schema, spec.config, label)

        def write(t: Table, target: str) -> strategies.WriteResult:
            return strategies.apply(t, data, spec.config, target, session.conn, pid.sql, run_ts, label,
                                   write=session.write)

        _write_audit_publish(session, spec, table, plan, write, branch, started, outcome, phases, reporter)
        return
    # First write: nothing on main yet, so the audit reads the rows that would be written and the table is
    # created (or filled) only once they pass.
    final, result = phases.run("write", lambda: strategies.initial(data, spec.config, session.conn, run_ts),
                               lambda r: {"rows_written": r[1].rows_written, "target": "main"})
    if spec.tests:
        session.conn.register("__rat_first_write", final)
        _audit_first_load(session, spec, "SELECT * FROM __rat_first_write", started, outcome, phases, reporter)
    session.cancel.fence()

    def create_and_write() -> int | None:
        target = table
        created = target is None
        if target is None:
            target = session.catalog.create(pid, final.schema, spec.config.partition_by)
        else:
            target = _evolve_empty(target, final.schema, spec)
        try:
            # the table has no data yet: one append snapshot
            strategies.commit(target, final, MAIN, session.conn, session.write)
        except BaseException:
            if created:
                session.catalog.drop(pid)
            raise
        snap = target.metadata.snapshot_by_name(MAIN)
        return snap.snapshot_id if snap else None

    outcome.snapshot_id = phases.run("publish", create_and_write)
    outcome.rows_written = result.rows_written
    reporter.log("info", f"Created {pid} with {result.rows_written} rows (snapshot {outcome.snapshot_id})")


def _fast_run(session: Session, spec: PipelineSpec, table: Table | None, schema: pa.Schema, sql: str,
              run_id: str, has_data: bool, branch: str, started: str, outcome: RunOutcome, phases: _Phases,
              reporter: Reporter) -> Table:
    """Write-audit-publish where DuckDB writes the data file (see :mod:`fastwrite`).

    A first write stages the file before the table exists, audits it, and only then creates the table and
    commits: a cancelled or failed first run leaves no table behind, not even an empty one.
    """
    pid = spec.pid
    strategies.check_columns(schema.empty_table(), spec.config, str(pid))
    plan = strategies.SchemaPlan()
    writer = table
    if table is not None and has_data:
        plan = strategies.plan_schema(table, schema, spec.config, str(pid))
        writer = strategies.stage_schema(table, plan)
    elif table is not None:
        table = writer = _evolve_empty(table, schema, spec)
    if table is None:
        # before any file is written under it: an S3 table bucket behind a REST catalog refuses to create
        # a namespace whose folder already holds objects. Asked of the catalog, not of this process's cache:
        # the namespace may have been deleted since this worker last created a table in it.
        session.catalog.ensure_namespace(pid.namespace, pid.layer, cached=False)
    location = table.location() if table is not None else session.catalog.table_location(pid)
    ids = fastwrite.field_ids(writer, schema.names)
    staged = phases.run("execute", lambda: _stage(session, table, location, ids, sql, run_id),
                        lambda st: {"rows": st.rows})
    created = False
    try:
        fastwrite.check_staged(session.conn, spec, staged)
        if has_data:
            assert table is not None
            replace = spec.config.merge_strategy == "full_refresh"

            def write(t: Table, target: str) -> strategies.WriteResult:
                fastwrite.commit(t, staged, target, replace)
                return strategies.WriteResult(staged.rows)

            published = _write_audit_publish(session, spec, table, plan, write, branch, started, outcome, phases,
                                             reporter)
            if replace and outcome.snapshot_id is not None:
                _Files.seed(published, outcome.snapshot_id, (staged.uri,))
            return table
        if spec.tests:
            _audit_first_load(session, spec, f"SELECT * FROM {staged.relation}", started, outcome, phases, reporter)
        session.cancel.fence()

        def create_and_commit() -> Table:
            nonlocal created
            new = table
            if new is None:
                new = session.catalog.create(pid, schema, location=location)
                created = True
                if fastwrite.field_ids(new, schema.names) != ids:
                    raise fastwrite.Unsupported("the catalog assigned other field ids")
                if new.location().rstrip("/") != location.rstrip("/"):
                    raise fastwrite.Unsupported("the catalog put the table somewhere else")
            fastwrite.commit(new, staged, MAIN, replace=False)
            return new

        table = phases.run("publish", create_and_commit)
    except BaseException:
        staged.discard()
        if created:
            session.catalog.drop(pid)
        raise
    snap = table.metadata.snapshot_by_name(MAIN)  # the commit refreshed the table's metadata in place
    outcome.snapshot_id = snap.snapshot_id if snap else None
    outcome.rows_written = staged.rows
    reporter.log("info", f"Created {pid} with {staged.rows} rows (snapshot {outcome.snapshot_id})")
    return table


def _stage(session: Session, table: Table | None, location: str, ids: dict[str, int], sql: str,
           run_id: str) -> fastwrite.Staged:
    from pyiceberg.io import load_file_io

    # the table's file IO (or, before the table exists, the catalog's for its location) removes the staged
    # file again if the run does not commit it, on S3 as locally
    io = table.io if table is not None else load_file_io(dict(session.catalog.iceberg.properties), location)
    return session.query(lambda: fastwrite.stage(session.conn, location, ids, sql, run_id, session.write, io))


class _QualityFailed(RatError):
    code = "QUALITY_FAILED"

    def __init__(self, blocking: list[dict[str, Any]]) -> None:
        parts = []
        for r in blocking:
            what = r["error"] if r["status"] == "error" else f"{r['violations']} violating rows"
            sample = f" e.g. {r['sample'][:3]}" if r.get("sample") else ""
            parts.append(f"'{r['test']}' ({what}){sample}")
        super().__init__("quality tests failed, nothing published: " + "; ".join(parts))


def _evolve_empty(table: Table, schema: pa.Schema, spec: PipelineSpec) -> Table:
    """Schema change on a table that exists but has no snapshot yet (no ``main`` data to protect): the same
    rules as :func:`strategies.plan_schema`, committed at once."""
    plan = strategies.plan_schema(table, schema, spec.config, str(spec.pid))
    if not plan.changed:
        return table
    table._do_commit((*plan.stage, *plan.publish), plan.requirements)  # see stage_schema
    return table


def _publish(table: Table, branch: str, base_id: int | None, pid: PipelineId,
             plan: strategies.SchemaPlan | None = None) -> int:
    """The one commit that moves ``main``: the run's schema (if it changed) + ``main`` → the branch snapshot +
    drop the branch + expire the snapshots beyond the table's bound, asserting ``main`` (and its schema) did
    not move meanwhile."""
    snap = table.metadata.snapshot_by_name(branch)
    if snap is None:
        raise Conflict(f"branch {branch} has no snapshot to publish")
    schema = plan.publish if plan is not None else ()
    missing = history.missing_properties(table)  # a table created before they existed gets them with its data
    properties = (SetPropertiesUpdate(updates=missing),) if missing else ()
    updates = (*schema, *properties,
               SetSnapshotRefUpdate(ref_name=MAIN, type=SnapshotRefType.BRANCH, snapshot_id=snap.snapshot_id),
               RemoveSnapshotRefUpdate(ref_name=branch),
               *history.expiry(table.metadata))  # the branch's snapshot, main's next, is kept: a ref points at it
    requirements = (AssertRefSnapshotId(snapshot_id=base_id, ref=MAIN),
                    *(plan.requirements if plan is not None else ()))
    try:
        table._do_commit(updates, requirements)  # no public pyiceberg call combines these
    except CommitFailedException:
        raise Conflict(f"main of {pid} moved during the run; nothing was published") from None
    return snap.snapshot_id


def _discard(session: Session | None, pid: PipelineId, branch: str, reporter: Reporter) -> None:
    """Drop the run branch of a run that did not publish (the reaper catches what this misses)."""
    if session is None:
        return
    try:
        table = session.catalog.load(pid)
        if table is not None and branch in table.metadata.refs:
            table.manage_snapshots().remove_branch(branch).commit()
    except Exception as exc:  # noqa: BLE001 - cleanup is best effort; the reaper drops orphan branches
        reporter.log("warn", f"could not clean up branch {branch}: {exc}")


def preview(settings: Settings, pid: PipelineId, files: dict[str, str], limit: int, reporter: Reporter,
            cancel: CancelToken | None = None, sample_files: bool = True) -> dict[str, Any]:
    """Dry run: render and execute, return the first ``limit`` rows. Nothing is written.

    An incremental-like pipeline whose table has rows previews exactly what its next run would merge: the
    template sees ``is_incremental()`` true and the current watermark, the batch is de-duplicated like the
    run does, and the result says so (``is_incremental``, ``watermark_value``, ``note``).
    """
    outcome = RunOutcome(status="running")
    phases = _Phases(reporter, outcome)
    session: Session | None = None
    result: dict[str, Any] = {"columns": [], "rows": [], "total_row_count": 0, "explain_output": "",
                              "warnings": [], "error": None}
    try:
        spec = phases.run("resolve", lambda: load_spec(pid, files))
        result["warnings"] = list(spec.warnings)
        session = Session(settings, pid, pid.namespace, cancel)
        session.use_samples = sample_files
        table = _Tables.load(session.catalog, pid)
        if table is not None:
            session._register(pid, table)
        is_incremental, watermark = incremental_state(session, spec, table)
        result["is_incremental"] = is_incremental
        result["watermark_value"] = watermark
        dedups = is_incremental and spec.config.merge_strategy in ("incremental", "scd2")
        if is_incremental:
            result["note"] = (f"is_incremental() is true: these are the rows the next run would merge into the "
                              f"current table ({spec.config.merge_strategy}, watermark_value "
                              f"{watermark if watermark is not None else 'not used'})"
                              + (", de-duplicated on the unique_key" if dedups else ""))
        started = datetime.now(UTC).isoformat()
        if spec.kind == "sql":
            ctx = session.render_context(spec, is_incremental=is_incremental, watermark=watermark,
                                         run_started_at=started)
            rendered = phases.run("render", lambda: render(spec.source, ctx))
            sql = engine.contained_statement(session.conn, rendered.sql, f"pipeline {pid}")
            result["compiled_sql"] = sql

            def run_sql() -> pa.Table:
                session.conn.execute(f"CREATE TEMP TABLE __rat_preview AS ({sql}\n)")  # same LINE numbers
                if dedups:
                    full = strategies.normalize_arrow(session.execute_sql("SELECT * FROM __rat_preview"), str(pid))
                    full = strategies.prepare(full, spec.config, session.conn, str(pid))
                    result["total_row_count"] = full.num_rows
                    return full.slice(0, limit)
                total = session.conn.execute("SELECT count(*) FROM __rat_preview").fetchone()[0]
                result["total_row_count"] = int(total)
                return session.execute_sql(f"SELECT * FROM __rat_preview LIMIT {int(limit)}")

            data = phases.run("execute", run_sql)
            try:
                plan = session.conn.execute(f"EXPLAIN {sql}").fetchall()
                result["explain_output"] = "\n".join(str(r[-1]) for r in plan)
            except duckdb.Error:
                pass
        else:
            full = phases.run("execute", lambda: session.execute_python(spec, reporter, is_incremental, started))
            if dedups:
                full = strategies.prepare(strategies.normalize_arrow(full, str(pid)), spec.config, session.conn,
                                          str(pid))
            result["total_row_count"] = full.num_rows
            data = full.slice(0, limit)
        data = strategies.normalize_arrow(data, str(pid))
        result["columns"] = [{"name": f.name, "type": str(f.type)} for f in data.schema]
        result["rows"] = [{k: _jsonable(v) for k, v in row.items()} for row in data.to_pylist()]
    except TemplateError as exc:
        result["error"] = exc.message
    except RatError as exc:
        result["error"] = exc.message
    except duckdb.Error as exc:
        result["error"] = str(exc)
    finally:
        if session is not None:
            session.close()
    result["phases"] = outcome.phases
    return result


def run_tests_now(settings: Settings, pid: PipelineId, files: dict[str, str], reporter: Reporter,
                  names: list[str] | None = None) -> list[dict[str, Any]]:
    """Run a pipeline's quality tests against its current published table (``this`` = main)."""
    spec = load_spec(pid, files)
    tests = [t for t in spec.tests if names is None or t.name in names]
    session = Session(settings, pid, pid.namespace)
    try:
        table = _Tables.load(session.catalog, pid)
        if table is None:
            raise NotFound(f"table {pid} does not exist yet: run the pipeline first")
        session._register(pid, table)
        return run_quality_tests(session, spec, tests, reporter, datetime.now(UTC).isoformat())
    finally:
        session.close()
