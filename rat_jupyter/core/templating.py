"""Jinja SQL: one sandboxed environment with ``StrictUndefined``.

``render()`` is pure: it returns the SQL and records what the template used (refs, landing zones, ``this``).
The same function serves the dependency parse pass (resolver that only records), a pipeline run, a quality
test, a preview and a notebook SQL cell — so a cell compiles exactly like a pipeline.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError
from .names import PipelineId

TEMPLATE_NAME = "<pipeline>"

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass
class RenderContext:
    """What a template can see. Resolver callbacks let the caller decide what ``ref()`` means."""

    namespace: str
    pipeline: PipelineId | None = None
    strategy: str = "full_refresh"
    is_incremental: bool = False
    watermark_value: str | None = None
    run_started_at: str = ""
    resolve_ref: Callable[[PipelineId], str] | None = None
    resolve_landing: Callable[[str, str, str], str] | None = None
    this_sql: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rendered:
    sql: str
    refs: list[PipelineId] = field(default_factory=list)
    landing_zones: list[tuple[str, str]] = field(default_factory=list)
    uses_this: bool = False


def _line_of(exc: BaseException) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return int(lineno)
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _template(source: str) -> jinja2.Template:
    try:
        code = _env.compile(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
        return _env.template_class.from_code(_env, code, _env.make_globals(None), None)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Jinja syntax error at line {exc.lineno}: {exc.message}", details={"line": exc.lineno}
        ) from None


def check_syntax(source: str) -> None:
    """Raise :class:`TemplateError` if the template does not parse."""
    _template(source)


def render(source: str, ctx: RenderContext) -> Rendered:
    """Render ``source`` with the RAT context; raise :class:`TemplateError` with a line number."""
    out = Rendered(sql="")
    seen_refs: set[PipelineId] = set()

    def ref(target: str) -> str:
        pid = PipelineId.parse(str(target), ctx.namespace)
        if pid not in seen_refs:
            seen_refs.add(pid)
            out.refs.append(pid)
        return ctx.resolve_ref(pid) if ctx.resolve_ref else pid.sql

    def landing_zone(zone: str, pattern: str = "*") -> str:
        from .names import validate_name

        parts = str(zone).split(".")
        ns, name = (ctx.namespace, parts[0]) if len(parts) == 1 else (parts[0], parts[-1])
        validate_name(name, "landing zone")
        if "/" in pattern or ".." in pattern or "'" in pattern:
            raise TemplateError(f"invalid landing_zone pattern '{pattern}'")
        if (ns, name) not in out.landing_zones:
            out.landing_zones.append((ns, name))
        if ctx.resolve_landing:
            return ctx.resolve_landing(ns, name, pattern)
        return f"{ns}/landing/{name}/{pattern}"

    this_value = ctx.this_sql or (ctx.pipeline.sql if ctx.pipeline else None)

    class _This:
        def __str__(self) -> str:
            out.uses_this = True
            if this_value is None:
                raise TemplateError("'this' is only defined inside a pipeline")
            return this_value

        def __html__(self) -> str:  # pragma: no cover - autoescape is off
            return str(self)

    strategy = ctx.strategy
    variables: dict[str, Any] = {
        "ref": ref,
        "landing_zone": landing_zone,
        "this": _This(),
        "run_started_at": ctx.run_started_at,
        "watermark_value": ctx.watermark_value,
        "is_incremental": lambda: ctx.is_incremental,
        "is_scd2": lambda: strategy == "scd2",
        "is_snapshot": lambda: strategy == "snapshot",
        "is_append_only": lambda: strategy == "append_only",
        "is_delete_insert": lambda: strategy == "delete_insert",
        **ctx.extra,
    }
    template = _template(source)
    try:
        out.sql = template.render(variables)
    except TemplateError as exc:
        line = _line_of(exc)
        if line and "line" not in exc.message:
            exc.message = f"{exc.message} (line {line})"
            exc.args = (exc.message,)
        raise
    except jinja2.UndefinedError as exc:
        line = _line_of(exc)
        where = f" at line {line}" if line else ""
        raise TemplateError(f"undefined name{where}: {exc.message}", details={"line": line}) from None
    except jinja2.TemplateError as exc:
        line = _line_of(exc)
        where = f" at line {line}" if line else ""
        raise TemplateError(f"template error{where}: {exc}", details={"line": line}) from None
    except Exception as exc:
        # A RatError raised by a resolver (e.g. a missing table) keeps its type; add the line.
        from .errors import RatError

        line = _line_of(exc)
        if isinstance(exc, RatError):
            if line:
                exc.message = f"{exc.message} (line {line})"
                exc.args = (exc.message,)
            raise
        raise TemplateError(f"template error at line {line}: {exc}", details={"line": line}).with_traceback(
            sys.exc_info()[2]
        ) from None
    return out


_BLOCK_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_COMMENT_RE = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_NESTED_RE = re.compile(r"(ref|landing_zone)\s*\([^)]*\{\{")


def lint(source: str) -> list[str]:
    """Warnings that do not block publishing (TPL-06): a bare ``ref(...)`` outside Jinja braces."""
    warnings: list[str] = []
    if _NESTED_RE.search(source):
        warnings.append("nested Jinja inside ref()/landing_zone() arguments is not supported")
    plain = _COMMENT_RE.sub("", _BLOCK_RE.sub("", source))
    for m in re.finditer(r"\b(ref|landing_zone)\s*\(", plain):
        line = plain[: m.start()].count("\n") + 1
        warnings.append(f"bare {m.group(1)}(...) outside {{{{ }}}} near line {line}: it will not be resolved")
    return warnings
