"""A real Jupyter server with the RAT extension, on a temporary data dir (pytest-jupyter)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("ratdata")
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}},
            "RatApp": {"data_dir": str(data), "concurrency": 2}}


Fetch = Callable[..., Awaitable[Any]]


@pytest.fixture
def api(jp_fetch: Fetch) -> Callable[..., Awaitable[tuple[int, Any]]]:
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
        text = resp.body.decode() if resp.body else ""
        try:
            return resp.code, json.loads(text) if text else None
        except json.JSONDecodeError:
            return resp.code, text

    return call
