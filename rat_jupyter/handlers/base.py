"""Base handler: authentication, JSON bodies, the domain-error → HTTP map."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .. import __version__


class RatAPIHandler(APIHandler):
    @property
    def ws(self) -> Any:
        return self.settings["rat_workspace"]

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))


class HealthHandler(RatAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.write_json({"status": "ok", "version": __version__})
