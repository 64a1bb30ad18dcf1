"""Which mode a front door opens in: a client of a running server, or local mode that says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rat_jupyter.core.settings import CLIENT_EXECUTOR, ENV_SERVER, Settings
from rat_jupyter.kernel.frontdoor import LOCAL_NOTICE, find_server, open_workspace
from rat_jupyter.kernel.inprocess import InProcessExecutor
from rat_jupyter.stores.lock import holder

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
    import sys, time
    from rat_jupyter.stores.lock import ServerLock
    ServerLock(sys.argv[1]).acquire({"pid": __import__("os").getpid(), "host": "h", "url": "http://h:8888/"})
    print("held", flush=True)
    time.sleep(600)
"""
OPEN = """
    import sys
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.kernel.frontdoor import open_workspace
    door = open_workspace(Settings(data_dir=sys.argv[1]), announce=lambda text: print(text, flush=True))
    print(door.mode, door.workspace.server, type(door.workspace.executor).__name__)
    door.close()
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SERVER, raising=False)


def test_without_a_server_it_is_local_mode_and_holds_the_data_dir(tmp_path: Path) -> None:
    said: list[str] = []
    door = open_workspace(Settings(data_dir=tmp_path, concurrency=1), announce=said.append)
    try:
        assert said == [LOCAL_NOTICE] and door.mode == "local" and door.workspace.server
        info = holder(tmp_path)
        assert info is not None and info["pid"] == os.getpid() and info["mode"] == "local"
        # Another process on the same folder becomes a client of this one instead of a second executor.
        other = _python(OPEN, str(tmp_path))
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err
        lines = out.splitlines()
        assert lines[0].startswith(f"RAT: the RAT server at pid {os.getpid()} owns this data"), out
        assert lines[1] == "client False InProcessExecutor"
    finally:
        door.close()
    assert holder(tmp_path) is None


def test_next_to_a_running_server_it_is_a_client_and_says_so(tmp_path: Path) -> None:
    server = _python(HOLD, str(tmp_path))
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "held"
        said: list[str] = []
        door = open_workspace(Settings(data_dir=tmp_path), announce=said.append)
        try:
            assert door.mode == "client" and not door.workspace.server
            assert said == ["RAT: the RAT server at http://h:8888/ owns this data — runs are submitted to it "
                            "(client mode)"]
            assert door.workspace.settings.executor_class == CLIENT_EXECUTOR
            assert isinstance(door.workspace.executor, InProcessExecutor)
        finally:
            door.close()
        assert holder(tmp_path)["pid"] == server.pid  # a client never takes (or drops) the server's lock
    finally:
        server.kill()
        server.communicate(timeout=30)


def test_a_kernel_finds_its_server_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path)
    assert find_server(settings) is None
    monkeypatch.setenv(ENV_SERVER, json.dumps({"pid": os.getpid(), "url": "http://self/"}))
    assert find_server(settings) is None  # the server process itself is not its own client
    monkeypatch.setenv(ENV_SERVER, json.dumps({"pid": 1, "url": "http://srv:8888/"}))
    assert find_server(settings) == {"pid": 1, "url": "http://srv:8888/"}
    said: list[str] = []
    door = open_workspace(settings, announce=said.append)
    try:
        assert door.mode == "client" and said == []  # a kernel of the server: nothing to announce
    finally:
        door.close()
    assert holder(tmp_path) is None


def test_a_servers_kernel_settings_without_the_server_are_local_mode(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAT_SETTINGS", Settings(data_dir=tmp_path, concurrency=1).to_client_json())
    said: list[str] = []
    door = open_workspace(announce=said.append)
    try:
        assert door.mode == "local" and door.workspace.server and said == [LOCAL_NOTICE]
        assert door.workspace.settings.executor_class != CLIENT_EXECUTOR  # it can execute its runs
    finally:
        door.close()
