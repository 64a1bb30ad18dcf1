"""Typed models of the REST API: request bodies, query parameters and responses (pydantic v2).

Validation of what a client sends exists here once: the handlers parse every body and query string with these
models, and serialise every JSON reply through them, so the OpenAPI document (generated from the same models)
and what the server answers cannot drift apart. Requests forbid unknown fields and are strict about JSON types
(``"1"`` is not an integer, ``1`` is not a boolean); responses allow extra fields so a new column in the state
store never breaks a reply, but every declared field has its real JSON type (lists are lists, sums are numbers).

This module imports only pydantic and the standard library: the core stays usable without a Jupyter server.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

MAX_INT = 2**63 - 1  # what the state store holds (SQLite INTEGER, PostgreSQL BIGINT)
MAX_TEXT = 5000


def _no_lone_surrogates(value: str) -> str:
    """Python strings may hold lone surrogates (``"\\ud800"`` is valid JSON); UTF-8 storage cannot."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line of text")
    return value


# -- scalar types -------------------------------------------------------------------------------------
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_no_lone_surrogates)]
Line = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_no_lone_surrogates),
                 AfterValidator(_one_line)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_lone_surrogates)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_]*$")]
Short = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_lone_surrogates)]
Code = Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_no_lone_surrogates)]
Content = Annotated[str, StringConstraints(max_length=64 * 1024 * 1024), AfterValidator(_no_lone_surrogates)]
Int64 = Annotated[int, Field(ge=-MAX_INT - 1, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Positive = Annotated[int, Field(ge=1, le=MAX_INT)]
Limit = Annotated[int, Field(ge=1, le=200)]
Offset = Annotated[int, Field(ge=0, le=MAX_INT)]
Layer = Literal["bronze", "silver", "gold"]
VersionRef = Literal["draft", "published"] | Positive
Severity = Literal["error", "warn", "warning"]
RunStatus = Literal["pending", "running", "success", "failed", "cancelled", "skipped"]


class ErrorCode(StrEnum):
    """The ``code`` of every error reply (``core.errors`` and the HTTP status map of the handlers)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    TIMEOUT = "TIMEOUT"
    CONFLICT = "CONFLICT"
    TOO_LARGE = "TOO_LARGE"
    UNPROCESSABLE = "UNPROCESSABLE"
    CYCLE = "CYCLE"
    BUSY = "BUSY"
    RATE_LIMITED = "RATE_LIMITED"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    CANCELLED = "CANCELLED"
    QUERY_ERROR = "QUERY_ERROR"
    QUERY_TIMEOUT = "QUERY_TIMEOUT"
    SQL_ERROR = "SQL_ERROR"
    PIPELINE_ERROR = "PIPELINE_ERROR"
    QUALITY_FAILED = "QUALITY_FAILED"
    QUERY_LIMIT = "QUERY_LIMIT"
    NULL_KEYS = "NULL_KEYS"
    SCHEMA_CHANGE_REFUSED = "SCHEMA_CHANGE_REFUSED"
    CELL_ERROR = "CELL_ERROR"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


# -- bases ----------------------------------------------------------------------------------------------
class Request(BaseModel):
    """A JSON request body: unknown fields are refused, JSON types are taken as sent."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters: strings from the URL converted to their declared types; unknown ones are ignored
    (cache busters, tracing parameters)."""

    model_config = ConfigDict(extra="ignore")


class Page(Query):
    limit: Limit = Field(50, description="Page size (1-200)")
    offset: Offset = Field(0, description="Rows to skip")


_STRICT_REPLIES = [False]


def strict_replies(on: bool = True) -> None:
    """Make a reply with an undeclared field an error instead of dropping the field (the handler tests turn
    this on, so a new column is declared in its model before it ships; production never fails on one)."""
    _STRICT_REPLIES[0] = on


def strict_replies_on() -> bool:
    return _STRICT_REPLIES[0]


class Response(BaseModel):
    """A JSON reply: exactly the declared fields, so the document and the replies never disagree. A field the
    core adds stays internal until its model declares it (an error under ``strict_replies``)."""

    # every declared field is always in the reply (null when empty): required in the schema, so generated
    # client types have no optional fields where the server always answers
    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)

    @model_validator(mode="before")
    @classmethod
    def _declared_only(cls, data: Any) -> Any:
        if _STRICT_REPLIES[0] and isinstance(data, dict):
            declared = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            undeclared = set(data) - declared
            if undeclared:
                raise ValueError(f"undeclared field(s) {sorted(undeclared)} in {cls.__name__}")
        return data


def _json_list(value: Any) -> Any:
    """Lists that the state store keeps as JSON text come back as lists."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _json_object(value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _as_bool(value: Any) -> Any:
    return bool(value) if isinstance(value, int) and value in (0, 1) else value


JsonList = Annotated[list[str] | None, BeforeValidator(_json_list)]
Flag = Annotated[bool, BeforeValidator(_as_bool)]


def json_cell(value: Any) -> Any:
    """One result cell as a JSON value: integral decimals (``sum()`` of integers is a HUGEINT, a Decimal
    through Arrow) are numbers; other decimals stay exact text; non-finite floats are ``null``; dates are
    ISO text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value():
            return int(value)
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [json_cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_cell(v) for k, v in value.items()}
    return str(value)


def _cells(rows: Any) -> Any:
    if isinstance(rows, list):
        return [{str(k): json_cell(v) for k, v in r.items()} if isinstance(r, dict) else r for r in rows]
    return rows


Cell = str | int | float | bool | list[Any] | dict[str, Any] | None
Rows = Annotated[list[dict[str, Cell]], BeforeValidator(_cells)]


def error_message(exc: ValidationError) -> str:
    """A short message naming the field(s), never pydantic's whole dump."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    missing = [_loc(e["loc"]) for e in errors if e["type"] == "missing"]
    if missing:
        return f"missing required field(s): {', '.join(missing)}"
    unknown = [_loc(e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    first = errors[0]
    msg = str(first["msg"]).removeprefix("Value error, ")
    where = _loc(first["loc"])
    return f"{where}: {msg[:200]}" if where else msg[:200]


def _loc(loc: tuple[Any, ...]) -> str:
    # union members show up as extra location parts ('int', 'literal[...]'): keep the field path only
    tags = ("int", "str", "bool", "float", "list", "dict", "none", "constrained-int", "constrained-str")
    parts = [str(p) for p in loc if isinstance(p, int) or not (any(c in str(p) for c in "[]()") or p in tags)]
    return ".".join(parts)


# ======================================================================================================
# Requests
# ======================================================================================================
class CreateNamespace(Request):
    name: Ident
    description: Text = ""


class UpdateNamespace(Request):
    description: Text


class CreatePipeline(Request):
    namespace: Ident
    layer: Layer
    name: Ident
    type: Literal["sql", "python"] = "sql"
    source: Code | None = Field(None, description="pipeline.sql/.py content; a template when omitted")
    unique_key: list[Short] | Short | None = Field(None, description="list or comma-separated text")
    description: Text = ""
    config: dict[str, Any] | None = Field(None, description="config.yaml content as an object")
    merge_strategy: Short | None = None

    def unique_keys(self) -> list[str] | None:
        if isinstance(self.unique_key, str):
            return [k.strip() for k in self.unique_key.split(",") if k.strip()]
        return self.unique_key


class RenamePipeline(Request):
    name: Ident = Field(description="the new name (same namespace and layer)")


class UpdatePipeline(Request):
    description: Text | None = None
    owner: Short | None = None
    type: Literal["sql", "python"] | None = None


class PublishPipeline(Request):
    message: Text = ""


class RollbackPipeline(Request):
    version: Positive
    message: Text = ""


class PreviewPipeline(Request):
    code: Code | None = Field(None, description="inline code instead of the saved source")
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    version: VersionRef = "draft"
    sample_files: bool = Field(True, description="landing_zone() reads the zone's curated samples")


class ValidatePipeline(Request):
    files: dict[Name, Code] | None = Field(None, description="relative path → text; the draft when omitted")


class PipelineRetentionOverrides(Request):
    runs_max_per_pipeline: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    runs_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    logs_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    quality_results_max_per_test: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class CreateTest(Request):
    name: Ident
    sql: Code
    severity: Severity | None = None
    description: Line | None = None


class UpdateTest(Request):
    sql: Code
    severity: Severity | None = None
    description: Line | None = None


class RunTests(Request):
    tests: list[Ident] | None = Field(None, description="names of the tests to run; all when omitted")
    version: VersionRef = "draft"


class CreateTrigger(Request):
    type: Literal["cron", "cron_dependency", "pipeline_success", "landing_zone_upload", "file_pattern", "webhook"]
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    cooldown_seconds: Annotated[int, Field(ge=0, le=86_400 * 30)] = 0


class UpdateTrigger(Request):
    config: dict[str, Any] | None = None
    enabled: bool | None = None
    cooldown_seconds: Annotated[int, Field(ge=0, le=86_400 * 30)] | None = None


class CreateSchedule(Request):
    namespace: Ident
    layer: Layer
    pipeline: Ident
    cron: Short = Field(description="5-field cron expression")
    timezone: Short = Field("UTC", description="IANA time zone")
    enabled: bool = True


class UpdateSchedule(Request):
    cron: Short | None = None
    timezone: Short | None = None
    enabled: bool | None = None


Selection = Annotated[str, StringConstraints(
    max_length=300, pattern=r"^\+?[a-z][a-z0-9_]*\.(\*|(bronze|silver|gold)\.(\*|[a-z][a-z0-9_]*))\+?$")]


class CreateRun(Request):
    """One pipeline (``namespace``, ``layer``, ``pipeline``, optionally ``downstream``) or a ``select``ion:
    exactly one of the two forms."""

    namespace: Ident | None = None
    layer: Layer | None = None
    pipeline: Ident | None = None
    select: Selection | None = Field(
        None, description="instead of namespace/layer/pipeline: `ns.*`, `ns.layer.*`, `ns.layer.name`, "
                          "`ns.layer.name+` (and downstream) or `+ns.layer.name` (and upstream); every selected "
                          "pipeline gets a run, in DAG order")
    trigger: Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_lone_surrogates)] = "manual"
    version: Literal["published", "draft"] = "published"
    downstream: bool = Field(False, description="also run everything downstream, in DAG order")

    @model_validator(mode="after")
    def _one_form(self) -> CreateRun:
        named = (self.namespace, self.layer, self.pipeline)
        if self.select is not None:
            if any(v is not None for v in named) or self.downstream:
                raise ValueError("give either 'select' or namespace/layer/pipeline (with downstream), not both")
        elif any(v is None for v in named):  # the named form's fields, as if they were required
            missing = [k for k, v in zip(("namespace", "layer", "pipeline"), named, strict=True) if v is None]
            raise ValueError(f"missing required field(s): {', '.join(missing)}")
        return self


class WriteFile(Request):
    content: Content


class RunQuery(Request):
    sql: Code
    namespace: Ident | None = None
    limit: Annotated[int, Field(ge=1, le=100_000)] | None = None


class UpdateTableMetadata(Request):
    description: Text | None = None
    owner: Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_lone_surrogates)] | None = None
    column_descriptions: dict[Name, Text] | None = None


