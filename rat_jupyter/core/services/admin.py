"""Administration: retention settings (system-wide and per pipeline) and the reaper that applies them, the
audit log, metrics, readiness probes and what executes tasks here (for ``/info``; never worker pids).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Invalid
from ..names import PipelineId
from .base import Service

PIPELINE_OVERRIDES = ("runs_max_per_pipeline", "runs_max_age_days", "logs_max_age_days",
                      "quality_results_max_per_test")


class AdminService(Service):
    # -- retention and the reaper -------------------------------------------------------------------
    def retention_config(self) -> dict[str, Any]:
        from ..retention import RetentionConfig

        return RetentionConfig.load(self.state).to_dict()

    def update_retention_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` (validated by ``RetentionConfig``, which names an unknown or bad setting)."""
        from ..retention import RetentionConfig

        config = RetentionConfig.load(self.state).merge(changes)
        config.save(self.state)
        return config.to_dict()

    def pipeline_retention(self, pid: PipelineId, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """System retention, this pipeline's overrides, and the effective values (API-22)."""
        from ..retention import RetentionConfig

        row = self.state.get_pipeline(*pid.table_identifier)
        system = RetentionConfig.load(self.state)
        overrides = json.loads(row["retention_config"]) if row.get("retention_config") else None
        if changes is not None:
            unknown = set(changes) - set(PIPELINE_OVERRIDES)
            if unknown:
                raise Invalid(f"per-pipeline overrides support only {', '.join(sorted(PIPELINE_OVERRIDES))}")
            system.merge(changes)  # validates the values
            overrides = {**(overrides or {}), **changes}
            self.state.update_pipeline(row["id"], retention_config=json.dumps(overrides))
        effective = system.merge(overrides or {}).to_dict()
        return {"system": system.to_dict(), "overrides": overrides, "effective": effective}

    def reaper_status(self) -> dict[str, Any]:
        from ..reaper import STATUS_KEY

        status = self.state.get_setting(STATUS_KEY) or {"last_run_at": None, "stats": {}, "errors": {}}
        status["interval_minutes"] = self.retention_config()["reaper_interval_minutes"]
        return status

    def run_reaper(self, clock: Any = None) -> dict[str, Any]:
        from ..reaper import Reaper

        return Reaper(self.ws, clock).run()

    # -- audit, metrics, health ---------------------------------------------------------------------
    def audit_log(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return self.state.list_audit(limit, offset)

    def metrics(self) -> dict[str, Any]:
        executor = self.ws.executor_if_started
        return {"runs": self.state.run_counts(),
                "pipelines": self.state.list_pipelines()[1],
                "namespaces": len(self.state.list_namespaces()),
                "workers": executor.stats().get("workers", 0) if executor else 0}

    def executor_info(self) -> dict[str, Any]:
        """What executes tasks here, for ``/info``: class, capacity, capabilities and live counts — never pids."""
        executor = self.ws.executor
        caps = executor.capabilities
        return {"class": f"{type(executor).__module__}:{type(executor).__qualname__}", "capacity": executor.capacity,
                "capabilities": {"live_logs": caps.live_logs, "cooperative_cancel": caps.cooperative_cancel,
                                 "timeout": caps.timeout},
                "executes_runs": self.ws.server, **executor.stats()}

    def readiness(self) -> dict[str, str]:
        """Each part's probe: ``ok`` or the first line of its error."""
        checks: dict[str, str] = {}
        for name, probe in (("state", self.state.ping),
                            ("storage", lambda: self.storage.list("__ready__/")),
                            ("catalog", lambda: self.ws.catalog.iceberg.list_namespaces()),
                            ("workers", self._check_workers)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports every failure
                checks[name] = f"error: {str(exc).splitlines()[0][:200]}"
        return checks

    def _check_workers(self) -> None:
        if self.ws.server and self.ws.executor.stats().get("workers", 1) == 0:  # executors without workers omit it
            raise RuntimeError("no worker process is running")
