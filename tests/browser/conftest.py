"""Browser tests: Playwright (Python) driving Debian's Chromium against a real ``jupyter server`` with the RAT
extension under ``base_url=/user/alice/`` (a JupyterHub-style prefix), token authentication and a fresh data dir.

The server is started once per session; the browser (once per module) logs in with the token (Jupyter then sets
its login cookie) and every test gets a fresh context carrying that cookie. Screenshots and the server log are kept in
``tests/browser/artifacts/`` (git-ignored; CI keeps the folder as an artifact).

The tests skip with a reason when Chromium, Playwright or the portal build is missing locally; under
``make test`` (``RAT_BROWSER_TESTS=required``) a missing piece is a failure instead.
"""

from __future__ import annotations

import secrets
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
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
INDEX = ROOT / "rat_jupyter" / "portal_static" / "index.html"
BASE_URL = "/user/alice/"
# shared fixtures and hook, registered by being in this conftest's namespace
browser = shared.browser
jp_asyncio_loop = shared.jp_asyncio_loop
pytest_runtest_makereport = shared.pytest_runtest_makereport


def _missing() -> str | None:
    if not INDEX.is_file():
        return "the portal is not built (make setup, or npm ci && npm run build)"
    if not AXE.is_file():
        return "axe-core is not installed (npm ci)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_missing(items, Path(__file__).resolve().parent, "browser", playwright_missing() or _missing())


class Server(JupyterProcess):
    def portal(self, path: str = "") -> str:
        return f"{self.root}rat/{path.lstrip('/')}"


@pytest.fixture(scope="session")
def rat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    data = tmp_path_factory.mktemp("rat-browser")
    server = Server(f"--ServerApp.root_dir={data}", f"--RatApp.data_dir={data}",
                    "--ServerApp.jpserver_extensions=rat_jupyter=True", cwd=data, log=ARTIFACTS / "server.log",
                    env=data_dir_env(data), token=secrets.token_hex(16), base_url=BASE_URL)
    try:
        server.wait_until(lambda: server.api("GET", "health") is not None, what="jupyter server")
        yield server
    finally:
        server.stop(20)


@pytest.fixture(scope="module")
def login_state(browser: Any, rat_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Log in once with the token in the URL; Jupyter answers with its login cookie, which later pages use."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{rat_server.portal()}?token={rat_server.token}")
    page.wait_for_selector("nav[aria-label='RAT']")
    state = str(tmp_path_factory.mktemp("state") / "state.json")
    ctx.storage_state(path=state)
    ctx.close()
    return state


@dataclass
class Portal:
    """One logged-in page plus what the tests check on every page: console errors, axe, screenshots."""

    page: Any
    server: Server
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str = "") -> None:
        self.page.goto(self.server.portal(path))
        self.page.wait_for_selector("main#main")

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self) -> list[dict[str, Any]]:
        """Serious and critical axe-core violations of the page as it is now."""
        self.page.add_script_tag(path=str(AXE))
        found = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, { resultTypes: ['violations'] });
                return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }));
            }""")
        return [v for v in found if v["impact"] in ("serious", "critical")]

    def assert_no_console_errors(self, expected: tuple[str, ...] = ()) -> None:
        assert_no_console_errors(self.console_errors, expected)


@pytest.fixture
def portal(browser: Any, rat_server: Server, login_state: str, request: pytest.FixtureRequest) -> Iterator[Portal]:
    ctx = browser.new_context(storage_state=login_state, viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    p = Portal(page, rat_server)
    watch_console(page, p.console_errors)
    yield p
    shot_if_failed(request, p.shot)
    ctx.close()