class CreateZone(Request):
    namespace: Ident
    name: Ident
    description: Text = ""


class UpdateZone(Request):
    description: Text | None = None
    owner: Short | None = None
    expected_schema: Annotated[str, StringConstraints(max_length=20_000),
                               AfterValidator(_no_lone_surrogates)] | None = None


class UpdateLifecycle(Request):
    processed_max_age_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    auto_purge: bool | None = None


class UpdateRetentionConfig(Request):
    runs_max_per_pipeline: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    runs_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    logs_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    quality_results_max_per_test: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    soft_delete_purge_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    stuck_run_timeout_minutes: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    audit_log_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    orphan_branch_max_age_hours: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    reaper_interval_minutes: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    iceberg_snapshot_max_age_days: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    iceberg_orphan_file_max_age_days: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class Upload(BaseModel):
    """``multipart/form-data`` of an upload into a landing zone (documented here; tornado parses the form)."""

    file: bytes = Field(description="the file; its name is kept")


class FileUpload(Upload):
    """``multipart/form-data`` of an upload into storage."""

    path: str = Field(description="target folder (ending in /) or file path")


# ======================================================================================================
# Query parameters
# ======================================================================================================
class ListPipelinesQuery(Page):
    namespace: Ident | None = None
    layer: Layer | None = None
    search: Short | None = None
    sort: Short | None = Field(None, description="field or -field: name, namespace, layer, created_at, ...")


