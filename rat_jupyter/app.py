"""The Jupyter server extension: configuration (traitlets), the workspace, and the REST routes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, TraitError, Unicode, default, validate

from .core.errors import RatError
from .core.settings import DEFAULT_EXECUTOR, ENV_SERVER, ENV_SETTINGS, S3Options, Settings, parquet_version_choice
from .core.workspace import Workspace

MEMORY_LIMIT_RE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
IMPORT_STRING_RE = re.compile(r"^[A-Za-z_][\w.]*[.:][A-Za-z_]\w*$")
# name -> (lowest, highest) accepted; None = unbounded on that side. Checked by the validators below.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "concurrency": (1, 64),
    "duckdb_threads": (0, 1024),
    "query_row_limit": (1, 1_000_000),
    "max_upload_bytes": (1, 64 * 1024**3),
    "max_inflight_previews": (1, 1000),
    "worker_idle_seconds": (0, 7 * 24 * 3600),
}
POSITIVE = ("run_timeout_seconds", "query_timeout_seconds", "cancel_grace_seconds")


class RatApp(ExtensionApp):
    """RAT lakehouse: pipelines, runs, query, scheduler — under ``{base_url}rat/``."""

    name = "rat"
    load_other_extensions = True

    data_dir = Unicode(help="Folder for the embedded default (local storage, SQLite catalog and state). "
                            "Env: RAT_DATA_DIR.").tag(config=True)
    storage_url = Unicode("", help="Where pipeline code and landing files live: empty = <data_dir>/storage, "
                                   "or s3://bucket/prefix.").tag(config=True)
    catalog_type = Unicode("sql", help="Iceberg catalog kind: 'sql' (SQLite/PostgreSQL) or 'rest'.").tag(config=True)
    catalog_uri = Unicode("", help="Iceberg catalog URI: empty = SQLite in data_dir; postgresql+psycopg://… "
                                   "for a SQL catalog; http://… for a REST catalog.").tag(config=True)
    catalog_properties = Dict(help="Extra pyiceberg catalog properties (e.g. credential).").tag(config=True)
    warehouse = Unicode("", help="Iceberg warehouse location: empty = <data_dir>/warehouse, or s3://…").tag(config=True)
    state_url = Unicode("", help="Platform state store: empty = SQLite in data_dir, or postgresql://…").tag(config=True)
    s3_endpoint = Unicode("", help="S3-compatible endpoint URL (e.g. http://127.0.0.1:8333).").tag(config=True)
    s3_access_key_id = Unicode("", help="S3 access key id (env AWS_ACCESS_KEY_ID).").tag(config=True)
    s3_secret_access_key = Unicode("", help="S3 secret key (env AWS_SECRET_ACCESS_KEY).").tag(config=True)
    s3_region = Unicode("us-east-1", help="S3 region.").tag(config=True)
    s3_path_style = Bool(True, help="Address buckets by path (http://host/bucket/key, what MinIO and SeaweedFS "
                                    "expect) instead of by virtual host.").tag(config=True)
    executor_class = Unicode(DEFAULT_EXECUTOR, help="Import string (module:Class) of the executor that runs "
                                                    "pipelines, previews and tests.").tag(config=True)
    dask_scheduler_address = Unicode("", help="Dask scheduler the DaskExecutor submits to, e.g. tcp://10.0.0.5:8786 "
                                              "(empty: Dask's scheduler-address config).").tag(config=True)
    concurrency = Int(2, help="Worker processes that execute runs in parallel (1-64).").tag(config=True)
    run_timeout_seconds = Float(3600.0, help="A run still going after this many seconds is killed (> 0).").tag(
        config=True)
    cancel_grace_seconds = Float(5.0, help="Seconds a cancelled task gets to stop by itself before its worker is "
                                           "killed (> 0).").tag(config=True)
    worker_idle_seconds = Int(300, help="A worker that has been idle this many seconds after a task is replaced by "
                                        "a cold one, giving back its memory (0: never; 0-604800).").tag(config=True)
    duckdb_threads = Int(0, help="DuckDB threads per worker (0: the cores shared among the runs in flight, all of "
                                 "them for a run alone).").tag(config=True)
    duckdb_memory_limit = Unicode("", help="DuckDB memory limit per worker, e.g. '4GB' (empty: DuckDB's "
                                           "default, 80% of RAM).").tag(config=True)
    parquet_version = Unicode("auto", help="Parquet format of the data and delete files runs write: 'v2' (newer "
                                           "encodings: smaller files, faster reads), 'v1' (readable by every "
                                           "engine, e.g. Spark on Iceberg before 1.11 with vectorized reads), or "
                                           "'auto' (v2, but v1 on a REST catalog).").tag(config=True)
    preserve_insertion_order = Bool(False, help="Write a SQL pipeline's rows in the order DuckDB reads them even "
                                                "when its query has no ORDER BY (False: such rows are written "
                                                "as the threads produce them, with about half the writer's "
                                                "memory; ORDER BY is kept either way).").tag(config=True)
    query_row_limit = Int(1000, help="Default row cap of the query service (1-1000000).").tag(config=True)
    query_timeout_seconds = Float(30.0, help="Statement timeout of the query service (> 0).").tag(config=True)
    query_memory_limit = Unicode("1GB", help="DuckDB memory limit of the query service, e.g. '1GB'.").tag(
        config=True)
    max_upload_bytes = Int(32 * 1024 * 1024, help="Largest accepted upload, in bytes.").tag(config=True)
    max_inflight_previews = Int(16, help="Previews and test runs queued or running at once; beyond: 429 "
                                         "(1-1000).").tag(config=True)
    scheduler_enabled = Bool(True, help="Run the scheduler, triggers and reaper in this server.").tag(config=True)
    gil_switch_interval_ms = Float(0.5, help="Longest time, in milliseconds, a thread of this server holds "
                                             "Python's GIL while another waits for it (sys.setswitchinterval; "
                                             "0: the interpreter's own, 5; 0-100). ADR 0034.").tag(config=True)
    server_id = Unicode("", help="Name of this server in a shared (PostgreSQL) state store; a restart recovers "
                                 "only its own runs. Default: the host name.").tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("RAT_DATA_DIR") or str(Path.cwd() / ".rat")

    @validate(*RANGES)
    def _check_range(self, proposal: dict[str, Any]) -> int:
        name = proposal["trait"].name
        low, high = RANGES[name]
        value = proposal["value"]
        if (low is not None and value < low) or (high is not None and value > high):
            raise TraitError(f"RatApp.{name} must be between {low} and {high}, not {value}")
        return int(value)

    @validate(*POSITIVE)
    def _check_positive(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise TraitError(f"RatApp.{proposal['trait'].name} must be a number of seconds above 0, not {value:g}")
        return value

    @validate("query_memory_limit", "duckdb_memory_limit")
    def _check_memory_limit(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        name = proposal["trait"].name
        if (value or name == "query_memory_limit") and not MEMORY_LIMIT_RE.match(value):
            raise TraitError(f"RatApp.{name} must be a size like '512MB' or '4GB', not '{value}'")
        return value

    @validate("executor_class")
    def _check_executor_class(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if not IMPORT_STRING_RE.match(value):
            raise TraitError(f"RatApp.executor_class must be an import string like 'package.module:Class', "
                             f"not '{value}'")
        return value

    @validate("catalog_type")
    def _check_catalog_type(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in ("sql", "rest"):
            raise TraitError(f"RatApp.catalog_type must be 'sql' or 'rest', not '{proposal['value']}'")
        return str(proposal["value"])

    @validate("gil_switch_interval_ms")
    def _check_switch_interval(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0 <= value <= 100:
            raise TraitError(f"RatApp.gil_switch_interval_ms must be between 0 and 100, not {value:g}")
        return value

    @validate("parquet_version")
    def _check_parquet_version(self, proposal: dict[str, Any]) -> str:
        try:
            return parquet_version_choice(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"RatApp.{exc}") from None

    def _refuse_to_start(self, message: str) -> NoReturn:
        """One line on stderr and a non-zero exit: a misconfigured server must not start half-working.

        ``SystemExit`` because jupyter_server turns an ``Exception`` from an extension into a logged
        traceback and starts the server without the extension.
        """
        log = self.serverapp.log if getattr(self, "serverapp", None) is not None else self.log
        log.critical("RAT cannot start: %s", message)
        sys.stderr.flush()
        raise SystemExit(1)

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        try:
            super()._link_jupyter_server_extension(serverapp)
        except TraitError as exc:
            self.serverapp = serverapp
            self._refuse_to_start(str(exc).splitlines()[0])

    def build_settings(self) -> Settings:
        s3 = S3Options(
            endpoint=self.s3_endpoint or None,
            access_key_id=self.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=self.s3_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            region=self.s3_region, path_style=self.s3_path_style,
        )
        return Settings(
            data_dir=Path(self.data_dir), storage_url=self.storage_url, catalog_uri=self.catalog_uri,
            catalog_type=self.catalog_type, catalog_properties=dict(self.catalog_properties),
            warehouse=self.warehouse, state_url=self.state_url, s3=s3, concurrency=self.concurrency,
            run_timeout_seconds=self.run_timeout_seconds, query_row_limit=self.query_row_limit,
            query_timeout_seconds=self.query_timeout_seconds, query_memory_limit=self.query_memory_limit,
            max_upload_bytes=self.max_upload_bytes, server_id=self.server_id, executor_class=self.executor_class,
            cancel_grace_seconds=self.cancel_grace_seconds, duckdb_threads=self.duckdb_threads,
            worker_idle_seconds=self.worker_idle_seconds,
            duckdb_memory_limit=self.duckdb_memory_limit, parquet_version=self.parquet_version,
            preserve_insertion_order=self.preserve_insertion_order, max_inflight_previews=self.max_inflight_previews,
            dask_scheduler_address=self.dask_scheduler_address,
        )

    def _server_info(self, settings: Settings) -> dict[str, Any]:
        """What this server says about itself: in the data-dir lock file and to the kernels it starts."""
        url = getattr(getattr(self, "serverapp", None), "connection_url", "") or ""
        return {"pid": os.getpid(), "host": socket.gethostname(), "url": url,
                "server_id": settings.resolved_server_id, "data_dir": str(settings.data_dir),
                "started_at": self._started_at, "mode": "server"}

    def initialize_settings(self) -> None:
        from .scheduler import SchedulerService
        from .stores.lock import DataDirInUse, ServerLock, sqlite_folder

        settings = self.build_settings()
        if self.gil_switch_interval_ms > 0:
            # The run manager's threads answer workers (the task, the publish fence, the result) between the
            # other threads' Python work: each answer waits for the GIL, up to the whole interval (ADR 0034).
            sys.setswitchinterval(self.gil_switch_interval_ms / 1000)
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.data_dir_lock: ServerLock | None = None
        folder = sqlite_folder(settings.resolved_state_url)
        if folder is not None:  # the embedded state store belongs to one server; PostgreSQL is for sharing
            lock = ServerLock(folder)
            try:
                lock.acquire(self._server_info(settings))
            except DataDirInUse as exc:
                self._refuse_to_start(str(exc))
            self.data_dir_lock = lock
        try:
            self.workspace = Workspace.open(settings, server=True, warm=True)
        except BaseException as exc:
            if self.data_dir_lock is not None:
                self.data_dir_lock.release()
            if isinstance(exc, RatError):  # e.g. an executor_class that cannot be imported
                self._refuse_to_start(exc.message)
            raise
        self.scheduler = SchedulerService(self.workspace)
        self.settings["rat_workspace"] = self.workspace
        self.settings["rat_scheduler"] = self.scheduler
        from .handlers import build_services

        self.settings.update(build_services(self))  # audit writer, stream and webhook limiters
        # Kernels and magics started from this server find the same configuration (without its secrets) and
        # know that they are inside a server, so they submit runs to it instead of executing them.
        os.environ["RAT_DATA_DIR"] = str(self.workspace.settings.data_dir)
        os.environ[ENV_SETTINGS] = self.workspace.settings.to_client_json()
        self._exported_server = json.dumps(self._server_info(settings))
        os.environ[ENV_SERVER] = self._exported_server

    def initialize_handlers(self) -> None:
        from .handlers import routes

        self.handlers.extend(routes(self))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # The server listens now: its port is final (port retries may have moved it).
        info = self._server_info(self.workspace.settings)
        if self.data_dir_lock is not None:
            self.data_dir_lock.update(info)
        if os.environ.get(ENV_SERVER) == self._exported_server:
            self._exported_server = json.dumps(info)
            os.environ[ENV_SERVER] = self._exported_server
        if self.scheduler_enabled:
            self.scheduler.start()

    async def stop_extension(self) -> None:
        """Stop the scheduler, the workspace (its workers) and release the data directory, off the event loop:
        joining worker processes can take seconds, and the server still answers while it shuts down."""
        await asyncio.get_running_loop().run_in_executor(None, self._stop)

    def _stop(self) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            scheduler.stop()
        from .handlers import stop_services

        stop_services(self.settings)  # pending audit entries are written before the state store closes
        ws = getattr(self, "workspace", None)
        if ws is not None:
            ws.close()
        if os.environ.get(ENV_SERVER) == getattr(self, "_exported_server", None):
            os.environ.pop(ENV_SERVER, None)
        lock = getattr(self, "data_dir_lock", None)
        if lock is not None:
            lock.release()


main = launch_new_instance = RatApp.launch_instance
