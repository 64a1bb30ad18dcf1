"""Schedules, triggers and the webhook receiver (API-32..38)."""

from __future__ import annotations

import threading
import time
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated

from ..core.errors import Invalid, RateLimited
from .base import RatAPIHandler, endpoint


class _SchedulerHandler(RatAPIHandler):
    @property
    def scheduler(self) -> Any:
        return self.settings["rat_scheduler"]


class SchedulesHandler(_SchedulerHandler):
    summary = {"get": "List cron schedules", "post": "Create a cron schedule (5-field cron, IANA timezone)"}

    @endpoint
    async def get(self) -> None:
        limit, offset = self.page()
        items, total = await self.call(self.scheduler.list_schedules, self.arg("namespace"), limit, offset)
        self.write_json({"schedules": items, "total": total, "limit": limit, "offset": offset})

    @endpoint
    async def post(self) -> None:
        body = self.body({"namespace", "layer", "pipeline", "cron", "timezone", "enabled"},
                         {"namespace", "layer", "pipeline", "cron"})
        self.created(await self.call(self.scheduler.create_schedule, body["namespace"], body["layer"],
                                     body["pipeline"], body["cron"], body.get("timezone") or "UTC",
                                     body.get("enabled", True)))


class ScheduleHandler(_SchedulerHandler):
    summary = {"get": "One schedule", "put": "Update cron, timezone or enabled", "delete": "Delete a schedule"}

    @endpoint
    async def get(self, schedule_id: str) -> None:
        self.write_json(await self.call(self.scheduler.get_schedule, schedule_id))

    @endpoint
    async def put(self, schedule_id: str) -> None:
        body = self.body({"cron", "timezone", "enabled"})
        self.write_json(await self.call(self.scheduler.update_schedule, schedule_id, **body))

    @endpoint
    async def delete(self, schedule_id: str) -> None:
        await self.call(self.scheduler.delete_schedule, schedule_id)
        self.no_content()


class TriggersHandler(_SchedulerHandler):
    summary = {"get": "Triggers of a pipeline",
               "post": "Create a trigger (cron, cron_dependency, pipeline_success, landing_zone_upload, "
                       "file_pattern, webhook — the webhook token is returned once)"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.scheduler.list_triggers, ns, layer, name)
        self.write_json({"triggers": items, "total": len(items)})

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"type", "config", "enabled", "cooldown_seconds"}, {"type"})
        self.created(await self.call(self.scheduler.create_trigger, ns, layer, name, body["type"],
                                     body.get("config") or {}, body.get("enabled", True),
                                     body.get("cooldown_seconds", 0)))


class TriggerHandler(_SchedulerHandler):
    summary = {"get": "One trigger", "put": "Update config (re-validated), enabled, cooldown_seconds",
               "delete": "Delete a trigger"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        from ..core.names import PipelineId

        self.write_json(await self.call(self.scheduler.get_trigger, PipelineId.of(ns, layer, name), trigger_id))

    @endpoint
    async def put(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        body = self.body({"config", "enabled", "cooldown_seconds"})
        self.write_json(await self.call(self.scheduler.update_trigger, ns, layer, name, trigger_id, **body))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        await self.call(self.scheduler.delete_trigger, ns, layer, name, trigger_id)
        self.no_content()


class _Bucket:
    """Token bucket per client address: ``rate`` per minute with a ``burst``."""

    def __init__(self, rate_per_minute: float = 100, burst: int = 20) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1, now)
            if len(self._state) > 10_000:
                self._state.clear()
            return True


WEBHOOK_LIMIT = _Bucket()


class WebhookHandler(_SchedulerHandler):
    """The one route outside Jupyter authentication: it checks its own token (constant-time)."""

    summary = {"post": "Fire a webhook trigger: token in X-Webhook-Token or Authorization: Bearer (no Jupyter "
                       "auth); 404 unknown token, 429 rate limited or cooling down, 201 with the run id"}
    audited = False
    public = True

    def check_xsrf_cookie(self) -> None:
        # A webhook is called by other systems, never by a browser session: it has its own token.
        return None

    @allow_unauthenticated
    async def post(self) -> None:
        if not WEBHOOK_LIMIT.take(self.request.remote_ip or "?"):
            raise RateLimited("too many webhook calls; slow down")
        token = self.request.headers.get("X-Webhook-Token", "")
        auth = self.request.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            raise Invalid("webhook token missing: send X-Webhook-Token or Authorization: Bearer")
        out = await self.call(self.scheduler.webhook, token)
        self.created(out)
