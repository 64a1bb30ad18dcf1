"""Health, readiness, features, metrics, lineage, retention admin and the audit log."""

from __future__ import annotations

import asyncio

from .. import __version__
from .base import AUDIT_WRITER, RatAPIHandler, endpoint


class HealthHandler(RatAPIHandler):
    summary = {"get": "Liveness: always 200 while the server answers"}

    @endpoint
    async def get(self) -> None:
        self.write_json({"status": "ok", "version": __version__})


class ReadyHandler(RatAPIHandler):
    summary = {"get": "Readiness: state store, storage, catalog and workers; 503 with the failing checks"}

    @endpoint
    async def get(self) -> None:
        checks = await self.call(self.ws.readiness)
        ok = all(v == "ok" for v in checks.values())
        self.write_json({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)


class FeaturesHandler(RatAPIHandler):
    summary = {"get": "Which capabilities this server offers (the UIs adapt to it)"}

    @endpoint
    async def get(self) -> None:
        ws = self.ws
        self.write_json({
            "edition": "community", "version": __version__, "namespaces": True, "multi_user": False,
            "landing_zones": True, "quality_tests": True, "pipeline_versions": True, "query_engine": True,
            "scheduler": bool(self.settings.get("rat_scheduler")),
            "executor": {"type": "local_pool", "concurrency": ws.settings.concurrency},
            "storage": "s3" if ws.settings.resolved_storage_url.startswith("s3://") else "local",
            "catalog": ws.settings.catalog_type,
        })


class MetricsHandler(RatAPIHandler):
    summary = {"get": "Prometheus text metrics"}

    @endpoint
    async def get(self) -> None:
        m = await self.call(self.ws.metrics)
        lines = [f'rat_info{{version="{__version__}"}} 1',
                 "# TYPE rat_runs_total gauge"]
        lines += [f'rat_runs_total{{status="{status}"}} {n}' for status, n in sorted(m["runs"].items())]
        lines += [f"rat_pipelines {m['pipelines']}", f"rat_namespaces {m['namespaces']}",
                  f"rat_workers {m['workers']}"]
        # APIHandler.finish() would set application/json: pass the Prometheus type through it
        self.finish("\n".join(lines) + "\n", set_content_type="text/plain; version=0.0.4")


class LineageHandler(RatAPIHandler):
    summary = {"get": "The DAG: pipeline, table and landing nodes; produces/ref/landing_input edges"}

    @endpoint
    async def get(self) -> None:
        self.write_json(await self.call(self.ws.lineage, self.arg("namespace")))


class RetentionConfigHandler(RatAPIHandler):
    summary = {"get": "System retention settings", "put": "Change retention settings (partial)"}

    @endpoint
    async def get(self) -> None:
        self.write_json(await self.call(self.ws.retention_config))

    @endpoint
    async def put(self) -> None:
        self.write_json(await self.call(self.ws.update_retention_config, self.body()))


class RetentionStatusHandler(RatAPIHandler):
    summary = {"get": "Reaper status and the statistics of its last run"}

    @endpoint
    async def get(self) -> None:
        self.write_json(await self.call(self.ws.reaper_status))


class RetentionRunHandler(RatAPIHandler):
    summary = {"post": "Run the reaper now; returns what it pruned"}

    @endpoint
    async def post(self) -> None:
        self.accepted(await self.call(self.ws.run_reaper))


class AuditHandler(RatAPIHandler):
    summary = {"get": "Audit log of every mutation (newest first)"}

    @endpoint
    async def get(self) -> None:
        limit, offset = self.page()
        entries, total = await asyncio.wrap_future(AUDIT_WRITER.submit(self.ws.audit_log, limit, offset))
        self.write_json({"entries": entries, "total": total})
