"""Worker process entry point: ``python -m rat_jupyter.core.worker <fd>``; the settings arrive first."""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import traceback
import warnings
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from . import runner
from .names import PipelineId
from .settings import Settings


class PipeReporter:
    def __init__(self, send: Any) -> None:
        self._send = send

    def log(self, level: str, message: str) -> None:
        self._send(("event", "log", {"ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                                     "level": level, "message": message}))

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self._send(("event", "phase", {"name": name, "duration_ms": duration_ms, "metadata": metadata or {}}))


def main(conn: Connection, settings: Settings) -> None:
    # Jupyter interrupts a kernel by signalling its whole process group; a worker started from a notebook
    # must not die with the cell. Cancellation reaches workers through the control channel instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.filterwarnings("ignore", message="Delete operation did not match any records")
    lock = threading.Lock()
    tasks: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    tokens: dict[str, runner.CancelToken] = {}
    answers: dict[str, queue.Queue[bool]] = {}  # publish-gate answers from the parent, per task

    def send(msg: tuple[Any, ...]) -> None:
        with lock:
            conn.send(msg)

    def control() -> None:
        # Receives tasks and cancel requests while a task runs on the main thread.
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                _refuse_all(answers)
                tasks.put(None)
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
                token = runner.CancelToken()
                answers[msg[1]] = queue.Queue()
                token.gate = _gate(send, msg[1], answers[msg[1]])
                tokens[msg[1]] = token
                tasks.put(msg)

    threading.Thread(target=control, daemon=True).start()
    try:
        runner.warm(settings)
    except Exception:  # noqa: BLE001 - a task will report the real problem
        traceback.print_exc()
    send(("ready",))
    while True:
        msg = tasks.get()
        if msg is None:
            return
        _, task_id, kind, payload = msg
        token = tokens[task_id]
        reporter = PipeReporter(send)
        try:
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
    import sys

    _conn = Connection(int(sys.argv[1]))
    main(_conn, _conn.recv())
