"""Authentication on every route, the OpenAPI document against the route table, health/features/metrics."""

from __future__ import annotations

import json
import re

import pytest
from tornado.web import RequestHandler

from rat_jupyter.handlers import API, ROUTES
from rat_jupyter.handlers.base import RatAPIHandler
from rat_jupyter.handlers.openapi import OpenAPIHandler

from .conftest import Api, Http, xsrf_headers

pytestmark = pytest.mark.rat_config(concurrency=1)  # no test here runs two pipelines at once

SAMPLE = {"ns": "shop", "layer": "bronze", "name": "orders", "number": "1", "test": "not_null",
          "path": "shop/notes.txt", "zone": "raw", "filename": "sample.csv"}  # other parameters are ids
HTTP_METHODS = ("get", "post", "put", "delete", "patch", "head")
# Routes outside Jupyter authentication by design (DESIGN §5): the webhook receiver checks its own token.
UNAUTHENTICATED_BY_DESIGN = {("POST", "/webhooks")}


def implemented(handler: type) -> list[str]:
    """HTTP methods a RAT handler implements itself (inherited ones count; tornado's 405 stubs do not)."""
    return [m for m in HTTP_METHODS if getattr(handler, m) is not getattr(RequestHandler, m)]


def every_route() -> list[tuple[str, str, str]]:
    """(method, template, concrete suffix) for every method of every route, plus /openapi.json."""
    table = [*ROUTES, ("/openapi.json", OpenAPIHandler)]
    out = []
    for template, handler in table:
        suffix = re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), "abc123"), template).lstrip("/")
        out += [(m.upper(), template, suffix) for m in implemented(handler)]
    return out


def opts_out_of_authentication(template: str, method: str) -> bool:
    handler = dict([*ROUTES, ("/openapi.json", OpenAPIHandler)])[template]
    return bool(getattr(getattr(handler, method.lower()), "__allow_unauthenticated", False))


def test_every_route_handler_derives_from_the_authenticated_base() -> None:
    assert all(issubclass(h, RatAPIHandler) for _, h in ROUTES)
    assert len(every_route()) > len(ROUTES)  # several methods per route
    skipped = {(m, t) for m, t, _ in every_route() if opts_out_of_authentication(t, m)}
    assert skipped <= UNAUTHENTICATED_BY_DESIGN


async def test_no_route_answers_without_a_token_for_any_method(http: Http) -> None:
    routes = every_route()
    assert len(routes) >= 70
    for method, template, suffix in routes:
        if (method, template) in UNAUTHENTICATED_BY_DESIGN:
            # Its own token is required: without one, or with an unknown one, nothing happens.
            for headers in ({}, {"X-Webhook-Token": "not-a-real-token"}):
                resp = await http(method, suffix, token=False, headers=headers)
                assert resp.code in (400, 403, 404), (template, resp.code, resp.body[:200])
            continue
        assert not opts_out_of_authentication(template, method), (method, template)
        body = b"{}" if method in ("POST", "PUT") else None
        # No token, no cookie: rejected (GET is not protected by XSRF, so this is authentication).
        resp = await http(method, suffix, body=body, token=False)
        assert resp.code == 403, (method, template, resp.code, resp.body[:200])
        # No token but a valid XSRF pair: the XSRF check passes, authentication still refuses.
        resp = await http(method, suffix, body=body, token=False, headers=xsrf_headers())
        assert resp.code == 403, (method, template, resp.code, resp.body[:200])
        error = json.loads(resp.body)
        assert error["code"] == "FORBIDDEN" and "xsrf" not in error["message"].lower(), (method, template, error)
        assert set(error) >= {"message", "reason", "code"}
        # The same request with the token is not refused: the 403 above was about authentication.
        resp = await http(method, suffix, body=body)
        assert resp.code != 403, (method, template, resp.body[:200])


async def test_a_cookieless_post_is_refused_by_the_xsrf_check_before_authentication(http: Http) -> None:
    resp = await http("POST", "namespaces", body=json.dumps({"name": "shop"}), token=False)
    assert resp.code == 403 and "xsrf" in json.loads(resp.body)["message"].lower()
    resp = await http("POST", "namespaces", body=json.dumps({"name": "shop"}), token=False,
                      headers={"Cookie": "_xsrf=abc", "X-XSRFToken": "abd"})
    assert resp.code == 403 and "xsrf" in json.loads(resp.body)["message"].lower()
    resp = await http("GET", "namespaces", token=False, headers={"Authorization": "token wrong"})
    assert resp.code == 403


async def test_the_openapi_document_lists_exactly_the_registered_routes_and_methods(api: Api) -> None:
    status, doc = await api("GET", "openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    expected = {API + t: sorted(implemented(h)) for t, h in ROUTES}
    expected[API + "/openapi.json"] = ["get"]
    assert {p: sorted(item) for p, item in doc["paths"].items()} == expected
    operation_ids = []
    for path, item in doc["paths"].items():
        params = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op["summary"], (path, method)
            assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == params, (path, method)
            assert any(code.startswith("2") for code in op["responses"]), (path, method)
    assert len(operation_ids) == len(set(operation_ids))
    assert doc["components"]["schemas"]["Error"]["required"] == ["message", "reason", "code"]
    # Status codes follow the handlers: creation is 201, run submission 202, deletion 204.
    assert "201" in doc["paths"][API + "/namespaces"]["post"]["responses"]
    assert "202" in doc["paths"][API + "/runs"]["post"]["responses"]
    assert "204" in doc["paths"][API + "/namespaces/{ns}"]["delete"]["responses"]
    assert "multipart/form-data" in doc["paths"][API + "/files/upload"]["post"]["requestBody"]["content"]


async def test_health_readiness_features_and_metrics_describe_the_server(api: Api, http: Http) -> None:
    status, body = await api("GET", "health")
    assert status == 200 and body["status"] == "ok" and body["version"]
    status, body = await api("GET", "health/ready")
    assert status == 200 and body["status"] == "ready", body
    assert body["checks"] == {"state": "ok", "storage": "ok", "catalog": "ok", "workers": "ok"}
    status, body = await api("GET", "features")
    assert status == 200 and body["landing_zones"] and body["query_engine"]
    assert body["executor"] == {"type": "local_pool", "concurrency": 1} and body["storage"] == "local"
    status, info = await api("GET", "info")
    assert status == 200 and info["version"] == body["version"] and info["server_id"]
    assert info["executor"]["class"].endswith(":LocalProcessExecutor") and info["executor"]["capacity"] == 1
    assert info["executor"]["executes_runs"] is True and info["executor"]["capabilities"]["cooperative_cancel"]
    resp = await http("GET", "metrics")
    assert resp.code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = resp.body.decode()
    assert re.search(r'^rat_info\{version="[^"]+"\} 1$', text, re.M) and "rat_workers 1" in text
    # Unknown routes under the API and unsupported methods are errors, not pages.
    status, _ = await api("GET", "nope")
    assert status == 404
    status, error = await api("DELETE", "health")
    assert status == 405 and error["code"] == "METHOD_NOT_ALLOWED"
