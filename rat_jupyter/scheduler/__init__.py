"""Schedules, triggers and the reaper inside the Jupyter server (APScheduler 3.x)."""

from .service import SchedulerService

__all__ = ["SchedulerService"]
