"""A pool of worker processes: runs cannot take the server down, and a runaway one can be killed.

Each worker handles one task at a time. The parent keeps one dispatcher thread per worker: it hands the
worker a task, forwards the worker's events (log lines, phases) to a callback, enforces the timeout and
cancel grace period, and replaces a worker that died. ``concurrent.futures.ProcessPoolExecutor`` is not
used because one dead worker breaks its whole pool.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .settings import Settings

EventCallback = Callable[[str, str, dict[str, Any]], None]


class WorkerDied(Exception):
    """The worker process ended while it ran a task (killed, crashed, or stopped for a timeout)."""


@dataclass
class _Task:
    task_id: str
    kind: str
    payload: dict[str, Any]
    future: Future = field(default_factory=Future)
    on_event: EventCallback | None = None
    timeout: float | None = None
    cancel_requested: bool = False
    cancel_at: float | None = None


class _Worker:
    """A worker subprocess (``python -m rat_jupyter.core.worker``) talking over a socket pair.

    A plain subprocess rather than ``multiprocessing``: it never re-imports the parent's ``__main__``
    (scripts, notebooks and the Jupyter server all work the same), and killing it is just ``SIGKILL``.
    """

    def __init__(self, settings: Settings, slot: int) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rat_jupyter.core.worker", str(child.fileno())],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(settings)
        self.pid = self.proc.pid

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 120) -> bool:
        """Wait for the worker's "ready" message (sent once its imports and warm-up are done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.conn.poll(0.1):
                    return self.conn.recv() == ("ready",)
            except (EOFError, OSError):
                return False
            if not self.is_alive():
                return False
        return False

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

    def kill(self) -> None:
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.join(5)
        self.conn.close()


class ProcessPool:
    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = settings
        self.size = max(1, int(size))
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._procs: dict[int, _Worker] = {}
        self._running: dict[int, str] = {}
        self._ready = threading.Semaphore(0)
        self._closed = False
        for i in range(self.size):
            t = threading.Thread(target=self._dispatch, args=(i,), name=f"rat-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    # -- public -----------------------------------------------------------------------------------
    def submit(self, task_id: str, kind: str, payload: dict[str, Any], on_event: EventCallback | None = None,
               timeout: float | None = None) -> Future:
        if self._closed:
            raise RuntimeError("pool is shut down")
        task = _Task(task_id, kind, payload, on_event=on_event, timeout=timeout)
        with self._lock:
            self._tasks[task_id] = task
        self._queue.put(task)
        return task.future

    def cancel(self, task_id: str) -> bool:
        """Ask the worker to stop; the dispatcher kills it if it has not stopped after the grace period."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            return False
        task.cancel_requested = True
        task.cancel_at = time.monotonic()
        return True

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.is_alive()]

    def pid_of(self, task_id: str) -> int | None:
        with self._lock:
            for slot, tid in self._running.items():
                if tid == task_id:
                    proc = self._procs.get(slot)
                    return proc.pid if proc else None
        return None

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join(timeout=10)
        for proc in list(self._procs.values()):
            if proc.is_alive():
                proc.proc.terminate()
                proc.join(timeout=3)
                proc.kill()

    # -- dispatcher -------------------------------------------------------------------------------
    def _spawn(self, slot: int) -> _Worker:
        worker = _Worker(self.settings, slot)
        self._procs[slot] = worker
        worker.wait_ready()
        return worker

    def wait_ready(self, timeout: float = 120) -> bool:
        """Block until every worker process has started (benchmarks and tests use this)."""
        deadline = time.monotonic() + timeout
        for _ in range(self.size):
            if not self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
        for _ in range(self.size):
            self._ready.release()
        return True

    def _dispatch(self, slot: int) -> None:
        worker: _Worker | None = None
        try:  # start eagerly: the first run should not pay for the worker's imports
            worker = self._spawn(slot)
        except OSError:
            worker = None
        self._ready.release()
        while True:
            task = self._queue.get()
            if task is None:
                if worker is not None:
                    # The worker is idle: nothing to lose, so stop it at once instead of a slow goodbye.
                    worker.proc.terminate()
                    worker.join(timeout=3)
                    worker.kill()
                return
            if task.future.done():
                continue
            try:
                if worker is None or not worker.is_alive():
                    worker = self._spawn(slot)
            except OSError as exc:
                task.future.set_exception(WorkerDied(f"could not start a worker process: {exc}"))
                continue
            with self._lock:
                self._running[slot] = task.task_id
            try:
                restart = self._drive(task, worker, worker.conn)
            except Exception as exc:  # noqa: BLE001 - never let a dispatcher thread die
                if not task.future.done():
                    task.future.set_exception(WorkerDied(f"internal error: {exc}"))
                restart = True
            finally:
                with self._lock:
                    self._running.pop(slot, None)
                    self._tasks.pop(task.task_id, None)
            if restart:
                worker.kill()
                worker = None

    def _drive(self, task: _Task, proc: Any, conn: Connection) -> bool:
        """Run one task on one worker. Returns True when the worker must be replaced."""
        if task.on_event:
            try:
                task.on_event(task.task_id, "started", {})
            except Exception:  # noqa: BLE001 - a broken listener must not kill the run
                traceback.print_exc()
        try:
            conn.send(("task", task.task_id, task.kind, task.payload))
        except (OSError, BrokenPipeError):
            task.future.set_exception(WorkerDied("worker process was not reachable"))
            return True
        started = time.monotonic()
        cancel_sent = False
        while True:
            if task.cancel_requested and not cancel_sent:
                with contextlib.suppress(OSError, BrokenPipeError):
                    conn.send(("cancel", task.task_id))
                cancel_sent = True
            if task.cancel_requested and task.cancel_at is not None and \
                    time.monotonic() - task.cancel_at > self.settings.cancel_grace_seconds:
                task.future.set_exception(WorkerDied("cancelled: the worker did not stop in time and was killed"))
                return True
            if task.timeout and time.monotonic() - started > task.timeout:
                task.future.set_exception(WorkerDied(f"timed out after {task.timeout:.0f}s; the worker was killed"))
                return True
            try:
                ready = conn.poll(0.1)
            except (OSError, EOFError):
                ready = True
            if not ready:
                if not proc.is_alive():
                    task.future.set_exception(WorkerDied(_exit_text(proc)))
                    return True
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                proc.join(timeout=1)
                task.future.set_exception(WorkerDied(_exit_text(proc)))
                return True
            if msg[0] == "event":
                if task.on_event:
                    try:
                        task.on_event(task.task_id, msg[1], msg[2])
                    except Exception:  # noqa: BLE001 - a broken listener must not kill the run
                        traceback.print_exc()
            elif msg[0] == "result":
                task.future.set_result(msg[1])
                return False
            elif msg[0] == "error":
                task.future.set_exception(RuntimeError(msg[1]))
                return False


def _exit_text(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"worker process was killed by {name}"
    return f"worker process exited unexpectedly (exit code {code})"
