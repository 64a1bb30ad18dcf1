"""Schedules and triggers as a core service: validation, firing policy, webhooks, cooldowns, retries.

The state store is the source of truth. ``tick(now)`` does all time-based work for a given instant, so tests
drive it with an injected clock; whatever decides *when* to call it (APScheduler in a Jupyter server, see
``rat_jupyter.scheduler``) stays outside the core. Firing is a compare-and-set on ``next_run_at`` in the state
store, so a slot fires exactly once even if two jobs (or two servers) race for it.

Policies:
- catch-up once: slots missed while the server was down collapse into one run at start;
- no overlap: a pipeline with a pending or running run is not started again — a schedule skips that
  slot (recorded as ``last_skipped_at``), an event trigger stays *pending* and is retried by the sweep;
- cooldowns for triggers; IANA time zones (default UTC).

Cron arithmetic is injected (``next_fire``): the crontab(5) implementation sits on APScheduler, which the core
does not import. Every dependency of the service is passed in, so it has no framework import.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import Busy, Invalid, NotFound, RateLimited, RatError
from .ids import new_id
from .names import PipelineId, validate_name, validate_namespace

if TYPE_CHECKING:
    from ..stores.protocols import SchedulingStore

log = logging.getLogger("rat.scheduler")

TRIGGER_TYPES = ("cron", "cron_dependency", "pipeline_success", "landing_zone_upload", "file_pattern", "webhook")
CRON_TRIGGER_TYPES = ("cron", "cron_dependency")

NextFire = Callable[[str, str, datetime], datetime]
"""``next_fire(cron_expr, timezone, after)``: the first fire time strictly after ``after``; raises
:class:`Invalid` for a bad expression or zone (so it is also the validator)."""
StartRun = Callable[[str, str], str]
"""``start_run(selector, trigger_label)``: submit a run of the published version, return its id; raises
:class:`Busy` while the pipeline has a pending or running run."""


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _default_next_fire(expr: str, timezone: str, after: datetime) -> datetime:
    """The crontab(5) adapter of the scheduler package, loaded on first use (so importing the core never
    imports APScheduler; a process that never validates a cron expression never loads it)."""
    from ..scheduler.cron import next_fire

    return next_fire(expr, timezone, after)


class Schedules:
    """Schedule and trigger CRUD, firing and webhooks over a state store (``SchedulingStore``)."""

    def __init__(self, state: SchedulingStore, start_run: StartRun, *, next_fire: NextFire | None = None,
                 clock: Callable[[], datetime] | None = None,
                 reaper: tuple[Callable[[], int], Callable[[datetime], Any]] | None = None) -> None:
        self.state = state
        self.start_run = start_run
        self.next_fire = next_fire or _default_next_fire
        self.clock = clock or (lambda: datetime.now(UTC))
        # (interval in minutes, run it at this instant): the reaper rides on the scheduler's tick
        self.reaper = reaper
        self._lock = threading.RLock()

    @classmethod
    def for_workspace(cls, ws: Any, *, next_fire: NextFire | None = None,
                      clock: Callable[[], datetime] | None = None) -> Schedules:
        """The service wired to a ``Workspace``: its state store, run submission and reaper."""

        def start_run(selector: str, label: str) -> str:
            (run,) = ws.run_selection(selector, trigger=label, version="published")
            return str(run.id)

        return cls(ws.state, start_run, next_fire=next_fire, clock=clock,
                   reaper=(lambda: int(ws.retention_config()["reaper_interval_minutes"]),
                           lambda now: ws.run_reaper(lambda: now)))

    def listen(self, ws: Any) -> None:
        """Fire event triggers for the runs this server executes and the files uploaded through it."""
        if self.on_run_finished not in ws.runs._listeners:
            ws.runs.add_listener(self.on_run_finished)
        if self.on_upload not in ws._upload_listeners:
            ws.add_upload_listener(self.on_upload)

    def _next(self, expr: object, timezone: object, after: datetime) -> datetime:
        if not isinstance(expr, str) or not expr.strip():
            raise Invalid("cron expression is required")
        if not isinstance(timezone, str) or not timezone:
            raise Invalid("timezone must be an IANA name such as 'UTC' or 'Europe/Paris'")
        return self.next_fire(expr, timezone, after)

    # -- schedules --------------------------------------------------------------------------------
    def _pipeline(self, namespace: object, layer: object, name: object) -> PipelineId:
        pid = PipelineId.of(str(namespace or ""), str(layer or ""), str(name or ""))
        self.state.get_pipeline(*pid.table_identifier)
        return pid

    def _referenced(self, namespace: object, layer: object, name: object) -> PipelineId:
        """A pipeline named in a request body: a missing one is a bad request (400), not a missing route."""
        try:
            return self._pipeline(namespace, layer, name)
        except NotFound as exc:
            raise Invalid(exc.message) from None

    def create_schedule(self, namespace: str, layer: str, pipeline: str, cron: str, timezone: str = "UTC",
                        enabled: bool = True) -> dict[str, Any]:
        pid = self._referenced(namespace, layer, pipeline)
        if not isinstance(enabled, bool):
            raise Invalid("enabled must be true or false")
        now = self.clock()
        row = {"id": new_id(), "namespace": pid.namespace, "layer": pid.layer, "pipeline": pid.name,
               "cron": cron.strip() if isinstance(cron, str) else cron, "timezone": timezone or "UTC",
               "enabled": int(enabled), "next_run_at": iso(self._next(cron, timezone or "UTC", now)),
               "created_at": iso(now), "updated_at": iso(now)}
        self.state.insert_row("schedules", row)
        return self.get_schedule(row["id"])

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        row = self.state.get_row("schedules", _id(schedule_id), "schedule")
        row["enabled"] = bool(row["enabled"])
        return row

    def list_schedules(self, namespace: str | None = None, limit: int = 50, offset: int = 0
                       ) -> tuple[list[dict[str, Any]], int]:
        rows, total = self.state.list_schedule_rows(validate_namespace(namespace) if namespace else None,
                                                    limit, offset)
        for r in rows:
            r["enabled"] = bool(r["enabled"])
        return rows, total

    def update_schedule(self, schedule_id: str, **changes: Any) -> dict[str, Any]:
        row = self.get_schedule(schedule_id)
        unknown = set(changes) - {"cron", "timezone", "enabled"}
        if unknown:
            raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        cron = changes.get("cron", row["cron"])
        timezone = changes.get("timezone", row["timezone"])
        enabled = changes.get("enabled", row["enabled"])
        if not isinstance(enabled, bool):
            raise Invalid("enabled must be true or false")
        now = self.clock()
        self.state.update_row("schedules", row["id"], cron=cron, timezone=timezone, enabled=int(enabled),
                              next_run_at=iso(self._next(cron, timezone, now)), updated_at=iso(now))
        return self.get_schedule(row["id"])

    def delete_schedule(self, schedule_id: str) -> None:
        self.state.delete_row("schedules", _id(schedule_id), "schedule")

    # -- triggers ---------------------------------------------------------------------------------
    def _validate_trigger(self, pid: PipelineId, type_: str, config: Any) -> dict[str, Any]:
        if type_ not in TRIGGER_TYPES:
            raise Invalid(f"unknown trigger type '{type_}': use one of {', '.join(TRIGGER_TYPES)}")
        if not isinstance(config, dict):
            raise Invalid("config must be an object")
        if type_ in CRON_TRIGGER_TYPES:
            tz = config.get("timezone", "UTC")
            self._next(config.get("cron_expr"), tz, self.clock())
            out: dict[str, Any] = {"cron_expr": config["cron_expr"].strip(), "timezone": tz}
            if type_ == "cron_dependency":
                deps = config.get("dependencies")
                if not isinstance(deps, list) or not deps:
                    raise Invalid("cron_dependency needs a non-empty 'dependencies' list of ns.layer.pipeline")
                resolved = []
                for dep in deps:
                    if not isinstance(dep, str) or dep.count(".") != 2:
                        raise Invalid(f"dependency '{dep}' must be ns.layer.pipeline")
                    resolved.append(str(self._referenced(*dep.split("."))))
                out["dependencies"] = resolved
            return out
        if type_ == "pipeline_success":
            up = self._referenced(config.get("namespace"), config.get("layer"), config.get("pipeline"))
            if up == pid:
                raise Invalid("a pipeline cannot trigger itself")
            return {"namespace": up.namespace, "layer": up.layer, "pipeline": up.name}
        if type_ in ("landing_zone_upload", "file_pattern"):
            ns = validate_namespace(config.get("namespace"))
            zone = validate_name(config.get("zone_name"), "zone_name")
            try:
                self.state.get_zone(ns, zone)
            except NotFound as exc:
                raise Invalid(exc.message) from None
            out = {"namespace": ns, "zone_name": zone}
            if type_ == "file_pattern":
                pattern = config.get("pattern")
                if not isinstance(pattern, str) or not pattern or "/" in pattern or len(pattern) > 200:
                    raise Invalid("file_pattern needs a 'pattern' glob on the file name, e.g. '*.csv'")
                out["pattern"] = pattern
            return out
        if config:
            raise Invalid("a webhook trigger takes no config")
        return {}

    def create_trigger(self, namespace: str, layer: str, name: str, type: str, config: Any = None,
                       enabled: bool = True, cooldown_seconds: int = 0) -> dict[str, Any]:
        pid = self._pipeline(namespace, layer, name)
        clean = self._validate_trigger(pid, type, config if config is not None else {})
        _check_trigger_fields(enabled, cooldown_seconds)
        now = self.clock()
        token = secrets.token_hex(32) if type == "webhook" else None
        row = {"id": new_id(), "namespace": pid.namespace, "layer": pid.layer, "pipeline": pid.name, "type": type,
               "config": json.dumps(clean), "enabled": int(enabled), "cooldown_seconds": cooldown_seconds,
               "token_hash": token_hash(token) if token else None, "created_at": iso(now), "updated_at": iso(now),
               "next_run_at": iso(self._next(clean["cron_expr"], clean["timezone"], now)) if "cron_expr" in clean
               else None}
        self.state.insert_row("triggers", row)
        out = self.get_trigger(pid, row["id"])
        if token:
            out["webhook_token"] = token  # shown once; only its hash is stored
        return out

    def get_trigger(self, pid: PipelineId, trigger_id: str) -> dict[str, Any]:
        row = self.state.get_row("triggers", _id(trigger_id), "trigger")
        if (row["namespace"], row["layer"], row["pipeline"]) != pid.table_identifier:
            raise NotFound(f"trigger '{trigger_id}' not found")
        return _public_trigger(row)

    def list_triggers(self, namespace: str, layer: str, name: str) -> list[dict[str, Any]]:
        pid = self._pipeline(namespace, layer, name)
        rows = self.state.list_trigger_rows(*pid.table_identifier)
        return [_public_trigger(r) for r in rows]

    def update_trigger(self, namespace: str, layer: str, name: str, trigger_id: str, **changes: Any
                       ) -> dict[str, Any]:
        pid = self._pipeline(namespace, layer, name)
        row = self.state.get_row("triggers", _id(trigger_id), "trigger")
        if (row["namespace"], row["layer"], row["pipeline"]) != pid.table_identifier:
            raise NotFound(f"trigger '{trigger_id}' not found")
        unknown = set(changes) - {"config", "enabled", "cooldown_seconds"}
        if unknown:
            raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        config = json.loads(row["config"])
        if "config" in changes:  # re-validated (RAT did not)
            config = self._validate_trigger(pid, row["type"], changes["config"])
        enabled = changes.get("enabled", bool(row["enabled"]))
        cooldown = changes.get("cooldown_seconds", row["cooldown_seconds"])
        _check_trigger_fields(enabled, cooldown)
        now = self.clock()
        fields: dict[str, Any] = {"config": json.dumps(config), "enabled": int(enabled),
                                  "cooldown_seconds": cooldown, "updated_at": iso(now)}
        if "cron_expr" in config:
            fields["next_run_at"] = iso(self._next(config["cron_expr"], config["timezone"], now))
        self.state.update_row("triggers", row["id"], **fields)
        return self.get_trigger(pid, row["id"])

    def delete_trigger(self, namespace: str, layer: str, name: str, trigger_id: str) -> None:
        pid = self._pipeline(namespace, layer, name)
        self.get_trigger(pid, trigger_id)
        self.state.delete_row("triggers", trigger_id, "trigger")

    # -- firing -----------------------------------------------------------------------------------
    def _start_run(self, row: dict[str, Any], label: str) -> str:
        return self.start_run(f"{row['namespace']}.{row['layer']}.{row['pipeline']}", label)

    def fire_schedule(self, schedule_id: str, now: datetime | None = None) -> str | None:
        """Fire one schedule if it is due; exactly once per slot (compare-and-set on next_run_at)."""
        now = now or self.clock()
        with self._lock:
            row = self.state.get_schedule_row(schedule_id)
            if row is None or not row["enabled"] or not row["next_run_at"] or row["next_run_at"] > iso(now):
                return None
            following = iso(self._next(row["cron"], row["timezone"], now))
            if not self.state.update_row("schedules", row["id"], expect={"next_run_at": row["next_run_at"]},
                                            next_run_at=following, last_fired_at=iso(now)):
                return None  # someone else fired this slot
            try:
                run_id = self._start_run(row, f"schedule:{row['cron']}")
            except Busy:
                self.state.update_row("schedules", row["id"], last_skipped_at=iso(now))
                log.info("schedule %s skipped: the pipeline is still running", row["id"])
                return None
            except RatError as exc:
                self.state.update_row("schedules", row["id"], last_skipped_at=iso(now))
                log.warning("schedule %s could not start a run: %s", row["id"], exc.message)
                return None
            self.state.update_row("schedules", row["id"], last_run_id=run_id)
            return run_id

    def _fire_trigger(self, row: dict[str, Any], label: str, now: datetime, *, event: bool) -> str | None:
        """Start a run for a trigger. Busy: an event trigger stays pending and is retried by the sweep."""
        if not row["enabled"]:
            return None
        if row["last_triggered_at"] and row["cooldown_seconds"] and \
                datetime.fromisoformat(row["last_triggered_at"]) + timedelta(seconds=row["cooldown_seconds"]) > now:
            raise RateLimited(f"trigger {row['id']} is cooling down ({row['cooldown_seconds']} s)")
        try:
            run_id = self._start_run(row, label)
        except Busy:
            if event:
                self.state.update_row("triggers", row["id"], pending_since=row["pending_since"] or iso(now))
            return None
        self.state.update_row("triggers", row["id"], last_triggered_at=iso(now), last_run_id=run_id,
                                 pending_since=None)
        return run_id

    def on_run_finished(self, run: dict[str, Any]) -> None:
        if run["status"] != "success":
            return
        now = self.clock()
        config = json.dumps({"namespace": run["namespace"], "layer": run["layer"], "pipeline": run["name"]})
        for row in self.state.triggers_of_type("pipeline_success", config=config):
            label = f"trigger:pipeline_success:{run['namespace']}/{run['layer']}/{run['name']}"
            self._safe_fire(row, label, now)

    def on_upload(self, namespace: str, zone: str, filename: str) -> None:
        now = self.clock()
        for row in self.state.triggers_of_type("landing_zone_upload", "file_pattern"):
            config = json.loads(row["config"])
            if (config["namespace"], config["zone_name"]) != (namespace, zone):
                continue
            if row["type"] == "file_pattern":
                if not fnmatch.fnmatchcase(filename, config["pattern"]):
                    continue
                label = f"trigger:file_pattern:{namespace}/{zone}:{config['pattern']}"
            else:
                label = f"trigger:landing_zone_upload:{namespace}/{zone}"
            self._safe_fire(row, label, now)

    def _safe_fire(self, row: dict[str, Any], label: str, now: datetime) -> None:
        try:
            self._fire_trigger(row, label, now, event=True)
        except RatError as exc:
            log.info("trigger %s not fired: %s", row["id"], exc.message)

    def webhook(self, token: str, now: datetime | None = None) -> dict[str, Any]:
        """Fire the webhook trigger whose token this is: 404 unknown, 429 cooling down."""
        now = now or self.clock()
        if not isinstance(token, str) or not token or len(token) > 256:
            raise NotFound("unknown webhook")
        digest = token_hash(token)
        row = self.state.webhook_trigger(digest)
        if row is None or not hmac.compare_digest(row["token_hash"], digest) or not row["enabled"]:
            raise NotFound("unknown webhook")
        run_id = self._fire_trigger(row, f"trigger:webhook:{digest[:8]}", now, event=True)
        if run_id is None:
            return {"run_id": None, "status": "pending",
                    "message": "the pipeline is busy; the run will start when it is free"}
        return {"run_id": run_id, "status": "pending"}

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """All time-based work due at ``now``: schedules, cron triggers, pending retries, the reaper."""
        now = now or self.clock()
        stats = {**self.fire_due(now), "retried": 0, "reaper": 0}
        for row in self.state.pending_triggers():
            label = f"trigger:{row['type']}:retry"
            try:
                if self._fire_trigger(row, label, now, event=True):
                    stats["retried"] += 1
            except RatError:
                continue
        if self.reaper is not None and self._reaper_due(now, self.reaper[0]()):
            self.reaper[1](now)
            stats["reaper"] = 1
        return stats

    def fire_due(self, now: datetime | None = None) -> dict[str, int]:
        """Fire every schedule and cron trigger whose slot has come: two indexed queries, cheap enough for a
        server to ask every few seconds, so a schedule made by another process (a notebook's kernel writing the
        shared state store) fires on time without the server having been told about it."""
        now = now or self.clock()
        stats = {"schedules": 0, "cron_triggers": 0}
        for schedule_id in self.state.due_schedule_ids(iso(now)):
            if self.fire_schedule(schedule_id, now):
                stats["schedules"] += 1
        for trigger_id in self.state.due_cron_trigger_ids(iso(now)):
            if self.fire_cron_trigger(trigger_id, now):
                stats["cron_triggers"] += 1
        return stats

    def fire_cron_trigger(self, trigger_id: str, now: datetime | None = None) -> str | None:
        now = now or self.clock()
        with self._lock:
            row = self.state.get_trigger_row(trigger_id)
            if row is None or not row["enabled"] or not row["next_run_at"] or row["next_run_at"] > iso(now):
                return None
            config = json.loads(row["config"])
            following = iso(self._next(config["cron_expr"], config["timezone"], now))
            if not self.state.update_row("triggers", row["id"], expect={"next_run_at": row["next_run_at"]},
                                            next_run_at=following):
                return None
            if row["type"] == "cron_dependency" and not self._dependencies_updated(row, config):
                return None
            try:
                return self._fire_trigger(row, f"trigger:{row['type']}:{config['cron_expr']}", now, event=False)
            except RatError as exc:
                log.info("cron trigger %s not fired: %s", row["id"], exc.message)
                return None

    def _dependencies_updated(self, row: dict[str, Any], config: dict[str, Any]) -> bool:
        """At least one dependency succeeded since this trigger last fired (or ever, the first time)."""
        since = row["last_triggered_at"] or ""
        for dep in config["dependencies"]:
            ns, layer, name = dep.split(".")
            if self.state.succeeded_since(ns, layer, name, since):
                return True
        return False

    def _reaper_due(self, now: datetime, interval: int) -> bool:
        status = self.state.get_setting("reaper_status") or {}
        last = status.get("last_run_at")
        return last is None or datetime.fromisoformat(last) + timedelta(minutes=interval) <= now


def _check_trigger_fields(enabled: object, cooldown: object) -> None:
    if not isinstance(enabled, bool):
        raise Invalid("enabled must be true or false")
    if not isinstance(cooldown, int) or isinstance(cooldown, bool) or not 0 <= cooldown <= 86_400 * 30:
        raise Invalid("cooldown_seconds must be an integer between 0 and 2592000")


def _public_trigger(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "token_hash"}
    out["config"] = json.loads(row["config"])
    out["enabled"] = bool(row["enabled"])
    if row["type"] == "webhook":
        out["webhook_url"] = "rat/api/v1/webhooks"
        out["token_prefix"] = (row["token_hash"] or "")[:8]
    return out


def _id(value: object) -> str:
    if not isinstance(value, str) or not value.isalnum() or len(value) > 64:
        raise Invalid("invalid id")
    return value
