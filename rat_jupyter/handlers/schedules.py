"""Schedules, triggers and the webhook receiver (API-32..38)."""

from __future__ import annotations

import threading
import time
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated

from ..core import models as m
from ..core.errors import Invalid, RateLimited
from .base import Op, RatAPIHandler, endpoint


class _SchedulerHandler(RatAPIHandler):
    @property
    def scheduler(self) -> Any:
        """The core schedules service behind the facade (the server's APScheduler wiring syncs its jobs)."""
        return self.ws.schedules


class SchedulesHandler(_SchedulerHandler):
    ops = {"get": Op("listSchedules", "List cron schedules", m.ListSchedulesResponse, query=m.ListSchedulesQuery),
           "post": Op("createSchedule", "Create a cron schedule (5-field cron, IANA timezone)", m.Schedule, 201,
                      body=m.CreateSchedule)}

    @endpoint
    async def get(self) -> None:
        args: m.ListSchedulesQuery = self.args()
        items, total = await self.call(self.scheduler.list_schedules, args.namespace, args.limit, args.offset)
        self.reply({"schedules": items, "total": total, "limit": args.limit, "offset": args.offset})

    @endpoint
    async def post(self) -> None:
        body: m.CreateSchedule = self.body()
        self.reply(await self.call(self.scheduler.create_schedule, body.namespace, body.layer, body.pipeline,
                                   body.cron, body.timezone or "UTC", body.enabled))


class ScheduleHandler(_SchedulerHandler):
    ops = {"get": Op("getSchedule", "One schedule", m.Schedule),
           "put": Op("updateSchedule", "Update cron, timezone or enabled", m.Schedule, body=m.UpdateSchedule),
           "delete": Op("deleteSchedule", "Delete a schedule", status=204)}

    @endpoint
    async def get(self, schedule_id: str) -> None:
        self.reply(await self.call(self.scheduler.get_schedule, schedule_id))

    @endpoint
    async def put(self, schedule_id: str) -> None:
        body: m.UpdateSchedule = self.body()
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(await self.call(self.scheduler.update_schedule, schedule_id, **changes))

    @endpoint
    async def delete(self, schedule_id: str) -> None:
        await self.call(self.scheduler.delete_schedule, schedule_id)
        self.no_content()


class TriggersHandler(_SchedulerHandler):
    ops = {"get": Op("listTriggers", "Triggers of a pipeline", m.ListTriggersResponse),
           "post": Op("createTrigger", "Create a trigger (cron, cron_dependency, pipeline_success, "
                                       "landing_zone_upload, file_pattern, webhook — the webhook token is returned "
                                       "once)", m.CreatedTrigger, 201, body=m.CreateTrigger)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.scheduler.list_triggers, ns, layer, name)
        self.reply({"triggers": items, "total": len(items)})

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.CreateTrigger = self.body()
        self.reply(await self.call(self.scheduler.create_trigger, ns, layer, name, body.type, body.config,
                                   body.enabled, body.cooldown_seconds))


class TriggerHandler(_SchedulerHandler):
    ops = {"get": Op("getTrigger", "One trigger", m.Trigger),
           "put": Op("updateTrigger", "Update config (re-validated), enabled, cooldown_seconds", m.Trigger,
                     body=m.UpdateTrigger),
           "delete": Op("deleteTrigger", "Delete a trigger", status=204)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        from ..core.names import PipelineId

        self.reply(await self.call(self.scheduler.get_trigger, PipelineId.of(ns, layer, name), trigger_id))

    @endpoint
    async def put(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        body: m.UpdateTrigger = self.body()
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(await self.call(self.scheduler.update_trigger, ns, layer, name, trigger_id, **changes))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str, trigger_id: str) -> None:
        await self.call(self.scheduler.delete_trigger, ns, layer, name, trigger_id)
        self.no_content()


class WebhookLimiter:
    """Token bucket per client address: ``rate`` per minute with a ``burst``. Built by ``RatApp``."""

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



class WebhookHandler(_SchedulerHandler):
    """The one route outside Jupyter authentication: it checks its own token (constant-time)."""

    ops = {"post": Op("fireWebhook", "Fire a webhook trigger: token in X-Webhook-Token or Authorization: Bearer "
                                     "(no Jupyter auth); 404 unknown token, 429 rate limited or cooling down, 201 "
                                     "with the run id", m.WebhookResult, 201)}
    audited = False
    public = True

    def check_xsrf_cookie(self) -> None:
        # A webhook is called by other systems, never by a browser session: it has its own token.
        return None

    @allow_unauthenticated
    async def post(self) -> None:
        if not self.settings["rat_webhook_limiter"].take(self.request.remote_ip or "?"):
            raise RateLimited("too many webhook calls; slow down")
        token = self.request.headers.get("X-Webhook-Token", "")
        auth = self.request.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            raise Invalid("webhook token missing: send X-Webhook-Token or Authorization: Bearer")
        self.reply(await self.call(self.scheduler.webhook, token))
