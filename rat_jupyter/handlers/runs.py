"""Runs (API-27..31), with logs as JSON or as server-sent events that follow a live run."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tornado.iostream import StreamClosedError

from ..core import models as m
from ..core.errors import RateLimited
from ..core.runs import TERMINAL
from .base import Op, RatAPIHandler, StreamLimiter, endpoint

SSE_POLL_SECONDS = 0.25
SSE_MAX_SECONDS = 30 * 60
SSE_MAX_PER_CLIENT = 10
SSE_MAX_TOTAL = 1000
EVENT_STREAM = ("text/event-stream", "with Accept: text/event-stream: `log` events (data: RunLogEvent, id: seq) "
                                     "until the run ends, then one `status` event (data: RunStatusEvent)")


class RunsHandler(RatAPIHandler):
    ops = {"get": Op("listRuns", "List runs (filters namespace, layer, pipeline, status, started_after/before; "
                                 "sort; pages)", m.ListRunsResponse, query=m.ListRunsQuery),
           "post": Op("createRun", "Start a run of a pipeline (optionally with everything downstream), or of "
                                   "a selection (`select`: `ns.*`, `ns.layer.*`, `x+`, `+x`) in one call; 202",
                      m.CreateRunResponse, 202, body=m.CreateRun)}

    @endpoint
    async def get(self) -> None:
        q: m.ListRunsQuery = self.args()
        runs, total = await self.call(
            self.ws.list_runs, namespace=q.namespace, layer=q.layer, pipeline=q.pipeline, status=q.status,
            batch_id=q.batch_id, started_after=q.started_after, started_before=q.started_before, sort=q.sort,
            limit=q.limit, offset=q.offset)
        self.reply({"runs": runs, "total": total, "limit": q.limit, "offset": q.offset})

    @endpoint
    async def post(self) -> None:
        body: m.CreateRun = self.body()
        user = getattr(self.current_user, "username", None)
        runs = await self.call(self.ws.run_service.create, body, user)
        self.reply({"run_id": runs[0]["id"], "status": runs[0]["status"], "runs": runs})


class RunHandler(RatAPIHandler):
    ops = {"get": Op("getRun", "One run, with its phases and structured quality results", m.DescribeRun)}

    @endpoint
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(self.ws.get_run, run_id))


class RunCancelHandler(RatAPIHandler):
    ops = {"post": Op("cancelRun", "Cancel a pending or running run (409 when it already ended)",
                      m.CancelRunResponse)}

    @endpoint
    async def post(self, run_id: str) -> None:
        run = await self.call(self.ws.cancel_run, run_id)
        self.reply({"run_id": run["id"], "status": run["status"]})


class RunLogsHandler(RatAPIHandler):
    ops = {"get": Op("getRunLogs", "Run logs as JSON, or as text/event-stream that follows a live run to its end",
                     m.RunLogs, query=m.RunLogsQuery, alt=(EVENT_STREAM,))}

    @property
    def limiter(self) -> StreamLimiter:
        return self.settings["rat_sse_limiter"]

    @endpoint
    async def get(self, run_id: str) -> None:
        q: m.RunLogsQuery = self.args()
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            self.reply(await self.call(self.ws.run_logs, run_id, q.after))
            return
        first = await self.call(self.ws.run_logs, run_id, q.after)  # 404 before the stream starts
        client = self.request.remote_ip or "?"
        if not self.limiter.acquire(client):
            raise RateLimited("too many open log streams; close some or read the logs as JSON")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            await self._stream(run_id, q.after, first)
        finally:
            self.limiter.release(client)

    async def _stream(self, run_id: str, after: int, batch: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            while True:
                for line in batch["logs"]:
                    after = line["seq"]
                    self._event("log", m.RunLogEvent.model_validate(line).model_dump(mode="json"), line["seq"])
                await self.flush()
                if batch["status"] in TERMINAL and not batch["logs"]:
                    run = await self.call(self.ws.get_run, run_id)
                    status = {k: run[k] for k in ("status", "error", "rows_written")}
                    self._event("status", m.RunStatusEvent.model_validate(status).model_dump(mode="json"))
                    await self.flush()
                    break
                if time.monotonic() - started > SSE_MAX_SECONDS:
                    self._event("error", {"code": "TIMEOUT"})
                    await self.flush()
                    break
                await asyncio.sleep(SSE_POLL_SECONDS if not batch["logs"] else 0)
                batch = await self.call(self.ws.run_logs, run_id, after)
        except StreamClosedError:
            return
        self.finish()

    def _event(self, name: str, data: dict[str, Any], event_id: int | None = None) -> None:
        prefix = f"id: {event_id}\n" if event_id is not None else ""
        self.write(f"{prefix}event: {name}\ndata: {json.dumps(data, default=str)}\n\n")
