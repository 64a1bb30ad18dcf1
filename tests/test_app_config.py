"""RatApp configuration: bad values refuse to start with one line, one server per embedded data directory,
and the kernels a server starts never see its secrets.

The start-up tests run a real ``jupyter server`` in a subprocess: refusing to start is about the process
exiting, which an in-process server cannot show.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from rat_jupyter.app import RatApp
from rat_jupyter.core.settings import ENV_SERVER, ENV_SETTINGS, Settings
from rat_jupyter.stores.lock import holder
from tests.fixtures.server import JUPYTER, JupyterProcess, clean_env

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3-secret-never-in-a-kernel"


def _server(tmp: Path, data_dir: Path, *args: str) -> JupyterProcess:
    return JupyterProcess(f"--RatApp.data_dir={data_dir}", *args, cwd=tmp,
                          log=tmp / f"server-{secrets.token_hex(3)}.log", env=clean_env(tmp / "runtime"))


def _refusal(server: JupyterProcess) -> tuple[int, list[str], str]:
    """Exit code, the critical log lines and the whole log of a server expected to stop by itself."""
    code = server.wait_exit(60)
    server.stop()
    log = server.log()
    return code, [line for line in log.splitlines() if "[C " in line], log


def _wait_listening(server: JupyterProcess, data_dir: Path, timeout: float = 90) -> dict[str, Any]:
    """The data-directory lock's record, once it names a URL and the server answers."""
    def ready() -> dict[str, Any] | None:
        info = holder(data_dir)
        return info if info and info.get("url") and server.serves_jupyter() else None

    return server.wait_until(ready, timeout)


@pytest.fixture
def servers() -> Iterator[list[JupyterProcess]]:
    started: list[JupyterProcess] = []
    yield started
    for server in started:
        server.stop()


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
        tmp_path: Path, servers: list[JupyterProcess]) -> None:
    data = tmp_path / "data"
    first = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(first)
    info = _wait_listening(first, data)
    assert info["pid"] == first.process.pid and info["mode"] == "server"

    second = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(second)
    code, critical, err = _refusal(second)
    assert code != 0 and "Traceback" not in err
    assert len(critical) == 1, err
    line = critical[0]
    assert f"data directory {data} is in use by another RAT server" in line
    assert f"pid {first.process.pid} on {socket.gethostname()}" in line and info["url"] in line
    assert f"started {info['started_at']}" in line
    assert first.process.poll() is None  # the first one is unaffected

    first.kill()  # a crash: the OS drops the lock, no stale file blocks the next server
    third = _server(tmp_path, data, "--RatApp.concurrency=1")
    servers.append(third)
    assert _wait_listening(third, data)["pid"] == third.process.pid


def test_help_all_lists_every_rat_setting(tmp_path: Path) -> None:
    out = subprocess.run([JUPYTER, "rat", "--help-all"], cwd=tmp_path, env=clean_env(tmp_path / "runtime"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for trait in ("executor_class", "cancel_grace_seconds", "duckdb_threads", "duckdb_memory_limit",
                  "s3_path_style", "max_inflight_previews", "concurrency", "query_row_limit", "worker_idle_seconds",
                  "parquet_version", "gil_switch_interval_ms", "preserve_insertion_order"):
        assert f"--RatApp.{trait}=" in out.stdout, trait


@pytest.mark.parametrize(("trait", "value"), [
    ("concurrency", 65), ("duckdb_threads", -1), ("query_row_limit", 0), ("max_upload_bytes", 0),
    ("max_inflight_previews", 0), ("cancel_grace_seconds", 0.0), ("query_timeout_seconds", -1.0),
    ("duckdb_memory_limit", "4 bananas"), ("executor_class", "not an import"), ("catalog_type", "hive"),
    ("worker_idle_seconds", -1), ("parquet_version", "v3"), ("gil_switch_interval_ms", -1.0),
    ("gil_switch_interval_ms", 101.0),
])
def test_every_ranged_trait_is_validated(trait: str, value: Any) -> None:
    with pytest.raises(TraitError, match=f"RatApp.{trait} must be"):
        RatApp(**{trait: value})


def test_the_new_traits_reach_the_settings() -> None:
    app = RatApp(executor_class="my.module:Executor", cancel_grace_seconds=2.5, duckdb_threads=3,
                 duckdb_memory_limit="2GB", s3_path_style=False, max_inflight_previews=7, data_dir="/tmp/x",
                 worker_idle_seconds=0, parquet_version="V1", preserve_insertion_order=True)
    settings = app.build_settings()
    assert (settings.executor_class, settings.cancel_grace_seconds, settings.duckdb_threads,
            settings.duckdb_memory_limit, settings.s3.path_style, settings.max_inflight_previews,
            settings.worker_idle_seconds, settings.parquet_version,
            settings.preserve_insertion_order) == ("my.module:Executor", 2.5, 3, "2GB", False, 7, 0, "v1", True)
    assert RatApp().build_settings().preserve_insertion_order is False
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


async def test_the_server_hands_the_gil_over_within_its_switch_interval(jp_serverapp: Any) -> None:
    """The server's threads answer workers between the other threads' Python work (ADR 0034)."""
    assert jp_serverapp.web_app.settings["rat_workspace"] is not None
    assert sys.getswitchinterval() == pytest.approx(RatApp().gil_switch_interval_ms / 1000)
    assert RatApp().gil_switch_interval_ms == 0.5
