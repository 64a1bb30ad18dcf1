"""What a worker keeps between tasks (compiled templates, loaded tables, its DuckDB database) and what the
server does to keep workers busy (runs claimed ahead, log lines in batches) never leaks from one run into
the next: a failed or cancelled run leaves nothing behind, caches follow the source and the catalog."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core import runner, templating
from rat_jupyter.core.executor import EventSink, LocalProcessExecutor
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.runs import QUEUE_AHEAD
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.templating import RenderContext, render
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, run_one


def _ctx() -> RenderContext:
    return RenderContext(namespace="n", pipeline=PipelineId("n", "silver", "x"), strategy="full_refresh",
                         is_incremental=False, watermark_value=None, run_started_at="2026-01-01T00:00:00+00:00")


def test_compiled_templates_are_reused_and_follow_the_source() -> None:
    source = "SELECT {{ 40 + 2 }} AS v -- cache probe one"
    assert render(source, _ctx()).sql.startswith("SELECT 42 AS v")
    hits = templating._compiled.cache_info().hits
    assert render(source, _ctx()).sql.startswith("SELECT 42 AS v")
    assert templating._compiled.cache_info().hits == hits + 1  # compiled once, rendered twice

    changed = source.replace("40 + 2", "40 + 3")  # an edited source is another key: never the stale template
    assert render(changed, _ctx()).sql.startswith("SELECT 43 AS v")

    broken = "SELECT {{ 1 + }} -- cache probe two"
    for _ in range(2):  # a syntax error is raised every time, never cached as a template
        with pytest.raises(templating.TemplateError, match="syntax error at line 1"):
            render(broken, _ctx())
    assert render(broken.replace("1 + ", "1 + 1"), _ctx()).sql.startswith("SELECT 2")


def test_table_cache_reuses_a_table_until_the_catalog_moves(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    assert run_one(workspace, ns, "bronze", "a").status == "success"
    pid = workspace.pid(ns, "bronze", "a")
    catalog = workspace.catalog
    first = runner._Tables.load(catalog, pid)
    assert first is not None
    assert runner._Tables.load(catalog, pid) is first  # nothing changed: no metadata read again

    assert run_one(workspace, ns, "bronze", "a").status == "success"  # a worker commits (another process)
    second = runner._Tables.load(catalog, pid)
    assert second is not first
    assert second.metadata_location == catalog.load(pid).metadata_location == catalog.metadata_location(pid)
    assert second.metadata.snapshot_by_name("main").snapshot_id != first.metadata.snapshot_by_name("main").snapshot_id

    catalog.drop(pid)
    assert catalog.metadata_location(pid) is None
    assert runner._Tables.load(catalog, pid) is None  # a dropped table is not served from the cache


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One worker process: every run of these tests goes through the same process, one after another."""
    ws = Workspace.open(Settings(data_dir=tmp_path_factory.mktemp("rat1"), concurrency=1, cancel_grace_seconds=5),
                        warm=True)
    yield ws
    ws.close()


def _worker_pids(ws: Workspace) -> list[int]:
    executor = ws.executor
    assert isinstance(executor, LocalProcessExecutor)
    return executor.worker_pids()


def _main(ws: Workspace, ns: str, layer: str, name: str) -> tuple[int, list[dict]]:
    table = ws.catalog.load(ws.pid(ns, layer, name))
    return table.metadata.snapshot_by_name("main").snapshot_id, table.scan().to_arrow().to_pylist()


