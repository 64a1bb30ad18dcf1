"""The executor is a seam: a second implementation, chosen by ``Settings.executor_class``, runs real runs.

``InlineExecutor`` executes each task on a thread of this process (the real runner, real DuckDB and Iceberg).
It knows nothing of the state store; the core knows nothing of it but the :class:`Executor` interface — logs,
the publish fence and cancel all travel through the event sink, as they would for a remote engine.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from rat_jupyter.core import runner, worker
from rat_jupyter.core.executor import Capabilities, EventSink, Executor
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, rows


class _SinkReporter:
    def __init__(self, events: EventSink, task_id: str) -> None:
        self.events, self.task_id = events, task_id

    def log(self, level: str, message: str) -> None:
        self.events.on_event(self.task_id, "log", {"ts": datetime.now(UTC).isoformat(), "level": level,
                                                   "message": message})

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self.events.on_event(self.task_id, "phase", {"name": name, "duration_ms": duration_ms,
                                                     "metadata": metadata or {}})


class InlineExecutor(Executor):
    """Tasks on threads of this process: no isolation, but the same contract."""

    capabilities = Capabilities(live_logs=True, cooperative_cancel=True, timeout=False)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inline-executor")
        self._tokens: dict[str, runner.CancelToken] = {}
        self.submitted: list[str] = []

    @property
    def capacity(self) -> int:
        return 2

    def submit(self, task_id: str, kind: str, payload: dict[str, Any], events: EventSink | None = None,
               timeout: float | None = None) -> Future:
        sink = events or EventSink()
        token = runner.CancelToken()
        token.gate = lambda: sink.may_publish(task_id)
        self._tokens[task_id] = token
        self.submitted.append(kind)

        def work() -> Any:
            sink.on_event(task_id, "started", {})
            try:
                return worker._handle(self.settings, task_id, kind, payload, _SinkReporter(sink, task_id), token)
            finally:
                self._tokens.pop(task_id, None)

        return self._threads.submit(work)

    def cancel(self, task_id: str) -> bool:
        token = self._tokens.get(task_id)
        if token is None:
            return False
        token.cancel()
        return True

    def close(self) -> None:
        for token in list(self._tokens.values()):
            token.cancel()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def stats(self) -> dict[str, int]:
        return {"running": len(self._tokens), "queued": 0}


def test_a_second_executor_chosen_by_import_string_runs_previews_runs_and_cancels(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, executor_class="tests.core.test_ownership_executor:InlineExecutor")
    with Workspace.open(settings) as ws:
        assert type(ws.executor) is InlineExecutor
        ws.create_namespace("n")
        make_pipeline(ws, "n", "bronze", "a", "SELECT 1 AS v UNION ALL SELECT 2")
        assert ws.preview("n", "bronze", "a")["total_row_count"] == 2
        (run,) = ws.run_selection("n.bronze.a", wait=True, timeout=120)
        assert run.status == "success", run.error
        assert run.publishing_at is not None  # the fence was asked through the sink
        assert rows(ws, "n", "bronze", "a") == [(1,), (2,)]
        assert any(line["message"].startswith("Running n.bronze.a") for line in ws.run_logs(run.id)["logs"])

        make_pipeline(ws, "n", "silver", "slow", "SELECT sum(a.range * b.range) AS s FROM range(200000) a, "
                                                 "range(200000) b")
        (slow,) = ws.run_selection("n.silver.slow")
        deadline = time.monotonic() + 60
        while ws.get_run(slow.id)["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        assert ws.cancel_run(slow.id)["status"] == "cancelled"
        while not (final := ws.get_run(slow.id))["finished_at"]:
            assert time.monotonic() < deadline, "the inline task did not stop"
            time.sleep(0.05)
        assert final["status"] == "cancelled"
        assert ws.catalog.load(ws.pid("n", "silver", "slow")) is None
        assert ws.readiness()["workers"] == "ok"  # no worker processes, and none expected
        assert ws.executor.submitted == ["preview", "run", "run"]
        info = ws.executor_info()
        assert info["class"] == "tests.core.test_ownership_executor:InlineExecutor" and info["capacity"] == 2
        assert info["capabilities"]["timeout"] is False and "workers" not in info
