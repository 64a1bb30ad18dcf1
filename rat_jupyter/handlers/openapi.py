"""OpenAPI 3.1 document generated from the route table and each handler's ``ops`` (their pydantic models).

The committed ``openapi.json`` at the repository root is this document with ``servers: [{"url": "/"}]``;
``make openapi`` (``python -m rat_jupyter.handlers.openapi openapi.json``) writes it, and a test fails when the
two differ. Clients (the TypeScript types of the web UIs) are generated from the committed file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from tornado.web import RequestHandler

from .. import __version__
from ..core import models as m
from .base import Op, RatAPIHandler, endpoint

METHODS = ("get", "post", "put", "delete", "patch")
REF = "#/components/schemas/{model}"
ERROR = {"$ref": REF.format(model="Error")}
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "number": {"type": "integer", "minimum": 1, "maximum": m.MAX_INT},
    "path": {"type": "string", "minLength": 1, "maxLength": 4096,
             "description": "a storage path (several segments), starting with a namespace"},
}
NAME_PARAM = {"type": "string", "minLength": 1, "maxLength": 255}
MEDIA_SCHEMAS = {"text/plain": {"type": "string"}, "text/event-stream": {"type": "string"},
                 "application/octet-stream": {"type": "string", "format": "binary"}}


def operations() -> list[tuple[str, str, type, Op]]:
    """(template, method, handler, op) of every operation, in route-table order."""
    from . import ROUTES

    out = []
    for template, handler in [*ROUTES, ("/openapi.json", OpenAPIHandler)]:
        for method in METHODS:
            if getattr(handler, method) is getattr(RequestHandler, method):  # inherited methods count
                continue
            op = handler.ops.get(method)
            if op is None:
                raise TypeError(f"{handler.__name__}.{method} has no Op in {handler.__name__}.ops")
            out.append((template, method, handler, op))
    return out


def _models(ops: list[tuple[str, str, type, Op]]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m.Error, "serialization")]
    for *_, op in ops:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.multipart is not None:
            wanted.append((op.multipart, "validation"))
        for model in (op.response, *op.also.values()):
            if model is not None:
                wanted.append((model, "serialization"))
    wanted += [(m.RunLogEvent, "serialization"), (m.RunStatusEvent, "serialization")]  # the SSE event data
    return list(dict.fromkeys(wanted))


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        description = prop.pop("description", None)
        if "anyOf" in prop:  # Optional[X]: a query parameter is simply absent
            members = [s for s in prop.pop("anyOf") if s.get("type") != "null"]
            prop = {**(members[0] if len(members) == 1 else {"anyOf": members}), **prop}
        if prop.get("default", 0) is None:
            prop.pop("default")
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def document(base_url: str = "/") -> dict[str, Any]:
    from . import API

    ops = operations()
    refs, defs = models_json_schema(_models(ops), ref_template=REF)
    schemas = dict(sorted(defs.get("$defs", {}).items()))

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for template, method, _handler, op in ops:
        count = seen[op.id] = seen.get(op.id, 0) + 1
        operation_id = op.id if count == 1 else f"{op.id}Alias"  # the /tests/... aliases of RAT's SDK
        params = [{"name": p, "in": "path", "required": True, "schema": PATH_PARAMS.get(p, NAME_PARAM)}
                  for p in re.findall(r"\{(\w+)\}", template)]
        if op.query is not None:
            params += _query_parameters(op.query)
        responses: dict[str, Any] = {}
        success: dict[str, Any] = {"description": op.summary}
        content: dict[str, Any] = {}
        if op.media == "application/json" and op.response is not None:
            content["application/json"] = {"schema": ref(op.response, "serialization")}
        elif op.media != "application/json":
            content[op.media] = {"schema": MEDIA_SCHEMAS[op.media]}
        for media, description in op.alt:
            content[media] = {"schema": MEDIA_SCHEMAS[media]}
            success["description"] += f"; {media}: {description}"
        if content:
            success["content"] = content
        responses[str(op.status)] = success
        for status, model in op.also.items():
            responses[str(status)] = {"description": f"{op.summary} ({status})",
                                      "content": {"application/json": {"schema": ref(model, "serialization")}}}
        responses["default"] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
        entry: dict[str, Any] = {"summary": op.summary, "operationId": operation_id,
                                 "tags": [template.strip("/").split("/")[0].split(".")[0]],
                                 "parameters": params, "responses": responses}
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": ref(op.body, "validation")}}}
        elif op.multipart is not None:
            entry["requestBody"] = {"required": True, "content": {
                "multipart/form-data": {"schema": ref(op.multipart, "validation")}}}
        if _handler.public:
            entry["security"] = []
        paths.setdefault(API + template, {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "RAT for Jupyter API", "version": __version__,
                 "description": "Every route requires Jupyter authentication (token, password or JupyterHub), "
                                "except the webhook receiver, which checks its own token. Errors are "
                                "`{message, reason, code}` (schema Error)."},
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                                          "description": "`token <Jupyter token>`"}},
            "schemas": schemas,
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def render(base_url: str = "/") -> str:
    """The document as committed: two-space indentation, a final newline."""
    return json.dumps(document(base_url), indent=2, ensure_ascii=False) + "\n"


class OpenAPIHandler(RatAPIHandler):
    ops = {"get": Op("getOpenAPI", "This document (OpenAPI 3.1)", m.OpenAPIDocument)}

    @endpoint
    async def get(self) -> None:
        self.reply(document(self.base_url))


if __name__ == "__main__":  # make openapi
    target = sys.argv[1] if len(sys.argv) > 1 else "-"
    text = render()
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")
