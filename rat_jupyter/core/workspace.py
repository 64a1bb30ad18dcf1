"""The one facade every front door calls: REST handlers, scheduler, kernel, magics, benchmarks.

Methods are short and delegate to focused modules; they validate names at the boundary and raise domain
errors (``RatError``) only.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..stores.protocols import StateStore
from . import composition
from .composition import Storage
from .dag import DAG
from .errors import (
    Conflict,
    CycleError,
    Invalid,
    NotFound,
    RateLimited,
    RatError,
    TooLarge,
    Unavailable,
    Unprocessable,
)
from .executor import Executor, WorkerDied, build_executor
from .ids import new_id
from .names import (
    PipelineId,
    validate_layer,
    validate_name,
    validate_namespace,
    validate_path,
    validate_prefix,
)
from .pipelines import SOURCE_FILES, TEST_DIR, digest, load_spec, parse_test, validate_file, validate_files
from .pipelines import dependencies as parse_dependencies
from .runs import RunManager
from .settings import CLIENT_EXECUTOR, Settings

VERSIONS = ("published", "draft")


def sql_template(pid: PipelineId) -> str:
    if pid.layer == "bronze":
        return "-- @merge_strategy: full_refresh\nSELECT *\nFROM read_csv_auto('{{ landing_zone(\"raw\") }}')\n"
    lower = "bronze" if pid.layer == "silver" else "silver"
    return f"-- @merge_strategy: full_refresh\nSELECT *\nFROM {{{{ ref('{lower}.source') }}}}\n"


PYTHON_TEMPLATE = (
    "# @merge_strategy: full_refresh\n"
    "# Available: duckdb_conn, ref(), this, config, is_incremental, log, landing_zone(), pa\n"
    "result = duckdb_conn.sql(\"SELECT 1 AS id\").arrow()\n"
)


class Workspace:
    """A RAT workspace: storage + Iceberg catalog + state store + executor.

    ``server=True``: this process owns runs — it claims pending runs from the state store and executes them
    on its executor. ``server=False`` (client mode, e.g. a notebook): runs are only submitted (pending rows
    a server claims); ``wait`` polls the store. Previews and test runs execute on this process's executor.
    """

    def __init__(self, settings: Settings, storage: Storage, state: StateStore, *, server: bool = True) -> None:
        self.settings = settings
        self.storage = storage
        self.state = state
        self._catalog: Any = None
        self._executor: Executor | None = None
        self._runs: RunManager | None = None
        self._inflight = 0  # previews and test runs queued or running (admission limit)
        self._query: Any = None
        self._upload_listeners: list[Any] = []
        self._lock = threading.RLock()
        self._parse_cache: dict[tuple[PipelineId, str], tuple[list[PipelineId], list[tuple[str, str]]]] = {}
        # (namespace, version) -> (key it was built under, graph, live pipelines); see :meth:`dag`
        self._dag_cache: dict[tuple[str | None, str], tuple[Any, DAG[PipelineId], frozenset[PipelineId]]] = {}
        self._dag_generation = 0  # bumped by this process's own pipeline changes
        self.server = server

    @classmethod
    def open(cls, settings: Settings | None = None, *, server: bool = True, warm: bool = False) -> Workspace:
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
        return ws

    def close(self) -> None:
        if self._query is not None:
            self._query.close()
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
    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = composition.open_catalog(self.settings)
        return self._catalog

    @property
    def executor(self) -> Executor:
        """Where tasks execute (``Settings.executor_class``), built on first use."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = build_executor(self.settings)
        return self._executor

    @property
    def pool(self) -> Executor:
        """The former name of :attr:`executor`."""
        return self.executor

    @property
    def runs(self) -> RunManager:
        """Run submission, cancel and wait; on a server also the claimer that executes runs."""
        if self._runs is None:
            executor = self.executor if self.server else None
            with self._lock:
                if self._runs is None:
                    self._runs = RunManager(self.state, executor, self.settings.run_timeout_seconds,
                                            self.settings.resolved_server_id, self._resolve_run_files)
        return self._runs

    @property
    def schedules(self) -> Any:
        """Schedules and triggers (``core.schedules.Schedules``), built on first use. On a server its event
        triggers listen to this server's runs and uploads; APScheduler (``rat_jupyter.scheduler``) only times it."""
        service = getattr(self, "_schedules", None)
        if service is None:
            from .schedules import Schedules

            with self._lock:
                service = getattr(self, "_schedules", None)
                if service is None:
                    service = self._schedules = Schedules.for_workspace(self)
                    if self.server:
                        service.listen(self)
        return service

    def _resolve_run_files(self, pid: PipelineId, version: str) -> dict[str, str]:
        """The files a claimed run executes: the published version it recorded, or the draft as it is now."""
        return self.files_for(pid, version if version in VERSIONS else int(version))[0]

    # -- namespaces -------------------------------------------------------------------------------
    def list_namespaces(self) -> list[dict[str, Any]]:
        return self.state.list_namespaces()

    def create_namespace(self, name: str, description: str = "", created_by: str | None = None) -> dict:
        return self.state.create_namespace(validate_namespace(name), _description(description), created_by)

    def ensure_namespace(self, name: str) -> dict:
        try:
            return self.state.get_namespace(validate_namespace(name))
        except NotFound:
            return self.create_namespace(name)

    def update_namespace(self, name: str, description: str) -> dict:
        return self.state.update_namespace(validate_namespace(name), _description(description))

    def delete_namespace(self, name: str) -> None:
        validate_namespace(name)
        self.state.get_namespace(name)
        self.state.delete_namespace(name)  # refuses while a run is active, atomically with run submission
        self._dag_changed()
        self.storage.delete_prefix(f"{name}/")
        self.catalog.drop_namespace(name)

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
        if type not in ("sql", "python"):
            raise Invalid(f"pipeline type must be 'sql' or 'python', not '{type}'")
        if len(description) > 5000:
            raise Invalid("description is longer than 5000 characters")
        self.state.get_namespace(pid.namespace)
        if self.state.find_pipeline(*pid.table_identifier):
            raise Conflict(f"pipeline {pid} already exists")
        src_name = "pipeline.sql" if type == "sql" else "pipeline.py"
        files = {src_name: source if source is not None else (sql_template(pid) if type == "sql" else PYTHON_TEMPLATE)}
        cfg = dict(config or {})
        if unique_key:
            cfg["unique_key"] = list(unique_key)
        if description and "description" not in cfg:
            cfg["description"] = description
        if cfg:
            import yaml

            files["config.yaml"] = yaml.safe_dump(cfg, sort_keys=False)
        for path, content in files.items():
            validate_file(pid, path, content, files)
        row = self.state.create_pipeline(*pid.table_identifier, type, description, owner)
        stale = self.storage.list(pid.prefix)
        for f in stale:  # files of a deleted pipeline with the same name
            self.storage.delete(f.path)
        for path, content in files.items():
            self.storage.write(pid.prefix + path, content.encode())
        self._record_deps(pid, row["id"], files)
        out = self._describe(row)
        out["files_created"] = sorted(pid.prefix + p for p in files)
        return out

    def get_pipeline(self, namespace: str, layer: str, name: str) -> dict[str, Any]:
        pid = self.pid(namespace, layer, name)
        return self._describe(self.state.get_pipeline(*pid.table_identifier))

    def _describe(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["draft_dirty"] = bool(out["draft_dirty"])
        out["s3_path"] = f"{row['namespace']}/pipelines/{row['layer']}/{row['name']}/"
        out.pop("deleted_at", None)
        out["retention_config"] = None if not row.get("retention_config") else row["retention_config"]
        return out

    def list_pipelines(self, namespace: str | None = None, layer: str | None = None, search: str | None = None,
                       sort: str | None = None, limit: int | None = None, offset: int = 0
                       ) -> tuple[list[dict[str, Any]], int]:
        if namespace:
            validate_namespace(namespace)
        if layer:
            validate_layer(layer)
        rows, total = self.state.list_pipelines(namespace, layer, search, sort, limit, offset)
        latest = self.state.latest_runs()
        out = []
        for r in rows:
            d = self._describe(r)
            run = latest.get((r["namespace"], r["layer"], r["name"]))
            d["last_run"] = None if run is None else {k: run[k] for k in ("id", "status", "created_at", "finished_at")}
            out.append(d)
        return out, total

    def update_pipeline(self, namespace: str, layer: str, name: str, **fields: Any) -> dict[str, Any]:
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        allowed = {"description", "owner"}
        unknown = set(fields) - allowed - {"type"}
        if unknown:
            raise Invalid(f"cannot update {', '.join(sorted(unknown))}")
        if "type" in fields and fields["type"] != row["type"]:
            raise Invalid("a pipeline's type follows its source file; replace pipeline.sql/.py instead")
        desc = fields.get("description", "")
        if not isinstance(desc, str) or len(desc) > 5000:
            raise Invalid("description must be text of at most 5000 characters")
        self.state.update_pipeline(row["id"], **{k: v for k, v in fields.items() if k in allowed})
        return self.get_pipeline(namespace, layer, name)

    def delete_pipeline(self, namespace: str, layer: str, name: str) -> None:
        """Soft delete: the record is hidden at once; files and table are purged by the reaper later."""
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        if self.state.active_runs(*pid.table_identifier):
            raise Conflict(f"pipeline {pid} has an active run; cancel it first")
        self.state.soft_delete_pipeline(row["id"])
        self._dag_changed()
        self._dag_changed()

    # -- files ------------------------------------------------------------------------------------
    def draft_files(self, pid: PipelineId) -> dict[str, str]:
        files = {}
        for f in self.storage.list(pid.prefix):
            rel = f.path[len(pid.prefix):]
            try:
                files[rel] = self.storage.read_text(f.path)
            except Invalid:
                continue
        return files

    def published_files(self, pid: PipelineId, version: int | None = None) -> tuple[dict[str, str], int]:
        row = self.state.get_pipeline(*pid.table_identifier)
        number = version or row["published_version"]
        if not number:
            raise Conflict(f"pipeline {pid} has never been published; publish it or run the draft "
                           f"(version 'draft')")
        ver = self.state.get_version(row["id"], number)
        blobs = self.state.get_blobs(ver["files"].values())
        return {path: blobs[h] for path, h in ver["files"].items()}, number

    def files_for(self, pid: PipelineId, version: str | int = "published") -> tuple[dict[str, str], str]:
        if version == "draft":
            files = self.draft_files(pid)
            if not any(s in files for s in SOURCE_FILES):
                raise NotFound(f"pipeline {pid} has no pipeline.sql or pipeline.py")
            return files, "draft"
        if version not in ("published", None) and not isinstance(version, int):
            raise Invalid(f"version must be 'published', 'draft' or a number, not '{version}'")
        files, number = self.published_files(pid, version if isinstance(version, int) else None)
        return files, str(number)

    def _pipeline_of_path(self, path: str) -> tuple[PipelineId, str] | None:
        parts = path.split("/")
        if len(parts) >= 5 and parts[1] == "pipelines":
            try:
                pid = PipelineId.of(parts[0], parts[2], parts[3])
            except Invalid:
                return None
            return pid, "/".join(parts[4:])
        return None

    def list_files(self, prefix: str, exclude: list[str] | None = None) -> list[dict[str, Any]]:
        prefix = validate_prefix(prefix)
        validate_namespace(prefix.split("/")[0])
        out = []
        for f in self.storage.list(prefix):
            if exclude and any(f"/{seg}/" in f"/{f.path}" for seg in exclude):
                continue
            d = f.to_dict()
            d["type"] = file_type(f.path)
            out.append(d)
        return out

    def read_file(self, path: str) -> dict[str, Any]:
        path = validate_path(path)
        info = self.storage.stat(path)
        if info is None:
            raise NotFound(f"file '{path}' not found")
        d = info.to_dict()
        d["content"] = self.storage.read_text(path)
        return d

    def read_bytes(self, path: str) -> tuple[bytes, dict[str, Any]]:
        """A file's bytes (any type: landing data, samples) and its metadata, for downloads."""
        path = validate_path(path)
        info = self.storage.stat(path)
        if info is None:
            raise NotFound(f"file '{path}' not found")
        return self.storage.read(path), info.to_dict()

    def write_file(self, path: str, content: str | bytes) -> dict[str, Any]:
        """Save a file. Pipeline files are validated first: an invalid one is refused and nothing is written."""
        path = validate_path(path)
        validate_namespace(path.split("/")[0])
        data = content.encode() if isinstance(content, str) else content
        if len(data) > self.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.settings.max_upload_bytes} bytes")
        owner = self._pipeline_of_path(path)
        warnings: list[str] = []
        row = None
        if owner:
            pid, rel = owner
            row = self.state.get_pipeline(*pid.table_identifier)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("pipeline files must be UTF-8 text") from None
            files = self.draft_files(pid)
            files[rel] = text
            warnings = validate_file(pid, rel, text, files)
        info = self.storage.write(path, data)
        if row is not None and owner is not None:
            self.state.update_pipeline(row["id"], draft_dirty=1)
            if owner[1] in (*SOURCE_FILES, "config.yaml"):
                self._record_deps(owner[0], row["id"], files)
        out = info.to_dict()
        out.update({"status": "written", "warnings": warnings})
        return out

    def delete_file(self, path: str) -> None:
        path = validate_path(path)
        self.storage.delete(path)
        owner = self._pipeline_of_path(path)
        if owner:
            row = self.state.find_pipeline(*owner[0].table_identifier)
            if row:
                self.state.update_pipeline(row["id"], draft_dirty=1, deps=None, zones=None)
                self._dag_changed()
                self._dag_changed()

    # -- validate, publish, versions --------------------------------------------------------------
    def validate_pipeline(self, namespace: str, layer: str, name: str,
                          files: dict[str, str] | None = None) -> dict[str, Any]:
        pid = self.pid(namespace, layer, name)
        self.state.get_pipeline(*pid.table_identifier)
        report = validate_files(pid, files if files is not None else self.draft_files(pid))
        if report["valid"]:
            graph = self.dag(extra={pid: files if files is not None else self.draft_files(pid)}, version="draft",
                             strict=False)
            cycle = graph.cycle_through(pid)
            if cycle:
                message = CycleError([str(n) for n in reversed(cycle)]).message
                report["valid"] = False
                report["files"].append({"path": "", "valid": False, "errors": [message], "warnings": []})
        return report

    def publish_pipeline(self, namespace: str, layer: str, name: str, message: str = "") -> dict[str, Any]:
        """Snapshot the draft files into an immutable version (content-addressed in the state store)."""
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        files = self.draft_files(pid)
        report = self.validate_pipeline(namespace, layer, name, files)
        if not report["valid"]:
            raise Unprocessable("pipeline is not valid; nothing was published", details={"validation": report})
        blobs = {digest(c): c for c in files.values()}
        self.state.put_blobs(blobs)
        version = self.state.add_version(row["id"], {p: digest(c) for p, c in files.items()}, message or "")
        self._record_deps(pid, row["id"], files, published=True)
        self._record_deps(pid, row["id"], files)
        return {"status": "published", "version": version["version"], "message": version["message"],
                "files": sorted(version["files"])}

    def list_versions(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        return self.state.list_versions(row["id"])

    def get_version(self, namespace: str, layer: str, name: str, number: int) -> dict[str, Any]:
        """One version with its files' text, so an editor can diff the draft against what runs."""
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        version = self.state.get_version(row["id"], int(number))
        blobs = self.state.get_blobs(version["files"].values())
        return {**version, "contents": {path: blobs[h] for path, h in version["files"].items()}}

    def rollback(self, namespace: str, layer: str, name: str, version: int, message: str = "") -> dict[str, Any]:
        """A new version that re-pins an old snapshot; the draft files are restored to it too."""
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise Invalid("version must be a positive integer")
        old = self.state.get_version(row["id"], version)
        blobs = self.state.get_blobs(old["files"].values())
        for f in self.storage.list(pid.prefix):
            if f.path[len(pid.prefix):] not in old["files"]:
                self.storage.delete(f.path)
        for path, h in old["files"].items():
            self.storage.write(pid.prefix + path, blobs[h].encode())
        new = self.state.add_version(row["id"], old["files"], message or f"rollback to version {version}",
                                     rolled_back_from=version)
        restored = {path: blobs[h] for path, h in old["files"].items()}
        self._record_deps(pid, row["id"], restored, published=True)
        self._record_deps(pid, row["id"], restored)
        return {"status": "rolled_back", "from_version": version, "new_version": new["version"],
                "message": new["message"]}

    # -- quality tests ----------------------------------------------------------------------------
    def list_tests(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        published: set[str] = set()
        if row["published_version"]:
            published = set(self.state.get_version(row["id"], row["published_version"])["files"])
        out = []
        for path, content in sorted(self.draft_files(pid).items()):
            if path.startswith(TEST_DIR) and path.endswith(".sql") and path.count("/") == 2:
                try:
                    test = parse_test(path[len(TEST_DIR):-4], content).to_dict()
                except Invalid:
                    continue
                test["published"] = path in published
                test["path"] = pid.prefix + path
                out.append(test)
        return out

    def get_test(self, namespace: str, layer: str, name: str, test: str) -> dict[str, Any]:
        validate_name(test, "test name")
        for t in self.list_tests(namespace, layer, name):
            if t["name"] == test:
                return t
        raise NotFound(f"quality test '{test}' not found")

    def save_test(self, namespace: str, layer: str, name: str, test: str, sql: str, *,
                  severity: str | None = None, description: str | None = None, create: bool = True) -> dict:
        pid = self.pid(namespace, layer, name)
        validate_name(test, "test name")
        if not isinstance(sql, str) or not sql.strip():
            raise Invalid("test sql is required")
        if len(sql.encode()) > 500_000:
            raise TooLarge("test sql is larger than 500 KB")
        path = f"{pid.prefix}{TEST_DIR}{test}.sql"
        exists = self.storage.exists(path)
        if create and exists:
            raise Conflict(f"quality test '{test}' already exists")
        if not create and not exists:
            raise NotFound(f"quality test '{test}' not found")
        header = ""
        if severity is not None and "@severity:" not in sql:
            header += f"-- @severity: {severity}\n"
        if description and "@description:" not in sql:
            header += f"-- @description: {description}\n"
        self.write_file(path, header + sql)
        return self.get_test(namespace, layer, name, test)

    def delete_test(self, namespace: str, layer: str, name: str, test: str) -> None:
        pid = self.pid(namespace, layer, name)
        validate_name(test, "test name")
        path = f"{pid.prefix}{TEST_DIR}{test}.sql"
        if not self.storage.exists(path):
            raise NotFound(f"quality test '{test}' not found")
        self.delete_file(path)

    def run_tests(self, namespace: str, layer: str, name: str, version: str = "draft",
                  names: list[str] | None = None) -> dict[str, Any]:
        """Run the tests for real against the table as published now (``this`` = main)."""
        return self.run_tests_future(namespace, layer, name, version, names).result()

    def run_tests_future(self, namespace: str, layer: str, name: str, version: str = "draft",
                         names: list[str] | None = None) -> Future:
        """:meth:`run_tests` without waiting: a Future the REST layer awaits, so no thread waits on a worker."""
        pid = self.pid(namespace, layer, name)
        self.state.get_pipeline(*pid.table_identifier)
        files, _ = self.files_for(pid, version)

        def finish(out: dict[str, Any]) -> dict[str, Any]:
            if "error" in out:
                raise NotFound(out["error"]) if out.get("status") == 404 else Invalid(out["error"])
            results = out["results"]
            self.state.save_quality_results(None, *pid.table_identifier, results)
            failed = sum(r["status"] != "pass" for r in results)
            return {"results": results, "passed": len(results) - failed, "failed": failed, "total": len(results)}

        return self._side_task("tests", {"pipeline": pid.table_identifier, "files": files, "names": names}, finish)

    def _side_task(self, kind: str, payload: dict[str, Any], finish: Any = None) -> Future:
        """Submit a preview or test run under the admission limit; the result Future has ``finish`` applied.

        Beyond ``max_inflight_previews`` queued or running ones the answer is ``RateLimited`` (429) at once,
        rather than a queue that grows without bound.
        """
        limit = int(getattr(self.settings, "max_inflight_previews", 16))
        with self._lock:
            if self._inflight >= limit:
                raise RateLimited(f"{self._inflight} previews and test runs are already queued or running "
                                  f"(the limit is {limit}); try again when one has finished")
            self._inflight += 1
        try:
            inner = self.executor.submit(f"{kind}-{new_id()}", kind, payload,
                                         timeout=self.settings.run_timeout_seconds)
        except BaseException:
            with self._lock:
                self._inflight -= 1
            raise
        outer: Future = Future()

        def done(fut: Future) -> None:
            with self._lock:
                self._inflight -= 1
            try:
                result = fut.result()
                outer.set_result(finish(result) if finish else result)
            except WorkerDied as exc:
                outer.set_exception(Unavailable(f"the {kind} did not finish: {exc}"))
            except BaseException as exc:  # noqa: BLE001 - delivered to whoever awaits the future
                outer.set_exception(exc)

        inner.add_done_callback(done)
        return outer

    # -- DAG ------------------------------------------------------------------------------------
    def _deps(self, pid: PipelineId, files: dict[str, str]) -> tuple[list[PipelineId], list[tuple[str, str]]]:
        key = (pid, digest(repr(sorted(files.items()))))
        if key not in self._parse_cache:
            self._parse_cache[key] = parse_dependencies(load_spec(pid, files))
        return self._parse_cache[key]

    def _record_deps(self, pid: PipelineId, row_id: str, files: dict[str, str], *, published: bool = False) -> None:
        """Store what a pipeline reads, so building the DAG never re-parses every pipeline."""
        try:
            refs, zones = self._deps(pid, files)
        except RatError:
            return
        fields: dict[str, Any] = {"published_deps": json.dumps([str(r) for r in refs])} if published else {
            "deps": json.dumps([str(r) for r in refs]), "zones": json.dumps([f"{z[0]}.{z[1]}" for z in zones])}
        self.state.update_pipeline(row_id, **fields)
        self._dag_changed()

    def _dag_changed(self) -> None:
        with self._lock:
            self._dag_generation += 1
        self._dag_changed()

    def _dag_changed(self) -> None:
        with self._lock:
            self._dag_generation += 1

    def _row_deps(self, row: dict[str, Any], version: str) -> list[PipelineId]:
        if not (version == "published" and row["published_version"]):
            return self._draft_deps(row)[0]
        if row.get("published_deps") is None:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            files = self.published_files(pid)[0]
            self._record_deps(pid, row["id"], files, published=True)
            return self._deps(pid, files)[0]
        return [PipelineId(*r.split(".")) for r in json.loads(row["published_deps"])]

    def _draft_deps(self, row: dict[str, Any]) -> tuple[list[PipelineId], list[tuple[str, str]]]:
        """What the draft reads, from the recorded columns (parsed from the files only if never recorded)."""
        if row.get("deps") is not None and row.get("zones") is not None:
            refs = [PipelineId(*r.split(".")) for r in json.loads(row["deps"])]
            zones = [tuple(z.split(".", 1)) for z in json.loads(row["zones"])]
            return refs, zones  # type: ignore[return-value]
        pid = PipelineId(row["namespace"], row["layer"], row["name"])
        files = self.draft_files(pid)
        self._record_deps(pid, row["id"], files)
        try:
            return self._deps(pid, files)
        except RatError:
            return [], []

    def dag(self, namespace: str | None = None, version: str = "published",
            extra: dict[PipelineId, dict[str, str]] | None = None, strict: bool = True) -> DAG[PipelineId]:
        """The dependency graph of live pipelines (published version, falling back to the draft).

        Without ``extra`` the graph comes from a cache (read it, never change it): checking it costs one
        aggregate query, not a read of every pipeline, so submitting a run does not slow down as pipelines
        are added.
        """
        if extra is None:
            graph = self._cached_dag(namespace, version)[0]
            if strict:
                graph.topological()  # raises CycleError naming a cycle
            return graph
        return self._build_dag(self.state.list_pipelines(namespace)[0], version, extra, strict)

    def _cached_dag(self, namespace: str | None, version: str) -> tuple[DAG[PipelineId], frozenset[PipelineId]]:
        """The graph and live pipelines, rebuilt only when a pipeline changed: here (the generation) or in
        another process sharing the state store (the pipeline rows' fingerprint). The key is read before the
        rows, so a change that lands while building only causes one more rebuild."""
        key = (self._dag_generation, self.state.pipelines_fingerprint())
        with self._lock:
            hit = self._dag_cache.get((namespace, version))
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        rows, _ = self.state.list_pipelines(namespace)
        graph = self._build_dag(rows, version, None, False)
        live = frozenset(PipelineId(r["namespace"], r["layer"], r["name"]) for r in rows)
        with self._lock:
            if len(self._dag_cache) > 64:
                self._dag_cache.clear()
            self._dag_cache[(namespace, version)] = (key, graph, live)
        return graph, live

    def _build_dag(self, rows: list[dict[str, Any]], version: str, extra: dict[PipelineId, dict[str, str]] | None,
                   strict: bool) -> DAG[PipelineId]:
        graph: DAG[PipelineId] = DAG()
        for row in rows:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            try:
                refs = self._deps(pid, extra[pid])[0] if extra and pid in extra else self._row_deps(row, version)
            except RatError:
                if strict and extra and pid in extra:
                    raise
                refs = []
            graph.add(pid, refs)
        if strict:
            graph.topological()  # raises CycleError naming a cycle
        return graph

    def select(self, selector: str, version: str = "published") -> tuple[list[PipelineId], DAG[PipelineId]]:
        """Resolve a selection to pipelines in DAG order.

        ``ns.layer.name`` (one), ``ns.layer.name+`` (and downstream), ``+ns.layer.name`` (and upstream),
        ``ns.*`` or ``ns.layer.*`` (all of a namespace or layer).
        """
        if not isinstance(selector, str) or not selector.strip():
            raise Invalid("selection is required")
        text = selector.strip()
        down, up = text.endswith("+"), text.startswith("+")
        core = text.strip("+")
        graph, live = self._cached_dag(None, version)
        if core.endswith(".*"):
            parts = core[:-2].split(".")
            ns = validate_namespace(parts[0])
            layer = validate_layer(parts[1]) if len(parts) == 2 else None
            if len(parts) > 2:
                raise Invalid(f"'{selector}' is not a selection")
            chosen = {p for p in live if p.namespace == ns and (layer is None or p.layer == layer)}
            if not chosen:
                raise NotFound(f"no pipelines match '{selector}'")
            roots = set(chosen)
        else:
            pid = PipelineId.parse(core)
            self.state.get_pipeline(*pid.table_identifier)
            chosen = roots = {pid}
        for root in roots:
            if down:
                chosen = chosen | graph.closure_down(root)
            if up:
                chosen = chosen | graph.closure_up(root)
        return graph.topological(chosen & live), graph

    # -- runs -------------------------------------------------------------------------------------
    def run_selection(self, selector: str, *, trigger: str = "manual", version: str = "published",
                      wait: bool = False, timeout: float | None = None, submitted_by: str | None = None
                      ) -> list[Any]:
        """Submit runs of a selection: pending rows in the state store, executed by the server that claims
        them (this one when it is a server). The version each run executes is fixed here."""
        if version not in VERSIONS:
            raise Invalid(f"version must be one of {', '.join(VERSIONS)}")
        order, graph = self.select(selector, version)
        versions = {pid: self._run_version(pid, version) for pid in order}  # validates: never published → 409
        runs = self.runs.submit(order, {p: graph.upstream(p) for p in order}, trigger, versions, submitted_by)
        if wait:
            runs = self.runs.wait([r["id"] for r in runs], timeout)
        return [RunView(r) for r in runs]

    def _run_version(self, pid: PipelineId, version: str) -> str:
        """The version a run of ``pid`` executes, read from its row (the published files are not loaded)."""
        if version == "draft":
            return self.files_for(pid, "draft")[1]
        number = self.state.get_pipeline(*pid.table_identifier)["published_version"]
        if not number:
            raise Conflict(f"pipeline {pid} has never been published; publish it or run the draft "
                           f"(version 'draft')")
        return str(number)

    def _run_version(self, pid: PipelineId, version: str) -> str:
        """The version a run of ``pid`` executes, read from its row (the published files are not loaded)."""
        if version == "draft":
            return self.files_for(pid, "draft")[1]
        number = self.state.get_pipeline(*pid.table_identifier)["published_version"]
        if not number:
            raise Conflict(f"pipeline {pid} has never been published; publish it or run the draft "
                           f"(version 'draft')")
        return str(number)

    def create_run(self, namespace: str, layer: str, name: str, *, trigger: str = "manual",
                   version: str = "published", downstream: bool = False,
                   submitted_by: str | None = None) -> list[dict[str, Any]]:
        selector = f"{self.pid(namespace, layer, name)}{'+' if downstream else ''}"
        return self.create_runs(selector, trigger=trigger, version=version, submitted_by=submitted_by)

    def create_runs(self, selector: str, *, trigger: str = "manual", version: str = "published",
                    submitted_by: str | None = None) -> list[dict[str, Any]]:
        """``POST /runs`` with ``select``: every selected pipeline's run, in DAG order, in one call."""
        return [r.record for r in self.run_selection(selector, trigger=trigger, version=version,
                                                     submitted_by=submitted_by)]

    def get_run(self, run_id: str) -> dict[str, Any]:
        run = self.state.get_run(_run_id(run_id))
        run["quality"] = self.state.quality_results(run["id"])
        return run

    def list_runs(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        return self.state.list_runs(**filters)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self.runs.cancel(_run_id(run_id))

    def run_logs(self, run_id: str, after: int = 0) -> dict[str, Any]:
        run = self.state.get_run(_run_id(run_id))
        return {"logs": self.state.get_logs(run["id"], after), "status": run["status"]}

    def wait_for_runs(self, run_ids: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        return self.runs.wait(run_ids, timeout)

    def preview(self, namespace: str, layer: str, name: str, *, code: str | None = None, limit: int = 100,
                version: str = "draft", sample_files: bool = True) -> dict[str, Any]:
        """Dry run (nothing written). ``landing_zone()`` reads a zone's ``_samples/`` when it has any."""
        return self.preview_future(namespace, layer, name, code=code, limit=limit, version=version,
                                   sample_files=sample_files).result()

    def preview_future(self, namespace: str, layer: str, name: str, *, code: str | None = None, limit: int = 100,
                       version: str = "draft", sample_files: bool = True) -> Future:
        """:meth:`preview` without waiting: a Future the REST layer awaits, so no thread waits on a worker."""
        pid = self.pid(namespace, layer, name)
        self.state.get_pipeline(*pid.table_identifier)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise Invalid("limit must be a positive integer")
        files, _ = self.files_for(pid, version)
        if code is not None:
            src = next((s for s in SOURCE_FILES if s in files), "pipeline.sql")
            files = {**files, src: code}
        return self._side_task("preview", {"pipeline": pid.table_identifier, "files": files,
                                           "limit": min(limit, 1000), "sample_files": bool(sample_files)})

    # -- landing zones (minimal for the engine; the API issue extends them) ---------------------
    def create_landing_zone(self, namespace: str, name: str, description: str = "") -> dict[str, Any]:
        validate_namespace(namespace)
        self.state.get_namespace(namespace)
        return self.state.create_zone(namespace, validate_name(name, "landing zone"), description)

    def upload_landing_file(self, namespace: str, zone: str, filename: str, data: bytes,
                            content_type: str | None = None, *, stamp: bool = True) -> dict[str, Any]:
        from datetime import UTC, datetime

        _zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        base = _safe_filename(filename)
        if len(data) > self.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.settings.max_upload_bytes} bytes")
        stored = f"{datetime.now(UTC):%Y%m%d_%H%M%S}_{base}" if stamp else base
        path = f"{namespace}/landing/{zone}/{stored}"
        self.storage.write(path, data)
        row = self.state.add_landing_file(namespace, zone, base, path, len(data), content_type)
        for listener in list(self._upload_listeners):
            try:
                listener(namespace, zone, base)
            except Exception:  # noqa: BLE001 - a trigger problem must not fail the upload
                pass
        return row

    def add_upload_listener(self, listener: Any) -> None:
        """Called with ``(namespace, zone, original filename)`` after each landing upload (triggers)."""
        self._upload_listeners.append(listener)

    # -- tables and query -------------------------------------------------------------------------
    @property
    def query_service(self) -> Any:
        if self._query is None:
            from .query import QueryService

            with self._lock:
                if self._query is None:
                    self._query = QueryService(self.settings, self.catalog)
        return self._query

    def query(self, sql: str, namespace: str | None = None, limit: int | None = None) -> dict[str, Any]:
        return self.query_service.execute(sql, namespace, limit)

    def schema(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace:
            validate_namespace(namespace)
        return self.query_service.schema(namespace)

    def list_tables(self, namespace: str | None = None, layer: str | None = None) -> list[dict[str, Any]]:
        """Tables with row counts and sizes from the Iceberg snapshot summary (no scan needed)."""
        if namespace:
            validate_namespace(namespace)
        if layer:
            validate_layer(layer)
        out = []
        for pid in self.catalog.list_tables(namespace):
            if layer and pid.layer != layer:
                continue
            out.append(self._table_summary(pid))
        return out

    def _table(self, namespace: str, layer: str, name: str) -> tuple[PipelineId, Any]:
        pid = self.pid(namespace, layer, name)
        table = self.catalog.load(pid)
        if table is None:
            raise NotFound(f"table {pid} not found")
        return pid, table

    def _table_summary(self, pid: PipelineId, table: Any = None) -> dict[str, Any]:
        table = table or self.catalog.load(pid)
        snap = table.metadata.snapshot_by_name("main") if table is not None else None
        summary = snap.summary.additional_properties if snap and snap.summary else {}
        meta = self.state.get_table_metadata(*pid.table_identifier)
        return {"namespace": pid.namespace, "layer": pid.layer, "name": pid.name,
                "row_count": int(summary.get("total-records", 0)),
                "size_bytes": int(summary.get("total-files-size", 0)),
                "snapshot_id": str(snap.snapshot_id) if snap else None,
                "updated_at": _ms_iso(snap.timestamp_ms) if snap else None,
                "description": meta["description"], "owner": meta["owner"]}

    def describe_table(self, namespace: str, layer: str, name: str) -> dict[str, Any]:
        pid, table = self._table(namespace, layer, name)
        out = self._table_summary(pid, table)
        meta = self.state.get_table_metadata(*pid.table_identifier)
        descriptions = meta["column_descriptions"]
        out["columns"] = [{"name": f.name, "type": str(f.field_type), "required": f.required,
                           "description": descriptions.get(f.name, "")} for f in table.schema().fields]
        out["partition_spec"] = [str(f) for f in table.spec().fields]
        out["location"] = table.location()
        return out

    def preview_table(self, namespace: str, layer: str, name: str, limit: int = 50) -> dict[str, Any]:
        pid, _table = self._table(namespace, layer, name)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise Invalid("limit must be between 1 and 1000")
        return self.query_service.execute(f"SELECT * FROM {pid.sql}", None, limit)

    def table_history(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        """Iceberg snapshots of ``main``, newest first (what each run published)."""
        _pid, table = self._table(namespace, layer, name)
        main = table.metadata.snapshot_by_name("main")
        current = main.snapshot_id if main else None
        out = []
        by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
        snap = by_id.get(current) if current else None
        while snap is not None:
            props = snap.summary.additional_properties if snap.summary else {}
            out.append({"snapshot_id": str(snap.snapshot_id),
                        "parent_id": str(snap.parent_snapshot_id) if snap.parent_snapshot_id else None,
                        "timestamp": _ms_iso(snap.timestamp_ms),
                        "operation": str(snap.summary.operation.value) if snap.summary else None,
                        "added_records": int(props.get("added-records", 0)),
                        "deleted_records": int(props.get("deleted-records", 0)),
                        "total_records": int(props.get("total-records", 0))})
            snap = by_id.get(snap.parent_snapshot_id) if snap.parent_snapshot_id else None
        return out

    def update_table_metadata(self, namespace: str, layer: str, name: str, *, description: str | None = None,
                              owner: str | None = None, column_descriptions: dict[str, str] | None = None
                              ) -> dict[str, Any]:
        pid, _table = self._table(namespace, layer, name)
        current = self.state.get_table_metadata(*pid.table_identifier)
        if description is not None and (not isinstance(description, str) or len(description) > 5000):
            raise Invalid("description must be text of at most 5000 characters")
        if column_descriptions is not None and (not isinstance(column_descriptions, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in column_descriptions.items())):
            raise Invalid("column_descriptions must map column names to text")
        columns = {**current["column_descriptions"], **(column_descriptions or {})}
        return self.state.put_table_metadata(
            *pid.table_identifier, description if description is not None else current["description"],
            owner if owner is not None else current["owner"], columns)

    def read_table(self, namespace: str, layer: str, name: str, snapshot_id: int | None = None) -> Any:
        """The table's published rows as an Arrow table (tests and notebooks)."""
        _pid, table = self._table(namespace, layer, name)
        return table.scan(snapshot_id=snapshot_id).to_arrow()

    # -- landing zones ----------------------------------------------------------------------------
    def list_zones(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace:
            validate_namespace(namespace)
        return [self._zone_stats(zone) for zone in self.state.list_zones(namespace)]

    def get_zone(self, namespace: str, name: str) -> dict[str, Any]:
        _zone_key(namespace, name)
        return self._zone_stats(self.state.get_zone(namespace, name))

    def _zone_stats(self, zone: dict[str, Any]) -> dict[str, Any]:
        """A zone with the count and size of its landing files (not ``_samples/`` or ``_processed/``)."""
        prefix = f"{zone['namespace']}/landing/{zone['name']}/"
        files = [f for f in self.storage.list(prefix) if not f.path[len(prefix):].startswith("_")]
        return {**zone, "file_count": len(files), "total_bytes": sum(f.size for f in files)}

    def update_zone(self, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
        _zone_key(namespace, name)
        allowed = {"description", "owner", "expected_schema"}
        unknown = set(fields) - allowed
        if unknown:
            raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        for key, value in fields.items():
            if value is not None and (not isinstance(value, str) or len(value) > 20_000):
                raise Invalid(f"'{key}' must be text")
        self.state.update_zone(namespace, name, **{k: v for k, v in fields.items() if v is not None})
        return self.get_zone(namespace, name)

    def delete_zone(self, namespace: str, name: str) -> None:
        _zone_key(namespace, name)
        self.state.get_zone(namespace, name)
        self.storage.delete_prefix(f"{namespace}/landing/{name}/")
        self.state.delete_zone(namespace, name)

    def zone_lifecycle(self, namespace: str, name: str, *, processed_max_age_days: int | None = None,
                       auto_purge: bool | None = None) -> dict[str, Any]:
        _zone_key(namespace, name)
        fields: dict[str, Any] = {}
        if processed_max_age_days is not None:
            if not isinstance(processed_max_age_days, int) or isinstance(processed_max_age_days, bool) \
                    or not 1 <= processed_max_age_days <= 3650:
                raise Invalid("processed_max_age_days must be between 1 and 3650")
            fields["processed_max_age_days"] = processed_max_age_days
        if auto_purge is not None:
            if not isinstance(auto_purge, bool):
                raise Invalid("auto_purge must be true or false")
            fields["auto_purge"] = int(auto_purge)
        zone = self.state.update_zone(namespace, name, **fields)
        return {"processed_max_age_days": zone["processed_max_age_days"], "auto_purge": zone["auto_purge"]}

    def list_landing_files(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        _zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        return self.state.list_landing_files(namespace, zone)

    def get_landing_file(self, namespace: str, zone: str, file_id: str) -> dict[str, Any]:
        _zone_key(namespace, zone)
        return self.state.get_landing_file(namespace, zone, _run_id(file_id))

    def delete_landing_file(self, namespace: str, zone: str, file_id: str) -> None:
        row = self.get_landing_file(namespace, zone, file_id)
        if self.storage.exists(row["path"]):
            self.storage.delete(row["path"])
        self.state.delete_landing_file(row["id"])

    def list_samples(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        _zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        return [f.to_dict() for f in self.storage.list(f"{namespace}/landing/{zone}/_samples/")]

    def upload_sample(self, namespace: str, zone: str, filename: str, data: bytes) -> dict[str, Any]:
        _zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        base = _safe_filename(filename)
        if len(data) > self.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.settings.max_upload_bytes} bytes")
        return self.storage.write(f"{namespace}/landing/{zone}/_samples/{base}", data).to_dict()

    def delete_sample(self, namespace: str, zone: str, filename: str) -> None:
        _zone_key(namespace, zone)
        self.storage.delete(f"{namespace}/landing/{zone}/_samples/{_safe_filename(filename)}")

    # -- lineage ----------------------------------------------------------------------------------
    def lineage(self, namespace: str | None = None) -> dict[str, Any]:
        """Pipelines, their tables and landing zones, with the latest run and test count of each pipeline."""
        if namespace:
            validate_namespace(namespace)
        rows, _ = self.state.list_pipelines(namespace)
        latest = self.state.latest_runs()
        nodes: dict[str, dict[str, Any]] = {}
        edges: list[dict[str, str]] = []
        for row in rows:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            refs, zones = self._draft_deps(row)
            run = latest.get(pid.table_identifier)
            tests = sum(1 for f in self.storage.list(pid.prefix + TEST_DIR) if f.path.endswith(".sql"))
            nodes[f"pipeline:{pid}"] = {
                "id": f"pipeline:{pid}", "type": "pipeline", "namespace": pid.namespace, "layer": pid.layer,
                "name": pid.name, "quality": {"total": tests},
                "latest_run": None if run is None else
                {k: run[k] for k in ("id", "status", "started_at", "duration_ms")}}
            nodes.setdefault(f"table:{pid}", {"id": f"table:{pid}", "type": "table", "namespace": pid.namespace,
                                              "layer": pid.layer, "name": pid.name})
            edges.append({"source": f"pipeline:{pid}", "target": f"table:{pid}", "type": "produces"})
            for ref in refs:
                nodes.setdefault(f"table:{ref}", {"id": f"table:{ref}", "type": "table", "namespace": ref.namespace,
                                                  "layer": ref.layer, "name": ref.name})
                edges.append({"source": f"table:{ref}", "target": f"pipeline:{pid}", "type": "ref"})
            for zns, zone in zones:
                key = f"landing:{zns}.{zone}"
                nodes.setdefault(key, {"id": key, "type": "landing", "namespace": zns, "name": zone})
                edges.append({"source": key, "target": f"pipeline:{pid}", "type": "landing_input"})
        for zone in self.state.list_zones(namespace):
            key = f"landing:{zone['namespace']}.{zone['name']}"
            nodes.setdefault(key, {"id": key, "type": "landing", "namespace": zone["namespace"], "name": zone["name"]})
        return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": edges}

    # -- admin ------------------------------------------------------------------------------------
    def retention_config(self) -> dict[str, Any]:
        from .retention import RetentionConfig

        return RetentionConfig.load(self.state).to_dict()

    def update_retention_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        from .retention import RetentionConfig

        config = RetentionConfig.load(self.state).merge(changes)
        config.save(self.state)
        return config.to_dict()

    def reaper_status(self) -> dict[str, Any]:
        from .reaper import STATUS_KEY

        status = self.state.get_setting(STATUS_KEY) or {"last_run_at": None, "stats": {}, "errors": {}}
        status["interval_minutes"] = self.retention_config()["reaper_interval_minutes"]
        return status

    def run_reaper(self, clock: Any = None) -> dict[str, Any]:
        from .reaper import Reaper

        return Reaper(self, clock).run()

    def pipeline_retention(self, namespace: str, layer: str, name: str,
                           changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """System retention, this pipeline's overrides, and the effective values (API-22)."""
        import json

        from .retention import RetentionConfig

        pid = self.pid(namespace, layer, name)
        row = self.state.get_pipeline(*pid.table_identifier)
        system = RetentionConfig.load(self.state)
        overrides = json.loads(row["retention_config"]) if row.get("retention_config") else None
        if changes is not None:
            allowed = {"runs_max_per_pipeline", "runs_max_age_days", "logs_max_age_days",
                       "quality_results_max_per_test"}
            unknown = set(changes) - allowed
            if unknown:
                raise Invalid(f"per-pipeline overrides support only {', '.join(sorted(allowed))}")
            system.merge(changes)  # validates the values
            overrides = {**(overrides or {}), **changes}
            self.state.update_pipeline(row["id"], retention_config=json.dumps(overrides))
        effective = system.merge(overrides or {}).to_dict()
        return {"system": system.to_dict(), "overrides": overrides, "effective": effective}

    def audit_log(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return self.state.list_audit(limit, offset)

    def metrics(self) -> dict[str, Any]:
        return {"runs": self.state.run_counts(),
                "pipelines": self.state.list_pipelines()[1],
                "namespaces": len(self.state.list_namespaces()),
                "workers": self._executor.stats().get("workers", 0) if self._executor else 0}

    def executor_info(self) -> dict[str, Any]:
        """What executes tasks here, for ``/info``: class, capacity, capabilities and live counts — never pids."""
        executor = self.executor
        caps = executor.capabilities
        return {"class": f"{type(executor).__module__}:{type(executor).__qualname__}", "capacity": executor.capacity,
                "capabilities": {"live_logs": caps.live_logs, "cooperative_cancel": caps.cooperative_cancel,
                                 "timeout": caps.timeout},
                "executes_runs": self.server, **executor.stats()}

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, probe in (("state", self.state.ping),
                            ("storage", lambda: self.storage.list("__ready__/")),
                            ("catalog", lambda: self.catalog.iceberg.list_namespaces()),
                            ("workers", lambda: self._check_workers())):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports every failure
                checks[name] = f"error: {str(exc).splitlines()[0][:200]}"
        return checks

    def _check_workers(self) -> None:
        if self.server and self.executor.stats().get("workers", 1) == 0:  # executors without workers omit it
            raise RuntimeError("no worker process is running")


def _zone_key(namespace: object, zone: object) -> tuple[str, str]:
    return validate_namespace(namespace), validate_name(zone, "landing zone")


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > 5000:
        raise Invalid("description must be text of at most 5000 characters")
    return value


def _ms_iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _safe_filename(filename: str) -> str:
    base = Path(str(filename).replace("\\", "/")).name
    if not base or base.startswith((".", "_")) or len(base) > 255:
        raise Invalid("invalid file name")
    validate_path(base)
    return base


class RunView:
    """Attribute access over a run record (handy in notebooks and benchmarks)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def __getattr__(self, item: str) -> Any:
        try:
            return self.record[item]
        except KeyError:
            raise AttributeError(item) from None

    def __repr__(self) -> str:
        r = self.record
        return f"<Run {r['namespace']}.{r['layer']}.{r['name']} {r['status']} rows={r.get('rows_written')}>"


def _run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 64:
        raise Invalid("invalid run id")
    return run_id


def file_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if "/tests/" in f"/{path}" or name.startswith("test_"):
        return "test"
    if "/hooks/" in f"/{path}" or name.startswith(("hook_", "pre_", "post_")):
        return "hook"
    if name.endswith(".meta.yaml"):
        return "meta"
    if name in ("config.yaml", "config.yml", "schema.yaml", "schema.yml"):
        return "config"
    if name == "pipeline.py":
        return "pipeline-py"
    if name.endswith(".sql"):
        return "pipeline-sql"
    if name.endswith((".md", ".txt", ".rst")) or name.startswith("README"):
        return "doc"
    return "data" if "/landing/" in path else "other"