def test_a_failed_run_leaves_nothing_for_the_next_run_on_the_same_worker(one_worker: Workspace) -> None:
    ws = one_worker
    ws.create_namespace("fail")
    make_pipeline(ws, "fail", "bronze", "a", "SELECT range AS id FROM range(3)")
    make_pipeline(ws, "fail", "silver", "b", "SELECT id * 10 AS v FROM {{ ref('bronze.a') }}")
    assert run_one(ws, "fail", "bronze", "a").status == "success"
    assert run_one(ws, "fail", "silver", "b").status == "success"
    pids = _worker_pids(ws)
    before = _main(ws, "fail", "silver", "b")

    # Fails after its query started writing (staged file, views, a temp table of its own on the worker's
    # shared DuckDB database): nothing of it may be seen by the next run.
    republish(ws, "fail", "silver", "b",
              "SELECT CASE WHEN id = 2 THEN error('boom') ELSE id END AS v FROM {{ ref('bronze.a') }}")
    run = run_one(ws, "fail", "silver", "b")
    assert run.status == "failed" and "boom" in run.error
    assert _main(ws, "fail", "silver", "b") == before
    ws.create_pipeline("fail", "silver", "leak", type="python", source=(
        "duckdb_conn.execute('CREATE TEMP TABLE rat_leak AS SELECT 1 AS x')\n"
        "raise RuntimeError('fails after leaving a temp table')\n"))
    ws.publish_pipeline("fail", "silver", "leak")
    assert run_one(ws, "fail", "silver", "leak").status == "failed"

    ws.create_pipeline("fail", "silver", "probe", type="python", source=(
        "n = duckdb_conn.execute(\"SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rat_leak'\")"
        ".fetchone()[0]\n"
        "result = duckdb_conn.sql(f'SELECT {n} AS leaked_tables').arrow()\n"))
    ws.publish_pipeline("fail", "silver", "probe")
    assert run_one(ws, "fail", "silver", "probe").status == "success"
    assert _main(ws, "fail", "silver", "probe")[1] == [{"leaked_tables": 0}]

    republish(ws, "fail", "silver", "b", "SELECT id * 100 AS v FROM {{ ref('bronze.a') }}")
    assert run_one(ws, "fail", "silver", "b").status == "success"
    assert sorted(r["v"] for r in _main(ws, "fail", "silver", "b")[1]) == [0, 100, 200]
    table = ws.catalog.load(ws.pid("fail", "silver", "b"))
    assert list(table.metadata.refs) == ["main"]
    assert _worker_pids(ws) == pids  # the same worker process did all of it


