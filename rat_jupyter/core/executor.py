"""Executors: where runs, previews and test runs execute. The seam a distributed engine implements.

The rest of the core knows only :class:`Executor`: submit a task (``run``, ``preview`` or ``tests``) with an
:class:`EventSink`, get a ``concurrent.futures.Future`` back, cancel it by id, close. Worker processes,
pids and sockets stay inside the executor; metrics and readiness ask it for counts (:meth:`Executor.stats`).
Following dagster's ``RunLauncher`` and jupyter-scheduler's ``*_class`` traits, the executor is chosen by
an import string (``Settings.executor_class``) and a run is always recorded in the state store *before*
it is launched — the executor holds no state that matters after a crash.

:class:`LocalProcessExecutor` is the default: a pool of worker processes, each running one task at a time.
The parent keeps one dispatcher thread per worker: it hands the worker a task, forwards the worker's events
(log lines, phases, publish-gate requests) to the task's sink, enforces the timeout and the cancel grace
period, and replaces a worker that died. ``concurrent.futures.ProcessPoolExecutor`` is not used because one
dead worker breaks its whole pool.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .errors import Invalid
from .settings import Settings

TASK_KINDS = ("run", "preview", "tests")
LOG_BATCH = 200  # log lines handed to the sink at most at once
# Workers that import the runtime and open their catalog and DuckDB database before any task arrives. The
# others start cold (~20 MiB resident instead of ~205 MiB while the server idles) and import on their first
# task (about a second, once per worker process). Idle memory wins by default: a server mostly waits.
WARM_WORKERS = 0
DEFAULT_EXECUTOR = "rat_jupyter.core.executor:LocalProcessExecutor"


class WorkerDied(Exception):
    """The worker process ended while it ran a task (killed, crashed, or stopped for a timeout)."""


@dataclass(frozen=True)
class Capabilities:
    """What an executor can do, so callers adapt instead of guessing.

    ``live_logs``: log events arrive while the task runs (not only at the end). ``cooperative_cancel``:
    :meth:`Executor.cancel` first asks the task to stop (DuckDB interrupt) and kills only after a grace
    period. ``timeout``: the executor enforces the ``timeout`` given to :meth:`Executor.submit`.
    """

    live_logs: bool = False
    cooperative_cancel: bool = False
    timeout: bool = False


class EventSink:
    """Receives what a task reports while it runs. Called from executor threads, never concurrently for
    one task; implementations must be quick (a state-store write at most).

    ``kind`` is ``started`` (a worker began executing the task), ``log`` (``ts``, ``level``, ``message``) or
    ``phase`` (``name``, ``duration_ms``, ``metadata``); a sink whose ``takes_log_batches`` is true may get
    consecutive log lines as one ``logs`` event (``lines``: a list of ``log`` data, in order) instead.
    :meth:`may_publish` is the publish fence: a run asks it right before it moves ``main``; False makes the
    run end ``cancelled`` with ``main`` untouched. The default allows it (a task submitted without an owner
    to ask).
    """

    takes_log_batches = False

    def on_event(self, task_id: str, kind: str, data: dict[str, Any]) -> None:
        return None

    def may_publish(self, task_id: str) -> bool:
        return True


class Executor(ABC):
    """Executes tasks; see the module docstring. Construct with ``cls(settings)``."""

    capabilities = Capabilities()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many tasks run at once (the run claimer never claims more runs than this)."""

    @abstractmethod
    def submit(self, task_id: str, kind: str, payload: dict[str, Any], events: EventSink | None = None,
               timeout: float | None = None) -> Future:
        """Queue a task; the Future resolves to the worker's result or raises (``WorkerDied`` when the
        execution itself was lost: killed, crashed, timed out)."""

    @abstractmethod
    def cancel(self, task_id: str) -> bool:
        """Ask a queued or running task to stop; False when the executor does not know it."""

    @abstractmethod
    def close(self) -> None:
        """Stop everything; unfinished tasks fail with ``WorkerDied``."""

    def stats(self) -> dict[str, int]:
        """Counts for metrics and readiness: ``running``, ``queued`` and, for executors that have their own
        worker processes, ``workers`` (alive ones)."""
        return {"running": 0, "queued": 0}

    def wait_ready(self, timeout: float = 120) -> bool:
        """Block until the executor can start tasks at once (benchmarks and tests use this)."""
        return True


