"""Run orchestration in the server process: batches in DAG order, parallel where independent.

The state store is written only here (the workers report through the pool), so runs, logs and quality
results stay consistent even when a worker dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from typing import Any

from ..stores.state import SqlState, new_id, now_iso
from .errors import Busy, Conflict, RatError
from .executor import ProcessPool, WorkerDied
from .names import PipelineId
from .pipelines import load_spec

ACTIVE = ("pending", "running")
TERMINAL = ("success", "failed", "cancelled", "skipped")

FilesResolver = Callable[[PipelineId, str], tuple[dict[str, str], str]]
RunListener = Callable[[dict[str, Any]], None]


class RunManager:
    def __init__(self, state: SqlState, pool: ProcessPool, timeout: float | None, owner: str = "") -> None:
        self.state = state
        self.owner = owner
        self.pool = pool
        self.timeout = timeout
        self._done: dict[str, threading.Event] = {}
        self._cancelled: set[str] = set()
        self._listeners: list[RunListener] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._submit_lock = threading.Lock()

    def add_listener(self, listener: RunListener) -> None:
        """Called with the final run record when a run ends (scheduler triggers use this)."""
        self._listeners.append(listener)

    # -- submit -----------------------------------------------------------------------------------
    def submit(self, order: list[PipelineId], upstream: dict[PipelineId, set[PipelineId]], trigger: str,
               files: dict[PipelineId, tuple[dict[str, str], str]]) -> list[dict[str, Any]]:
        """Create pending runs for ``order`` (upstream first) and start executing them."""
        with self._submit_lock:  # check-then-create must be atomic: two clicks must not start two runs
            return self._submit(order, upstream, trigger, files)

    def _submit(self, order: list[PipelineId], upstream: dict[PipelineId, set[PipelineId]], trigger: str,
                files: dict[PipelineId, tuple[dict[str, str], str]]) -> list[dict[str, Any]]:
        for pid in order:
            if self.state.active_runs(pid.namespace, pid.layer, pid.name):
                raise Busy(f"pipeline {pid} already has a pending or running run")
        batch_id = new_id() if len(order) > 1 else None
        runs: dict[PipelineId, dict[str, Any]] = {}
        for pid in order:
            row = self.state.find_pipeline(pid.namespace, pid.layer, pid.name)
            run = self.state.create_run({
                "id": new_id(), "pipeline_id": row["id"] if row else None, "namespace": pid.namespace,
                "layer": pid.layer, "name": pid.name, "status": "pending", "trigger": trigger[:100],
                "version": files[pid][1], "batch_id": batch_id, "created_at": now_iso(), "attempt": 1,
                "owner": self.owner,
            })
            runs[pid] = run
            with self._lock:
                self._done[run["id"]] = threading.Event()
        thread = threading.Thread(target=self._orchestrate, args=(order, upstream, runs, files), daemon=True,
                                  name=f"rat-batch-{batch_id or runs[order[0]]['id']}")
        thread.start()
        return list(runs.values())

    def _orchestrate(self, order: list[PipelineId], upstream: dict[PipelineId, set[PipelineId]],
                     runs: dict[PipelineId, dict[str, Any]], files: dict[PipelineId, tuple[dict[str, str], str]]
                     ) -> None:
        try:
            self._drive_batch(order, upstream, runs, files)
        except Exception as exc:  # noqa: BLE001 - never leave a run silently stuck
            for run in runs.values():
                if self.state.get_run(run["id"])["status"] in ACTIVE:
                    self._log(run["id"], "error", f"internal error in the run orchestrator: {exc}")
                    self._finish(run["id"], {"status": "failed", "error": f"internal error: {exc}"})

    def _drive_batch(self, order: list[PipelineId], upstream: dict[PipelineId, set[PipelineId]],
                     runs: dict[PipelineId, dict[str, Any]], files: dict[PipelineId, tuple[dict[str, str], str]]
                     ) -> None:
        status: dict[PipelineId, str] = dict.fromkeys(order, "pending")
        futures: dict[Future, PipelineId] = {}
        attempts: dict[PipelineId, int] = dict.fromkeys(order, 1)
        while True:
            for pid in order:
                if status[pid] != "pending":
                    continue
                run_id = runs[pid]["id"]
                if run_id in self._cancelled:
                    status[pid] = "cancelled"
                    continue
                deps = upstream.get(pid, set()) & set(order)
                if any(status[d] in ("failed", "cancelled", "skipped") for d in deps):
                    bad = next(d for d in sorted(deps) if status[d] in ("failed", "cancelled", "skipped"))
                    status[pid] = "skipped"
                    self._finish(run_id, {"status": "skipped", "error": f"skipped: upstream {bad} did not succeed"})
                    continue
                if all(status[d] == "success" for d in deps):
                    status[pid] = "queued"
                    futures[self._start(run_id, pid, files[pid][0])] = pid
            if not futures:
                break
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                pid = futures.pop(fut)
                run_id = runs[pid]["id"]
                outcome = self._outcome(run_id, fut)
                retries = _max_retries(pid, files[pid][0])
                if outcome["status"] == "failed" and attempts[pid] <= retries and run_id not in self._cancelled:
                    attempts[pid] += 1
                    delay = _retry_delay(pid, files[pid][0])
                    self._log(run_id, "warn", f"Run failed: {outcome.get('error')}. Retrying "
                                              f"({attempts[pid] - 1}/{retries}) in {delay:g}s")
                    self.state.update_run(run_id, attempt=attempts[pid])
                    if self._stopping.wait(delay) or run_id in self._cancelled:
                        status[pid] = "cancelled"
                        continue
                    futures[self._start(run_id, pid, files[pid][0])] = pid
                    continue
                status[pid] = outcome["status"]
                self._finish(run_id, outcome)

    def _start(self, run_id: str, pid: PipelineId, files: dict[str, str]) -> Future:
        def on_event(task_id: str, kind: str, data: dict[str, Any]) -> None:
            if kind == "started":
                self.state.update_run(task_id, only_if_status=("pending",), status="running",
                                      started_at=now_iso())
            elif kind == "log":
                self.state.append_logs(task_id, [(data["ts"], data["level"], data["message"])])

        payload = {"pipeline": (pid.namespace, pid.layer, pid.name), "files": files,
                   "run_started_at": datetime.now(UTC).isoformat()}
        return self.pool.submit(run_id, "run", payload, on_event=on_event, timeout=self.timeout)

    def _outcome(self, run_id: str, fut: Future) -> dict[str, Any]:
        try:
            return fut.result()
        except WorkerDied as exc:
            status = "cancelled" if run_id in self._cancelled else "failed"
            self._log(run_id, "error", str(exc))
            return {"status": status, "error": str(exc), "rows_written": 0}
        except Exception as exc:  # noqa: BLE001 - the run must end with a status
            self._log(run_id, "error", f"internal error: {exc}")
            return {"status": "failed", "error": f"internal error: {str(exc).splitlines()[0]}", "rows_written": 0}

    def _log(self, run_id: str, level: str, message: str) -> None:
        self.state.append_logs(run_id, [(now_iso(), level, message)])

    def _finish(self, run_id: str, outcome: dict[str, Any]) -> None:
        run = self.state.get_run(run_id)
        finished = now_iso()
        started = run.get("started_at")
        duration = None
        if started:
            duration = int((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds() * 1000)
        fields: dict[str, Any] = {
            "status": outcome["status"], "finished_at": finished, "duration_ms": duration,
            "rows_written": outcome.get("rows_written"), "error": outcome.get("error"),
        }
        if outcome.get("phases"):
            fields["phases"] = outcome["phases"]
        if outcome.get("snapshot_id"):
            fields["snapshot_id"] = outcome["snapshot_id"]
        self.state.update_run(run_id, only_if_status=ACTIVE, **fields)
        if outcome.get("quality"):
            self.state.save_quality_results(run_id, run["namespace"], run["layer"], run["name"], outcome["quality"])
        archived = {f["path"] for f in outcome.get("landing_files") or [] if f.get("archived")}
        for ns, zone in outcome.get("archived_zones") or []:
            for f in self.state.list_landing_files(ns, zone):
                if f["path"] in archived:  # files uploaded during the run were not read: they stay
                    self.state.delete_landing_file(f["id"])
        final = self.state.get_run(run_id)
        with self._lock:
            event = self._done.pop(run_id, None)  # waiters holding it are woken; later ones read the state
        if event:
            event.set()
        for listener in self._listeners:
            try:
                listener(final)
            except Exception:  # noqa: BLE001 - listeners must not break run bookkeeping
                pass

    # -- control ----------------------------------------------------------------------------------
    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self.state.get_run(run_id)
        if run["status"] not in ACTIVE:
            raise Conflict(f"run {run_id} is {run['status']}; only pending or running runs can be cancelled")
        self._cancelled.add(run_id)
        self._log(run_id, "warn", "Cancel requested")
        changed = self.state.update_run(run_id, only_if_status=ACTIVE, status="cancelled", finished_at=now_iso(),
                                        error="cancelled by request")
        self.pool.cancel(run_id)
        final = self.state.get_run(run_id)
        if changed:
            with self._lock:
                event = self._done.pop(run_id, None)
            if event:
                event.set()
        return final

    def wait(self, run_ids: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        for run_id in run_ids:
            with self._lock:
                event = self._done.get(run_id)
            while True:
                if self.state.get_run(run_id)["status"] in TERMINAL:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"run {run_id} did not finish in time")
                if event is not None:
                    event.wait(0.5 if left is None else min(0.5, left))
                else:
                    time.sleep(0.2)
        return [self.state.get_run(r) for r in run_ids]

    def recover(self) -> int:
        """Runs this server left active when it stopped can never finish: mark them failed.

        Only this server's runs: another server sharing the state store may be executing its own (a dead
        server's runs are failed by the reaper's stuck-run timeout).
        """
        count = 0
        for run in self.state.active_runs():
            if run.get("owner") not in (self.owner, None):
                continue
            if self.state.update_run(run["id"], only_if_status=ACTIVE, status="failed", finished_at=now_iso(),
                                     error="the server stopped while the run was active"):
                count += 1
        return count

    def shutdown(self) -> None:
        self._stopping.set()


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
