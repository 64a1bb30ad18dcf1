"""Health, readiness, features, metrics, lineage, retention admin and the audit log."""

from __future__ import annotations

import asyncio

from .. import __version__
from ..core import models as m
from .base import Op, RatAPIHandler, endpoint


class HealthHandler(RatAPIHandler):
    ops = {"get": Op("getHealth", "Liveness: always 200 while the server answers", m.Health)}

    @endpoint
    async def get(self) -> None:
        self.reply({"status": "ok", "version": __version__})


class ReadyHandler(RatAPIHandler):
    ops = {"get": Op("getReadiness", "Readiness: state store, storage, catalog and workers; 503 with the failing "
                                     "checks", m.Readiness, also={503: m.Readiness})}

    @endpoint
    async def get(self) -> None:
        checks = await self.call(self.ws.readiness)
        ok = all(v == "ok" for v in checks.values())
        self.reply({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)


class FeaturesHandler(RatAPIHandler):
    ops = {"get": Op("getFeatures", "Which capabilities this server offers (the UIs adapt to it)", m.Features)}

    @endpoint
    async def get(self) -> None:
        ws = self.ws
        self.reply({
            "edition": "community", "version": __version__, "namespaces": True, "multi_user": False,
            "landing_zones": True, "quality_tests": True, "pipeline_versions": True, "query_engine": True,
            "scheduler": bool(self.settings.get("rat_scheduler")),
            "executor": {"type": "local_pool", "concurrency": ws.settings.concurrency},
            "storage": "s3" if ws.settings.resolved_storage_url.startswith("s3://") else "local",
            "catalog": ws.settings.catalog_type,
        })


class InfoHandler(RatAPIHandler):
    ops = {"get": Op("getInfo", "This server and its executor: class, capacity, capabilities, live counts",
                     m.ServerInfo)}

    @endpoint
    async def get(self) -> None:
        executor = await self.call(self.ws.executor_info)
        self.reply({"version": __version__, "server_id": self.ws.settings.resolved_server_id,
                    "executor": executor})


class MetricsHandler(RatAPIHandler):
    ops = {"get": Op("getMetrics", "Prometheus text metrics", media="text/plain")}

    @endpoint
    async def get(self) -> None:
        metrics = await self.call(self.ws.metrics)
        lines = [f'rat_info{{version="{__version__}"}} 1',
                 "# TYPE rat_runs_total gauge"]
        lines += [f'rat_runs_total{{status="{status}"}} {n}' for status, n in sorted(metrics["runs"].items())]
        lines += [f"rat_pipelines {metrics['pipelines']}", f"rat_namespaces {metrics['namespaces']}",
                  f"rat_workers {metrics['workers']}"]
        # APIHandler.finish() would set application/json: pass the Prometheus type through it
        self.finish("\n".join(lines) + "\n", set_content_type="text/plain; version=0.0.4")


class LineageHandler(RatAPIHandler):
    ops = {"get": Op("getLineage", "The DAG: pipeline, table and landing nodes; produces/ref/landing_input edges",
                     m.Lineage, query=m.NamespaceFilter)}

    @endpoint
    async def get(self) -> None:
        args: m.NamespaceFilter = self.args()
        self.reply(await self.call(self.ws.lineage, args.namespace))


class RetentionConfigHandler(RatAPIHandler):
    ops = {"get": Op("getRetentionConfig", "System retention settings", m.RetentionConfig),
           "put": Op("updateRetentionConfig", "Change retention settings (partial)", m.RetentionConfig,
                     body=m.UpdateRetentionConfig)}

    @endpoint
    async def get(self) -> None:
        self.reply(await self.call(self.ws.retention_config))

    @endpoint
    async def put(self) -> None:
        body: m.UpdateRetentionConfig = self.body()
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(await self.call(self.ws.update_retention_config, changes))


class RetentionStatusHandler(RatAPIHandler):
    ops = {"get": Op("getRetentionStatus", "Reaper status and the statistics of its last run", m.ReaperStatus)}

    @endpoint
    async def get(self) -> None:
        self.reply(await self.call(self.ws.reaper_status))


class RetentionRunHandler(RatAPIHandler):
    ops = {"post": Op("runRetention", "Run the reaper now; returns what it pruned", m.ReaperRun, 202)}

    @endpoint
    async def post(self) -> None:
        self.reply(await self.call(self.ws.run_reaper))


class AuditHandler(RatAPIHandler):
    ops = {"get": Op("listAudit", "Audit log of every mutation (newest first)", m.AuditLog, query=m.Page)}

    @endpoint
    async def get(self) -> None:
        args: m.Page = self.args()
        entries, total = await asyncio.wrap_future(
            self.audit_writer.submit(self.ws.audit_log, args.limit, args.offset))
        self.reply({"entries": entries, "total": total})
