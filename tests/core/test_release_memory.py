"""A worker gives back what its task's queries freed when the task ends, not a second or more later; the
query service gives back what a query freed when it answers.

DuckDB's bundled jemalloc keeps freed pages for about a second before it returns them (ADR 0037). A worker
that has just run a large model and waits for its next task held them all, and started its next large task
on top of them. Every DuckDB session now purges when it closes: a run's, a preview's and a test run's in a
worker, a query's in the query service (in the resident server).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core import engine
from rat_jupyter.core.executor import LocalProcessExecutor
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import run_one
from tests.fixtures.memory import HEAVY_PIPELINE, status_mib

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; jemalloc on Linux")
_REPO = Path(__file__).resolve().parents[2]  # the query script imports the tests' memory helper from here


@pytest.fixture()
def one_worker(tmp_path: Path) -> Any:
    ws = Workspace.open(Settings(data_dir=tmp_path / "rat", concurrency=1), warm=True)
    yield ws
    ws.close()


def test_a_worker_returns_a_large_querys_memory_when_its_task_ends(one_worker: Workspace) -> None:
    ws = one_worker
    ws.create_namespace("mem")
    ws.create_pipeline("mem", "silver", "heavy", type="python", source=HEAVY_PIPELINE)
    ws.publish_pipeline("mem", "silver", "heavy")
    executor = ws.executor
    assert isinstance(executor, LocalProcessExecutor)
    for _ in range(2):  # the second run: the same worker, already warm
        run = run_one(ws, "mem", "silver", "heavy")
        assert run.status == "success", run.error
        (pid,) = executor.worker_pids()
        (row,) = ws.catalog.load(ws.pid("mem", "silver", "heavy")).scan().to_arrow().to_pylist()
        grown = row["after_query_mib"] - row["before_mib"]
        assert grown > 100  # the sort's pages, freed by DuckDB but still the worker's while the task ran
        # the session's close purged before the run reported success: without it, still before + grown
        assert status_mib(pid=pid) < row["before_mib"] + 0.25 * grown


def test_release_memory_reaches_duckdbs_allocator() -> None:
    assert engine.release_memory() is True  # DuckDB's Linux wheels bundle jemalloc and export its mallctl


def test_without_jemalloc_release_memory_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_mallctl", lambda: None)  # what a build without duckdb_je_mallctl resolves to
    assert engine.release_memory() is False


_QUERY = """
import json, sys
from pathlib import Path
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.fixtures.memory import status_mib as status

ws = Workspace.open(Settings(data_dir=Path(sys.argv[1])), server=False)
ws.query("SELECT 1")
before = status("RssAnon")
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) counts from here
rows = ws.query("SELECT count(*) AS n FROM (SELECT md5(range::VARCHAR) AS h FROM range(3000000) ORDER BY h)")["rows"]
print(json.dumps({"rows": rows, "before": before, "peak": status("VmHWM"), "rss": status("VmRSS"),
                  "after": status("RssAnon")}))
"""


def test_the_query_service_returns_a_large_querys_memory_when_it_answers(tmp_path: Path) -> None:
    """The query service runs in the resident server: a large query's pages were kept there until later
    queries happened to reuse them (200 MiB after this one, through any number of small queries)."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", _QUERY, str(tmp_path / "rat")], capture_output=True, text=True,
                         timeout=120, check=True, cwd=_REPO)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rows"] == [{"n": 3000000}]
    assert got["peak"] - got["rss"] > 100, got  # the sort's pages were resident while it ran, and are gone
    assert got["after"] < got["before"] + 50, got  # without the purge: about before + 200 MiB