class ListRunsQuery(Page):
    namespace: Ident | None = None
    layer: Layer | None = None
    pipeline: Ident | None = None
    status: RunStatus | None = None
    batch_id: Short | None = None
    started_after: Short | None = Field(None, description="ISO timestamp")
    started_before: Short | None = Field(None, description="ISO timestamp")
    sort: Short | None = Field(None, description="field or -field: created_at, started_at, status, ...")


class RunLogsQuery(Query):
    after: Count = Field(0, description="only lines with a greater seq")


class TreeQuery(Query):
    namespace: Ident | None = Field(None, description="the namespace to expand (default: the only one, if one)")


class NamespaceFilter(Query):
    namespace: Ident | None = None


class ListSchedulesQuery(Page):
    namespace: Ident | None = None


class ListZonesQuery(Page):
    namespace: Ident | None = None


class TablesQuery(Query):
    namespace: Ident | None = None
    layer: Layer | None = None


class TablePreviewQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = 50


class PreviewQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = Field(100, description="rows (the body's limit wins)")


class PipelineNotebookQuery(Query):
    version: Literal["draft", "published"] = Field("draft", description="which files the notebook holds")
    kernel: Literal["rat_sql", "python3"] | None = Field(
        None, description="the notebook's kernel (default: rat_sql for a SQL pipeline, python3 for a Python one)")


