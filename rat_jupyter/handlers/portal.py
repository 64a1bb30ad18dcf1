"""The standalone portal at ``{base_url}rat/``: its page and its built assets, behind Jupyter's authentication.

The build (``npm run build``, or the wheel's build hook) writes ``index.html`` and hashed ``assets/`` into
``rat_jupyter/portal_static``. One build serves any ``base_url`` (JupyterHub's ``/user/<name>/``): asset URLs
are relative and the page handler adds ``<base href="{base_url}rat/">``. The page carries its configuration as a
JSON block and never a token: the login cookie authenticates the page's calls, and the ``_xsrf`` cookie the page
handler sets is what its writes echo in ``X-XSRFToken``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .. import __version__
from .base import AUTH_RESOURCE

STATIC_DIR = Path(__file__).resolve().parent.parent / "portal_static"
HEAD_MARKER = "<!-- rat:head (the server injects <base href> and the JSON config here) -->"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RAT portal not built</title>
<style>body{{background:#0a0a0f;color:#e6e6ef;font:14px ui-monospace,monospace;padding:40px}}
h1{{color:#39ff14;font-size:18px}}code{{color:#c77dff}}</style></head>
<body><main><h1>RAT portal not built: run make setup</h1>
<p>The portal's files are missing from <code>{folder}</code>. Build them with <code>make setup</code>
(or <code>npm ci &amp;&amp; npm run build</code> in the repository). The REST API works without them:
<a href="{api}">{api}</a>.</p></main></body></html>
"""


def page_config(base_url: str) -> dict[str, str]:
    base = base_url if base_url.endswith("/") else base_url + "/"
    return {"baseUrl": base, "portalUrl": f"{base}rat/", "labUrl": f"{base}lab", "version": __version__}


def render_index(template: str, base_url: str) -> str:
    """Inject ``<base href>`` and the config block. ``</`` is escaped so no value can close the script."""
    config = page_config(base_url)
    data = json.dumps(config).replace("</", "<\\/")
    head = (f'<base href="{html.escape(config["portalUrl"], quote=True)}">\n'
            f'<script id="rat-config" type="application/json">{data}</script>')
    if HEAD_MARKER in template:
        return template.replace(HEAD_MARKER, head, 1)
    return template.replace("<head>", "<head>\n" + head, 1)


class PortalPageHandler(JupyterHandler):
    """Every portal route answers the same page (history routing); the router in the page picks the view."""

    auth_resource = AUTH_RESOURCE

    def check_xsrf_cookie(self) -> None:
        return None  # GET only

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        index = STATIC_DIR / "index.html"
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        if not index.is_file():
            self.set_status(503)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(NOT_BUILT.format(folder=html.escape(str(STATIC_DIR)),
                                         api=html.escape(self.base_url + "rat/api/v1/health")))
            return
        _ = self.xsrf_token  # sets the _xsrf cookie the page's writes send back
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(render_index(index.read_text("utf-8"), self.base_url))


class PortalAssetHandler(JupyterHandler, web.StaticFileHandler):
    """Hashed build assets: authenticated, cached for a year (a new build has new file names)."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        web.StaticFileHandler.initialize(self, path=str(STATIC_DIR / "assets"))

    @web.authenticated
    @authorized
    async def get(self, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        await web.StaticFileHandler.get(self, path, include_body)

    @web.authenticated
    @authorized
    async def head(self, path: str) -> None:  # type: ignore[override]
        await web.StaticFileHandler.get(self, path, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("X-Content-Type-Options", "nosniff")

    def compute_etag(self) -> str | None:
        return web.StaticFileHandler.compute_etag(self)


class PortalRedirectHandler(JupyterHandler):
    """``{base_url}rat`` → ``{base_url}rat/`` so relative asset URLs resolve."""

    @web.authenticated
    def get(self) -> None:
        self.redirect(self.base_url + "rat/")


def portal_routes() -> list[tuple[str, type]]:
    """After the API routes; nothing here matches ``rat/api/...``."""
    return [
        ("/rat", PortalRedirectHandler),
        ("/rat/assets/(.*)", PortalAssetHandler),
        (r"/rat/((?!api(?:/|$)).*)", PortalPageHandler),
    ]