def test_a_cancelled_run_leaves_main_as_it_was_and_the_worker_goes_on(one_worker: Workspace) -> None:
    ws = one_worker
    ws.create_namespace("cncl")
    make_pipeline(ws, "cncl", "bronze", "a", "SELECT 1 AS v")
    assert run_one(ws, "cncl", "bronze", "a").status == "success"
    before = _main(ws, "cncl", "bronze", "a")
    pids = _worker_pids(ws)
    republish(ws, "cncl", "bronze", "a", "SELECT count(*) AS v FROM range(1000000000000) t(i) WHERE i % 7 = 3")
    (run,) = ws.run_selection("cncl.bronze.a")
    deadline = time.monotonic() + 30
    while ws.get_run(run.id)["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    ws.cancel_run(run.id)
    (final,) = ws.wait_for_runs([run.id], timeout=60)
    assert final["status"] == "cancelled"
    assert _main(ws, "cncl", "bronze", "a") == before
    republish(ws, "cncl", "bronze", "a", "SELECT 2 AS v")
    assert run_one(ws, "cncl", "bronze", "a").status == "success"
    assert _main(ws, "cncl", "bronze", "a")[1] == [{"v": 2}]
    assert _worker_pids(ws) == pids  # stopped by DuckDB's interrupt, not by killing the worker


def _wait(ws: Workspace, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (run := ws.get_run(run_id))["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.05)
    return run


def test_a_run_claimed_ahead_waits_for_the_worker_and_can_be_cancelled(one_worker: Workspace) -> None:
    ws = one_worker
    ws.create_namespace("ahead")
    slow = "import time\ntime.sleep({s})\nresult = duckdb_conn.sql('SELECT {v} AS v').arrow()\n"
    for i, name in enumerate(("p1", "p2", "p3")):
        ws.create_pipeline("ahead", "bronze", name, type="python", source=slow.format(s=1.5, v=i))
        ws.publish_pipeline("ahead", "bronze", name)
    runs = ws.run_selection("ahead.*")
    ids = [r.id for r in runs]
    deadline = time.monotonic() + 30
    while True:  # one running on the only worker, one claimed behind it, the third left for anyone
        records = [ws.get_run(i) for i in ids]
        running = [r for r in records if r["status"] == "running"]
        queued = [r for r in records if r["status"] == "pending" and r["server_id"]]
        if running and queued:
            break
        assert time.monotonic() < deadline, f"never saw a run claimed ahead: {records}"
        time.sleep(0.02)
    assert len(queued) <= QUEUE_AHEAD * 1
    assert sum(1 for r in records if r["server_id"]) <= 1 + QUEUE_AHEAD
    victim = queued[0]
    ws.cancel_run(victim["id"])
    finals = {i: _wait(ws, i) for i in ids}
    assert finals[victim["id"]]["status"] == "cancelled"
    assert finals[victim["id"]]["started_at"] is None  # it never reached the worker
    assert ws.catalog.load(ws.pid("ahead", "bronze", victim["name"])) is None
    assert sorted(r["status"] for r in finals.values()) == ["cancelled", "success", "success"]


class _Recorder(EventSink):
    def __init__(self, batches: bool) -> None:
        self.takes_log_batches = batches
        self.events: list[tuple[str, dict]] = []

    def on_event(self, task_id: str, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))


@pytest.mark.parametrize("batches", [True, False])
def test_log_lines_reach_the_sink_in_order_batched_or_not(tmp_path: Path, batches: bool) -> None:
    executor = LocalProcessExecutor(Settings(data_dir=tmp_path), size=1)
    try:
        assert executor.wait_ready(120)
        source = "for i in range(300):\n    log(f'line {i}')\nresult = duckdb_conn.sql('SELECT 1 AS v').arrow()\n"
        files = {"pipeline.py": source}
        sink = _Recorder(batches)
        out = executor.submit("t1", "run", {"pipeline": ("n", "bronze", "p"), "files": files}, events=sink)
        out.result(timeout=120)
        lines: list[str] = []
        for kind, data in sink.events:
            if kind == "logs":
                assert batches
                lines += [d["message"] for d in data["lines"]]
            elif kind == "log":
                lines.append(data["message"])
        ours = [m for m in lines if m.startswith("line ")]
        assert ours == [f"line {i}" for i in range(300)]
        assert sink.events[0][0] == "started"
        if batches:
            assert sum(1 for kind, _ in sink.events if kind == "logs") < 300  # fewer writes than lines
        else:
            assert not any(kind == "logs" for kind, _ in sink.events)
    finally:
        executor.close()


def test_a_cancel_that_interrupts_a_strategys_write_ends_the_run_cancelled(workspace: Workspace, ns: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Strategies write their files with DuckDB on the run's connection, which a cancel interrupts: the run
    ends ``cancelled`` (not ``failed`` with DuckDB's interrupt), its branch is gone and ``main`` unchanged."""
    import threading

    from rat_jupyter.core import fastwrite
    from rat_jupyter.core.reporter import ListReporter

    make_pipeline(workspace, ns, "silver", "w", "-- @merge_strategy: append_only\nSELECT 1 AS v",
                  tests={"positive": "SELECT * FROM {{ this }} WHERE v < 0"})
    assert run_one(workspace, ns, "silver", "w").status == "success"
    pid = workspace.pid(ns, "silver", "w")
    before = workspace.catalog.load(pid).metadata.snapshot_by_name("main").snapshot_id
    files, _ = workspace.published_files(pid)
    token = runner.CancelToken()

    def slow_write(conn: Any, table: Any, data: Any, write: Any) -> list[Any]:  # long enough to be cancelled
        threading.Timer(0.3, token.cancel).start()
        conn.execute("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3").fetchall()
        return []

    monkeypatch.setattr(fastwrite, "write_arrow", slow_write)
    monkeypatch.setattr(fastwrite, "plan", lambda *a, **k: None)  # the Arrow path: strategies.apply writes
    outcome = runner.execute_run(workspace.settings, "cancelwrite1", pid, files, ListReporter(), token)
    assert (outcome.status, outcome.error) == ("cancelled", "run cancelled while writing; main was not changed")
    table = workspace.catalog.load(pid)
    assert table.metadata.snapshot_by_name("main").snapshot_id == before
    assert list(table.metadata.refs) == ["main"]


class _Timed(_Recorder):
    def __init__(self) -> None:
        super().__init__(True)
        self.arrived: dict[str, float] = {}

    def on_event(self, task_id: str, kind: str, data: dict[str, Any]) -> None:
        super().on_event(task_id, kind, data)
        for line in data.get("lines", [data]) if kind in ("log", "logs") else []:
            self.arrived.setdefault(line["message"], time.monotonic())


def test_held_events_reach_the_sink_in_order_and_while_the_run_runs(tmp_path: Path) -> None:
    """A worker holds log lines and phases briefly and sends them together (``worker.Outbox``): the sink
    still gets them in the worker's order (a phase before the line logged after it), and a line logged
    before a long step arrives while that step runs, not when the run ends."""
    executor = LocalProcessExecutor(Settings(data_dir=tmp_path), size=1)
    try:
        assert executor.wait_ready(120)
        source = ("import time\nlog('before the wait')\ntime.sleep(2)\nlog('after the wait')\n"
                  "result = duckdb_conn.sql('SELECT 1 AS v').arrow()\n")
        sink = _Timed()
        out = executor.submit("t2", "run", {"pipeline": ("n", "bronze", "q"), "files": {"pipeline.py": source}},
                              events=sink)
        deadline = time.monotonic() + 60
        while "before the wait" not in sink.arrived and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "before the wait" in sink.arrived and not out.done()  # live: the run is still waiting
        outcome = out.result(timeout=120)
        assert outcome["status"] == "success", outcome
        assert sink.arrived["after the wait"] - sink.arrived["before the wait"] >= 1.5
        order: list[str] = []
        for kind, data in sink.events:
            if kind == "phase":
                order.append(f"phase {data['name']}")
            elif kind == "logs":
                order += [d["message"] for d in data["lines"]]
        running = next(i for i, m in enumerate(order) if m.startswith("Running "))
        assert order.index("phase resolve") < running < order.index("before the wait") < order.index(
            "after the wait") < order.index("phase write")
    finally:
        executor.close()


_PID = """import os
result = duckdb_conn.sql(f"SELECT {os.getpid()} AS pid").arrow()
"""


def test_runs_one_after_another_go_to_the_worker_that_ran_the_last_one(tmp_path: Path) -> None:
    """Regression: idle dispatchers took turns, so a pipeline run again and again ran on each worker in turn,
    each time on the one whose caches had not seen its last commit, and no worker was ever idle long enough
    to give its memory back (ADR 0038). Concurrent runs still spread over the workers."""
    ws = Workspace.open(Settings(data_dir=tmp_path / "rat", concurrency=2), warm=True)
    try:
        assert ws.executor.wait_ready(60)
        ws.create_namespace("aff")
        ws.create_pipeline("aff", "silver", "who", type="python", source=_PID)
        ws.publish_pipeline("aff", "silver", "who")
        ran_on = []
        for _ in range(6):
            assert run_one(ws, "aff", "silver", "who").status == "success"
            ran_on.append(ws.read_table("aff", "silver", "who")["pid"][0].as_py())
        assert len(set(ran_on)) == 1, ran_on
        assert ran_on[0] in ws.executor.worker_pids()

        ws.create_namespace("two")
        for name in ("a", "b"):  # two runs at once: both workers work
            ws.create_pipeline("two", "silver", name, type="python",
                               source="import time\ntime.sleep(0.5)\n" + _PID)
            ws.publish_pipeline("two", "silver", name)
        runs = ws.run_selection("two.*", wait=True, timeout=120)
        assert [r.status for r in runs] == ["success", "success"]
        pids = {ws.read_table("two", "silver", name)["pid"][0].as_py() for name in ("a", "b")}
        assert pids == set(ws.executor.worker_pids())
    finally:
        ws.close()


def test_the_handoff_gives_tasks_in_order_to_the_dispatcher_that_waited_last() -> None:
    import queue
    import threading

    from rat_jupyter.core.executor import _Handoff

    handoff = _Handoff()
    handoff.put("first")
    handoff.put("second")
    assert [handoff.get(0), handoff.get(0)] == ["first", "second"]  # queued tasks: oldest first
    with pytest.raises(queue.Empty):
        handoff.get(0.01)
    got: dict[str, object] = {}
    started = []

    def wait(name: str) -> None:
        started.append(name)
        got[name] = handoff.get(5)

    threads = []
    for name in ("early", "late"):
        threads.append(threading.Thread(target=wait, args=(name,)))
        threads[-1].start()
        while len(handoff._waiters) < len(threads):  # the dispatcher is waiting
            time.sleep(0.005)
    handoff.put("task")
    threads[1].join(5)
    assert got == {"late": "task"}  # the dispatcher that began to wait last
    handoff.put("next")
    threads[0].join(5)
    assert got == {"late": "task", "early": "next"}
    assert handoff._waiters == [] and handoff._items == []