class FilesQuery(Query):
    prefix: Annotated[str, StringConstraints(max_length=4096)] = Field(
        description="required; starts with a namespace")
    exclude: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        None, description="comma-separated path segments to leave out")


class FileQuery(Query):
    download: Literal["0", "1", "true", "false", ""] | None = Field(
        None, description="1 or true: the file's bytes as an attachment")


# ======================================================================================================
# Responses
# ======================================================================================================
class Error(BaseModel):
    message: str
    reason: str
    code: ErrorCode
    details: dict[str, Any] | None = None


class Health(Response):
    status: Literal["ok"]
    version: str


class Readiness(Response):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class ExecutorInfo(Response):
    type: str
    concurrency: int


class Features(Response):
    edition: str
    version: str
    namespaces: bool
    multi_user: bool
    landing_zones: bool
    quality_tests: bool
    pipeline_versions: bool
    query_engine: bool
    scheduler: bool
    executor: ExecutorInfo
    storage: Literal["local", "s3"]
    catalog: str


class ExecutorCapabilities(Response):
    live_logs: bool
    cooperative_cancel: bool
    timeout: bool


class ExecutorDetails(Response):
    class_: str = Field(alias="class", serialization_alias="class", description="module:Class of the executor")
    capacity: int = Field(description="tasks it runs at once")
    capabilities: ExecutorCapabilities
    executes_runs: bool = Field(description="this server claims and launches runs")
    running: int
    queued: int
    workers: int | None = Field(None, description="alive worker processes (executors that have them)")

    model_config = ConfigDict(extra="ignore", validate_by_name=True, serialize_by_alias=True,
                              json_schema_serialization_defaults_required=True)


class ServerInfo(Response):
    version: str
    server_id: str = Field(description="this server's name in the state store")
    executor: ExecutorDetails


class Namespace(Response):
    name: str
    description: str
    created_by: str | None = None
    created_at: str


class ListNamespacesResponse(Response):
    namespaces: list[Namespace]
    total: int


class LastRun(Response):
    id: str
    status: RunStatus
    created_at: str | None = None
    finished_at: str | None = None


