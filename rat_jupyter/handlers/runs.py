"""Runs (API-27..31), with logs as JSON or as server-sent events that follow a live run."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tornado.iostream import StreamClosedError

from ..core.errors import Invalid, RateLimited
from ..core.runs import TERMINAL
from .base import RatAPIHandler, endpoint

SSE_POLL_SECONDS = 0.25
SSE_MAX_SECONDS = 30 * 60
SSE_MAX_PER_CLIENT = 10
SSE_MAX_TOTAL = 1000
_streams: dict[str, int] = {}  # open log streams per client address (the event loop is single-threaded)


class RunsHandler(RatAPIHandler):
    summary = {"get": "List runs (filters namespace, layer, pipeline, status, started_after/before; sort; pages)",
               "post": "Start a run of a pipeline (optionally with everything downstream); 202"}

    @endpoint
    async def get(self) -> None:
        limit, offset = self.page()
        status = self.arg("status")
        if status and status not in ("pending", "running", *TERMINAL):
            raise Invalid(f"unknown status '{status}'")
        runs, total = await self.call(
            self.ws.list_runs, namespace=self.arg("namespace"), layer=self.arg("layer"),
            pipeline=self.arg("pipeline"), status=status, batch_id=self.arg("batch_id"),
            started_after=self.arg("started_after"), started_before=self.arg("started_before"),
            sort=self.arg("sort"), limit=limit, offset=offset)
        self.write_json({"runs": runs, "total": total, "limit": limit, "offset": offset})

    @endpoint
    async def post(self) -> None:
        body = self.body({"namespace", "layer", "pipeline", "trigger", "version", "downstream"},
                         {"namespace", "layer", "pipeline"})
        trigger = body.get("trigger") or "manual"
        if not isinstance(trigger, str) or len(trigger) > 100:
            raise Invalid("trigger must be text of at most 100 characters")
        downstream = body.get("downstream", False)
        if not isinstance(downstream, bool):
            raise Invalid("downstream must be true or false")
        runs = await self.call(self.ws.create_run, body["namespace"], body["layer"], body["pipeline"],
                               trigger=trigger, version=body.get("version") or "published", downstream=downstream)
        self.accepted({"run_id": runs[0]["id"], "status": runs[0]["status"], "runs": runs})


class RunHandler(RatAPIHandler):
    summary = {"get": "One run, with its phases and structured quality results"}

    @endpoint
    async def get(self, run_id: str) -> None:
        self.write_json(await self.call(self.ws.get_run, run_id))


class RunCancelHandler(RatAPIHandler):
    summary = {"post": "Cancel a pending or running run (409 when it already ended)"}

    @endpoint
    async def post(self, run_id: str) -> None:
        run = await self.call(self.ws.cancel_run, run_id)
        self.write_json({"run_id": run["id"], "status": run["status"]})


class RunLogsHandler(RatAPIHandler):
    summary = {"get": "Run logs as JSON, or as text/event-stream that follows a live run to its end"}

    @endpoint
    async def get(self, run_id: str) -> None:
        after = self.arg_int("after", 0, 0)
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            self.write_json(await self.call(self.ws.run_logs, run_id, after))
            return
        first = await self.call(self.ws.run_logs, run_id, after)  # 404 before the stream starts
        client = self.request.remote_ip or "?"
        if _streams.get(client, 0) >= SSE_MAX_PER_CLIENT or sum(_streams.values()) >= SSE_MAX_TOTAL:
            raise RateLimited("too many open log streams; close some or read the logs as JSON")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        _streams[client] = _streams.get(client, 0) + 1
        try:
            await self._stream(run_id, after, first)
        finally:
            _streams[client] -= 1
            if not _streams[client]:
                del _streams[client]

    async def _stream(self, run_id: str, after: int, batch: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            while True:
                for line in batch["logs"]:
                    after = line["seq"]
                    self._event("log", line, line["seq"])
                await self.flush()
                if batch["status"] in TERMINAL and not batch["logs"]:
                    run = await self.call(self.ws.get_run, run_id)
                    self._event("status", {"status": run["status"], "error": run["error"],
                                           "rows_written": run["rows_written"]})
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
