"""The APScheduler wiring of the schedules service: *when* to fire, never *what* firing means.

The domain — schedule and trigger CRUD, validation, firing by compare-and-set, webhooks, cooldowns, the
pending-trigger retry — is ``rat_jupyter.core.schedules.Schedules``, reached as ``Workspace.schedules``. This
module adds what only a long-running Jupyter server needs: a check every ``DUE_SECONDS`` for the schedule and
cron-trigger slots that have come (``fire_due``: two indexed queries; it finds a schedule whoever wrote it —
this server or a notebook's kernel on the same state store — so no job per schedule is kept in step with the
rows), a sweep every ``SWEEP_SECONDS`` that calls ``tick()`` (pending-trigger retries and the reaper), and the
leader lock (on PostgreSQL only one of the servers sharing a state store schedules; the others take over
when it goes away). A slot therefore fires at most ``DUE_SECONDS`` after its time.

``SchedulerService`` still answers the service's methods (``create_schedule``, ``tick``, ``webhook``, …) by
delegation, so existing callers keep working; new code calls ``ws.schedules`` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..core.schedules import TRIGGER_TYPES, Schedules, iso, token_hash
from .cron import next_fire, parse_cron

__all__ = ["DUE_SECONDS", "SWEEP_SECONDS", "TRIGGER_TYPES", "SchedulerService", "iso", "next_fire", "parse_cron",
           "token_hash"]

log = logging.getLogger("rat.scheduler")

SWEEP_SECONDS = 30
DUE_SECONDS = 2


class SchedulerService:
    """APScheduler jobs and the leader lock around the workspace's :class:`Schedules`."""

    def __init__(self, ws: Any, clock: Callable[[], datetime] | None = None) -> None:
        self.ws = ws
        self.service: Schedules = ws.schedules
        if clock is not None:
            self.service.clock = clock
        self.service.listen(ws)
        self._aps: Any = None
        self.leader = False

    def __getattr__(self, name: str) -> Any:
        # the domain methods (create_schedule, tick, webhook, on_run_finished, …) belong to the core service
        if name in ("service", "ws"):
            raise AttributeError(name)
        return getattr(self.service, name)

    def start(self) -> None:
        """Start APScheduler on the running asyncio loop; jobs are rebuilt from the state store."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_job(self._sweep, "interval", seconds=SWEEP_SECONDS, id="sweep", coalesce=True,
                          max_instances=1, next_run_time=datetime.now(UTC))
        self._aps.add_job(self._due, "interval", seconds=DUE_SECONDS, id="due", coalesce=True, max_instances=1)
        self._aps.start()

    def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self.leader:
            self.ws.state.release_leader("scheduler")
            self.leader = False

    async def _lead(self) -> bool:
        """Leader or not, asked of the store at every check: a follower tries to take the lead (a lock
        attempt), so when the leader's server dies a survivor takes over within ``DUE_SECONDS``; a leader
        whose session with the store ended (and so lost the lock) stops scheduling instead of leading next
        to the server that took over."""
        self.leader = await asyncio.to_thread(self.ws.state.acquire_leader, "scheduler")
        return self.leader

    async def _sweep(self) -> None:
        if await self._lead():
            await asyncio.to_thread(self._safe_tick)

    async def _due(self) -> None:
        if await self._lead():
            await asyncio.to_thread(self._safe_fire_due)

    def _safe_fire_due(self) -> None:
        try:
            self.service.fire_due()
        except Exception:
            log.exception("firing due schedules failed")

    def _safe_tick(self) -> None:
        try:
            self.service.tick()
        except Exception:
            log.exception("scheduler tick failed")