class Pipeline(Response):
    id: str
    namespace: str
    layer: str
    name: str
    type: Literal["sql", "python"]
    description: str
    owner: str | None = None
    created_at: str
    updated_at: str
    draft_dirty: Flag
    published_version: int | None = None
    published_at: str | None = None
    retention_config: Annotated[dict[str, int] | None, BeforeValidator(_json_object)] = None
    deps: JsonList = Field(None, description="tables the draft reads (ns.layer.name)")
    zones: JsonList = Field(None, description="landing zones the draft reads (ns.zone)")
    published_deps: JsonList = Field(None, description="tables the published version reads")
    s3_path: str


class PipelineListItem(Pipeline):
    last_run: LastRun | None = None


class TreeTable(Response):
    namespace: str
    layer: str
    name: str


class TreeZone(Response):
    namespace: str
    name: str


class TreeNamespace(Response):
    name: str
    description: str
    pipeline_count: int
    pipelines: list[PipelineListItem] | None = Field(None, description="set when the namespace is expanded")
    tables: list[TreeTable] | None = None
    zones: list[TreeZone] | None = None


class WorkspaceTree(Response):
    namespaces: list[TreeNamespace]


class CreatedPipeline(Pipeline):
    files_created: list[str]


class ListPipelinesResponse(Response):
    pipelines: list[PipelineListItem]
    total: int
    limit: int
    offset: int


class PublishResult(Response):
    status: Literal["published"]
    version: int
    message: str
    files: list[str]


class PipelineVersion(Response):
    pipeline_id: str
    version: int
    message: str
    files: dict[str, str] = Field(description="path → content hash")
    created_at: str
    rolled_back_from: int | None = None
    contents: dict[str, str] | None = Field(
        None, description="path → file text; only in getPipelineVersion (editors diff the draft against it)")


class ListVersionsResponse(Response):
    versions: list[PipelineVersion]
    total: int


class RollbackResult(Response):
    status: Literal["rolled_back"]
    from_version: int
    new_version: int
    message: str


class Column(Response):
    name: str
    type: str


class Phase(Response):
    name: str
    duration_ms: int | None = None
    metadata: dict[str, Any] | None = None


class PreviewResult(Response):
    columns: list[Column]
    rows: Rows
    total_row_count: int
    explain_output: str
    warnings: list[str]
    error: str | None = None
    compiled_sql: str | None = None
    phases: list[Phase]
    is_incremental: bool | None = Field(None, description="the template saw is_incremental() true")
    watermark_value: Annotated[Cell, BeforeValidator(json_cell)] = Field(
        None, description="the watermark an incremental preview used")
    note: str | None = None


class FileReport(Response):
    path: str
    valid: bool
    errors: list[str]
    warnings: list[str]


class ValidationReport(Response):
    valid: bool
    files: list[FileReport]


class MetadataFile(Response):
    path: str
    content: str


class PipelineNotebook(Response):
    """A notebook (nbformat 4) to iterate on a pipeline: its source and its quality tests as cells, each cell
    carrying ``metadata.rat`` (pipeline, role, path) so a front end can save it back to the file it came from."""

    name: str = Field(description="a file name to save it under, e.g. orders.silver.shop.ipynb")
    notebook: dict[str, Any] = Field(description="the notebook document (nbformat 4 JSON)")


class RetentionConfig(Response):
    runs_max_per_pipeline: int
    runs_max_age_days: int
    logs_max_age_days: int
    quality_results_max_per_test: int
    soft_delete_purge_days: int
    stuck_run_timeout_minutes: int
    audit_log_max_age_days: int
    orphan_branch_max_age_hours: int
    reaper_interval_minutes: int
    iceberg_snapshot_max_age_days: int
    iceberg_orphan_file_max_age_days: int


class PipelineRetention(Response):
    system: RetentionConfig
    overrides: dict[str, int] | None = None
    effective: RetentionConfig


class QualityTest(Response):
    name: str
    sql: str
    severity: Literal["error", "warn"]
    description: str | None = None
    tags: list[str]
    remediation: str | None = None
    published: bool
    path: str


