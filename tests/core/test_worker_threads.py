"""What a local worker is given and keeps: DuckDB threads per task (ADR 0031: busy workers share the cores,
a lone run gets them all, a ``duckdb_threads`` the user set holds for every task), and its memory, given
back when it has been idle for ``worker_idle_seconds``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rat_jupyter.core import executor as executor_module
from rat_jupyter.core.executor import EventSink, LocalProcessExecutor
from rat_jupyter.core.settings import Settings

_REPORT = "log('threads ' + str(duckdb_conn.sql(\"SELECT current_setting('threads')\").fetchone()[0]))\n"
_RESULT = "result = duckdb_conn.sql('SELECT 1 AS v').arrow()\n"


class _Threads(EventSink):
    """Keeps the thread count the task's pipeline logged."""

    takes_log_batches = True

    def __init__(self) -> None:
        self.threads: int | None = None

    def on_event(self, task_id: str, kind: str, data: dict[str, Any]) -> None:
        lines = data["lines"] if kind == "logs" else [data] if kind == "log" else []
        for line in lines:
            if m := re.fullmatch(r"threads (\d+)", line["message"]):
                self.threads = int(m[1])


@contextmanager
def _started(settings: Settings, size: int) -> Iterator[LocalProcessExecutor]:
    """A local executor whose workers are up; closed (its workers stopped) on the way out."""
    executor = LocalProcessExecutor(settings, size=size)
    try:
        assert executor.wait_ready(120)
        yield executor
    finally:
        executor.close()


def _wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    return check()


def _run(executor: LocalProcessExecutor, task_id: str, source: str) -> tuple[Any, _Threads]:
    sink = _Threads()
    future = executor.submit(task_id, "run", {"pipeline": ("n", "bronze", task_id), "files": {"pipeline.py": source}},
                             events=sink)
    return future, sink


def test_busy_workers_share_the_cores_and_a_lone_run_gets_them_all(tmp_path: Path) -> None:
    cores = executor_module._cores()
    flag = tmp_path / "release"
    hold = (f"import pathlib, time\n{_REPORT}"
            f"while not pathlib.Path({str(flag)!r}).exists():\n    time.sleep(0.02)\n{_RESULT}")
    with _started(Settings(data_dir=tmp_path / "data"), 2) as executor:
        first, first_sink = _run(executor, "a", hold)
        assert _wait_for(lambda: first_sink.threads, 60) == cores  # alone: every core
        second, second_sink = _run(executor, "b", _REPORT + _RESULT)
        assert second.result(timeout=120)["status"] == "success"
        assert second_sink.threads == max(1, cores // 2)  # started while the first still ran: one share
        assert not first.done()
        flag.touch()
        assert first.result(timeout=120)["status"] == "success"
        # The worker that ran the second task is sized back up when it runs alone again.
        for name in ("c", "d"):
            alone, alone_sink = _run(executor, name, _REPORT + _RESULT)
            assert alone.result(timeout=120)["status"] == "success"
            assert alone_sink.threads == cores


def test_threads_the_user_set_hold_for_every_task(tmp_path: Path) -> None:
    with _started(Settings(data_dir=tmp_path, duckdb_threads=1), 1) as executor:
        assert executor._threads_for_next() is None  # no hint: the worker keeps the configured count
        future, sink = _run(executor, "u", _REPORT + _RESULT)
        assert future.result(timeout=120)["status"] == "success"
        assert sink.threads == 1


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_a_worker_idle_after_a_task_gives_its_memory_back(tmp_path: Path) -> None:
    """After ``worker_idle_seconds`` without work, a worker that ran a task is replaced by a cold one (tens
    of MiB instead of the runtime and DuckDB's working memory); one that never ran a task is left alone; the
    next task runs on the new worker."""
    big = ("result = duckdb_conn.sql('SELECT range AS id, md5(range::VARCHAR) AS h FROM range(2000000) "
           "ORDER BY h').arrow()\n")
    with _started(Settings(data_dir=tmp_path, worker_idle_seconds=2), 1) as executor:
        (fresh,) = executor.worker_pids()
        time.sleep(2.5)
        assert executor.worker_pids() == [fresh]  # never used: nothing to give back, no churn
        future, _ = _run(executor, "big", big)
        assert future.result(timeout=120)["status"] == "success"
        assert _rss_mib(fresh) > 150  # the runtime and what the query left behind
        (recycled,) = _wait_for(lambda: [p for p in executor.worker_pids() if p != fresh] or None)
        assert _rss_mib(recycled) < 100  # cold: imports nothing until a task arrives
        again, _ = _run(executor, "again", _RESULT)
        assert again.result(timeout=120)["status"] == "success"
        assert executor.worker_pids() == [recycled]


def test_workers_are_kept_when_recycling_is_off(tmp_path: Path) -> None:
    with _started(Settings(data_dir=tmp_path, worker_idle_seconds=0), 1) as executor:
        future, _ = _run(executor, "one", _RESULT)
        assert future.result(timeout=120)["status"] == "success"
        (pid,) = executor.worker_pids()
        time.sleep(1.5)
        assert executor.worker_pids() == [pid]
