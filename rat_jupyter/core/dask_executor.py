"""``DaskExecutor``: runs, previews and test runs as tasks on an existing Dask cluster.

Chosen with ``executor_class = "rat_jupyter.core.dask_executor:DaskExecutor"`` and
``dask_scheduler_address`` (or Dask's own ``scheduler-address`` configuration / ``DASK_SCHEDULER_ADDRESS``).
Each task is one Dask task running the same function a local worker process runs (:func:`worker._handle`):
the same runner, the same DuckDB, the same publish fence. What travels between the server and the task goes
through the scheduler, per submission:

- ``rat-<key>-events`` (a ``distributed.Queue``): the task's events in order — ``started`` (with the worker's
  address and pid), ``log``, ``phase`` and publish-fence questions. One forwarder thread per task in this
  process hands them to the task's :class:`~.executor.EventSink`.
- ``rat-<key>-answers`` (a ``distributed.Queue``): the server's yes/no to a fence question. The task waits
  :data:`GATE_TIMEOUT` seconds at most; no answer means no (the run ends ``cancelled``, ``main`` untouched).
- ``rat-<key>-cancel`` (a ``distributed.Event``): set by :meth:`DaskExecutor.cancel`; a watcher thread in the
  task sets the run's :class:`~.runner.CancelToken`, which interrupts DuckDB.
- ``rat-<key>-started`` (a ``distributed.Event``): set by the first attempt. Dask reschedules a task whose
  worker died; a second attempt finds it set and fails at once, so a lost worker fails only its run (which
  the run retry policy may resubmit, under a fresh key) and a run never executes twice behind the
  server's back.

One task per worker process at a time: DuckDB attaches are process-wide, so every task asks for the
resource ``rat=1`` and workers must be started with ``--resources rat=1`` (a worker without it never gets
a RAT task). Dask is imported lazily: the core works without the ``dask`` extra.

Workers run elsewhere, so the executor refuses settings they cannot reach (local files, SQLite) at
construction, with a message that says what to configure.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import Invalid
from .executor import TASK_KINDS, Capabilities, EventSink, Executor, WorkerDied
from .settings import Settings

RESOURCE = "rat"  # workers: dask worker --resources rat=1
GATE_TIMEOUT = 30.0  # seconds a task waits for the fence's answer before taking it as "no"
POLL = 0.25  # seconds between looks at the cancel event / the event queue


def unreachable_settings(settings: Settings) -> list[str]:
    """What in ``settings`` a worker on another machine could not reach, each with what to configure."""
    problems = []
    if not settings.resolved_storage_url.startswith("s3://"):
        problems.append("storage is local files: set storage_url to s3://bucket/prefix (and the s3_* settings)")
    if not settings.resolved_warehouse.startswith("s3://"):
        problems.append("the Iceberg warehouse is local files: set warehouse to s3://bucket/prefix")
    if settings.catalog_type != "rest" and not settings.resolved_catalog_uri.startswith("postgresql"):
        problems.append("the Iceberg catalog is SQLite: set catalog_uri to postgresql+psycopg://… "
                        "or catalog_type='rest' with a REST catalog_uri")
    if not settings.resolved_state_url.startswith("postgresql"):
        problems.append("the state store is SQLite: set state_url to postgresql://…")
    return problems


def scheduler_address(settings: Settings) -> str:
    address = getattr(settings, "dask_scheduler_address", "") or ""
    if not address:
        import dask

        address = dask.config.get("scheduler-address", None) or ""
    return str(address)


# -- the task (runs in a Dask worker process) ------------------------------------------------------------
_warmed: set[str] = set()


class _QueueReporter:
    def __init__(self, events: Any) -> None:
        self._events = events

    def log(self, level: str, message: str) -> None:
        self._events.put(("event", "log", {"ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                                           "level": level, "message": message}))

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self._events.put(("event", "phase", {"name": name, "duration_ms": duration_ms,
                                             "metadata": metadata or {}}))


class LostWorker(Exception):
    """A previous attempt of this task started on a worker that was lost."""


def run_task(settings: Settings, key: str, kind: str, payload: dict[str, Any], task_id: str,
             gate_timeout: float = GATE_TIMEOUT) -> Any:
    """The Dask task: :func:`worker._handle` with events, the fence and cancel over the scheduler."""
    from distributed import Event, Queue, get_worker

    from . import runner, worker

    started = Event(f"rat-{key}-started")
    if started.is_set():
        raise LostWorker("the worker running this task was lost; it is not run a second time")
    started.set()
    events, answers, cancel = Queue(f"rat-{key}-events"), Queue(f"rat-{key}-answers"), Event(f"rat-{key}-cancel")
    me = get_worker()
    events.put(("event", "started", {"worker": me.address, "pid": os.getpid()}))
    if settings.to_json() not in _warmed:  # once per worker process and configuration
        with contextlib.suppress(Exception):
            runner.warm(settings)
        _warmed.add(settings.to_json())
    token = runner.CancelToken()

    def ask() -> bool:
        if token.cancelled:
            return False
        try:
            events.put(("gate",))
            return bool(answers.get(timeout=gate_timeout))
        except Exception:  # noqa: BLE001 - no answer (timeout, lost scheduler): never publish
            return False

    token.gate = ask
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if cancel.wait(timeout=POLL):
                    token.cancel()
                    return
            except Exception:  # noqa: BLE001 - the scheduler is unreachable: stop rather than publish blind
                if not done.is_set():
                    token.cancel()
                return

    watcher = threading.Thread(target=watch, name=f"rat-cancel-{task_id}", daemon=True)
    watcher.start()
    try:
        return worker._handle(settings, task_id, kind, payload, _QueueReporter(events), token)
    finally:
        done.set()
        watcher.join(timeout=2 * POLL + 1)


# -- the executor (runs in the server) --------------------------------------------------------------------
@dataclass
class _Task:
    task_id: str
    kind: str
    key: str
    future: Future
    events: EventSink
    timeout: float | None
    dask_future: Any = None
    started_at: float | None = None
    where: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    cancel_at: float | None = None
    publishing: bool = False


class DaskExecutor(Executor):
    """Tasks on an existing Dask cluster; see the module docstring."""

    capabilities = Capabilities(live_logs=True, cooperative_cancel=True, timeout=True)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        problems = unreachable_settings(settings)
        if problems:
            raise Invalid("DaskExecutor: Dask workers run in other processes and machines and cannot reach "
                          "this server's files; " + "; ".join(problems))
        try:
            import distributed
        except ImportError:
            raise Invalid("DaskExecutor needs the dask extra: pip install 'rat-jupyter[dask]'") from None
        address = scheduler_address(settings)
        if not address:
            raise Invalid("DaskExecutor needs a scheduler: set dask_scheduler_address "
                          "(c.RatApp.dask_scheduler_address) to tcp://host:8786")
        try:
            self.client = distributed.Client(address, timeout=30, set_as_default=False)
        except OSError as exc:
            raise Invalid(f"DaskExecutor could not connect to the Dask scheduler at {address}: {exc}") from None
        self.address = address
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.gate_timeout = GATE_TIMEOUT  # how long a task waits for the fence's answer (tests shorten it)
        self._capacity, self._capacity_at = 1, float("-inf")

    @property
    def capacity(self) -> int:
        """The number of RAT slots the cluster's workers declare (at least one, so runs queue).

        Asked of the scheduler at most once a second: the run claimer reads it on every pass."""
        now = time.monotonic()
        if now - self._capacity_at < 1.0:
            return self._capacity
        try:
            workers = self._workers()
        except Exception:  # noqa: BLE001 - the scheduler is away: claim one run, which will wait
            workers = {}
        self._capacity = max(1, sum(int(w.get("resources", {}).get(RESOURCE, 0)) for w in workers.values()))
        self._capacity_at = now
        return self._capacity

    def _workers(self) -> dict[str, Any]:
        try:
            return self.client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # older distributed: no n_workers argument
            return self.client.scheduler_info()["workers"]

    def submit(self, task_id: str, kind: str, payload: dict[str, Any], events: EventSink | None = None,
               timeout: float | None = None) -> Future:
        if self._closed:
            raise RuntimeError("executor is closed")
        if kind not in TASK_KINDS:
            raise ValueError(f"unknown task kind {kind}")
        # A retry reuses the run id; a fresh key per submission keeps its channels and Dask key apart.
        key = f"{kind}-{task_id}-{uuid.uuid4().hex[:8]}"
        task = _Task(task_id, kind, key, Future(), events or EventSink(), timeout)
        with self._lock:
            existing = self._tasks.get(task_id)
            if existing is not None and not existing.future.done():
                raise ValueError(f"task {task_id} is already queued or running")
            self._tasks[task_id] = task
        task.dask_future = self.client.submit(run_task, self.settings, key, kind, payload, task_id, self.gate_timeout,
                                              key=key, pure=False, resources={RESOURCE: 1}, retries=0)
        threading.Thread(target=self._forward, args=(task,), name=f"rat-dask-{task_id}", daemon=True).start()
        return task.future

    def cancel(self, task_id: str) -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            return False
        task.cancel_requested = True
        task.cancel_at = time.monotonic()
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            running = sum(1 for t in self._tasks.values() if t.started_at is not None)
            queued = len(self._tasks) - running
        return {"running": running, "queued": queued}

    def wait_ready(self, timeout: float = 120) -> bool:
        """Block until at least one worker offers a RAT slot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                workers = self._workers()
                if any(w.get("resources", {}).get(RESOURCE) for w in workers.values()):
                    return True
            time.sleep(0.2)
        return False

    def where(self, task_id: str) -> dict[str, Any]:
        """The worker (``worker`` address, ``pid``) running a task, once it started (tests use it)."""
        with self._lock:
            task = self._tasks.get(task_id)
        return dict(task.where) if task else {}

    def close(self) -> None:
        self._closed = True
        with self._lock:
            left = list(self._tasks.values())
        for task in left:
            task.cancel_requested = True
            with contextlib.suppress(Exception):
                self._cancel_event(task).set()
        deadline = time.monotonic() + 10
        while any(not t.future.done() for t in left) and time.monotonic() < deadline:
            time.sleep(0.05)
        for task in left:
            if not task.future.done():
                with contextlib.suppress(Exception):
                    task.dask_future.cancel()
                with contextlib.suppress(Exception):
                    task.future.set_exception(WorkerDied("the executor was closed"))
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)

    # -- per-task forwarder ------------------------------------------------------------------------
    def _cancel_event(self, task: _Task) -> Any:
        from distributed import Event

        return Event(f"rat-{task.key}-cancel", client=self.client)

    def _forward(self, task: _Task) -> None:
        from distributed import Event, Queue

        try:
            events = Queue(f"rat-{task.key}-events", client=self.client)
            answers = Queue(f"rat-{task.key}-answers", client=self.client)
            cancel = self._cancel_event(task)
            self._pump(task, events, answers, cancel)
        except Exception as exc:  # noqa: BLE001 - never leave the future unresolved
            traceback.print_exc()
            self._fail(task, WorkerDied(f"lost contact with the Dask scheduler: {exc}"))
        finally:
            with self._lock:
                if self._tasks.get(task.task_id) is task:
                    del self._tasks[task.task_id]
            for name in ("events", "answers"):
                with contextlib.suppress(Exception):
                    Queue(f"rat-{task.key}-{name}", client=self.client).close()
            for name in ("cancel", "started"):
                with contextlib.suppress(Exception):
                    Event(f"rat-{task.key}-{name}", client=self.client).clear()
            with contextlib.suppress(Exception):
                task.dask_future.release()

    def _pump(self, task: _Task, events: Any, answers: Any, cancel: Any) -> None:
        cancel_sent = False
        last_look = time.monotonic()
        while True:
            if task.cancel_requested and not task.publishing:
                if task.started_at is None and not task.dask_future.done():
                    task.dask_future.cancel()  # still queued: it never starts
                    self._fail(task, WorkerDied("cancelled before it started"))
                    return
                if not cancel_sent:
                    cancel.set()
                    cancel_sent = True
                if task.cancel_at is not None and time.monotonic() - task.cancel_at > \
                        self.settings.cancel_grace_seconds:
                    # The task did not stop: give up on it. It can no longer publish (the fence says no).
                    task.dask_future.cancel()
                    self._fail(task, WorkerDied("cancelled: the task did not stop in time and was abandoned"))
                    return
            if task.timeout and task.started_at is not None and not task.publishing and \
                    time.monotonic() - task.started_at > task.timeout:
                # Like the local pool's kill: the run fails now; the task is told to stop and can no longer
                # publish (cancel_requested makes the fence say no).
                task.cancel_requested = True
                cancel.set()
                self._fail(task, WorkerDied(f"timed out after {task.timeout:.0f}s; the task was told to stop"))
                return
            if task.started_at is not None and not task.publishing and time.monotonic() - last_look > 1.0:
                last_look = time.monotonic()
                if not self._worker_alive(task.where.get("worker")):
                    # Dask would reschedule it; the second attempt would refuse anyway (see run_task), but
                    # failing now does not make the run wait for a free slot to learn that.
                    task.dask_future.cancel()
                    self._fail(task, WorkerDied(f"the Dask worker {task.where.get('worker')} running the task "
                                                f"was lost"))
                    return
            finished = task.dask_future.done()
            if finished and events.qsize() == 0:
                self._resolve(task)
                return
            try:
                msg = events.get(timeout=POLL)
            except TimeoutError:
                continue
            if msg[0] == "event":
                if msg[1] == "started":
                    task.started_at = time.monotonic()
                    task.where = dict(msg[2])
                self._emit(task, msg[1], msg[2])
            elif msg[0] == "gate":
                answers.put(self._gate(task))

    def _worker_alive(self, address: str | None) -> bool:
        try:
            return address in self._workers()
        except Exception:  # noqa: BLE001 - cannot tell: do not fail a run on a hiccup
            return True

    def _resolve(self, task: _Task) -> None:
        from distributed.scheduler import KilledWorker

        fut = task.dask_future
        if fut.status == "cancelled":
            self._fail(task, WorkerDied("the Dask task was cancelled"))
            return
        try:
            result = fut.result()
        except (LostWorker, KilledWorker) as exc:
            self._fail(task, WorkerDied(f"the Dask worker was lost: {exc}"))
            return
        except Exception as exc:  # noqa: BLE001 - the task raised: report it like a local worker does
            self._fail(task, RuntimeError(f"{type(exc).__name__}: {exc}"))
            return
        if not task.future.done():
            task.future.set_result(result)

    @staticmethod
    def _fail(task: _Task, exc: BaseException) -> None:
        if not task.future.done():
            with contextlib.suppress(Exception):
                task.future.set_exception(exc)

    @staticmethod
    def _emit(task: _Task, kind: str, data: dict[str, Any]) -> None:
        try:
            task.events.on_event(task.task_id, kind, data)
        except Exception:  # noqa: BLE001 - a broken listener must not kill the run
            traceback.print_exc()

    @staticmethod
    def _gate(task: _Task) -> bool:
        if task.cancel_requested:
            return False
        try:
            allowed = bool(task.events.may_publish(task.task_id))
        except Exception:  # noqa: BLE001 - when the owner cannot answer, the safe answer is no
            traceback.print_exc()
            allowed = False
        task.publishing = allowed
        return allowed