def load_executor_class(path: str) -> type[Executor]:
    """``package.module:Class`` (or ``package.module.Class``) → the class, checked to be an Executor."""
    text = (path or DEFAULT_EXECUTOR).strip()
    module_name, sep, attr = text.partition(":")
    if not sep:
        module_name, _, attr = text.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise Invalid(f"executor_class '{path}' cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise Invalid(f"executor_class '{path}' is not a rat_jupyter.core.executor.Executor")
    return cls


def build_executor(settings: Settings) -> Executor:
    return load_executor_class(getattr(settings, "executor_class", "") or DEFAULT_EXECUTOR)(settings)


@dataclass
class _Task:
    task_id: str
    kind: str
    payload: dict[str, Any]
    future: Future = field(default_factory=Future)
    events: EventSink = field(default_factory=EventSink)
    timeout: float | None = None
    cancel_requested: bool = False
    cancel_at: float | None = None
    publishing: bool = False


class _Worker:
    """A worker subprocess (``python -m rat_jupyter.core.worker``) talking over a socket pair.

    A plain subprocess rather than ``multiprocessing``: it never re-imports the parent's ``__main__``
    (scripts, notebooks and the Jupyter server all work the same), and killing it is just ``SIGKILL``.
    """

    def __init__(self, settings: Settings, slot: int) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        cold = ["cold"] if slot >= WARM_WORKERS else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rat_jupyter.core.worker", str(child.fileno()), str(os.getpid()), *cold],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(settings)
        self.pid = self.proc.pid
        self.used = False  # has run a task: only then does it hold more than a cold start does

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

    def stop_idle(self) -> None:
        """Stop a worker with no task: nothing to lose, so at once instead of a slow goodbye."""
        self.proc.terminate()
        self.join(timeout=3)
        self.kill()

    def kill(self) -> None:
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.join(5)
        self.conn.close()


class _Handoff:
    """The local executor's task queue: FIFO for tasks, LIFO for the dispatcher threads waiting for one.

    With a plain ``queue.Queue`` the idle dispatchers take turns (its waiters wake first come, first
    served), so one pipeline run again and again landed on each worker in turn, every time on the one whose
    caches — the table's parsed metadata and manifests, the DuckDB database's warm state — had not seen its
    last commit, and every idle worker stayed in use, so none was ever idle long enough to give its memory
    back (``worker_idle_seconds``, ADR 0032). Here the dispatcher that became free last takes the next task:
    the worker that ran the previous task runs this one, and the others stay idle. Tasks still start in
    the order they came (ADR 0038).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []  # waiting tasks, oldest first (few: at most the runs not yet started)
        self._waiters: list[_Waiter] = []  # one per waiting dispatcher, newest last

    def put(self, item: Any) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.pop().hand(item)  # the dispatcher that began to wait last
            else:
                self._items.append(item)

    def get(self, timeout: float | None = None) -> Any:
        """The oldest waiting task, or the next one put; ``queue.Empty`` after ``timeout`` seconds without."""
        with self._lock:
            if self._items:
                return self._items.pop(0)
            waiter = _Waiter()
            self._waiters.append(waiter)
        waiter.handed.wait(timeout)
        with self._lock:
            if waiter.item is _NOTHING:  # timed out, and no put chose this dispatcher meanwhile
                self._waiters.remove(waiter)
                raise queue.Empty
            return waiter.item


class _Waiter:
    """A dispatcher waiting in :class:`_Handoff`: the task a ``put`` hands it, and the event that says so."""

    __slots__ = ("handed", "item")

    def __init__(self) -> None:
        self.handed = threading.Event()
        self.item: Any = _NOTHING

    def hand(self, item: Any) -> None:
        self.item = item
        self.handed.set()


_NOTHING = object()


class LocalProcessExecutor(Executor):
    """Worker processes on this machine (``Settings.concurrency`` of them)."""

    capabilities = Capabilities(live_logs=True, cooperative_cancel=True, timeout=True)

    def __init__(self, settings: Settings, size: int | None = None) -> None:
        super().__init__(settings)
        self.size = max(1, int(size if size is not None else settings.concurrency))
        self._cores = _cores()
        self._queue = _Handoff()  # of _Task, or None: stop
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
    @property
    def capacity(self) -> int:
        return self.size

    def submit(self, task_id: str, kind: str, payload: dict[str, Any], events: EventSink | None = None,
               timeout: float | None = None) -> Future:
        if self._closed:
            raise RuntimeError("executor is closed")
        if kind not in TASK_KINDS:
            raise ValueError(f"unknown task kind {kind}")
        task = _Task(task_id, kind, payload, events=events or EventSink(), timeout=timeout)
        with self._lock:
            existing = self._tasks.get(task_id)
            if existing is not None and not existing.future.done():
                raise ValueError(f"task {task_id} is already queued or running")
            self._tasks[task_id] = task
        self._queue.put(task)
        return task.future

    def cancel(self, task_id: str) -> bool:
        """Ask the worker to stop; the dispatcher kills it if it has not stopped after the grace period.

        A task still in the queue never starts. A task that passed the publish fence is not killed: it is
        committing, and a kill then could leave ``main`` moved by a run recorded as failed.
        """
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            return False
        task.cancel_requested = True
        task.cancel_at = time.monotonic()
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            running = len(self._running)
            queued = len(self._tasks) - running
        return {"workers": len(self.worker_pids()), "running": running, "queued": max(0, queued)}

    # Pids are this executor's business; only its own tests use them (to kill a worker for real).
    def worker_pids(self) -> list[int]:
        return [p.pid for p in list(self._procs.values()) if p.is_alive()]

    def pid_of(self, task_id: str) -> int | None:
        with self._lock:
            for slot, tid in self._running.items():
                if tid == task_id:
                    proc = self._procs.get(slot)
                    return proc.pid if proc else None
        return None

    def close(self) -> None:
        self.shutdown()

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for proc in list(self._procs.values()):  # a busy worker must not keep close() waiting for its task
            if proc.is_alive():
                proc.proc.terminate()
        if wait:
            for t in self._threads:
                t.join(timeout=10)
        for proc in list(self._procs.values()):
            if proc.is_alive():
                proc.join(timeout=3)
                proc.kill()
        with self._lock:
            left = list(self._tasks.values())
            self._tasks.clear()
        for task in left:
            if not task.future.done():
                with contextlib.suppress(Exception):
                    task.future.set_exception(WorkerDied("the executor was closed"))

    def wait_ready(self, timeout: float = 120) -> bool:
        """Block until every worker process has started."""
        deadline = time.monotonic() + timeout
        for _ in range(self.size):
            if not self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
        for _ in range(self.size):
            self._ready.release()
        return True

    # -- dispatcher -------------------------------------------------------------------------------
    def _spawn(self, slot: int) -> _Worker:
        worker = _Worker(self.settings, slot)
        self._procs[slot] = worker
        worker.wait_ready()
        return worker

    def _dispatch(self, slot: int) -> None:
        worker: _Worker | None = None
        try:  # start eagerly: the first run does not wait for a process to start (nor, when warm, for imports)
            worker = self._spawn(slot)
        except OSError:
            worker = None
        self._ready.release()
        idle = self.settings.worker_idle_seconds
        while True:
            try:
                task = self._queue.get(timeout=idle if idle > 0 and worker is not None and worker.used else None)
            except queue.Empty:
                worker = self._recycle(slot, worker)
                continue
            if task is None:
                if worker is not None:
                    worker.stop_idle()
                return
            if task.future.done() or task.cancel_requested or self._closed:
                if not task.future.done():
                    task.future.set_exception(WorkerDied("the executor was closed" if self._closed
                                                         else "cancelled before it started"))
                self._forget(task)
                continue
            try:
                if worker is None or not worker.is_alive():
                    worker = self._spawn(slot)
            except OSError as exc:
                task.future.set_exception(WorkerDied(f"could not start a worker process: {exc}"))
                self._forget(task)
                continue
            with self._lock:
                self._running[slot] = task.task_id
            worker.used = True
            try:
                restart = self._drive(task, worker, worker.conn)
            except Exception as exc:  # noqa: BLE001 - never let a dispatcher thread die
                if not task.future.done():
                    task.future.set_exception(WorkerDied(f"internal error: {exc}"))
                restart = True
            finally:
                with self._lock:
                    self._running.pop(slot, None)
                self._forget(task)
            if restart:
                worker.kill()
                worker = None

    def _threads_for_next(self) -> int | None:
        """DuckDB threads for a task starting now: the cores divided among the tasks running (this one
        included), so a lone run gets every core and a full pool one share each (ADR 0031). ``None`` when
        the user set ``duckdb_threads``, which then holds for every task."""
        if self.settings.duckdb_threads:
            return None
        with self._lock:
            busy = max(1, len(self._running))
        return max(1, self._cores // busy)

    def _recycle(self, slot: int, worker: _Worker | None) -> _Worker | None:
        """Replace a worker that has been idle for ``worker_idle_seconds`` with a cold one.

        A worker that has run tasks keeps its imported runtime (~205 MiB) and what its DuckDB database
        and allocator hold on to after the largest query it ran (hundreds of MiB more), until the process
        ends. A server that has gone quiet returns that memory and is back to its start-up footprint. The
        next task on this slot pays a cold start (imports, about a second), as the first one did.
        """
        if worker is not None:
            worker.stop_idle()
        if self._closed:
            return None
        try:
            return self._spawn(slot)
        except OSError:
            return None  # the next task starts one, or reports why it cannot

    def _forget(self, task: _Task) -> None:
        with self._lock:
            if self._tasks.get(task.task_id) is task:  # a retry may already reuse the id
                del self._tasks[task.task_id]

    def _emit(self, task: _Task, kind: str, data: dict[str, Any]) -> None:
        try:
            task.events.on_event(task.task_id, kind, data)
        except Exception:  # noqa: BLE001 - a broken listener must not kill the run
            traceback.print_exc()

    def _emit_logs(self, task: _Task, logs: list[dict[str, Any]]) -> None:
        """Hand the pending log lines to the sink (as one ``logs`` event when it takes batches) and clear them."""
        if not logs:
            return
        batch = list(logs)
        logs.clear()
        if getattr(task.events, "takes_log_batches", False):
            self._emit(task, "logs", {"lines": batch})
        else:
            for line in batch:
                self._emit(task, "log", line)

    def _gate(self, task: _Task) -> bool:
        if task.cancel_requested:
            return False
        try:
            allowed = bool(task.events.may_publish(task.task_id))
        except Exception:  # noqa: BLE001 - when the owner cannot answer, the safe answer is no
            traceback.print_exc()
            allowed = False
        task.publishing = allowed
        return allowed

    def _drive(self, task: _Task, proc: Any, conn: Connection) -> bool:
        """Run one task on one worker. Returns True when the worker must be replaced.

        "started" is recorded when the worker says it starts the task (after a cold worker's imports), so
        the worker does not wait for that state-store write and ``running`` means the task is executing. Log
        lines that arrive together are handed to the sink as one batch (one write instead of one per line);
        they are flushed before anything else the worker sends is acted on, so the order of logs, the
        publish fence and the result stays the worker's.
        """
        try:
            conn.send(("task", task.task_id, task.kind, task.payload, self._threads_for_next()))
        except (OSError, BrokenPipeError):
            task.future.set_exception(WorkerDied("worker process was not reachable"))
            return True
        started = time.monotonic()
        cancel_sent = False
        logs: list[dict[str, Any]] = []
        while True:
            if task.cancel_requested and not cancel_sent and not task.publishing:
                with contextlib.suppress(OSError, BrokenPipeError):
                    conn.send(("cancel", task.task_id))
                cancel_sent = True
            if cancel_sent and task.cancel_at is not None and not task.publishing and \
                    time.monotonic() - task.cancel_at > self.settings.cancel_grace_seconds:
                task.future.set_exception(WorkerDied("cancelled: the worker did not stop in time and was killed"))
                return True
            if task.timeout and not task.publishing and time.monotonic() - started > task.timeout:
                task.future.set_exception(WorkerDied(f"timed out after {task.timeout:.0f}s; the worker was killed"))
                return True
            try:
                ready = conn.poll(0 if logs else 0.1)
            except (OSError, EOFError):
                ready = True
            if not ready:
                if logs:
                    self._emit_logs(task, logs)
                    continue
                if not proc.is_alive():
                    task.future.set_exception(WorkerDied(_exit_text(proc)))
                    return True
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._emit_logs(task, logs)
                proc.join(timeout=1)
                task.future.set_exception(WorkerDied(_exit_text(proc)))
                return True
            if msg[0] in ("event", "events"):  # one event, or a worker's held ones in its order
                for _, kind, data in (msg[1] if msg[0] == "events" else [msg]):
                    if kind == "log":
                        logs.append(data)
                    else:
                        self._emit_logs(task, logs)
                        self._emit(task, kind, data)
                if len(logs) >= LOG_BATCH:
                    self._emit_logs(task, logs)
                continue
            self._emit_logs(task, logs)
            if msg[0] == "gate":
                allowed = self._gate(task)
                try:
                    conn.send(("gate", task.task_id, allowed))
                except (OSError, BrokenPipeError):
                    task.future.set_exception(WorkerDied("worker process was not reachable"))
                    return True
            elif msg[0] == "result":
                task.future.set_result(msg[1])
                return False
            elif msg[0] == "error":
                task.future.set_exception(RuntimeError(msg[1]))
                return False


ProcessPool = LocalProcessExecutor  # the former name, kept for scripts that import it


def _cores() -> int:
    """The cores this server may use (its CPU affinity, which container limits set), as DuckDB would count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _exit_text(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"worker process was killed by {name}"
    return f"worker process exited unexpectedly (exit code {code})"