class ListTestsResponse(Response):
    tests: list[QualityTest]
    total: int


class TestResult(Response):
    test: str
    severity: str
    description: str | None = None
    status: Literal["pass", "fail", "error"]
    violations: int
    sample: Rows
    error: str | None = None
    duration_ms: int | None = None


class TestRunResult(Response):
    results: list[TestResult]
    passed: int
    failed: int
    total: int


class Trigger(Response):
    id: str
    namespace: str
    layer: str
    pipeline: str
    type: str
    config: dict[str, Any]
    enabled: Flag
    cooldown_seconds: int
    last_triggered_at: str | None = None
    last_run_id: str | None = None
    next_run_at: str | None = None
    pending_since: str | None = None
    created_at: str
    updated_at: str
    webhook_url: str | None = None
    token_prefix: str | None = None


class CreatedTrigger(Trigger):
    webhook_token: str | None = Field(None, description="a webhook trigger's token: returned once, here only")


class ListTriggersResponse(Response):
    triggers: list[Trigger]
    total: int


class Schedule(Response):
    id: str
    namespace: str
    layer: str
    pipeline: str
    cron: str
    timezone: str
    enabled: Flag
    last_fired_at: str | None = None
    next_run_at: str | None = None
    last_run_id: str | None = None
    last_skipped_at: str | None = None
    created_at: str
    updated_at: str


class ListSchedulesResponse(Response):
    schedules: list[Schedule]
    total: int
    limit: int
    offset: int


class WebhookResult(Response):
    run_id: str | None = None
    status: str


class Run(Response):
    id: str
    pipeline_id: str | None = None
    namespace: str
    layer: str
    name: str
    status: RunStatus
    trigger: str
    version: str | None = None
    batch_id: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None
    rows_written: int | None = None
    error: str | None = None
    phases: Annotated[list[Phase], BeforeValidator(lambda v: _json_list(v) or [])] = Field(default_factory=list)
    attempt: int = 1
    snapshot_id: str | None = None
    owner: str | None = Field(None, description="the server that executes the run")
    server_id: str | None = Field(None, description="the server that claimed the run")
    claimed_at: str | None = None
    cancel_requested_at: str | None = Field(None, description="set by a cancel; the owning server acts on it")
    publishing_at: str | None = Field(None, description="when the run began to publish (too late to cancel)")
    submitted_by: str | None = Field(None, description="the Jupyter user who started the run")
    depends_on: Annotated[list[str], BeforeValidator(lambda v: _json_list(v) or [])] = Field(
        default_factory=list, description="ids of the runs this one waits for")


class QualityResult(Response):
    id: str
    run_id: str | None = None
    test: str
    severity: str
    status: str
    violations: int
    sample: Annotated[list[dict[str, Cell]], BeforeValidator(lambda v: _cells(_json_list(v) or []))]
    duration_ms: int | None = None
    error: str | None = None
    created_at: str


class DescribeRun(Run):
    quality: list[QualityResult]


class ListRunsResponse(Response):
    runs: list[Run]
    total: int
    limit: int
    offset: int


class CreateRunResponse(Response):
    run_id: str
    status: RunStatus
    runs: list[Run] = Field(description="every run created, in DAG order: the run and, with downstream, every "
                                        "run after it; with select, one run per selected pipeline")


class CancelRunResponse(Response):
    run_id: str
    status: RunStatus


class RunLogEvent(Response):
    """One log line; also the ``data`` of each ``log`` event of the ``text/event-stream``."""

    seq: int
    timestamp: str
    level: str
    message: str


class RunLogs(Response):
    logs: list[RunLogEvent]
    status: RunStatus


class RunStatusEvent(Response):
    """The ``data`` of the closing ``status`` event of the log stream."""

    status: RunStatus
    error: str | None = None
    rows_written: int | None = None


class StoredFile(Response):
    path: str
    size: int
    modified: str


class FileEntry(StoredFile):
    type: str


class ListFilesResponse(Response):
    files: list[FileEntry]


