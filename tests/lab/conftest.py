"""JupyterLab tests: Playwright (Python) driving Debian's Chromium against a real ``jupyter lab`` with the RAT
server extension and the RAT lab extension, under ``base_url=/user/alice/`` with token authentication and a
fresh data dir. The lab extension is the built one the environment sees (``make lab`` links it into the venv;
an installed wheel ships it), so these tests check what users get.

Skips with a reason when Chromium, Playwright or the extension build is missing; under ``make test``
(``RAT_BROWSER_TESTS=required``) a missing piece is a failure. Screenshots go to ``tests/lab/artifacts/``.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import browser as shared
from tests.fixtures.browser import (
    assert_no_console_errors,
    playwright_missing,
    shot_if_failed,
    skip_missing,
    unique,  # noqa: F401 - the tests take it from here
    watch_console,
)
from tests.fixtures.server import JupyterProcess, data_dir_env

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BASE_URL = "/user/alice/"
# shared fixtures and hook, registered by being in this conftest's namespace
browser = shared.browser
jp_asyncio_loop = shared.jp_asyncio_loop
pytest_runtest_makereport = shared.pytest_runtest_makereport


def _extension_dir() -> Path | None:
    for base in (Path(sys.prefix), Path.home() / ".local"):
        d = base / "share" / "jupyter" / "labextensions" / "rat-jupyter"
        if (d / "package.json").is_file():
            return d
    return None


def _missing() -> str | None:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "jupyterlab is not installed (pip install -e '.[dev]')"
    if _extension_dir() is None:
        return "the RAT lab extension is not built and linked (make lab)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_missing(items, Path(__file__).resolve().parent, "JupyterLab", playwright_missing() or _missing())


class LabServer(JupyterProcess):
    def wait_run(self, run_id: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.api("GET", f"runs/{run_id}")
            if run["status"] in ("success", "failed", "cancelled", "skipped") or time.monotonic() > deadline:
                return dict(run)
            time.sleep(0.3)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    ARTIFACTS.mkdir(exist_ok=True)
    data = tmp_path_factory.mktemp("rat-lab")
    (data / "notebooks").mkdir()
    # no "get Jupyter news?" toast over the screenshots
    settings = data / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = data_dir_env(data, JUPYTERLAB_SETTINGS_DIR=str(data / "lab-settings"),
                       JUPYTERLAB_WORKSPACES_DIR=str(data / "lab-ws"))
    server = LabServer(f"--ServerApp.root_dir={data / 'notebooks'}", f"--RatApp.data_dir={data}",
                       "--ServerApp.jpserver_extensions=rat_jupyter=True", "--LabApp.news_url=",
                       "--LabApp.expose_app_in_browser=True",
                       "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                       app="lab", cwd=data, log=ARTIFACTS / "lab-server.log", env=env, token=secrets.token_hex(16),
                       base_url=BASE_URL)
    try:
        server.wait_until(lambda: server.api("GET", "health") is not None, timeout=120, what="jupyter lab")
        yield server
    finally:
        server.stop(20)


@dataclass
class Lab:
    """A logged-in JupyterLab page, with what every test checks: console errors and screenshots."""

    page: Any
    server: LabServer
    console_errors: list[str] = field(default_factory=list)
    workspace: str = ""

    def saved_workspace(self) -> dict[str, Any]:
        """The layout JupyterLab saved on the server for this page's workspace."""
        req = urllib.request.Request(f"{self.server.root}lab/api/workspaces/{self.workspace}",
                                     headers={"Authorization": f"token {self.server.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    def open(self, theme: str = "JupyterLab Light", query: str = "") -> float:
        """Open Lab (a fresh workspace each time) and wait until the RAT extension is up; returns the time (ms)
        from Lab's ``started`` to the RAT sidebar showing the namespaces."""
        ws = secrets.token_hex(4)
        self.workspace = f"t{ws}"
        self.page.goto(f"{self.server.root}lab/workspaces/t{ws}?reset&token={self.server.token}{query}")
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('rat:open-sidebar')", timeout=60_000)
        self.page.evaluate("() => { window.jupyterapp.restored.then(() => { window.__labRestored = true; }); }")
        self.page.wait_for_function("() => window.__labRestored === true", timeout=90_000)
        self.command("rat:open-sidebar")
        if theme != "JupyterLab Light":
            self.set_theme(theme)
        self.page.wait_for_selector("#rat-sidebar .rat-lab-row-namespace, #rat-sidebar .rat-lab-note")
        return float(self.page.evaluate("() => window.__ratSidebarReadyMs ?? -1"))

    def set_theme(self, theme: str) -> None:
        # A theme change shows Lab's splash screen; shown again while the last one is fading out (200 ms), Lab
        # removes the same node twice and throws "removeChild … not a child": wait until it is gone.
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
        self.page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {theme!r}}})")
        light = "false" if "Dark" in theme else "true"
        self.page.wait_for_selector(f"body[data-jp-theme-light='{light}']", state="attached")
        self.page.wait_for_timeout(300)

    def expand_namespace(self, ns: str) -> None:
        """Open ``ns`` in the sidebar (only the only namespace opens by itself)."""
        self.command("rat:open-sidebar")
        row = self.page.locator(f"#rat-sidebar [data-key='{ns}']")
        row.wait_for()
        if row.get_attribute("aria-expanded") != "true":
            row.click()

    def open_pipeline(self, ns: str, layer: str, name: str) -> None:
        """Open a pipeline's SQL from the sidebar into the RAT drive's editor, as a user would."""
        self.expand_namespace(ns)
        self.page.click(f"#rat-sidebar [data-key='{ns}/layer/{layer}/{name}'] .rat-lab-label")
        self.page.wait_for_function(
            "(p) => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.context && w.context.path === p; }",
            arg=f"RAT:{ns}/pipelines/{layer}/{name}/pipeline.sql")
        self.page.wait_for_selector(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-FileEditor .cm-content")

    def command(self, command: str, args: dict[str, Any] | None = None, wait: bool = True) -> None:
        """Run a command; its result stays in the page (widgets do not serialize). ``wait=False`` for commands
        that end with a modal dialog (they resolve only when it is closed)."""
        self.page.evaluate("async ([c, a, w]) => { const p = window.jupyterapp.commands.execute(c, a);"
                           " if (w) await p; return null; }", [command, args or {}, wait])

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def assert_no_console_errors(self, expected: tuple[str, ...] = ()) -> None:
        assert_no_console_errors(self.console_errors, expected)


@pytest.fixture
def lab(browser: Any, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[Lab]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    lab = Lab(page, lab_server)
    watch_console(page, lab.console_errors)
    yield lab
    shot_if_failed(request, lab.shot)
    ctx.close()
