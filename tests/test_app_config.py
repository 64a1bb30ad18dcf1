"""RatApp configuration: bad values refuse to start with one line, one server per embedded data directory,
and the kernels a server starts never see its secrets.

The start-up tests run a real ``jupyter server`` in a subprocess: refusing to start is about the process
exiting, which an in-process server cannot show.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from rat_jupyter.app import RatApp
from rat_jupyter.core.settings import ENV_SERVER, ENV_SETTINGS, Settings
from rat_jupyter.stores.lock import holder

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = str(Path(sys.executable).with_name("jupyter"))
SECRET = "s3-secret-never-in-a-kernel"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "AWS_", "JUPYTER_"))}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(tmp: Path, data_dir: Path, *args: str, port: int | None = None) -> subprocess.Popen[str]:
    command = [JUPYTER, "server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port or _free_port()}", "--ServerApp.port_retries=0",
               f"--RatApp.data_dir={data_dir}", *args]
    return subprocess.Popen(command, cwd=tmp, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _refusal(proc: subprocess.Popen[str]) -> tuple[int, list[str], str]:
    """Exit code, the critical log lines and the whole stderr of a server expected to stop by itself."""
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"the server started instead of refusing:\n{err}") from None
    return proc.returncode, [line for line in err.splitlines() if "[C " in line], err


def _wait_listening(proc: subprocess.Popen[str], data_dir: Path, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        info = holder(data_dir)
        if info and info.get("url"):
            try:
                urllib.request.urlopen(f"{info['url']}api", timeout=2).read()
                return info
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@pytest.mark.parametrize(("option", "message"), [
    ("--RatApp.concurrency=0", "RatApp.concurrency must be between 1 and 64, not 0"),
    ("--RatApp.concurrency=100", "RatApp.concurrency must be between 1 and 64, not 100"),
    ("--RatApp.run_timeout_seconds=0", "RatApp.run_timeout_seconds must be a number of seconds above 0, not 0"),
    ("--RatApp.query_memory_limit=lots", "RatApp.query_memory_limit must be a size like '512MB' or '4GB', not 'lots'"),
    ("--RatApp.executor_class=no_such_module:Executor",
     "executor_class 'no_such_module:Executor' cannot be imported: No module named 'no_such_module'"),
])
def test_an_out_of_range_setting_refuses_to_start_with_one_line(tmp_path: Path, option: str, message: str) -> None:
    code, critical, err = _refusal(_server(tmp_path, tmp_path / "data", option))
    assert code != 0
    assert critical == [critical[0]] and critical[0].endswith(f"RAT cannot start: {message}"), err
    assert "Traceback" not in err
    assert holder(tmp_path / "data") is None  # a refused server holds nothing


def test_a_second_server_on_the_same_data_dir_refuses_and_names_the_first(
        tmp_path: Path, servers: list[subprocess.Popen[str]]) -> None:
    data = tmp_path / "data"
    first = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(first)
    info = _wait_listening(first, data)
    assert info["pid"] == first.pid and info["mode"] == "server"

    second = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(second)
    code, critical, err = _refusal(second)
    assert code != 0 and "Traceback" not in err
    assert len(critical) == 1, err
    line = critical[0]
    assert f"data directory {data} is in use by another RAT server" in line
    assert f"pid {first.pid} on {socket.gethostname()}" in line and info["url"] in line
    assert f"started {info['started_at']}" in line
    assert first.poll() is None  # the first one is unaffected

    first.send_signal(signal.SIGKILL)  # a crash: the OS drops the lock, no stale file blocks the next server
    first.communicate(timeout=30)
    third = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(third)
    assert _wait_listening(third, data)["pid"] == third.pid


def test_help_all_lists_every_rat_setting(tmp_path: Path) -> None:
    out = subprocess.run([JUPYTER, "rat", "--help-all"], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for trait in ("executor_class", "cancel_grace_seconds", "duckdb_threads", "duckdb_memory_limit",
                  "s3_path_style", "max_inflight_previews", "concurrency", "query_row_limit"):
        assert f"--RatApp.{trait}=" in out.stdout, trait


@pytest.mark.parametrize(("trait", "value"), [
    ("concurrency", 65), ("duckdb_threads", -1), ("query_row_limit", 0), ("max_upload_bytes", 0),
    ("max_inflight_previews", 0), ("cancel_grace_seconds", 0.0), ("query_timeout_seconds", -1.0),
    ("duckdb_memory_limit", "4 bananas"), ("executor_class", "not an import"), ("catalog_type", "hive"),
])
def test_every_ranged_trait_is_validated(trait: str, value: Any) -> None:
    with pytest.raises(TraitError, match=f"RatApp.{trait} must be"):
        RatApp(**{trait: value})


def test_the_new_traits_reach_the_settings() -> None:
    app = RatApp(executor_class="my.module:Executor", cancel_grace_seconds=2.5, duckdb_threads=3,
                 duckdb_memory_limit="2GB", s3_path_style=False, max_inflight_previews=7, data_dir="/tmp/x")
    settings = app.build_settings()
    assert (settings.executor_class, settings.cancel_grace_seconds, settings.duckdb_threads,
            settings.duckdb_memory_limit, settings.s3.path_style, settings.max_inflight_previews) == \
        ("my.module:Executor", 2.5, 3, "2GB", False, 7)
    assert RatApp(duckdb_memory_limit="").duckdb_memory_limit == ""  # empty = DuckDB's default


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}},
            "RatApp": {"data_dir": str(tmp_path / "rat"), "concurrency": 1, "s3_access_key_id": "AKIDEXAMPLE",
                       "s3_secret_access_key": SECRET,
                       "catalog_properties": {"credential": "client:secret-cred", "scope": "catalog"}}}


async def test_kernels_get_the_settings_without_secrets(jp_serverapp: Any, tmp_path: Path) -> None:
    """A real kernel started by the server: its environment names the server and carries no S3 secret."""
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    assert ws.settings.s3.secret_access_key == SECRET  # the server itself has it
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    try:
        pid = manager.get_kernel(kernel_id).provisioner.pid
        environ = dict(item.split("=", 1) for item in
                       Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item)
    finally:
        await manager.shutdown_kernel(kernel_id, now=True)
    assert SECRET not in "".join(environ.values()) and "AKIDEXAMPLE" not in "".join(environ.values())
    assert "secret-cred" not in "".join(environ.values())
    exported = Settings.from_json(environ[ENV_SETTINGS])
    assert exported.data_dir == ws.settings.data_dir and exported.state_url == ws.settings.state_url
    assert exported.s3.secret_access_key is None and exported.catalog_properties == {"scope": "catalog"}
    server = json.loads(environ[ENV_SERVER])
    assert server["pid"] == os.getpid() and server["server_id"] == ws.settings.resolved_server_id


def test_a_kernel_takes_s3_credentials_from_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    exported = Settings(data_dir=Path("/tmp/x")).with_(catalog_properties={"token": "t"}).to_client_json()
    monkeypatch.setenv(ENV_SETTINGS, exported)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "kernel-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kernel-secret")
    settings = Settings.from_env()
    assert (settings.s3.access_key_id, settings.s3.secret_access_key) == ("kernel-key", "kernel-secret")
    assert settings.catalog_properties == {}
