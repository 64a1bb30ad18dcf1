"""The portal's page and asset handlers in a real Jupyter server under ``base_url=/user/alice/``: config
injected without the token, ``<base href>``, the XSRF cookie, deep links, immutable assets, authentication on
both, the API routes never shadowed, and a clear page when the build is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.handlers import portal

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RAT</title>
    <!-- rat:head (the server injects <base href> and the JSON config here) -->
<script type="module" src="./assets/index-abc123.js"></script></head>
<body><div id="root"></div></body></html>"""


@pytest.fixture
def jp_base_url() -> str:
    return "/user/alice/"


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}},
            "RatApp": {"data_dir": str(tmp_path / "rat"), "concurrency": 1, "scheduler_enabled": False}}


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    static = tmp_path / "portal_static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(INDEX)
    (static / "assets" / "index-abc123.js").write_text("console.log('rat')")
    monkeypatch.setattr(portal, "STATIC_DIR", static)
    return static


@pytest.fixture
def get(http_server_client: Any) -> Any:
    """GET a path under the base URL without following redirects; with the token in the header, or anonymous."""

    async def fetch(path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"token {token}"} if token else {}
        return await http_server_client.fetch(f"/user/alice/{path}", headers=headers, follow_redirects=False,
                                              raise_error=False)

    return fetch


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return str(jp_serverapp.identity_provider.token)


async def test_page_injects_config_and_base_without_token(built: Path, get: Any, token: str) -> None:
    for path in ("rat/", "rat/pipelines/demo/gold/x", "rat/runs/abc?x=1", "rat/explorer/a/b/c"):
        resp = await get(path, token)
        html = resp.body.decode()
        assert resp.code == 200
        assert '<base href="/user/alice/rat/">' in html
        config = json.loads(re.search(r'<script id="rat-config" type="application/json">(.*?)</script>', html)[1])
        assert config == {"baseUrl": "/user/alice/", "portalUrl": "/user/alice/rat/", "labUrl": "/user/alice/lab",
                          "version": config["version"]}
        assert token not in html
        assert resp.headers["Cache-Control"] == "no-cache"
        assert "_xsrf=" in resp.headers.get("Set-Cookie", "")


async def test_assets_are_immutable_and_authenticated(built: Path, get: Any, token: str) -> None:
    resp = await get("rat/assets/index-abc123.js", token)
    assert resp.body == b"console.log('rat')"
    assert "immutable" in resp.headers["Cache-Control"]
    for path in ("rat/assets/index-abc123.js", "rat/", "rat/pipelines", "rat"):
        anon = await get(path)
        assert anon.code in (302, 403), path
        assert b"rat-config" not in (anon.body or b"")
        if anon.code == 302:
            assert "/user/alice/login" in anon.headers["Location"]
    assert (await get("rat/assets/../index.html", token)).code in (403, 404)
    assert (await get("rat/assets/nope.js", token)).code == 404


async def test_rat_redirects_and_api_is_not_shadowed(built: Path, get: Any, token: str) -> None:
    resp = await get("rat", token)
    assert resp.code == 302 and resp.headers["Location"].endswith("/user/alice/rat/")
    missing = await get("rat/api/v1/no-such-route", token)
    assert missing.code == 404
    assert json.loads(missing.body)["code"] == "NOT_FOUND"
    assert (await get("rat/api/v1/health", token)).code == 200
    assert (await get("rat/api", token)).code == 404


async def test_missing_build_answers_a_clear_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  get: Any, token: str) -> None:
    monkeypatch.setattr(portal, "STATIC_DIR", tmp_path / "nothing-here")
    resp = await get("rat/pipelines", token)
    assert resp.code == 503
    body = resp.body.decode()
    assert "portal not built: run make setup" in body
    assert "Traceback" not in body


def test_config_cannot_close_the_script() -> None:
    html = portal.render_index("<head></head>", "/user/</script><script>alert(1)//")
    assert "</script><script>" not in html.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert '<base href="/user/&lt;/script&gt;&lt;script&gt;alert(1)//rat/">' in html
