"""Shared fixtures: a real workspace (real DuckDB, real Iceberg tables, real worker processes)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace

# The real-Jupyter-server fixtures (jp_fetch, jp_serverapp, …) used by tests/handlers.
pytest_plugins = ["pytest_jupyter.jupyter_server"]

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolate_rat_environment() -> Iterator[None]:
    """A server started by a test exports its settings to os.environ (for its kernels); don't leak them."""
    saved = {k: os.environ.get(k) for k in ("RAT_SETTINGS", "RAT_DATA_DIR", "RAT_SERVER")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace (and worker pool) per test module; tests isolate themselves by namespace."""
    data = tmp_path_factory.mktemp("rat")
    ws = Workspace.open(Settings(data_dir=data, concurrency=2, cancel_grace_seconds=5), warm=True)
    assert ws.pool.wait_ready(120), "worker processes did not start"
    yield ws
    ws.close()


@pytest.fixture
def ns(workspace: Workspace, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for one test."""
    name = f"t{next(_counter)}_{request.node.name[5:25].lower()}".replace("[", "_").replace("]", "").replace("-", "_")
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    workspace.create_namespace(name)
    return name


def make_pipeline(ws: Workspace, ns: str, layer: str, name: str, sql: str, *, tests: dict[str, str] | None = None,
                  publish: bool = True, type: str = "sql", config: dict[str, Any] | None = None) -> None:
    ws.create_pipeline(ns, layer, name, source=sql, type=type, config=config)
    for test, body in (tests or {}).items():
        ws.save_test(ns, layer, name, test, body)
    if publish:
        ws.publish_pipeline(ns, layer, name)


def republish(ws: Workspace, ns: str, layer: str, name: str, sql: str, filename: str = "pipeline.sql") -> None:
    ws.write_file(f"{ns}/pipelines/{layer}/{name}/{filename}", sql)
    ws.publish_pipeline(ns, layer, name)


def run_one(ws: Workspace, ns: str, layer: str, name: str, **kwargs: Any) -> Any:
    (run,) = ws.run_selection(f"{ns}.{layer}.{name}", wait=True, timeout=120, **kwargs)
    return run


def rows(ws: Workspace, ns: str, layer: str, name: str, *, drop: tuple[str, ...] = ()) -> list[tuple]:
    table = ws.read_table(ns, layer, name)
    cols = [c for c in table.column_names if c not in drop]
    return sorted(tuple(r[c] for c in cols) for r in table.select(cols).to_pylist())


def data_dir(ws: Workspace) -> Path:
    return ws.settings.data_dir
