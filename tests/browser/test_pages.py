"""Every portal route: reachable only when logged in, renders its page under base_url=/user/alice/, and has no
serious or critical axe-core violations. Screenshots: tests/browser/artifacts/page-*.png."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .conftest import Portal, Server, unique

PAGES = ["", "pipelines", "query", "runs", "lineage", "explorer", "landing", "schedules", "settings"]


@pytest.mark.parametrize("path", [*PAGES, "pipelines/demo/gold/x?tab=code", "runs/abc", "assets/index.js"])
def test_unreachable_without_login(rat_server: Server, path: str) -> None:
    """No cookie, no token: the page and its assets redirect to Jupyter's login, and never send the app."""
    req = urllib.request.Request(rat_server.portal(path))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(req, timeout=30)
    assert info.value.code in (302, 403)
    if info.value.code == 302:
        assert "/user/alice/login" in info.value.headers["Location"]
    assert b"rat-config" not in info.value.read()


def test_page_carries_config_not_token(portal: Portal) -> None:
    portal.goto("")
    html = portal.page.content()
    assert '<base href="/user/alice/rat/">' in html
    assert portal.server.token not in html
    config = portal.page.evaluate("JSON.parse(document.getElementById('rat-config').textContent)")
    assert config["baseUrl"] == "/user/alice/"
    cookies = {c["name"] for c in portal.page.context.cookies()}
    assert "_xsrf" in cookies


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_accessibly(portal: Portal, path: str) -> None:
    portal.goto(path)
    portal.page.wait_for_selector("main h1")
    portal.page.wait_for_load_state("networkidle")
    portal.shot(f"page-{path or 'home'}")
    violations = portal.axe()
    assert violations == [], violations
    portal.assert_no_console_errors()


def test_deep_link_and_unknown_route(portal: Portal) -> None:
    portal.goto("no/such/page")
    assert portal.page.locator("main h1").inner_text() == "Not found"
    portal.page.get_by_role("link", name="Pipelines").click()
    portal.page.wait_for_url("**/user/alice/rat/pipelines")


@pytest.mark.parametrize("path", ["", "pipelines", "runs"])
def test_light_theme_is_accessible(portal: Portal, path: str) -> None:
    """The light theme keeps the contrast axe-core asks for (the theme is chosen in the sidebar)."""
    portal.goto(path)
    portal.page.get_by_label("Theme").select_option("light")
    assert portal.page.evaluate("document.documentElement.dataset.theme") == "light"
    portal.page.wait_for_load_state("networkidle")
    portal.shot(f"page-light-{path or 'home'}")
    violations = portal.axe()
    assert violations == [], violations
    portal.page.get_by_label("Theme").select_option("dark")


def test_keyboard_dialog_and_tabs(portal: Portal, rat_server: Server) -> None:
    """The create dialog opens from the keyboard, takes focus, and Escape closes it; the pipeline tabs move
    with the arrow keys and keep the tab in the URL."""
    page = portal.page
    portal.goto("pipelines")
    page.get_by_role("button", name="New pipeline").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New pipeline")
    dialog.wait_for()
    assert dialog.evaluate("d => d.contains(document.activeElement)")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    ns = unique("kb")
    rat_server.api("POST", "namespaces", {"name": ns})
    rat_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "k", "source": "SELECT 1 AS a"})
    portal.goto(f"pipelines/{ns}/bronze/k")
    page.get_by_role("tab", name="Overview").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**/pipelines/*/bronze/k?tab=code")
    assert page.get_by_role("tab", name="Code").evaluate("t => t === document.activeElement")
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**?tab=quality")
    portal.assert_no_console_errors()
