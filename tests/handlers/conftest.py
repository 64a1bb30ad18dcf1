"""A real Jupyter server with the RAT extension, on a temporary data dir (pytest-jupyter).

Every test that uses ``api`` starts its own server (pytest-jupyter's fixtures are function-scoped), so tests
group whole flows. ``@pytest.mark.rat_config(key=value)`` overrides ``RatApp`` traits (on a test or a module's
``pytestmark``; the closest wins). One worker process starts and stops faster than two: modules that never run
two pipelines at once ask for ``concurrency=1``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tornado.httpclient import HTTPResponse

from rat_jupyter.core.models import strict_replies
from tests.fixtures.profiles import profile_traits

strict_replies()  # a reply with a field its model does not declare fails the test (production drops it)
API_PREFIX = "rat/api/v1"
TERMINAL = ("success", "failed", "cancelled")
VALIDATED: dict[str, int] = {}  # operationId (or "error") → JSON responses checked against their schema


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rat_config(**traits): RatApp trait overrides for this test's server")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if VALIDATED:
        terminalreporter.write_line(
            f"handler responses validated against openapi.json: {sum(VALIDATED.values())} "
            f"({sum(not k.startswith(('error', 'event:')) for k in VALIDATED)} operations, "
            f"{VALIDATED.get('error', 0)} errors, {sum(v for k, v in VALIDATED.items() if k.startswith('event:'))} "
            "log-stream events)")


@functools.cache
def _contract() -> tuple[dict[str, Any], list[tuple[re.Pattern[str], str, dict[str, Any]]]]:
    """The generated OpenAPI document and (path regex, template, path item) of every route in it."""
    from rat_jupyter.handlers import to_regex
    from rat_jupyter.handlers.openapi import document

    doc = document("/")
    table = [(re.compile(to_regex(path) + "$"), path, item) for path, item in doc["paths"].items()]
    return doc, table


def check_response(method: str, url_path: str, resp: HTTPResponse) -> None:
    """Every JSON reply of the API matches the schema the OpenAPI document declares for its route, method
    and status (or the Error schema): a mismatch is a bug in the handler or its model. File downloads
    (attachments) carry the file's own type and are not API replies."""
    status, body = resp.code, resp.body or b""
    if resp.headers.get("Content-Type", "").startswith("text/event-stream") and body:
        check_events(body.decode())
        return
    if "application/json" not in resp.headers.get("Content-Type", "") or not body:
        return
    if resp.headers.get("Content-Disposition", "").startswith("attachment"):
        return
    at = url_path.find("/" + API_PREFIX)
    if at < 0:
        return
    path = url_path[at:].split("?", 1)[0]
    doc, table = _contract()
    op = None
    for regex, _template, item in table:
        if regex.match(path) and method.lower() in item:
            op = item[method.lower()]
            break
    declared = (op or {}).get("responses", {})
    response = declared.get(str(status))
    key = (op or {}).get("operationId", "?")
    if response is None:
        assert status >= 400, f"{method} {path} answered {status}, which its operation does not declare"
        response, key = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "error"
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    assert schema is not None, f"{method} {path} {status} sent JSON but declares no JSON body"
    data = json.loads(body)
    try:
        jsonschema.validate(data, {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise AssertionError(f"{method} {path} {status} does not match its schema at '{where}': "
                             f"{exc.message[:300]}") from None
    VALIDATED[key] = VALIDATED.get(key, 0) + 1


EVENT_SCHEMAS = {"log": "RunLogEvent", "status": "RunStatusEvent"}


def check_events(text: str) -> None:
    """The data of each ``log`` and ``status`` event of a run's log stream matches its declared schema."""
    doc, _ = _contract()
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        name = EVENT_SCHEMAS.get(fields.get("event", ""))
        if name is None:
            continue
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        jsonschema.validate(json.loads(fields["data"]), schema, cls=jsonschema.Draft202012Validator)
        VALIDATED["event:" + fields["event"]] = VALIDATED.get("event:" + fields["event"], 0) + 1


@pytest.fixture
def rat_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir inside a folder of its own: the escape tests watch that parent for stray writes, so it must
    not hold other tests' workspaces (a leftover process from an earlier test could touch those)."""
    data = tmp_path_factory.mktemp("ratroot") / "ratdata"
    data.mkdir()
    return data


@pytest.fixture
def jp_server_config(rat_data_dir: Path, profile: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The server's config on the test's profile (``tests/conftest.py``): on scale, a fresh state database,
    storage prefix and catalog warehouse for each server."""
    rat: dict[str, Any] = {"data_dir": str(rat_data_dir), "concurrency": 2, **profile_traits(profile, request)}
    for marker in reversed(list(request.node.iter_markers("rat_config"))):  # module, then class, then test
        rat.update(marker.kwargs)
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}}, "RatApp": rat}


Fetch = Callable[..., Awaitable[Any]]
Api = Callable[..., Awaitable[tuple[int, Any]]]
Http = Callable[..., Awaitable[HTTPResponse]]


def _decode(resp: HTTPResponse) -> tuple[int, Any]:
    text = resp.body.decode() if resp.body else ""
    try:
        return resp.code, json.loads(text) if text else None
    except json.JSONDecodeError:
        return resp.code, text


@pytest.fixture
def api(jp_fetch: Fetch) -> Api:
    """``await api("GET", "namespaces")`` → (status, parsed JSON or text). Never raises on HTTP errors."""

    async def call(method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   headers: dict[str, str] | None = None, **params: Any) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "headers": headers or {}}
        if params:
            kwargs["params"] = params
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT"):
            kwargs["body"] = "{}"
        parts = ["rat", "api", "v1", *[p for p in path.split("/") if p]]
        resp = await jp_fetch(*parts, **kwargs)
        check_response(method, resp.effective_url or resp.request.url, resp)
        return _decode(resp)

    return call


@pytest.fixture
def http(jp_serverapp: Any, http_server_client: Any, jp_auth_header: dict[str, str], jp_base_url: str) -> Http:
    """A request to ``{base_url}rat/api/v1/{suffix}`` with the suffix sent exactly as given (no escaping),
    with the token unless ``token=False``. Returns the tornado response; never raises on HTTP errors."""

    async def call(method: str, suffix: str, *, body: bytes | str | None = None, token: bool = True,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> HTTPResponse:
        all_headers = dict(jp_auth_header) if token else {}
        all_headers.update(headers or {})
        if body is None and method in ("POST", "PUT"):
            body = b"{}"
        kwargs.setdefault("request_timeout", 30)
        resp = await http_server_client.fetch(f"{jp_base_url}{API_PREFIX}/{suffix}", method=method, body=body,
                                              headers=all_headers, raise_error=False,
                                              allow_nonstandard_methods=True, **kwargs)
        if "streaming_callback" not in kwargs:
            check_response(method, resp.effective_url or resp.request.url, resp)
        return resp

    return call


def xsrf_headers() -> dict[str, str]:
    """A matching ``_xsrf`` cookie and ``X-XSRFToken`` header: passes Jupyter's XSRF check, so a 403 that
    follows can only come from authentication."""
    value = uuid.uuid4().hex
    return {"Cookie": f"_xsrf={value}", "X-XSRFToken": value}


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """Encode form fields and ``(field, filename, content)`` files as multipart/form-data."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        out += value.encode() + b"\r\n"
    for name, filename, content in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def is_error(reply: tuple[int, Any], status: int, code: str | None = None) -> bool:
    """``reply`` is an error answer ``{"message", "reason", "code"}`` with this status (and code)."""
    got, body = reply
    return got == status and isinstance(body, dict) and {"message", "reason", "code"} <= set(body) and (
        code is None or body["code"] == code)


async def upload(api: Api, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes]]
                 ) -> tuple[int, Any]:
    body, headers = multipart(fields, files)
    return await api("POST", path, raw=body, headers=headers)


async def wait_run(api: Api, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``GET runs/{id}`` until the run is terminal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, run = await api("GET", f"runs/{run_id}")
        assert status == 200, run
        if run["status"] in TERMINAL:
            return run
        assert loop.time() < deadline, f"run {run_id} still {run['status']} after {timeout} s"
        await asyncio.sleep(0.1)


async def create_pipeline(api: Api, ns: str, layer: str, name: str, source: str, *, type: str = "sql",
                          publish: bool = True) -> dict[str, Any]:
    """Create (namespace if needed), and publish a pipeline."""
    status, body = await api("POST", "namespaces", {"name": ns})
    assert status in (201, 409), body
    status, out = await api("POST", "pipelines", {"namespace": ns, "layer": layer, "name": name,
                                                  "type": type, "source": source})
    assert status == 201, out
    if publish:
        status, body = await api("POST", f"pipelines/{ns}/{layer}/{name}/publish", {"message": "test"})
        assert status == 200, body
    return out


async def run_pipeline(api: Api, ns: str, layer: str, name: str, **extra: Any) -> dict[str, Any]:
    status, body = await api("POST", "runs", {"namespace": ns, "layer": layer, "pipeline": name, **extra})
    assert status == 202, body
    return await wait_run(api, body["run_id"])


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` (relative paths), except SQLite journals that change on any read."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))}
