"""A fresh data directory is initialised once, whoever opens it first and however many open it at once.

Before the initialisation lock, ``python -m rat_jupyter.demo`` on a fresh directory failed about 2 times in 12
("database is locked" while switching SQLite to WAL, "table iceberg_tables already exists"): the worker
processes and the parent created the same catalog at the same moment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.lock import DataDirInUse, ServerLock, holder, init_lock

ROOT = Path(__file__).resolve().parents[2]
FAILURE_MARKS = ("database is locked", "already exists", "Traceback")


def _clean_env() -> dict[str, str]:
    """The environment of a fresh user shell: no RAT settings, and no coverage measurement — coverage's own
    data-file races in the worker processes print tracebacks that are not the product's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "COVERAGE_"))}


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = _clean_env()
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(1800)  # 20 demos: about 2 min on an idle 2-core machine, 13 min on a loaded one
def test_the_demo_seeds_a_fresh_data_dir_20_times_in_a_row(tmp_path: Path) -> None:
    env = _clean_env()
    started = time.monotonic()
    for attempt in range(20):
        data = tmp_path / f"fresh{attempt}"
        proc = subprocess.run([sys.executable, "-m", "rat_jupyter.demo", "--data-dir", str(data)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"attempt {attempt + 1} failed:\n{output}"
        assert output.count(" success ") == 6, output
        assert not [mark for mark in FAILURE_MARKS if mark in output], output
    print(f"20 fresh demo seeds in {time.monotonic() - started:.1f} s")


OPEN_FRESH = """
    import sys, time
    from rat_jupyter.core.errors import Conflict
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace
    from rat_jupyter.stores.catalog import Catalog

    data, start, me = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    settings = Settings(data_dir=data)
    while time.time() < start:  # every process opens the fresh directory at the same moment
        time.sleep(0.001)
    with Workspace.open(settings, server=False) as ws:
        try:
            ws.create_namespace("shared")
        except Conflict:
            pass
        ws.create_namespace(f"own_{me}")
        catalog = Catalog(settings)  # what every worker process does when it starts
        catalog.ensure_namespace("shared", "bronze")
        print(sorted(n["name"] for n in ws.list_namespaces()))
"""


def test_concurrent_opens_of_a_fresh_data_dir_never_error(tmp_path: Path) -> None:
    for round_ in range(5):
        data = tmp_path / f"round{round_}"
        start = time.time() + 4.0  # after every interpreter has imported pyiceberg and DuckDB
        procs = [_python(OPEN_FRESH, str(data), str(start), str(i)) for i in range(3)]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, f"round {round_}: {err}"
            assert not [mark for mark in FAILURE_MARKS if mark in err], err
        with Workspace.open(Settings(data_dir=data), server=False) as ws:
            assert {n["name"] for n in ws.list_namespaces()} == {"shared", "own_0", "own_1", "own_2"}
            assert ws.catalog.iceberg.list_namespaces() == [("shared",)]


def test_the_initialisation_lock_is_reentrant_and_excludes_other_threads(tmp_path: Path) -> None:
    order: list[str] = []
    with init_lock(tmp_path), init_lock(tmp_path):  # Workspace.open holds it around stores that take it again
        thread = threading.Thread(target=lambda: [init_lock(tmp_path).__enter__(), order.append("other")])
        thread.start()
        thread.join(0.3)
        order.append("owner")
        assert thread.is_alive()  # still waiting for us
    thread.join(5)
    assert order == ["owner", "other"]


HOLD_SERVER_LOCK = """
    import sys, time
    from rat_jupyter.stores.lock import ServerLock
    ServerLock(sys.argv[1]).acquire({"pid": __import__("os").getpid(), "host": "h1", "url": "http://h1:8888/",
                                     "started_at": "2026-01-01T00:00:00Z"})
    print("held", flush=True)
    time.sleep(600)
"""


def test_the_server_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    proc = _python(HOLD_SERVER_LOCK, str(tmp_path))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip() == "held", proc.stderr.read()
        info = holder(tmp_path)
        assert info is not None and info["pid"] == proc.pid and info["url"] == "http://h1:8888/"
        with pytest.raises(DataDirInUse) as exc:
            ServerLock(tmp_path).acquire({"pid": os.getpid()})
        assert f"pid {proc.pid} on h1" in str(exc.value) and "http://h1:8888/" in str(exc.value)
        assert "started 2026-01-01T00:00:00Z" in str(exc.value)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert holder(tmp_path) is None  # a killed server leaves its file, not its lock
    mine = ServerLock(tmp_path)
    mine.acquire({"pid": os.getpid(), "host": "here"})
    try:
        assert holder(tmp_path) == {"pid": os.getpid(), "host": "here"}
        assert json.loads((tmp_path / "server.lock").read_text())["host"] == "here"
    finally:
        mine.release()
    assert holder(tmp_path) is None
