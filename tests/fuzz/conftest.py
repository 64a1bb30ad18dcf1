"""A real RAT server in its own process for the fuzz suite (schemathesis makes blocking HTTP calls, which the
in-process pytest-jupyter server could not answer), with a little data so some paths exist."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BASE_URL = "/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FuzzServer:
    origin: str
    token: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.origin}/rat/api/v1/{path.lstrip('/')}", data=data, method=method,
                                     headers={**self.headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    data = tmp_path_factory.mktemp("rat-fuzz")
    port = _free_port()
    token = secrets.token_hex(16)
    env = {**os.environ, "RAT_DATA_DIR": str(data), "JUPYTER_RUNTIME_DIR": str(data / "runtime")}
    env.pop("RAT_SETTINGS", None)
    args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={data}", f"--RatApp.data_dir={data}",
            "--RatApp.concurrency=1", "--RatApp.query_timeout_seconds=5",
            "--ServerApp.jpserver_extensions=rat_jupyter=True", "--allow-root"]
    log_path = data / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(data))
    server = FuzzServer(f"http://127.0.0.1:{port}", token, data, log_path, proc)
    deadline = time.monotonic() + 90
    while True:
        try:
            if server.api("GET", "health")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"jupyter server did not start:\n{server.log()[-3000:]}")
        time.sleep(0.3)
    _seed(server)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _seed(server: FuzzServer) -> None:
    """A namespace with a published pipeline, its table, a landing zone and a schedule: paths that exist."""
    assert server.api("POST", "namespaces", {"name": "shop"})[0] == 201
    status, body = server.api("POST", "pipelines", {"namespace": "shop", "layer": "bronze", "name": "orders",
                                                    "type": "sql", "source": "SELECT 1 AS id, 'a' AS v"})
    assert status == 201, body
    assert server.api("POST", "pipelines/shop/bronze/orders/publish", {"message": "seed"})[0] == 200
    status, run = server.api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "orders"})
    assert status == 202, run
    deadline = time.monotonic() + 60
    while server.api("GET", f"runs/{run['run_id']}")[1]["status"] not in ("success", "failed", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert server.api("POST", "landing-zones", {"namespace": "shop", "name": "raw"})[0] == 201