class FileContent(StoredFile):
    content: str


class WrittenFile(StoredFile):
    status: Literal["written"]
    warnings: list[str]


class UploadedFile(WrittenFile):
    filename: str
    status: Literal["uploaded"]  # type: ignore[assignment]


class QueryResult(Response):
    columns: list[Column]
    rows: Rows
    total_rows: int = Field(description="rows in this answer")
    matched_rows: int | None = Field(description="rows the whole query returns: total_rows unless truncated; "
                                                 "when truncated, counted within the statement timeout (at most "
                                                 "5 s), null when that count did not finish")
    truncated: bool
    limit: int
    duration_ms: int


class TableSchema(Response):
    namespace: str
    layer: str
    name: str
    columns: list[Column]


class SchemaResponse(Response):
    tables: list[TableSchema]
    total: int


class TableSummary(Response):
    namespace: str
    layer: str
    name: str
    row_count: int
    size_bytes: int
    snapshot_id: str | None = None
    updated_at: str | None = None
    description: str
    owner: str | None = None


class ListTablesResponse(Response):
    tables: list[TableSummary]
    total: int


class TableColumn(Response):
    name: str
    type: str
    required: bool
    description: str


class TableDetail(TableSummary):
    columns: list[TableColumn]
    partition_spec: list[str]
    location: str


class TableMetadata(Response):
    namespace: str | None = None
    layer: str | None = None
    name: str | None = None
    updated_at: str | None = None
    description: str
    owner: str | None = None
    column_descriptions: Annotated[dict[str, str], BeforeValidator(lambda v: _json_object(v) or {})]


class Snapshot(Response):
    snapshot_id: str
    parent_id: str | None = None
    timestamp: str
    operation: str | None = None
    added_records: int
    deleted_records: int
    total_records: int


class TableHistory(Response):
    snapshots: list[Snapshot]
    total: int


class Zone(Response):
    namespace: str
    name: str
    description: str
    owner: str | None = None
    expected_schema: str
    processed_max_age_days: int
    auto_purge: Flag
    created_at: str
    file_count: int
    total_bytes: int


class ListZonesResponse(Response):
    zones: list[Zone]
    total: int


class LandingFile(Response):
    id: str
    namespace: str
    zone: str
    filename: str
    path: str
    size_bytes: int
    content_type: str | None = None
    uploaded_at: str


class ListLandingFilesResponse(Response):
    files: list[LandingFile]
    total: int


class ListSamplesResponse(Response):
    samples: list[StoredFile]
    total: int


class Lifecycle(Response):
    processed_max_age_days: int
    auto_purge: Flag


class LineageRun(Response):
    id: str
    status: RunStatus
    started_at: str | None = None
    duration_ms: int | None = None


class LineageQuality(Response):
    total: int = Field(description="quality tests of the pipeline")


class LineageNode(Response):
    id: str = Field(description="pipeline:ns.layer.name, table:ns.layer.name or landing:ns.zone")
    type: Literal["pipeline", "table", "landing"]
    namespace: str
    layer: str | None = None
    name: str
    quality: LineageQuality | None = Field(None, description="pipelines only")
    latest_run: LineageRun | None = Field(None, description="pipelines only")


class LineageEdge(Response):
    source: str
    target: str
    type: Literal["produces", "ref", "landing_input"]


class Lineage(Response):
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class ReaperStatus(Response):
    last_run_at: str | None = None
    duration_ms: int | None = None
    stats: dict[str, int]
    errors: dict[str, str]
    interval_minutes: int


class ReaperRun(Response):
    last_run_at: str
    duration_ms: int
    stats: dict[str, int]
    errors: dict[str, str]


class AuditEntry(Response):
    id: str
    user_id: str | None = None
    action: str
    resource: str
    detail: str | None = None
    ip: str | None = None
    created_at: str


class AuditLog(Response):
    entries: list[AuditEntry]
    total: int


class OpenAPIDocument(Response):
    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    components: dict[str, Any]
    security: list[dict[str, Any]]
    paths: dict[str, Any]

