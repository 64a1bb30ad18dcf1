"""The typed API contract: the committed openapi.json is what the code generates, every body is typed, input is
validated at the boundary by the models, unknown routes are JSON errors, and token requests have one user.

Every JSON reply in the handler tests is also validated against its declared schema (``conftest.check_response``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core import models
from rat_jupyter.core.errors import RatError
from rat_jupyter.handlers import API
from rat_jupyter.handlers.base import _CODES
from rat_jupyter.handlers.identity import server_account
from rat_jupyter.handlers.openapi import document, render

from .conftest import Api, Http, create_pipeline, run_pipeline

pytestmark = pytest.mark.rat_config(concurrency=1)
ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "post", "put", "delete", "patch")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_committed_openapi_document_is_what_the_code_generates() -> None:
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), "openapi.json is out of date: run `make openapi` and commit it"


def test_every_request_body_and_json_reply_has_a_concrete_schema() -> None:
    doc = document()
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", op["operationId"]), where  # camelCase, no route index
        for media, body in op.get("requestBody", {}).get("content", {}).items():
            schema = resolve(doc, body["schema"])
            assert schema.get("type") == "object" and schema["properties"], (where, media)
            if media == "multipart/form-data":
                assert schema["properties"]["file"]["format"] == "binary", where
        if method in ("post", "put") and "requestBody" not in op:  # actions that take no input
            assert path.endswith(("/cancel", "/webhooks", "/retention/run")), where
        for status, reply in op["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = reply.get("content")
            assert content, (where, status)
            for media, body in content.items():
                if media == "application/json":
                    schema = resolve(doc, body["schema"])
                    assert schema.get("type") == "object" and schema["properties"], (where, status)
                    assert "additionalProperties" not in schema, (where, status)  # exact types for clients
                else:
                    assert body["schema"]["type"] == "string", (where, media)
    ids = [op["operationId"] for *_, op in operations(doc)]
    assert len(ids) == len(set(ids))
    assert {"listRuns", "createRun", "getRun", "cancelRun", "getRunLogs", "listPipelines", "createPipeline",
            "runQuery", "listNamespaces"} <= set(ids)


def test_the_document_declares_query_parameters_media_types_and_the_error_codes() -> None:
    doc = document()
    runs = doc["paths"][API + "/runs"]["get"]
    params = {p["name"]: p for p in runs["parameters"]}
    assert params["limit"]["schema"] == {"default": 50, "maximum": 200, "minimum": 1, "type": "integer"}
    assert params["offset"]["schema"]["minimum"] == 0 and params["status"]["schema"]["enum"]
    assert {"namespace", "layer", "pipeline", "started_after", "started_before", "sort"} <= set(params)
    logs = doc["paths"][API + "/runs/{run_id}/logs"]["get"]["responses"]["200"]["content"]
    assert set(logs) == {"application/json", "text/event-stream"}
    assert set(doc["paths"][API + "/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    download = doc["paths"][API + "/files/{path}"]["get"]["responses"]["200"]["content"]
    assert download["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
    version = doc["paths"][API + P + "/versions/{number}"]["get"]["parameters"][3]
    assert version["name"] == "number" and version["schema"]["type"] == "integer"
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["message", "reason", "code"]
    assert error["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    codes = set(doc["components"]["schemas"]["ErrorCode"]["enum"])
    assert set(_CODES.values()) | {"INTERNAL"} <= codes
    # every domain error's code is in the enum
    import rat_jupyter.core.query
    import rat_jupyter.core.runner
    import rat_jupyter.kernel.session  # noqa: F401 - they define RatError subclasses

    def subclasses(cls: type) -> list[type]:
        return [cls, *[s for c in cls.__subclasses__() for s in subclasses(c)]]

    assert {c.code for c in subclasses(RatError)} <= codes
    counts = (len(operations(doc)), len(doc["components"]["schemas"]),
              sum(p["in"] == "query" for *_, op in operations(doc) for p in op["parameters"]))
    assert counts[0] >= 85 and counts[1] >= 80 and counts[2] >= 30, counts


P = "/pipelines/{ns}/{layer}/{name}"


def test_the_models_need_no_jupyter_tornado_ipython_apscheduler_or_traitlets() -> None:
    blocked = ["tornado", "jupyter_server", "IPython", "apscheduler", "traitlets"]
    code = ("import sys\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            "import rat_jupyter.core.models as m\n"
            "assert m.CreateRun.model_validate({'namespace': 'a', 'layer': 'bronze', 'pipeline': 'b'})\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_validation_errors_are_short_and_name_the_field() -> None:
    def message(model: type, data: dict[str, Any]) -> str:
        with pytest.raises(models.ValidationError) as info:
            model.model_validate(data)
        return models.error_message(info.value)

    assert message(models.CreateRun, {"namespace": "a"}) == "missing required field(s): layer, pipeline"
    assert message(models.CreateNamespace, {"name": "a", "colour": "red"}) == "unknown field(s): colour"
    assert message(models.RollbackPipeline, {"version": 2**63}).startswith("version: ")
    assert message(models.CreateRun, {"namespace": "a", "layer": "bronze", "pipeline": "c", "downstream": 1}) \
        == "downstream: Input should be a valid boolean"
    assert message(models.ValidatePipeline, {"files": {"a.sql": 1}}) == "files.a.sql: Input should be a valid string"
    assert message(models.CreateNamespace, {"name": "x" * 256}).startswith("name: String should have at most 128")
    assert message(models.ListRunsQuery, {"limit": "201"}) == "limit: Input should be less than or equal to 200"


async def test_bad_input_is_a_400_naming_the_field_never_a_500(http: Http) -> None:
    await http("POST", "namespaces", body=json.dumps({"name": "shop"}))
    cases = [
        ("POST", "namespaces", '{"name": "\\ud800"}', "name"),  # a lone surrogate, valid JSON
        ("POST", "namespaces", '{"name": "ok", "extra": 1}', "unknown field(s): extra"),
        ("POST", "namespaces", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("POST", "namespaces", '{"name": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
        ("POST", "namespaces", '{"name": ' + "[" * 50 + "]" * 50 + "}", "name: Input should be a valid string"),
        ("POST", "runs", '{"namespace": "shop", "layer": "bronze", "pipeline": "p", "version": 3}', "version"),
        ("POST", "pipelines/shop/bronze/p/rollback", '{"version": 9223372036854775808}', "version"),
        ("PUT", "admin/retention/config", '{"runs_max_age_days": "30"}', "runs_max_age_days"),
        ("POST", "query", '{"sql": "SELECT 1", "limit": true}', "limit"),
        ("GET", "runs?limit=abc", None, "limit"),
        ("GET", "runs?offset=99999999999999999999", None, "offset"),
        ("GET", "runs?status=nope", None, "status"),
        ("GET", "runs/x/logs?after=-1", None, "after"),
    ]
    for method, suffix, body, expected in cases:
        resp = await http(method, suffix, body=body)
        error = json.loads(resp.body)
        assert resp.code == 400 and error["code"] == "INVALID_ARGUMENT", (suffix, body and body[:60], resp.code)
        assert expected in error["message"] and len(error["message"]) < 300, (suffix, error["message"])
        assert "pydantic" not in error["message"] and "Traceback" not in resp.body.decode()


async def test_unknown_routes_under_the_api_are_json_404s_for_every_method(http: Http) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        for suffix in ("nope", "runs/a/b/c", "pipelines/shop/bronze", "namespaces/shop/extra", ""):
            resp = await http(method, suffix)
            error = json.loads(resp.body)
            assert resp.code == 404 and error["code"] == "NOT_FOUND", (method, suffix, resp.code)
            assert resp.headers["Content-Type"].startswith("application/json")
            anonymous = await http(method, suffix, token=False)
            assert anonymous.code == 403, (method, suffix)  # nothing is revealed before authentication


async def test_token_requests_have_one_stable_user_in_the_audit_log_and_run_records(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT 1 AS id")
    await api("PUT", "namespaces/shop", {"description": "a shop"})
    run = await run_pipeline(api, "shop", "bronze", "orders")
    assert run["submitted_by"] == server_account()
    status, audit = await api("GET", "audit", limit=200)
    assert status == 200 and audit["total"] >= 4
    assert {e["user_id"] for e in audit["entries"]} == {server_account()}
    status, pipeline = await api("GET", "pipelines/shop/bronze/orders")
    assert pipeline["owner"] == server_account()


async def test_replies_carry_real_json_types(api: Api) -> None:
    assert (await api("POST", "namespaces", {"name": "shop"}))[0] == 201
    assert (await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"}))[0] == 201
    await create_pipeline(api, "shop", "bronze", "a", "SELECT * FROM read_csv_auto('{{ landing_zone(\"raw\") }}')")
    await create_pipeline(api, "shop", "silver", "b", "SELECT count(*) AS n FROM {{ ref('bronze.a') }}")
    status, b = await api("GET", "pipelines/shop/silver/b")
    assert status == 200 and b["deps"] == ["shop.bronze.a"] and b["zones"] == [] and b["draft_dirty"] is False
    status, listing = await api("GET", "pipelines", namespace="shop", sort="layer")
    assert [p["zones"] for p in listing["pipelines"]] == [["shop.raw"], []]
    status, lifecycle = await api("PUT", "landing-zones/shop/raw/lifecycle", {"auto_purge": True})
    assert status == 200 and lifecycle["auto_purge"] is True
    status, zone = await api("GET", "landing-zones/shop/raw")
    assert zone["auto_purge"] is True and zone["file_count"] == 0
    status, result = await api("POST", "query", {"sql": "SELECT sum(x) AS s, 1.5::DECIMAL(4,2) AS d, "
                                                        "'inf'::DOUBLE AS f FROM range(4) t(x)"})
    assert status == 200 and result["rows"] == [{"s": 6, "d": 1.5, "f": None}], result


async def test_chunked_bodies_are_limited_and_depth_checked_while_they_stream(
        http_server_client: Any, jp_auth_header: dict[str, str], jp_base_url: str) -> None:
    """Without a Content-Length the body is refused by what arrives: past the route's limit nothing more is
    kept (413 once it ends), and nesting past the models' depth is refused as the bytes come in (400)."""
    sent = {"bytes": 0}

    def producer(chunks: list[bytes]) -> Any:
        async def produce(write: Any) -> None:
            for chunk in chunks:
                sent["bytes"] += len(chunk)
                await write(chunk)
        return produce

    async def post(chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
        resp = await http_server_client.fetch(
            f"{jp_base_url}rat/api/v1/namespaces", method="POST", headers=dict(jp_auth_header),
            body_producer=producer(chunks), raise_error=False, request_timeout=60)
        assert "Content-Length" not in resp.request.headers
        return resp.code, json.loads(resp.body)

    big = [b'{"name": "shop", "description": "'] + [b"x" * 65536] * 40 + [b'"}']  # 2.5 MB, limit 1 MB
    status, error = await post(big)
    assert (status, error["code"]) == (413, "TOO_LARGE") and sent["bytes"] > 2_000_000
    status, error = await post([b'{"name": "shop", "description": ', b"[" * 40, b"[" * 40, b"]" * 80, b"}"])
    assert (status, error["code"]) == (400, "INVALID_ARGUMENT") and "nested too deeply" in error["message"]
    # brackets, quotes and backslashes inside strings are text, also when a chunk ends mid-escape
    tricky = 'a [{"q\\"} [[[ ' * 30
    encoded = json.dumps({"name": "shop", "description": tricky}).encode()
    status, body = await post([encoded[i:i + 1] for i in range(len(encoded))])
    assert status == 201 and body["description"] == tricky, body


async def test_shared_handler_services_belong_to_the_server_not_to_modules(api: Api, jp_serverapp: Any) -> None:
    from rat_jupyter.handlers import base, runs, schedules, stop_services
    from rat_jupyter.handlers.base import AuditWriter, StreamLimiter
    from rat_jupyter.handlers.identity import RatIdentityProvider

    settings = jp_serverapp.web_app.settings
    assert isinstance(settings["rat_audit_writer"], AuditWriter)
    assert isinstance(settings["rat_sse_limiter"], StreamLimiter) and settings["rat_sse_limiter"].open_streams == 0
    assert isinstance(settings["rat_webhook_limiter"], schedules.WebhookLimiter)
    assert not hasattr(base, "AUDIT_WRITER") and not hasattr(runs, "_streams")
    assert not hasattr(schedules, "WEBHOOK_LIMIT")
    assert isinstance(jp_serverapp.identity_provider, RatIdentityProvider)
    # stopping writes what is queued, then refuses more
    writer, written = AuditWriter(), []
    for i in range(100):
        writer.submit(written.append, i)
    stop_services({"rat_audit_writer": writer})
    assert written == list(range(100))
    with pytest.raises(RuntimeError):
        writer.submit(written.append, 100)


async def test_uploads_that_are_not_readable_forms_are_400s(http: Http) -> None:
    await http("POST", "namespaces", body=json.dumps({"name": "shop"}))
    await http("POST", "landing-zones", body=json.dumps({"namespace": "shop", "name": "raw"}))
    for suffix in ("files/upload", "landing-zones/shop/raw/files", "landing-zones/shop/raw/samples"):
        for headers, body in (({"Content-Type": "application/json"}, b'{"file": "x"}'),
                              ({}, b"file=x"),
                              ({"Content-Type": "multipart/form-data"}, b"--x\r\nnot a part"),
                              ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\n\r\n--x--\r\n")):
            resp = await http("POST", suffix, body=body, headers=headers)
            error = json.loads(resp.body)
            assert (resp.code, error["code"]) == (400, "INVALID_ARGUMENT"), (suffix, headers, resp.code, error)
