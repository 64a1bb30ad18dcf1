"""REST routes under ``{base_url}rat/api/v1``. The table below is the single source of the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from . import files, landing, namespaces, pipelines, runs, schedules, system, tables

API = "/rat/api/v1"
P = "/pipelines/{ns}/{layer}/{name}"

# (path template, handler). ``{path}`` matches several segments, ``{number}`` digits, others one segment.
ROUTES: list[tuple[str, type]] = [
    ("/health", system.HealthHandler),
    ("/health/ready", system.ReadyHandler),
    ("/features", system.FeaturesHandler),
    ("/info", system.InfoHandler),
    ("/metrics", system.MetricsHandler),
    ("/namespaces", namespaces.NamespacesHandler),
    ("/namespaces/{ns}", namespaces.NamespaceHandler),
    ("/tree", pipelines.TreeHandler),
    ("/pipelines", pipelines.PipelinesHandler),
    (P, pipelines.PipelineHandler),
    (P + "/rename", pipelines.RenameHandler),
    (P + "/publish", pipelines.PublishHandler),
    (P + "/versions", pipelines.VersionsHandler),
    (P + "/versions/{number}", pipelines.VersionHandler),
    (P + "/rollback", pipelines.RollbackHandler),
    (P + "/preview", pipelines.PreviewHandler),
    (P + "/validate", pipelines.ValidateHandler),
    (P + "/metadata", pipelines.MetadataHandler),
    (P + "/metadata/quality", pipelines.QualityMetadataHandler),
    (P + "/notebook", pipelines.NotebookHandler),
    (P + "/retention", pipelines.PipelineRetentionHandler),
    (P + "/tests", pipelines.TestsHandler),
    (P + "/tests/run", pipelines.TestsRunHandler),
    (P + "/tests/{test}", pipelines.TestHandler),
    # RAT's SDK calls the tests under /tests/...: serve both
    ("/tests/{ns}/{layer}/{name}", pipelines.TestsHandler),
    ("/tests/{ns}/{layer}/{name}/run", pipelines.TestsRunHandler),
    ("/tests/{ns}/{layer}/{name}/{test}", pipelines.TestHandler),
    (P + "/triggers", schedules.TriggersHandler),
    (P + "/triggers/{trigger_id}", schedules.TriggerHandler),
    ("/schedules", schedules.SchedulesHandler),
    ("/schedules/{schedule_id}", schedules.ScheduleHandler),
    ("/webhooks", schedules.WebhookHandler),
    ("/runs", runs.RunsHandler),
    ("/runs/{run_id}", runs.RunHandler),
    ("/runs/{run_id}/cancel", runs.RunCancelHandler),
    ("/runs/{run_id}/logs", runs.RunLogsHandler),
    ("/files", files.FilesHandler),
    ("/files/upload", files.UploadHandler),
    ("/files/{path}", files.FileHandler),
    ("/query", tables.QueryHandler),
    ("/schema", tables.SchemaHandler),
    ("/tables", tables.TablesHandler),
    ("/tables/{ns}/{layer}/{name}", tables.TableHandler),
    ("/tables/{ns}/{layer}/{name}/preview", tables.TablePreviewHandler),
    ("/tables/{ns}/{layer}/{name}/metadata", tables.TableMetadataHandler),
    ("/tables/{ns}/{layer}/{name}/history", tables.TableHistoryHandler),
    ("/landing-zones", landing.ZonesHandler),
    ("/landing-zones/{ns}/{zone}", landing.ZoneHandler),
    ("/landing-zones/{ns}/{zone}/files", landing.ZoneFilesHandler),
    ("/landing-zones/{ns}/{zone}/files/{file_id}", landing.ZoneFileHandler),
    ("/landing-zones/{ns}/{zone}/samples", landing.SamplesHandler),
    ("/landing-zones/{ns}/{zone}/samples/{filename}", landing.SampleHandler),
    ("/landing-zones/{ns}/{zone}/lifecycle", landing.LifecycleHandler),
    ("/lineage", system.LineageHandler),
    ("/admin/retention/config", system.RetentionConfigHandler),
    ("/admin/retention/status", system.RetentionStatusHandler),
    ("/admin/retention/run", system.RetentionRunHandler),
    ("/audit", system.AuditHandler),
]


def to_regex(template: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "path":
            return r"(?P<path>.+)"
        if name == "number":
            return r"(?P<number>\d+)"
        return rf"(?P<{name}>[^/]+)"

    return re.sub(r"\{(\w+)\}", repl, template) + "/?"


def build_services(app: Any) -> dict[str, Any]:
    """What the handlers share, built once per server by ``RatApp.initialize_settings`` (no module-level
    singletons): the audit writer, the log-stream and webhook limiters. Also gives token requests a stable
    user (see ``identity``)."""
    from . import identity
    from .base import AuditWriter, StreamLimiter

    serverapp = getattr(app, "serverapp", None)
    if serverapp is not None:
        identity.install(serverapp)
    return {"rat_audit_writer": AuditWriter(),
            "rat_sse_limiter": StreamLimiter(runs.SSE_MAX_PER_CLIENT, runs.SSE_MAX_TOTAL),
            "rat_webhook_limiter": schedules.WebhookLimiter()}


def stop_services(settings: dict[str, Any]) -> None:
    """Flush and stop what ``build_services`` started (blocking: called off the event loop)."""
    writer = settings.get("rat_audit_writer")
    if writer is not None:
        writer.close()


def routes(app: Any) -> list[tuple[str, Any]]:
    from .base import NotFoundHandler
    from .openapi import OpenAPIHandler

    table = [(API + to_regex(t), h) for t, h in ROUTES]
    table.append((API + "/openapi.json", OpenAPIHandler))
    table.append((API + "(?:/.*)?", NotFoundHandler))  # last: any other path under the API is a JSON 404
    from .portal import portal_routes

    table.extend(portal_routes())  # the portal's page and assets: after the API, never matching rat/api/...
    return table
