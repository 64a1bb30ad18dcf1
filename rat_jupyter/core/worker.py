"""Worker process entry point: ``python -m rat_jupyter.core.worker <fd> <server pid> [cold]``; the settings arrive
first.

A warm worker imports the runtime (DuckDB, pyarrow, pyiceberg: ~205 MiB resident; pandas waits for a pipeline
that uses it, ADR 0035) and opens its catalog and DuckDB database before it reports ready, so its first task
starts at once. A ``cold`` one reports ready with only this module loaded (~20 MiB) and imports the runtime
when its first task arrives (under a second).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
import threading
import time
import traceback
import warnings
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import runner
    from .settings import Settings


class PipeReporter:
    def __init__(self, send: Any) -> None:
        self._send = send

    def log(self, level: str, message: str) -> None:
        self._send(("event", "log", {"ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                                     "level": level, "message": message}))

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self._send(("event", "phase", {"name": name, "duration_ms": duration_ms, "metadata": metadata or {}}))


FLUSH_SECONDS = 0.05  # how long a worker holds a run's log lines and phases before it sends them


class Outbox:
    """The worker's side of the channel: log lines and phases go out together, everything else at once.

    A run reports about ten events; sent one by one, each cost a pickle and a pipe write here and a wake-up,
    a read and a dispatch in the server (about 1 ms of CPU per run on both sides in a DAG). Events are
    held for at most ``FLUSH_SECONDS`` (a live log stays live) and sent as one ``("events", [...])``
    message; any other message (the run's start, the publish gate, the result) first sends what is held,
    so the server sees everything in the worker's order.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._held: list[tuple[Any, ...]] = []
        self._wake = threading.Condition(self._lock)
        threading.Thread(target=self._flusher, name="rat-outbox", daemon=True).start()

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._lock:
            if msg[0] == "event" and msg[1] in ("log", "phase"):
                self._held.append(msg)
                if len(self._held) == 1:
                    self._wake.notify()
                return
            self._flush()
            self._conn.send(msg)

    def _flush(self) -> None:
        held, self._held = self._held, []
        if held:
            self._conn.send(("events", held))

    def _flusher(self) -> None:
        with self._lock:
            while True:
                while not self._held:
                    self._wake.wait()
                self._wake.wait(FLUSH_SECONDS)  # the lock is released while waiting; more may arrive
                try:
                    self._flush()
                except OSError:
                    return  # the channel is gone: the control thread handles a lost server


WATCHDOG_SECONDS = 0.2  # how often a worker checks that the server that started it is still there
ORPHANED_EXIT = 75  # the exit code of a worker that lost its server


def die_with_parent(parent_pid: int | None) -> None:
    """Ask the kernel to SIGKILL this worker when the process that started it dies (Linux ``prctl``).

    A worker whose server is gone must never commit: its run was (or will be) marked failed by the next
    server, so a late publish would move ``main`` for a run recorded as failed. ``PR_SET_PDEATHSIG`` fires
    when the *thread* that forked us ends, which for the executor's long-lived dispatcher threads is the
    process; :func:`_watchdog` covers the rest (other OSes, a parent gone before this call).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if parent_pid is not None and os.getppid() != parent_pid:
        _orphaned()  # the parent died before the signal was armed


def _orphaned() -> None:
    """Exit at once, without unwinding: no ``finally`` and no commit may run after the server is gone."""
    with contextlib.suppress(Exception):
        sys.stderr.write("rat worker: the server that started this worker is gone; stopping\n")
        sys.stderr.flush()
    os._exit(ORPHANED_EXIT)


def _watchdog(parent_pid: int, lost: Any) -> None:
    """The parent changed (re-parented to init or a subreaper): the server died. Stop everything."""
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent_pid:
            lost()


def _runtime() -> Any:
    """The runner module (and with it DuckDB, pyarrow, pyiceberg), imported on first use; pandas is left to
    load when a pipeline imports it (ADR 0035)."""
    runner = sys.modules.get(f"{__package__}.runner")
    if runner is None:
        from .lazy_pandas import runtime_without_pandas

        with runtime_without_pandas():
            from . import runner
    return runner


def main(conn: Connection, settings: Settings, parent_pid: int | None = None, warm: bool = True) -> None:
    die_with_parent(parent_pid)
    # Jupyter interrupts a kernel by signalling its whole process group; a worker started from a notebook
    # must not die with the cell. Cancellation reaches workers through the control channel instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.filterwarnings("ignore", message="Delete operation did not match any records")
    tasks: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    tokens: dict[str, runner.CancelToken] = {}
    answers: dict[str, queue.Queue[bool]] = {}  # publish-gate answers from the parent, per task

    outbox = Outbox(conn)
    send = outbox.send

    def lost() -> None:
        # The server is gone: interrupt the running query, refuse the publish fence, exit before any commit.
        for token in list(tokens.values()):
            token.cancel()
        _refuse_all(answers)
        _orphaned()

    def control() -> None:
        # Receives tasks and cancel requests while a task runs on the main thread. EOF means the server
        # closed our channel or died: the executor only closes it after killing us, so this is never normal.
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                lost()
                return
            if msg[0] == "stop":
                _refuse_all(answers)
                tasks.put(None)
                return
            if msg[0] == "cancel":
                token = tokens.get(msg[1])
                if token:
                    token.cancel()
            elif msg[0] == "gate":
                answer = answers.get(msg[1])
                if answer is not None:
                    answer.put(bool(msg[2]))
            elif msg[0] == "task":
                token = _runtime().CancelToken()
                answers[msg[1]] = queue.Queue()
                token.gate = _gate(send, msg[1], answers[msg[1]])
                tokens[msg[1]] = token
                tasks.put(msg)

    threading.Thread(target=control, daemon=True).start()
    if parent_pid is not None:
        threading.Thread(target=_watchdog, args=(parent_pid, lost), name="rat-watchdog", daemon=True).start()
    if warm:
        try:
            _runtime().warm(settings)
        except Exception:  # noqa: BLE001 - a task will report the real problem
            traceback.print_exc()
    send(("ready",))
    while True:
        msg = tasks.get()
        if msg is None:
            return
        _, task_id, kind, payload, threads = msg  # threads: the cores the other busy workers leave this task
        token = tokens[task_id]
        reporter = PipeReporter(send)
        send(("event", "started", {}))  # the parent records the run as running from here
        try:
            if threads is not None:
                from . import engine

                engine.use_threads(settings, threads)
            result = _handle(settings, task_id, kind, payload, reporter, token)
            send(("result", result))
        except Exception as exc:  # noqa: BLE001 - report to the parent instead of dying
            with contextlib.suppress(OSError):
                send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        finally:
            tokens.pop(task_id, None)
            answers.pop(task_id, None)


def _gate(send: Any, task_id: str, answer: queue.Queue[bool]) -> Any:
    """The publish fence as the runner sees it: ask the parent, wait for its yes or no.

    The parent answers by a compare-and-set on the state store (the run is still running, nobody asked to
    cancel it), so the wait is one database write. A lost parent means no (``main`` stays untouched).
    """

    def ask() -> bool:
        try:
            send(("gate", task_id))
        except OSError:
            return False
        try:
            return answer.get(timeout=120)
        except queue.Empty:
            return False

    return ask


def _refuse_all(answers: dict[str, queue.Queue[bool]]) -> None:
    for answer in list(answers.values()):
        answer.put(False)


def _handle(settings: Settings, task_id: str, kind: str, payload: dict[str, Any], reporter: PipeReporter,
            token: runner.CancelToken) -> Any:
    from .names import PipelineId

    runner = _runtime()
    pid = PipelineId(*payload["pipeline"])
    if kind == "run":
        return runner.execute_run(settings, task_id, pid, payload["files"], reporter, token,
                                  payload.get("run_started_at")).to_dict()
    if kind == "preview":
        return runner.preview(settings, pid, payload["files"], payload["limit"], reporter, token,
                              payload.get("sample_files", True))
    if kind == "tests":
        from .errors import RatError

        try:
            return {"results": runner.run_tests_now(settings, pid, payload["files"], reporter, payload.get("names"))}
        except RatError as exc:
            return {"error": exc.message, "code": exc.code, "status": exc.status}
    raise ValueError(f"unknown task kind {kind}")


if __name__ == "__main__":
    _conn = Connection(int(sys.argv[1]))
    main(_conn, _conn.recv(), int(sys.argv[2]) if len(sys.argv) > 2 else None, warm="cold" not in sys.argv[3:])
