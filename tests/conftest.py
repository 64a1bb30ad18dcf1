"""Shared fixtures: a real workspace (real DuckDB, real Iceberg tables, real worker processes).

The workspace (and the Jupyter server of ``tests/handlers``) comes in two profiles, ``embedded`` and
``scale`` (``tests/fixtures/profiles.py``). A module marked ``pytestmark = pytest.mark.both_profiles`` runs
each of its tests on both (``test_x[embedded]``, ``test_x[scale]``); other modules run on embedded only.
``@pytest.mark.embedded_only(reason=...)`` keeps one test of such a module on embedded. ``--profiles``
(or ``RAT_TEST_PROFILES``) changes the selection: ``marked`` (default), ``all``, ``embedded``, ``scale``.
See docs/testing.md.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.fixtures.postgres import postgres  # noqa: F401 - session servers behind the scale profile
from tests.fixtures.profiles import EMBEDDED, PROFILES, SCALE, profile_settings
from tests.fixtures.seaweed import seaweed  # noqa: F401

# The real-Jupyter-server fixtures (jp_fetch, jp_serverapp, …) used by tests/handlers.
pytest_plugins = ["pytest_jupyter.jupyter_server"]

_counter = itertools.count()
SELECTIONS = ("marked", "all", EMBEDDED, SCALE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--profiles", choices=SELECTIONS, default=os.environ.get("RAT_TEST_PROFILES") or "marked",
                     help="which profiles the shared suites run on: marked (both on modules marked both_profiles, "
                          "embedded elsewhere; the default), all (both everywhere), embedded, scale")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``profile`` (and so ``workspace`` and the handlers' Jupyter server) per the selection."""
    if "profile" not in metafunc.fixturenames:
        return
    selection = metafunc.config.getoption("--profiles")
    marked = metafunc.definition.get_closest_marker("both_profiles") is not None
    embedded_only = metafunc.definition.get_closest_marker("embedded_only") is not None
    if selection == EMBEDDED or (selection == "marked" and not marked):
        return  # the profile fixture's default; test names unchanged
    if embedded_only:
        params = [EMBEDDED] if selection != SCALE else []
    else:
        params = {"marked": list(PROFILES), "all": list(PROFILES), SCALE: [SCALE]}[selection]
    if params:
        metafunc.parametrize("profile", params, indirect=True, ids=params, scope="module")
    else:
        metafunc.parametrize("profile", [pytest.param(EMBEDDED, marks=pytest.mark.skip(
            reason="embedded only, and --profiles=scale"))], indirect=True, ids=[EMBEDDED], scope="module")


@pytest.fixture(scope="module")
def profile(request: pytest.FixtureRequest) -> str:
    """``embedded`` or ``scale``: which deployment the workspace and the Jupyter server are built on."""
    return getattr(request, "param", EMBEDDED)


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
def workspace(tmp_path_factory: pytest.TempPathFactory, profile: str,
              request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """One workspace (and worker pool) per test module and profile; tests isolate themselves by namespace."""
    data = tmp_path_factory.mktemp("rat")
    ws = Workspace.open(Settings(data_dir=data, concurrency=2, cancel_grace_seconds=5,
                                 **profile_settings(profile, request)), warm=True)
    assert ws.pool.wait_ready(120), "worker processes did not start"
    yield ws
    ws.close()


@pytest.fixture
def ns(workspace: Workspace, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for one test."""
    name = f"t{next(_counter)}_{request.node.name[5:25].lower()}".replace("[", "_").replace("]", "").replace("-", "_")
    # a REST catalog (SeaweedFS's) wants a namespace to end with a letter or digit
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).rstrip("_")
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
