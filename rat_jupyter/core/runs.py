"""Runs, owned through the state store: any process submits, exactly one server executes.

Submitting a run (REST, scheduler, a notebook's client-mode ``Workspace``) only inserts ``pending`` rows —
with the version to execute and the ids of the runs of the same batch it waits for (``depends_on``). A
server's :class:`RunManager` runs one *claimer* thread: it wakes at once for local submissions and polls
the store every 250 ms for the others, claims a pending run by compare-and-set (``server_id``) once every
run it depends on succeeded (or skips it when one did not), resolves its files, launches it on the
:class:`~.executor.Executor` and records every transition. It claims up to ``QUEUE_AHEAD`` runs per
executor slot beyond those running, so a worker goes from one run straight to the next. Cancelling is a
state change any process makes (``cancel_requested_at``); the owning server sees it within a poll and stops
the task. The publish fence
(:meth:`_RunEvents.may_publish`) makes the run ask its owner right before it moves ``main``: the owner
answers by compare-and-set, so a run whose cancel was requested never publishes, and a run that is
publishing refuses later cancels. Completion listeners fire on the server that executed the run,
whoever submitted it. See ADR 0009.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..stores.protocols import RunManagerStore
from .errors import Conflict, NotFound, RatError
from .executor import EventSink, Executor, WorkerDied
from .ids import new_id, now_iso
from .names import PipelineId
from .pipelines import load_spec

ACTIVE = ("pending", "running")
TERMINAL = ("success", "failed", "cancelled", "skipped")
NOT_SUCCEEDED = ("failed", "cancelled", "skipped")
POLL_SECONDS = 0.25  # how often a server looks for runs submitted by other processes, and for cancels
# Runs a server claims beyond what its executor runs at once, per slot: each queues behind a running one,
# so a worker that finishes starts the next run at once instead of idling while the claimer records the
# outcome, queries the store and resolves files. Bounded, so servers sharing a store still share the work.
QUEUE_AHEAD = 1
# Pending runs come oldest first, which within a batch is DAG order, so the runs that can start are near the
# front: the claimer reads this many candidates at a time (and their upstreams' statuses), stops once the free
# slots are filled, and never reads the status of an upstream run that is itself still pending (its
# dependents wait). Reading every pending run on every wake was work per completion that grew with the batch.
CLAIM_CHUNK = 32

FilesResolver = Callable[[PipelineId, str], dict[str, str]]
RunListener = Callable[[dict[str, Any]], None]


@dataclass
class _Active:
    """A run this server claimed and has not finished: on a worker, or waiting to be retried."""

    run_id: str
    pid: PipelineId
    files: dict[str, str]
    attempt: int = 1
    future: Future | None = None
    retry_at: float | None = None
    cancel_sent: bool = False


class _RunEvents(EventSink):
    """What the executor reports about one run, turned into state-store writes on the owning server."""

    takes_log_batches = True  # lines that arrive together are one state-store write

    def __init__(self, manager: RunManager) -> None:
        self.manager = manager

    def on_event(self, task_id: str, kind: str, data: dict[str, Any]) -> None:
        if kind == "started":
            self.manager.state.update_run(task_id, only_if_status=("pending",), status="running",
                                          started_at=now_iso())
        elif kind == "log":
            self.manager.state.append_logs(task_id, [(data["ts"], data["level"], data["message"])])
        elif kind == "logs":
            self.manager.state.append_logs(task_id, [(d["ts"], d["level"], d["message"]) for d in data["lines"]])

    def may_publish(self, task_id: str) -> bool:
        allowed = self.manager.state.begin_publish(task_id, self.manager.server_id)
        if not allowed:
            self.manager._log(task_id, "warn", "Publish refused: the run is no longer running on this server "
                              "(cancelled, failed elsewhere, or its namespace was deleted); main was not changed")
        return allowed


class RunManager:
    """Submit, cancel and wait from any process; claim and execute only with an executor (a server)."""

    def __init__(self, state: RunManagerStore, executor: Executor | None, timeout: float | None, owner: str = "",
                 resolve: FilesResolver | None = None) -> None:
        self.state = state
        self.executor = executor
        self.timeout = timeout
        self.owner = owner
        self.resolve = resolve
        # The claimer's identity: unique per process, so two servers given the same name never mix up
        # their runs; ``owner`` (the stable server name) is what a restart recovers by.
        self.server_id = f"{owner or 'rat'}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._listeners: list[RunListener] = []
        self._active: dict[str, _Active] = {}
        self._completed: queue.Queue[tuple[str, Future]] = queue.Queue()
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._notify = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rat-run-listeners")

    @property
    def executes(self) -> bool:
        """True on a server (it claims and executes runs); False in client mode (it only submits)."""
        return self.executor is not None

    def add_listener(self, listener: RunListener) -> None:
        """Called with the final run record when a run this server executed ends (scheduler triggers)."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self.executor is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._claim_loop, name="rat-run-claimer", daemon=True)
        self._thread.start()

    # -- submit -----------------------------------------------------------------------------------
    def submit(self, order: list[PipelineId], upstream: dict[PipelineId, set[PipelineId]], trigger: str,
               versions: dict[PipelineId, Any], submitted_by: str | None = None) -> list[dict[str, Any]]:
        """Create pending runs for ``order`` (upstream first); a server claims and executes them.

        ``versions`` maps each pipeline to the version to execute (``"draft"`` or a published number; a
        ``(files, version)`` pair is accepted too). Refused with ``Busy`` when a pipeline already has an
        active run — atomically, whichever process submits.
        """
        batch_id = new_id() if len(order) > 1 else None
        ids = {pid: new_id() for pid in order}
        chosen = set(order)
        rows = []
        for pid in order:
            version = versions[pid]
            if isinstance(version, tuple):
                version = version[1]
            pipeline = self.state.find_pipeline(pid.namespace, pid.layer, pid.name)
            rows.append({
                "id": ids[pid], "pipeline_id": pipeline["id"] if pipeline else None, "namespace": pid.namespace,
                "layer": pid.layer, "name": pid.name, "status": "pending", "trigger": trigger[:100],
                "version": str(version), "batch_id": batch_id, "created_at": now_iso(), "attempt": 1,
                "depends_on": sorted(ids[d] for d in upstream.get(pid, set()) & chosen),
                "submitted_by": submitted_by,
            })
        runs = self.state.submit_runs(rows)
        self._wake.set()
        return runs

    # -- control (any process) --------------------------------------------------------------------
    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self.state.get_run(run_id)
        if run["status"] not in ACTIVE:
            raise Conflict(f"run {run_id} is {run['status']}; only pending or running runs can be cancelled")
        outcome = self.state.request_cancel(run_id)
        if outcome == "publishing":
            raise Conflict(f"run {run_id} is publishing; it can no longer be cancelled")
        if outcome == "ended":
            status = self.state.get_run(run_id)["status"]
            raise Conflict(f"run {run_id} is {status}; only pending or running runs can be cancelled")
        self._log(run_id, "warn", "Cancel requested")
        self._wake.set()
        self._signal()
        return self.state.get_run(run_id)

    def wait(self, run_ids: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        """Until every run is terminal. Polls the state store, so it works in client mode too (a server
        elsewhere executes the runs); on the owning server it also wakes as soon as a run ends."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            statuses = self.state.run_statuses(run_ids)
            missing = [r for r in run_ids if r not in statuses]
            if missing:
                raise NotFound(f"run '{missing[0]}' not found")
            if all(s in TERMINAL for s in statuses.values()):
                return [self.state.get_run(r) for r in run_ids]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                late = next(r for r in run_ids if statuses[r] not in TERMINAL)
                raise TimeoutError(f"run {late} did not finish in time")
            with self._changed:
                self._changed.wait(0.2 if left is None else min(0.2, left))

    def recover(self) -> int:
        """Runs this server claimed before it stopped can never finish: mark them failed.

        Only this server's runs (``owner``): another server sharing the state store may be executing its
        own, and pending runs nobody claimed yet are simply claimed again (a dead server's runs are failed
        by the reaper's stuck-run timeout).
        """
        count = 0
        for run in self.state.active_runs():
            if run["status"] == "pending" and run.get("server_id") is None:
                continue
            if run.get("owner") not in (self.owner, None):
                continue
            if self.state.update_run(run["id"], only_if_status=ACTIVE, status="failed", finished_at=now_iso(),
                                     error="the server stopped while the run was active"):
                count += 1
        return count

    def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._notify.shutdown(wait=True)

    # -- the claimer (servers only) -----------------------------------------------------------------
    def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the claimer must survive a flaky state store
                traceback.print_exc()
                self._stopping.wait(1.0)

    def _tick(self) -> None:
        while True:
            try:
                run_id, fut = self._completed.get_nowait()
            except queue.Empty:
                break
            try:
                self._completed_run(run_id, fut)
            except Exception:
                active = self._active.get(run_id)
                if active is not None and active.future is None:
                    active.future = fut
                self._completed.put((run_id, fut))  # the state store failed: record the outcome next tick
                raise
        self._act_on_cancels()
        now = time.monotonic()
        for active in list(self._active.values()):
            if active.future is None and active.retry_at is not None and active.retry_at <= now:
                active.retry_at = None
                self._launch(active)
        self._claim()

    def _act_on_cancels(self) -> None:
        if not self._active:
            return
        for run_id in self.state.cancel_requested(list(self._active)):
            active = self._active.get(run_id)
            if active is None or active.cancel_sent:
                continue
            active.cancel_sent = True
            if active.future is None:  # waiting for a retry: nothing runs, so it ends here
                self._stopped_after_cancel(run_id, None)
            else:
                assert self.executor is not None
                self.executor.cancel(run_id)

    def _claim(self) -> None:
        assert self.executor is not None
        changed = True
        while changed:  # a skip can make the next run skippable at once
            changed = False
            launched = sum(1 for a in self._active.values() if a.future is not None)
            free = self.executor.capacity * (1 + QUEUE_AHEAD) - launched
            if free <= 0:
                return
            # A run waiting on one of these (pending, unclaimed: not done) waits, whatever the others say.
            waiting: set[str] = set()
            statuses: dict[str, str] = {}
            for page in self._claimable_pages(waiting):
                statuses.update(self.state.run_statuses(
                    [d for c in page for d in c.get("depends_on") or [] if d not in statuses and d not in waiting]))
                for run in page:
                    deps = run.get("depends_on") or []
                    bad = next((d for d in deps
                                if d not in waiting and statuses.get(d, "failed") in NOT_SUCCEEDED), None)
                    if bad is not None:
                        if self.state.skip_run(run["id"], f"skipped: upstream {self._describe(bad)} did not succeed"):
                            waiting.discard(run["id"])
                            statuses[run["id"]] = "skipped"
                            self._ended(run["id"])
                            changed = True
                        continue
                    if any(d in waiting or statuses.get(d) != "success" for d in deps):
                        continue
                    if not self.state.claim_run(run["id"], self.server_id, self.owner):
                        continue  # another server won it, or it was cancelled meanwhile
                    self._start_claimed(run)
                    free -= 1
                    if free <= 0:
                        return

    def _claimable_pages(self, waiting: set[str]) -> Iterator[list[dict[str, Any]]]:
        """The claimable runs, oldest first, a page (``CLAIM_CHUNK``) at a time, read only when the claimer
        reaches it: a tick that fills the free slots from the first page neither reads nor decodes every
        pending run of a large batch (which made each tick of a DAG cost in proportion to its size). Each
        page's ids join ``waiting``; an upstream on a page not read yet is looked up like any other."""
        after: tuple[str, str] | None = None
        while True:
            page = self.state.claimable_runs(CLAIM_CHUNK, after)
            waiting.update(run["id"] for run in page)
            yield page
            if len(page) < CLAIM_CHUNK:
                return
            after = (page[-1]["created_at"], page[-1]["id"])

    def _describe(self, run_id: str) -> str:
        try:
            run = self.state.get_run(run_id)
        except NotFound:
            return run_id
        return f"{run['namespace']}.{run['layer']}.{run['name']}"

    def _start_claimed(self, run: dict[str, Any]) -> None:
        pid = PipelineId(run["namespace"], run["layer"], run["name"])
        try:
            if self.resolve is None:
                raise RatError("this server cannot resolve pipeline files")
            files = self.resolve(pid, run["version"] or "published")
        except RatError as exc:
            self._log(run["id"], "error", f"Could not start: {exc.message}")
            self._finish(run["id"], {"status": "failed", "error": exc.message, "rows_written": 0})
            return
        active = _Active(run["id"], pid, files)
        self._active[run["id"]] = active
        self._launch(active)

    def _launch(self, active: _Active) -> None:
        assert self.executor is not None
        payload = {"pipeline": active.pid.table_identifier, "files": active.files,
                   "run_started_at": datetime.now(UTC).isoformat()}
        try:
            fut = self.executor.submit(active.run_id, "run", payload, events=_RunEvents(self), timeout=self.timeout)
        except (RuntimeError, ValueError) as exc:
            fut = Future()
            fut.set_exception(WorkerDied(f"could not launch the run: {exc}"))
        active.future = fut

        def done(f: Future, run_id: str = active.run_id) -> None:
            self._completed.put((run_id, f))
            self._wake.set()

        fut.add_done_callback(done)

    def _completed_run(self, run_id: str, fut: Future) -> None:
        active = self._active.get(run_id)
        if active is None or active.future is not fut:
            return
        active.future = None
        outcome = self._outcome(run_id, fut)
        run = self.state.get_run(run_id)
        if run.get("cancel_requested_at") or run["status"] == "cancelled":
            self._forget_archived(outcome)  # files it moved before the cancel landed have moved all the same
            self._stopped_after_cancel(run_id, outcome)
            return
        retries = _max_retries(active.pid, active.files)
        if outcome["status"] == "failed" and active.attempt <= retries:
            active.attempt += 1
            delay = _retry_delay(active.pid, active.files)
            self._log(run_id, "warn", f"Run failed: {outcome.get('error')}. Retrying "
                                      f"({active.attempt - 1}/{retries}) in {delay:g}s")
            # the failed attempt may have passed the publish fence and lost the race on main (so nothing was
            # published): the retry must be able to pass it again
            self.state.update_run(run_id, attempt=active.attempt, publishing_at=None)
            active.retry_at = time.monotonic() + delay
            self._wake.set()
            return
        if outcome["status"] == "success" and not run.get("publishing_at"):
            self._log(run_id, "warn", "the run ended without passing the publish fence")
        self._finish(run_id, outcome, run)

    def _stopped_after_cancel(self, run_id: str, outcome: dict[str, Any] | None) -> None:
        """The worker of a cancelled run has stopped: record when, and what it did until then."""
        self._active.pop(run_id, None)
        run = self.state.get_run(run_id)
        finished = now_iso()
        fields: dict[str, Any] = {"finished_at": finished, "duration_ms": _duration(run.get("started_at"), finished)}
        if outcome and outcome.get("phases"):
            fields["phases"] = outcome["phases"]
        if run["status"] in ACTIVE:  # a cancel that landed while the outcome arrived
            fields.update(status="cancelled", error=run.get("error") or "cancelled by request")
        if run["status"] == "failed":  # failed elsewhere (a restarted server's recover()): keep its verdict
            if not run.get("finished_at"):
                self.state.update_run(run_id, only_if_status=("failed",), **fields)
            self._log(run_id, "info", "The run stopped; it had been marked failed, and main was not changed")
            self._signal()
            return
        self.state.update_run(run_id, only_if_status=("cancelled", *ACTIVE), **fields)
        self._log(run_id, "info", "The run stopped after the cancel; main was not changed")
        self._signal()

    def _outcome(self, run_id: str, fut: Future) -> dict[str, Any]:
        try:
            return fut.result()
        except WorkerDied as exc:
            self._log(run_id, "error", str(exc))
            return {"status": "failed", "error": str(exc), "rows_written": 0}
        except Exception as exc:  # noqa: BLE001 - the run must end with a status
            self._log(run_id, "error", f"internal error: {exc}")
            return {"status": "failed", "error": f"internal error: {str(exc).splitlines()[0]}", "rows_written": 0}

    def _log(self, run_id: str, level: str, message: str) -> None:
        self.state.append_logs(run_id, [(now_iso(), level, message)])

    def _finish(self, run_id: str, outcome: dict[str, Any], run: dict[str, Any] | None = None) -> None:
        """Record the outcome (``run``: the record as just read, to save reading it again)."""
        self._active.pop(run_id, None)
        run = run if run is not None else self.state.get_run(run_id)
        finished = now_iso()
        fields: dict[str, Any] = {
            "status": outcome["status"], "finished_at": finished,
            "duration_ms": _duration(run.get("started_at"), finished),
            "rows_written": outcome.get("rows_written"), "error": outcome.get("error"),
        }
        if outcome.get("phases"):
            fields["phases"] = outcome["phases"]
        if outcome.get("snapshot_id"):
            fields["snapshot_id"] = outcome["snapshot_id"]
        self._forget_archived(outcome)
        if not self.state.update_run(run_id, only_if_status=ACTIVE, **fields):
            self._stopped_after_cancel(run_id, outcome)  # cancelled meanwhile (it did not publish)
            return
        if outcome.get("quality"):
            self.state.save_quality_results(run_id, run["namespace"], run["layer"], run["name"], outcome["quality"])
        self._ended(run_id)

    def _forget_archived(self, outcome: dict[str, Any]) -> None:
        """Delete the records of the landing files the run archived, before its final status is written.

        A client that sees the run end must see the zone without them (the files have moved). Files uploaded
        during the run were not read, so they are not in the run's list and keep their records.
        """
        archived = [f for f in outcome.get("landing_files") or [] if f.get("archived")]
        for ns, zone in outcome.get("archived_zones") or []:
            self.state.forget_landing_files(ns, zone, [f["path"] for f in archived if f["zone"] == f"{ns}.{zone}"])

    def _ended(self, run_id: str) -> None:
        """A run reached its final status on this server: wake waiters and the claimer, tell listeners."""
        self._signal()
        self._wake.set()
        if self._listeners:  # read and told on the listeners' thread: the claimer goes on claiming
            self._notify.submit(self._tell, run_id)

    def _tell(self, run_id: str) -> None:
        try:
            final = self.state.get_run(run_id)
        except Exception:  # noqa: BLE001 - e.g. the namespace (and its runs) was deleted meanwhile
            traceback.print_exc()
            return
        for listener in list(self._listeners):
            try:
                listener(final)
            except Exception:  # noqa: BLE001 - listeners must not break run bookkeeping
                traceback.print_exc()

    def _signal(self) -> None:
        with self._changed:
            self._changed.notify_all()


def _duration(started: str | None, finished: str) -> int | None:
    if not started:
        return None
    return int((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds() * 1000)


def _max_retries(pid: PipelineId, files: dict[str, str]) -> int:
    try:
        return load_spec(pid, files).config.max_retries
    except RatError:
        return 0


def _retry_delay(pid: PipelineId, files: dict[str, str]) -> float:
    try:
        return load_spec(pid, files).config.retry_delay_seconds
    except RatError:
        return 0.0
