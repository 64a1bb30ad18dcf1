"""An executor that runs previews and test runs in the calling thread of this process — never runs.

A kernel started by a Jupyter server is a client: its runs are ``pending`` rows the server claims and
executes on its own workers. Previews and test runs are different: they write nothing, their result is
wanted right here, and a kernel is already an isolated process that Jupyter interrupts with SIGINT. So the
kernel executes them itself, in the cell's thread, where an interrupt lands in DuckDB (which stops the
query) — no worker processes per kernel, which is what made every notebook a second platform. The server's
own previews (REST) keep using its worker pool: a slow preview must not block the server's event loop.

The server exports this class as ``executor_class`` to its kernels (:meth:`Settings.to_client_json`).
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from ..core import runner
from ..core.errors import Invalid, RatError
from ..core.executor import Capabilities, EventSink, Executor
from ..core.names import PipelineId

IN_PROCESS_EXECUTOR = "rat_jupyter.kernel.inprocess:InProcessExecutor"


class _SinkReporter:
    """The runner's reporter, forwarding log lines and phases to the task's event sink."""

    def __init__(self, task_id: str, events: EventSink) -> None:
        self.task_id = task_id
        self.events = events

    def log(self, level: str, message: str) -> None:
        self.events.on_event(self.task_id, "log", {"ts": datetime.now(UTC).isoformat(), "level": level,
                                                   "message": message})

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self.events.on_event(self.task_id, "phase", {"name": name, "duration_ms": duration_ms,
                                                     "metadata": metadata or {}})


class InProcessExecutor(Executor):
    """Previews and tests, executed synchronously by :meth:`submit`; the returned Future is already done."""

    capabilities = Capabilities(live_logs=True, cooperative_cancel=False, timeout=False)

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, task_id: str, kind: str, payload: dict[str, Any], events: EventSink | None = None,
               timeout: float | None = None) -> Future:
        if kind == "run":
            raise Invalid("this process is a client of a RAT server: runs are submitted to the server "
                          "(a pending run it claims), never executed here")
        if kind not in ("preview", "tests"):
            raise Invalid(f"unknown task kind '{kind}'")
        reporter = _SinkReporter(task_id, events or EventSink())
        pid = PipelineId(*payload["pipeline"])
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:  # KeyboardInterrupt is not caught: it interrupts the cell, as a query in the cell would
            if kind == "preview":
                result: Any = runner.preview(self.settings, pid, payload["files"], payload["limit"], reporter,
                                             runner.CancelToken(), payload.get("sample_files", True))
            else:
                try:
                    result = {"results": runner.run_tests_now(self.settings, pid, payload["files"], reporter,
                                                              payload.get("names"))}
                except RatError as exc:  # the shape a worker answers with, which the workspace expects
                    result = {"error": exc.message, "code": exc.code, "status": exc.status}
        except Exception as exc:  # noqa: BLE001 - delivered through the future, like a worker's failure
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def cancel(self, task_id: str) -> bool:
        return False  # tasks run in the caller's thread: an interrupt (SIGINT) stops them

    def close(self) -> None:
        return None
