"""Base handler: authentication, JSON bodies, pagination, the domain-error → HTTP map, audit.

Handlers stay thin: parse → validate → call the workspace off the event loop → serialize.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import responses
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..core.errors import Invalid, RatError, TooLarge

T = TypeVar("T")
MAX_JSON_BYTES = 1024 * 1024
# Audit entries are written off the event loop, in order, by one thread; reads of the log go through the
# same thread so they see every entry of the requests that finished before.
AUDIT_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rat-audit")
MAX_INT = 2**63 - 1  # integers the state store can hold (SQLite and PostgreSQL BIGINT)
AUTH_RESOURCE = "rat"


def endpoint(method: Callable[..., Any]) -> Callable[..., Any]:
    """Authentication (Jupyter's token/password/Hub) and authorization for every RAT route."""
    return web.authenticated(authorized(method))


class RatAPIHandler(APIHandler):
    """Every RAT route derives from this. Subclasses document themselves for the OpenAPI document
    through ``summary`` (one line per HTTP method)."""

    auth_resource = AUTH_RESOURCE
    summary: dict[str, str] = {}
    audited = True
    public = False  # True only for the webhook receiver, which checks its own token

    @property
    def ws(self) -> Any:
        return self.settings["rat_workspace"]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.current_user is None and not self.public:
            return  # the route's authentication answers 403 first: never reveal more to an anonymous caller
        length = self.request.headers.get("Content-Length")
        limit = self.body_limit()
        if length and length.isdigit() and int(length) > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")

    def body_limit(self) -> int:
        return MAX_JSON_BYTES

    # -- calling the core -------------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking workspace code in a thread so the event loop never waits on DuckDB or I/O."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    # -- input ------------------------------------------------------------------------------------
    def body(self, allowed: set[str] | None = None, required: set[str] = frozenset()) -> dict[str, Any]:
        raw = self.request.body or b"{}"
        if len(raw) > self.body_limit():
            raise TooLarge(f"request body is larger than {self.body_limit()} bytes")
        try:
            data = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Invalid(f"request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Invalid("request body must be a JSON object")
        if allowed is not None:
            unknown = set(data) - allowed
            if unknown:
                raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        missing = [k for k in sorted(required) if data.get(k) in (None, "")]
        if missing:
            raise Invalid(f"missing required field(s): {', '.join(missing)}")
        return data

    def arg_int(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"-?\d+", raw):
            raise Invalid(f"'{name}' must be an integer")
        value = int(raw)
        upper = MAX_INT if maximum is None else maximum
        if value < minimum or value > upper:
            raise Invalid(f"'{name}' must be between {minimum} and {upper}")
        return value

    def page(self) -> tuple[int, int]:
        return self.arg_int("limit", 50, 1, 200), self.arg_int("offset", 0, 0)

    def arg(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        return value or None

    # -- output -----------------------------------------------------------------------------------
    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def created(self, data: Any) -> None:
        self.write_json(data, 201)

    def accepted(self, data: Any) -> None:
        self.write_json(data, 202)

    def no_content(self) -> None:
        self.set_status(204)
        self.finish()

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RatError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:  # type: ignore[override]
        if isinstance(value, RatError) and value.status < 500:
            self.log.info("%s %s -> %s %s", self.request.method, self.request.path, value.status, value.message)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are ``{"message", "reason", "code"}``; tracebacks go to the server log only."""
        self.set_header("Content-Type", "application/json")
        self.clear_header("Content-Disposition")
        reason = responses.get(status_code, "Error")
        reply: dict[str, Any] = {"message": reason, "reason": reason, "code": _code_of(status_code)}
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RatError):
            reply.update(message=exc.message, code=exc.code)
            if exc.details is not None:
                reply["details"] = exc.details
        elif isinstance(exc, web.HTTPError):
            reply["message"] = exc.log_message or reason
        elif exc is not None:
            reply["message"] = "internal error; see the server log"
            self.log.error("RAT handler error", exc_info=kwargs["exc_info"])
        self.finish(json.dumps(reply, default=str))

    def on_finish(self) -> None:
        if self.audited and self.request.method in ("POST", "PUT", "DELETE", "PATCH") and self.get_status() < 400:
            user = self.current_user
            name = getattr(user, "username", None) if user else None
            entry = (self.request.method.lower(), self.request.path, None, name, self.request.remote_ip)
            AUDIT_WRITER.submit(self._write_audit, entry)

    def _write_audit(self, entry: tuple[Any, ...]) -> None:
        try:
            self.ws.state.audit(*entry)
        except Exception:
            self.log.exception("could not write the audit log")


_CODES = {400: "INVALID_ARGUMENT", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
          408: "TIMEOUT", 409: "CONFLICT", 413: "TOO_LARGE", 422: "UNPROCESSABLE", 429: "RATE_LIMITED",
          503: "UNAVAILABLE"}


def _code_of(status: int) -> str:
    return _CODES.get(status, "INTERNAL")
