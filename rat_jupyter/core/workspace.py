"""The one facade every front door calls: REST handlers, scheduler, kernel, magics, benchmarks.

The workspace holds the parts (settings, storage, state store, and — built lazily, once — the Iceberg
catalog, the executor, the run manager, the schedules service) and one service per feature
(``core/services/``: ``ws.pipelines``, ``ws.files``, ``ws.versions``, ``ws.graph``, …; the package docstring
maps every feature to its module). The methods below are the stable keyword API of notebooks, tests and
the kernel: each validates names at the boundary, builds the same request model the REST layer parses
(``core/models.py``) where there is one, and delegates to one service. Errors are domain errors (``RatError``).

The concrete stores are built by :meth:`Workspace.open` through the composition root
(``core/composition.py``); everything here is typed against ``stores/protocols.py`` (ADR 0019).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ..stores.protocols import StateStore
from . import composition
from .composition import Storage
from .dag import DAG
from .executor import Executor, build_executor
from .models import (
    CreateNamespace,
    CreatePipeline,
    CreateRun,
    CreateTest,
    CreateZone,
    PreviewPipeline,
    PublishPipeline,
    RenamePipeline,
    RollbackPipeline,
    RunTests,
    UpdateLifecycle,
    UpdateNamespace,
    UpdatePipeline,
    UpdateTableMetadata,
    UpdateTest,
    UpdateZone,
    ValidatePipeline,
)
from .names import PipelineId, validate_name, validate_namespace
from .runs import RunManager
from .services import (
    AdminService,
    FileService,
    GraphService,
    LandingService,
    LineageService,
    NamespaceService,
    PipelineService,
    PreviewService,
    QualityService,
    RenameService,
    RunService,
    RunView,
    TableService,
    TreeService,
    VersionService,
)
from .services.base import given, parse, zone_key
from .services.files import VERSIONS, file_type
from .services.pipelines import PYTHON_TEMPLATE, sql_template
from .settings import CLIENT_EXECUTOR, Settings

__all__ = ["PYTHON_TEMPLATE", "VERSIONS", "RunView", "Workspace", "file_type", "sql_template"]

T = TypeVar("T")


class Workspace:
    """A RAT workspace: storage + Iceberg catalog + state store + executor, and the services built on them.

    ``server=True``: this process owns runs — it claims pending runs from the state store and executes them
    on its executor. ``server=False`` (client mode, e.g. a notebook): runs are only submitted (pending rows
    a server claims); ``wait`` polls the store. Previews and test runs execute on this process's executor.
    """

    def __init__(self, settings: Settings, storage: Storage, state: StateStore, *, server: bool = True) -> None:
        self.settings = settings
        self.storage = storage
        self.state = state
        self.server = server
        self._lock = threading.RLock()
        self._catalog: Any = None
        self._executor: Executor | None = None
        self._runs: RunManager | None = None
        self._schedules: Any = None
        # one service per feature (core/services/); cheap to build, each reads the parts through this facade
        self.namespaces = NamespaceService(self)
        self.pipelines = PipelineService(self)
        self.files = FileService(self)
        self.versions = VersionService(self)
        self.graph = GraphService(self)
        self.run_service = RunService(self)
        self.quality = QualityService(self)
        self.previews = PreviewService(self)
        self.landing = LandingService(self)
        self.tables = TableService(self)
        self.lineage_service = LineageService(self)
        self.admin = AdminService(self)
        self.renames = RenameService(self)
        self.tree = TreeService(self)

    @classmethod
    def open(cls, settings: Settings | None = None, *, server: bool = True, warm: bool = False) -> Workspace:
        """The workspace ``settings`` describe, its stores built by the composition root."""
        settings = settings or Settings()
        if settings.executor_class == CLIENT_EXECUTOR:
            server = False  # a kernel's settings (exported by its server): it submits runs, never executes them
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ws = cls(settings, *composition.open_parts(settings), server=server)
        catalog_db = settings.resolved_catalog_uri.removeprefix("sqlite:///")
        if settings.catalog_type == "sql" and catalog_db != settings.resolved_catalog_uri \
                and not Path(catalog_db).exists():
            ws.catalog  # noqa: B018 - a fresh embedded catalog is created here, before any worker starts
        if server:
            ws.runs.recover()
            ws.runs.start()
        if warm:
            ws.executor  # noqa: B018 - start the worker processes now
            # the catalog (pyiceberg's import, ~1 s) in the background, so the first browser that asks for the
            # tables (the JupyterLab sidebar's tree) does not wait for it
            threading.Thread(target=ws._warm_catalog, name="rat-warm-catalog", daemon=True).start()
        return ws

    def _warm_catalog(self) -> None:
        try:
            self.catalog  # noqa: B018
        except Exception:  # noqa: BLE001 - an unreachable catalog is reported by the first request that needs it
            return

    def close(self) -> None:
        self.tables.close()
        if self._runs is not None:
            self._runs.shutdown()
        if self._executor is not None:
            self._executor.close()
        self.state.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lazily built parts -----------------------------------------------------------------------
    def _once(self, attr: str, build: Callable[[], T]) -> T:
        """``self.<attr>``, built by ``build`` on first use and by one thread only (two executors would mean
        two sets of worker processes). The lock is re-entrant: a part may be built from another's builder."""
        value = getattr(self, attr)
        if value is None:
            with self._lock:
                value = getattr(self, attr)
                if value is None:
                    value = build()
                    setattr(self, attr, value)
        return value

    @property
    def catalog(self) -> Any:
        """The Iceberg catalog, built on first use (pyiceberg is not free to load)."""
        return self._once("_catalog", lambda: composition.open_catalog(self.settings))

    @property
    def executor(self) -> Executor:
        """Where tasks execute (``Settings.executor_class``), built on first use."""
        return self._once("_executor", lambda: build_executor(self.settings))

    @property
    def executor_if_started(self) -> Executor | None:
        """The executor when something has started it; ``None`` otherwise (metrics must not start one)."""
        return self._executor

    @property
    def pool(self) -> Executor:
        """The former name of :attr:`executor`."""
        return self.executor

    @property
    def runs(self) -> RunManager:
        """Run submission, cancel and wait; on a server also the claimer that executes runs."""
        return self._once("_runs", lambda: RunManager(
            self.state, self.executor if self.server else None, self.settings.run_timeout_seconds,
            self.settings.resolved_server_id, self.files.for_run))

    @property
    def schedules(self) -> Any:
        """Schedules and triggers (``core.schedules.Schedules``), built on first use. On a server its event
        triggers listen to this server's runs and uploads; APScheduler (``rat_jupyter.scheduler``) only times it."""
        return self._once("_schedules", self._build_schedules)

    def _build_schedules(self) -> Any:
        from .schedules import Schedules

        service = Schedules.for_workspace(self)
        if self.server:
            service.listen(self)
        return service

    @property
    def query_service(self) -> Any:
        return self.tables.query_service

    @property
    def _upload_listeners(self) -> list[Any]:
        """The landing service's upload listeners (the schedules service registers itself here)."""
        return self.landing.upload_listeners

    # -- namespaces -------------------------------------------------------------------------------
    def list_namespaces(self) -> list[dict[str, Any]]:
        return self.namespaces.list()

    def create_namespace(self, name: str, description: str = "", created_by: str | None = None) -> dict:
        req = parse(CreateNamespace, {"name": validate_namespace(name), "description": description})
        return self.namespaces.create(req, created_by)

    def ensure_namespace(self, name: str) -> dict:
        return self.namespaces.ensure(name)

    def update_namespace(self, name: str, description: str) -> dict:
        return self.namespaces.update(validate_namespace(name), parse(UpdateNamespace, {"description": description}))

    def delete_namespace(self, name: str) -> None:
        self.namespaces.delete(name)

    # -- pipelines --------------------------------------------------------------------------------
    def pid(self, namespace: str, layer: str, name: str) -> PipelineId:
        return PipelineId.of(namespace, layer, name)

    def create_pipeline(self, namespace: str, layer: str, name: str, *, type: str = "sql",
                        source: str | None = None, config: dict[str, Any] | None = None,
                        description: str = "", unique_key: list[str] | None = None,
                        owner: str | None = None) -> dict[str, Any]:
        """Create the pipeline record and its files (a template when no source is given), all validated
        before anything is written."""
        pid = self.pid(namespace, layer, name)
        req = parse(CreatePipeline, given(namespace=pid.namespace, layer=pid.layer, name=pid.name, type=type,
                                          source=source, config=config, description=description,
                                          unique_key=list(unique_key) if unique_key else None))
        return self.pipelines.create(req, owner)

    def get_pipeline(self, namespace: str, layer: str, name: str) -> dict[str, Any]:
        return self.pipelines.get(self.pid(namespace, layer, name))

    def list_pipelines(self, namespace: str | None = None, layer: str | None = None, search: str | None = None,
                       sort: str | None = None, limit: int | None = None, offset: int = 0
                       ) -> tuple[list[dict[str, Any]], int]:
        return self.pipelines.list(namespace, layer, search, sort, limit, offset)

    def update_pipeline(self, namespace: str, layer: str, name: str, **fields: Any) -> dict[str, Any]:
        """``description``, ``owner`` (``type`` only unchanged)."""
        return self.pipelines.update(self.pid(namespace, layer, name), parse(UpdatePipeline, fields))

    def rename_pipeline(self, namespace: str, layer: str, name: str, new_name: str) -> dict[str, Any]:
        """Rename a pipeline with its files, table, runs, schedules and triggers (refused while it is used)."""
        return self.renames.rename(self.pid(namespace, layer, name), parse(RenamePipeline, {"name": new_name}))

    def delete_pipeline(self, namespace: str, layer: str, name: str) -> None:
        """Soft delete: the record is hidden at once; files and table are purged by the reaper later."""
        self.pipelines.delete(self.pid(namespace, layer, name))

    # -- files ------------------------------------------------------------------------------------
    def draft_files(self, pid: PipelineId) -> dict[str, str]:
        return self.files.draft(pid)

    def published_files(self, pid: PipelineId, version: int | None = None) -> tuple[dict[str, str], int]:
        return self.files.published(pid, version)

    def files_for(self, pid: PipelineId, version: str | int = "published") -> tuple[dict[str, str], str]:
        return self.files.of_version(pid, version)

    def list_files(self, prefix: str, exclude: list[str] | None = None) -> list[dict[str, Any]]:
        return self.files.list(prefix, exclude)

    def read_file(self, path: str) -> dict[str, Any]:
        return self.files.read(path)

    def read_bytes(self, path: str) -> tuple[bytes, dict[str, Any]]:
        return self.files.read_bytes(path)

    def write_file(self, path: str, content: str | bytes) -> dict[str, Any]:
        """Save a file. Pipeline files are validated first: an invalid one is refused and nothing is written."""
        return self.files.write(path, content)

    def delete_file(self, path: str) -> None:
        self.files.delete(path)

    # -- validate, publish, versions --------------------------------------------------------------
    def validate_pipeline(self, namespace: str, layer: str, name: str,
                          files: dict[str, str] | None = None) -> dict[str, Any]:
        """The report of ``files`` (relative path → text; the draft when ``None``) without publishing."""
        pid = self.pid(namespace, layer, name)
        return self.versions.validate(pid, parse(ValidatePipeline, given(files=files)).files)

    def publish_pipeline(self, namespace: str, layer: str, name: str, message: str = "") -> dict[str, Any]:
        """Snapshot the draft files into an immutable version (content-addressed in the state store)."""
        pid = self.pid(namespace, layer, name)
        return self.versions.publish(pid, parse(PublishPipeline, {"message": message or ""}))

    def list_versions(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        return self.versions.list(self.pid(namespace, layer, name))

    def get_version(self, namespace: str, layer: str, name: str, number: int) -> dict[str, Any]:
        """One version with its files' text, so an editor can diff the draft against what runs."""
        return self.versions.get(self.pid(namespace, layer, name), number)

    def rollback(self, namespace: str, layer: str, name: str, version: int, message: str = "") -> dict[str, Any]:
        """A new version that re-pins an old snapshot; the draft files are restored to it too."""
        pid = self.pid(namespace, layer, name)
        return self.versions.rollback(pid, parse(RollbackPipeline, {"version": version, "message": message or ""}))

    # -- quality tests ----------------------------------------------------------------------------
    def list_tests(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        return self.quality.list(self.pid(namespace, layer, name))

    def get_test(self, namespace: str, layer: str, name: str, test: str) -> dict[str, Any]:
        return self.quality.get(self.pid(namespace, layer, name), test)

    def save_test(self, namespace: str, layer: str, name: str, test: str, sql: str, *,
                  severity: str | None = None, description: str | None = None, create: bool = True) -> dict:
        pid = self.pid(namespace, layer, name)
        validate_name(test, "test name")
        fields = given(sql=sql, severity=severity, description=description)
        req = parse(CreateTest, {"name": test, **fields}) if create else parse(UpdateTest, fields)
        return self.quality.save(pid, test, req, create=create)

    def delete_test(self, namespace: str, layer: str, name: str, test: str) -> None:
        self.quality.delete(self.pid(namespace, layer, name), test)

    def run_tests(self, namespace: str, layer: str, name: str, version: str = "draft",
                  names: list[str] | None = None) -> dict[str, Any]:
        """Run the tests for real against the table as published now (``this`` = main)."""
        return self.run_tests_future(namespace, layer, name, version, names).result()

    def run_tests_future(self, namespace: str, layer: str, name: str, version: str = "draft",
                         names: list[str] | None = None) -> Future:
        """:meth:`run_tests` without waiting: a Future the REST layer awaits, so no thread waits on a worker."""
        pid = self.pid(namespace, layer, name)
        return self.previews.run_tests(pid, parse(RunTests, given(version=version, tests=names)))

    # -- the dependency graph ---------------------------------------------------------------------
    def dag(self, namespace: str | None = None, version: str = "published",
            extra: dict[PipelineId, dict[str, str]] | None = None, strict: bool = True) -> DAG[PipelineId]:
        """The dependency graph of live pipelines (published version, falling back to the draft)."""
        return self.graph.dag(namespace, version, extra, strict)

    def select(self, selector: str, version: str = "published") -> tuple[list[PipelineId], DAG[PipelineId]]:
        """Resolve a selection (``ns.layer.name``, ``x+``, ``+x``, ``ns.*``, ``ns.layer.*``) in DAG order."""
        return self.graph.select(selector, version)

    # -- runs -------------------------------------------------------------------------------------
    def run_selection(self, selector: str, *, trigger: str = "manual", version: str = "published",
                      wait: bool = False, timeout: float | None = None, submitted_by: str | None = None
                      ) -> list[Any]:
        """Submit runs of a selection: pending rows in the state store, executed by the server that claims
        them (this one when it is a server). The version each run executes is fixed here."""
        return self.run_service.submit(selector, trigger=trigger, version=version, wait=wait, timeout=timeout,
                                       submitted_by=submitted_by)

    def create_run(self, namespace: str, layer: str, name: str, *, trigger: str = "manual",
                   version: str = "published", downstream: bool = False,
                   submitted_by: str | None = None) -> list[dict[str, Any]]:
        pid = self.pid(namespace, layer, name)
        req = parse(CreateRun, {"namespace": pid.namespace, "layer": pid.layer, "pipeline": pid.name,
                                "trigger": trigger, "version": version, "downstream": downstream})
        return self.run_service.create(req, submitted_by)

    def create_runs(self, selector: str, *, trigger: str = "manual", version: str = "published",
                    submitted_by: str | None = None) -> list[dict[str, Any]]:
        """``POST /runs`` with ``select``: every selected pipeline's run, in DAG order, in one call."""
        req = parse(CreateRun, {"select": selector, "trigger": trigger, "version": version})
        return self.run_service.create(req, submitted_by)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.run_service.get(run_id)

    def list_runs(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        return self.run_service.list(**filters)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self.run_service.cancel(run_id)

    def run_logs(self, run_id: str, after: int = 0) -> dict[str, Any]:
        return self.run_service.logs(run_id, after)

    def wait_for_runs(self, run_ids: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        return self.run_service.wait(run_ids, timeout)

    # -- previews ---------------------------------------------------------------------------------
    def preview(self, namespace: str, layer: str, name: str, *, code: str | None = None, limit: int = 100,
                version: str = "draft", sample_files: bool = True) -> dict[str, Any]:
        """Dry run (nothing written). ``landing_zone()`` reads a zone's ``_samples/`` when it has any."""
        return self.preview_future(namespace, layer, name, code=code, limit=limit, version=version,
                                   sample_files=sample_files).result()

    def preview_future(self, namespace: str, layer: str, name: str, *, code: str | None = None, limit: int = 100,
                       version: str = "draft", sample_files: bool = True) -> Future:
        """:meth:`preview` without waiting: a Future the REST layer awaits, so no thread waits on a worker."""
        pid = self.pid(namespace, layer, name)
        req = parse(PreviewPipeline, given(code=code, version=version, sample_files=bool(sample_files)))
        return self.previews.preview(pid, req, limit)

    # -- landing zones ----------------------------------------------------------------------------
    def create_landing_zone(self, namespace: str, name: str, description: str = "") -> dict[str, Any]:
        namespace, name = zone_key(namespace, name)
        return self.landing.create(parse(CreateZone, {"namespace": namespace, "name": name,
                                                      "description": description}))

    def list_zones(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.landing.list(namespace)

    def get_zone(self, namespace: str, name: str) -> dict[str, Any]:
        return self.landing.get(namespace, name)

    def update_zone(self, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
        """``description``, ``owner``, ``expected_schema`` (``None`` leaves one as it is)."""
        zone_key(namespace, name)
        return self.landing.update(namespace, name, parse(UpdateZone, given(**fields)))

    def delete_zone(self, namespace: str, name: str) -> None:
        self.landing.delete(namespace, name)

    def zone_lifecycle(self, namespace: str, name: str, *, processed_max_age_days: int | None = None,
                       auto_purge: bool | None = None) -> dict[str, Any]:
        zone_key(namespace, name)
        req = parse(UpdateLifecycle, given(processed_max_age_days=processed_max_age_days, auto_purge=auto_purge))
        return self.landing.lifecycle(namespace, name, req)

    def list_landing_files(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        return self.landing.list_files(namespace, zone)

    def get_landing_file(self, namespace: str, zone: str, file_id: str) -> dict[str, Any]:
        return self.landing.get_file(namespace, zone, file_id)

    def delete_landing_file(self, namespace: str, zone: str, file_id: str) -> None:
        self.landing.delete_file(namespace, zone, file_id)

    def upload_landing_file(self, namespace: str, zone: str, filename: str, data: bytes,
                            content_type: str | None = None, *, stamp: bool = True) -> dict[str, Any]:
        return self.landing.upload(namespace, zone, filename, data, content_type, stamp=stamp)

    def add_upload_listener(self, listener: Any) -> None:
        """Called with ``(namespace, zone, original filename)`` after each landing upload (triggers)."""
        self.landing.upload_listeners.append(listener)

    def list_samples(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        return self.landing.list_samples(namespace, zone)

    def upload_sample(self, namespace: str, zone: str, filename: str, data: bytes) -> dict[str, Any]:
        return self.landing.upload_sample(namespace, zone, filename, data)

    def delete_sample(self, namespace: str, zone: str, filename: str) -> None:
        self.landing.delete_sample(namespace, zone, filename)

    # -- tables, query, lineage -------------------------------------------------------------------
    def query(self, sql: str, namespace: str | None = None, limit: int | None = None) -> dict[str, Any]:
        return self.tables.query(sql, namespace, limit)

    def schema(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.tables.schema(namespace)

    def list_tables(self, namespace: str | None = None, layer: str | None = None) -> list[dict[str, Any]]:
        """Tables with row counts and sizes from the Iceberg snapshot summary (no scan needed)."""
        return self.tables.list(namespace, layer)

    def describe_table(self, namespace: str, layer: str, name: str) -> dict[str, Any]:
        return self.tables.describe(self.pid(namespace, layer, name))

    def preview_table(self, namespace: str, layer: str, name: str, limit: int = 50) -> dict[str, Any]:
        return self.tables.preview(self.pid(namespace, layer, name), limit)

    def table_history(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        """Iceberg snapshots of ``main``, newest first (what each run published)."""
        return self.tables.history(self.pid(namespace, layer, name))

    def update_table_metadata(self, namespace: str, layer: str, name: str, *, description: str | None = None,
                              owner: str | None = None, column_descriptions: dict[str, str] | None = None
                              ) -> dict[str, Any]:
        pid = self.pid(namespace, layer, name)
        req = parse(UpdateTableMetadata, given(description=description, owner=owner,
                                               column_descriptions=column_descriptions))
        return self.tables.update_metadata(pid, req)

    def read_table(self, namespace: str, layer: str, name: str, snapshot_id: int | None = None) -> Any:
        """The table's published rows as an Arrow table (tests and notebooks)."""
        return self.tables.read(self.pid(namespace, layer, name), snapshot_id)

    def lineage(self, namespace: str | None = None) -> dict[str, Any]:
        """Pipelines, their tables and landing zones, with the latest run and test count of each pipeline."""
        return self.lineage_service.graph(namespace)

    # -- admin ------------------------------------------------------------------------------------
    def retention_config(self) -> dict[str, Any]:
        return self.admin.retention_config()

    def update_retention_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.admin.update_retention_config(changes)

    def reaper_status(self) -> dict[str, Any]:
        return self.admin.reaper_status()

    def run_reaper(self, clock: Any = None) -> dict[str, Any]:
        return self.admin.run_reaper(clock)

    def pipeline_retention(self, namespace: str, layer: str, name: str,
                           changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """System retention, this pipeline's overrides, and the effective values (API-22)."""
        return self.admin.pipeline_retention(self.pid(namespace, layer, name), changes)

    def audit_log(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return self.admin.audit_log(limit, offset)

    def metrics(self) -> dict[str, Any]:
        return self.admin.metrics()

    def executor_info(self) -> dict[str, Any]:
        """What executes tasks here, for ``/info``: class, capacity, capabilities and live counts — never pids."""
        return self.admin.executor_info()

    def readiness(self) -> dict[str, str]:
        return self.admin.readiness()
