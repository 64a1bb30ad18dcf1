"""OpenAPI 3.1 document generated from the route table (a test keeps the two in step)."""

from __future__ import annotations

import inspect
import re
from typing import Any

from tornado.web import RequestHandler

from .. import __version__
from .base import RatAPIHandler, endpoint

METHODS = ("get", "post", "put", "delete")
ERROR = {"$ref": "#/components/schemas/Error"}


def document(base_url: str = "/") -> dict[str, Any]:
    from . import API, ROUTES

    paths: dict[str, Any] = {}
    for template, handler in ROUTES:
        item: dict[str, Any] = {}
        params = re.findall(r"\{(\w+)\}", template)
        for method in METHODS:
            if getattr(handler, method) is getattr(RequestHandler, method):  # inherited methods count
                continue
            op: dict[str, Any] = {
                "summary": handler.summary.get(method, ""),
                "operationId": f"{method}_{handler.__name__.removesuffix('Handler')}_{len(paths)}",
                "tags": [template.strip("/").split("/")[0]],
                "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                               for p in params],
                "responses": {
                    "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}},
                    _ok(method, handler): {"description": "success"},
                },
            }
            if method in ("post", "put"):
                kind = "multipart/form-data" if getattr(handler, "multipart", False) else "application/json"
                op["requestBody"] = {"required": False, "content": {kind: {"schema": {"type": "object"}}}}
            item[method] = op
        paths[API + template] = item
    paths[API + "/openapi.json"] = {"get": {"summary": "This document", "operationId": "get_OpenAPI",
                                            "responses": {"200": {"description": "OpenAPI 3.1"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "RAT for Jupyter API", "version": __version__,
                 "description": "Every route requires Jupyter authentication (token, password or JupyterHub)."},
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization"}},
            "schemas": {"Error": {"type": "object", "required": ["message", "reason", "code"], "properties": {
                "message": {"type": "string"}, "reason": {"type": "string"}, "code": {"type": "string"},
                "details": {}}}},
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def _ok(method: str, handler: type) -> str:
    code = inspect.unwrap(getattr(handler, method)).__code__
    names = set(code.co_names)
    if "no_content" in names:
        return "204"
    if "created" in names:
        return "201"
    if "accepted" in names:
        return "202"
    return "200"


class OpenAPIHandler(RatAPIHandler):
    summary = {"get": "This document"}

    @endpoint
    async def get(self) -> None:
        self.write_json(document(self.base_url))
