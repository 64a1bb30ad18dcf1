"""Base handler: authentication, typed bodies and query strings, typed replies, the domain-error → HTTP map, audit.

Handlers stay thin: parse (with the method's models) → call the workspace off the event loop → reply (through
the response model). Each handler declares its operations in ``ops``: the same declaration drives parsing,
serialisation and the OpenAPI document, so the document cannot drift from what the server does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import responses
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ValidationError
from tornado import httputil, web

from ..core.errors import Invalid, NotFound, RatError, TooLarge
from ..core.models import MAX_INT, strict_replies_on
from ..core.services.base import parse as _validate  # the facade's parser: validation exists once

T = TypeVar("T")
MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64  # the models nest a few levels; anything deeper is refused while the body streams in
_JSON_STRUCTURE = re.compile(rb'[\[\]{}"\\]')
AUTH_RESOURCE = "rat"
__all__ = ["MAX_INT", "AuditWriter", "Op", "RatAPIHandler", "StreamLimiter", "endpoint"]


@dataclass(frozen=True)
class Op:
    """One operation of a route: its stable id, models and success reply.

    ``body``/``query`` parse the request, ``response`` serialises the JSON reply (``None`` for 204 and for
    non-JSON replies). ``media`` is the success content type; ``alt`` lists other content types the same
    status may carry (the log stream), ``also`` other statuses with a JSON body (readiness' 503).
    """

    id: str
    summary: str
    response: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    media: str = "application/json"
    alt: tuple[tuple[str, str], ...] = ()
    also: dict[int, type[BaseModel]] = field(default_factory=dict)
    multipart: type[BaseModel] | None = None


class AuditWriter:
    """Audit entries are written off the event loop, in order, by one thread; reads of the log go through the
    same thread so they see every entry of the requests that finished before. Built and stopped by ``RatApp``."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rat-audit")

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Write what is queued, then stop (blocking: call it off the event loop)."""
        self._pool.shutdown(wait=True)


class StreamLimiter:
    """Open log streams per client address and in total. Used on the event loop only (no lock needed)."""

    def __init__(self, per_client: int = 10, total: int = 1000) -> None:
        self.per_client = per_client
        self.total = total
        self._open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        if self._open.get(client, 0) >= self.per_client or sum(self._open.values()) >= self.total:
            return False
        self._open[client] = self._open.get(client, 0) + 1
        return True

    def release(self, client: str) -> None:
        self._open[client] -= 1
        if not self._open[client]:
            del self._open[client]

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())


def endpoint(method: Callable[..., Any]) -> Callable[..., Any]:
    """Authentication (Jupyter's token/password/Hub) and authorization for every RAT route."""
    return web.authenticated(authorized(method))


class BodyReader:
    """Collects a request body as it streams in, never holding more than ``limit`` bytes, and tracks the JSON
    nesting depth on the way (strings and escapes understood), so an oversized or deeply nested body is
    refused without being buffered or parsed."""

    def __init__(self, limit: int, json_depth: int | None) -> None:
        self.limit = limit
        self.max_depth = json_depth
        self.size = 0
        self.too_large = False
        self.too_deep = False
        self._chunks: list[bytes] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.too_large or self.too_deep:
            return
        if self.size > self.limit:
            self.too_large = True
            self._chunks.clear()
            return
        if self.max_depth is not None:
            self._scan(chunk)
        self._chunks.append(chunk)

    def _scan(self, chunk: bytes) -> None:
        skip = 0 if self._escaped else -1  # the byte after a backslash inside a string is not structure
        self._escaped = False
        for match in _JSON_STRUCTURE.finditer(chunk):
            at = match.start()
            if at == skip:
                continue
            char = match.group()
            if self._in_string:
                if char == b"\\":
                    if at + 1 == len(chunk):
                        self._escaped = True  # the escaped byte starts the next chunk
                    else:
                        skip = at + 1
                elif char == b'"':
                    self._in_string = False
            elif char == b'"':
                self._in_string = True
            elif char in (b"[", b"{"):
                self._depth += 1
                if self.max_depth is not None and self._depth > self.max_depth:
                    self.too_deep = True
                    self._chunks.clear()
                    return
            elif char in (b"]", b"}"):
                self._depth -= 1

    def data(self) -> bytes:
        if self.too_large:
            raise TooLarge(f"request body is larger than {self.limit} bytes")
        if self.too_deep:
            raise Invalid(f"request body is nested too deeply (more than {self.max_depth} levels)")
        return b"".join(self._chunks)


@web.stream_request_body
class RatAPIHandler(APIHandler):
    """Every RAT route derives from this. Subclasses declare one ``Op`` per HTTP method in ``ops``.

    Bodies stream in (``data_received``) through a ``BodyReader`` with the route's limit: a declared
    ``Content-Length`` over it is answered 413 before the body is read, a chunked one stops being kept once it
    passes the limit, and JSON nesting is checked as the bytes arrive."""

    _reader: BodyReader | None = None

    auth_resource = AUTH_RESOURCE
    ops: dict[str, Op] = {}
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
        multipart = self.request.headers.get("Content-Type", "").startswith("multipart/")
        self._reader = BodyReader(limit, None if multipart else MAX_JSON_DEPTH)

    def data_received(self, chunk: bytes) -> None:
        if self._reader is None:  # not authenticated: prepare answered already; keep nothing
            return
        self._reader.feed(chunk)

    def raw_body(self) -> bytes:
        """The whole body (once it has arrived): 413 past the route's limit, 400 when nested too deeply."""
        if self._reader is None:
            return self.request.body or b""
        data = self._reader.data()
        self.request.body = data
        return data

    def form(self) -> tuple[dict[str, list[bytes]], dict[str, list[httputil.HTTPFile]]]:
        """A ``multipart/form-data`` body as (fields, files): tornado parses forms only for bodies it buffered."""
        data = self.raw_body()
        fields: dict[str, list[bytes]] = {}
        files: dict[str, list[httputil.HTTPFile]] = {}
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise Invalid("the body must be multipart/form-data with a 'file' field")
        try:
            httputil.parse_body_arguments(content_type, data, fields, files, self.request.headers)
        except httputil.HTTPInputError as exc:
            raise Invalid(f"the multipart body cannot be read: {exc}") from None
        return fields, files

    def body_limit(self) -> int:
        return MAX_JSON_BYTES

    # -- calling the core -------------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking workspace code in a thread so the event loop never waits on DuckDB or I/O."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    @property
    def op(self) -> Op:
        return self.ops[self.request.method.lower()]  # type: ignore[union-attr]

    # -- input ------------------------------------------------------------------------------------
    def body(self) -> Any:
        """The request body parsed with the operation's ``body`` model (400 naming the field otherwise)."""
        model = self.op.body
        assert model is not None, f"{type(self).__name__}.{self.request.method} declares no body model"
        raw = self.raw_body() or b"{}"
        try:
            data = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Invalid(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise Invalid("request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise Invalid("request body must be a JSON object")
        return _validate(model, data)

    def args(self) -> Any:
        """The query string parsed with the operation's ``query`` model. Values are taken exactly as sent
        (tornado's accessors would turn control characters into spaces); an empty value means absent."""
        model = self.op.query
        assert model is not None, f"{type(self).__name__}.{self.request.method} declares no query model"
        values: dict[str, str] = {}
        for name, raw in self.request.query_arguments.items():
            if not raw or raw[-1] == b"":
                continue
            try:
                values[name] = raw[-1].decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid(f"{name}: must be UTF-8 text") from None
        return _validate(model, values)

    # -- output -----------------------------------------------------------------------------------
    def reply(self, data: Any, status: int | None = None) -> None:
        """Serialise ``data`` through the operation's response model (the real JSON types) and finish."""
        op = self.op
        code = status or op.status
        model = op.also.get(code) or op.response
        assert model is not None, f"{type(self).__name__}.{self.request.method} declares no response model"
        try:
            text = model.model_validate(data).model_dump_json()  # serialised by pydantic-core, not json.dumps
        except ValidationError as exc:
            # The server broke its own contract: a bug to fix, never the client's fault. The handler tests
            # (strict replies) fail on it; a running server logs it and still answers with what it has.
            if strict_replies_on():
                raise RuntimeError(f"reply of {op.id} does not match {model.__name__}: {exc}") from None
            self.log.error("reply of %s does not match %s: %s", op.id, model.__name__, exc)
            self.write_json(data, code)
            return
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

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
            self.audit_writer.submit(self._write_audit, entry)

    @property
    def audit_writer(self) -> AuditWriter:
        return self.settings["rat_audit_writer"]

    def _write_audit(self, entry: tuple[Any, ...]) -> None:
        try:
            self.ws.state.audit(*entry)
        except Exception:
            self.log.exception("could not write the audit log")


class NotFoundHandler(RatAPIHandler):
    """Registered last under the API prefix: an unknown route is the JSON error, for every method (after
    authentication, so an anonymous caller learns nothing about which routes exist)."""

    audited = False

    @endpoint
    async def _unknown(self, *args: Any) -> None:
        raise NotFound(f"no such route: {self.request.method} {self.request.path}")

    get = post = put = delete = patch = head = _unknown  # type: ignore[assignment]


_CODES = {400: "INVALID_ARGUMENT", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
          408: "TIMEOUT", 409: "CONFLICT", 413: "TOO_LARGE", 422: "UNPROCESSABLE", 429: "RATE_LIMITED",
          503: "UNAVAILABLE"}


def _code_of(status: int) -> str:
    return _CODES.get(status, "INTERNAL")
