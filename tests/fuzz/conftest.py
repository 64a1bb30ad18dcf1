"""A real RAT server in its own process for the fuzz suite (schemathesis makes blocking HTTP calls, which the
in-process pytest-jupyter server could not answer), with a little data so some paths exist."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.server import JupyterProcess, data_dir_env


class FuzzServer(JupyterProcess):
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:  # type: ignore[override]
        """Status and body: the fuzz suite checks error replies as much as successes."""
        return self.call(method, path, body)


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    data = tmp_path_factory.mktemp("rat-fuzz")
    server = FuzzServer(f"--ServerApp.root_dir={data}", f"--RatApp.data_dir={data}", "--RatApp.concurrency=1",
                        "--RatApp.query_timeout_seconds=5", "--ServerApp.jpserver_extensions=rat_jupyter=True",
                        cwd=data, log=data / "server.log", env=data_dir_env(data), token=secrets.token_hex(16))
    try:
        server.wait_until(lambda: server.api("GET", "health")[0] == 200, what="jupyter server")
        _seed(server)
        yield server
    finally:
        server.stop(20)


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
