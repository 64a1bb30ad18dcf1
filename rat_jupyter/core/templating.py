"""Jinja SQL: one sandboxed environment with ``StrictUndefined``.

``render()`` is pure: it returns the SQL and records what the template used (refs, landing zones, ``this``).
The same function serves the dependency parse pass (resolver that only records), a pipeline run, a quality
test, a preview and a notebook SQL cell — so a cell compiles exactly like a pipeline.

Templates are compiled and parsed in the server process, so they are bounded there: a source larger than
:data:`MAX_TEMPLATE_BYTES` is refused; arithmetic is never folded at compile time (Jinja would evaluate
``7**(10**7)`` while compiling) and at render time refuses integers beyond :data:`MAX_INT_BITS` and
strings or lists beyond :data:`MAX_RENDERED_BYTES`; calls with huge size arguments (``'x'.ljust(10**9)``,
``lipsum(n=…)``) and huge format widths are refused; the output is capped at :data:`MAX_RENDERED_BYTES`;
and a render stops after :data:`RENDER_SECONDS`.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError
from .names import PipelineId

TEMPLATE_NAME = "<pipeline>"

MAX_TEMPLATE_BYTES = 1_000_000  # a pipeline source is SQL; a megabyte of it is already a lot
COMPILED_CACHE_SIZE = 1024  # compiled templates a process keeps (about one per pipeline and quality test)
MAX_RENDERED_BYTES = 10_000_000  # rendered SQL, and any one string or list a template builds
MAX_INT_BITS = 4096  # integers a template computes (Python's int/str conversion limit is ~14000 bits)
MAX_SIZE_ARG = 1_000_000  # integer arguments of calls (widths, counts) a template may pass
MAX_FORMAT_WIDTH = 10_000
RENDER_SECONDS = 5.0
_WIDTH = re.compile(r"\d{5,}")


class _Budget(Exception):
    """Raised inside a render that went past its time budget."""


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value.bit_length() > MAX_INT_BITS
    if isinstance(value, str | bytes | list | tuple):
        return len(value) > MAX_RENDERED_BYTES
    return False


def _int_bits(value: Any) -> float:
    return float(abs(value).bit_length()) if isinstance(value, int) and not isinstance(value, bool) else 0.0


class _CodeGenerator(CodeGenerator):
    """``~`` goes through the environment, so string concatenation is size-checked too."""

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: Frame) -> None:
        self.write("environment.rat_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(SandboxedEnvironment):
    """A sandbox that refuses huge arithmetic and does none of it at compile time."""

    # Intercepted operators are not constant-folded by the compiler and go through call_binop at render time.
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"-"})
    code_generator_class = _CodeGenerator

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateError(f"number too large: {operator} result over {MAX_INT_BITS} bits")
        elif operator == "*":
            if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
                raise TemplateError(f"number too large: * result over {MAX_INT_BITS} bits")
            for seq, n in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(n, int)
                        and len(seq) * max(n, 0) > MAX_RENDERED_BYTES):
                    raise TemplateError(f"repetition too large: over {MAX_RENDERED_BYTES:,} items")
        elif operator == "%" and isinstance(left, str) and any(int(w) > MAX_FORMAT_WIDTH
                                                                for w in _WIDTH.findall(left)):
            raise TemplateError(f"format width over {MAX_FORMAT_WIDTH:,}")
        result = super().call_binop(context, operator, left, right)
        if _too_big(result):
            raise TemplateError(f"value too large: over {MAX_INT_BITS} bits or {MAX_RENDERED_BYTES:,} items")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE_ARG:
                raise TemplateError(f"argument too large for a template call: {MAX_SIZE_ARG:,} at most")
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        name = getattr(target, "__name__", "")
        fmt = getattr(target, "__self__", None)
        if (name in ("format", "format_map") and isinstance(fmt, str)
                and any(int(w) > MAX_FORMAT_WIDTH for w in _WIDTH.findall(fmt))):
            raise TemplateError(f"format width over {MAX_FORMAT_WIDTH:,}")
        result = super().call(__context, __obj, *args, **kwargs)
        if _too_big(result):
            raise TemplateError(f"value too large: over {MAX_RENDERED_BYTES:,} items")
        return result

    @staticmethod
    def rat_concat(parts: tuple[Any, ...]) -> str:
        if sum(len(p) if isinstance(p, str) else 0 for p in parts) > MAX_RENDERED_BYTES:
            raise TemplateError(f"string too large: over {MAX_RENDERED_BYTES:,} characters")
        out = "".join(map(str, parts))
        if len(out) > MAX_RENDERED_BYTES:
            raise TemplateError(f"string too large: over {MAX_RENDERED_BYTES:,} characters")
        return out


def _checked_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE_ARG:
                raise TemplateError(f"filter argument too large: {MAX_SIZE_ARG:,} at most")
        if (args and isinstance(args[0], str) and fn.__name__ == "do_format"
                and any(int(w) > MAX_FORMAT_WIDTH for w in _WIDTH.findall(args[0]))):
            raise TemplateError(f"format width over {MAX_FORMAT_WIDTH:,}")
        result = fn(*args, **kwargs)
        if _too_big(result):
            raise TemplateError(f"value too large: over {MAX_RENDERED_BYTES:,} items")
        return result

    wrapper.__name__ = getattr(fn, "__name__", "filter")
    # keep Jinja's pass_context / pass_eval_context markers
    if hasattr(fn, "jinja_pass_arg"):
        wrapper.jinja_pass_arg = fn.jinja_pass_arg  # type: ignore[attr-defined]
    return wrapper


_env = _Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_env.globals.pop("lipsum", None)  # generates any amount of text
for _name in ("center", "indent", "format", "wordwrap", "truncate", "batch", "slice", "string", "join", "replace"):
    if _name in _env.filters:
        _env.filters[_name] = _checked_filter(_env.filters[_name])


class _Clock:
    """The render's time budget. Time spent in resolvers (catalog look-ups, pinning landing files) is not
    the template's: :meth:`paused` extends the deadline by it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.yielded = time.monotonic()

    def paused(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.deadline += time.monotonic() - start

        return wrapper

    def tracer(self) -> Any:
        """A trace function that stops template code (and only template code) past the deadline."""

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                now = time.monotonic()
                if now > self.deadline:
                    raise _Budget()
                if now - self.yielded > 0.002:
                    # A long render must not starve the server's event loop of the GIL: hand it over.
                    time.sleep(0.0005)
                    self.yielded = time.monotonic()
            return local

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename == TEMPLATE_NAME:
                if time.monotonic() > self.deadline:
                    raise _Budget()
                return local
            return None

        return tracer


def _render_bounded(template: jinja2.Template, variables: dict[str, Any], clock: _Clock) -> str:
    """Render with the output cap and the time budget."""
    previous = sys.gettrace()
    sys.settrace(clock.tracer())
    try:
        parts: list[str] = []
        size = 0
        chunks: Iterator[str] = template.generate(variables)
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_RENDERED_BYTES:
                raise TemplateError(f"rendered SQL is larger than {MAX_RENDERED_BYTES:,} characters")
            if time.monotonic() > clock.deadline:
                raise _Budget()
            parts.append(chunk)
        return "".join(parts)
    except _Budget:
        raise TemplateError(f"template rendering took longer than {RENDER_SECONDS:g} s") from None
    finally:
        sys.settrace(previous)


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
    if not isinstance(source, str):
        raise TemplateError("a template must be text")
    if len(source) > MAX_TEMPLATE_BYTES or len(source.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"template is larger than {MAX_TEMPLATE_BYTES:,} bytes")
    return _compiled(source)


@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(source: str) -> jinja2.Template:
    """Compiling is most of the cost of a small template, and a worker renders the same sources run after
    run: keep the compiled templates, keyed by their text (a changed source is another key, so nothing is
    ever stale). A template holds no per-render state; errors are raised, not cached."""
    try:
        code = _env.compile(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
        return _env.template_class.from_code(_env, code, _env.make_globals(None), None)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Jinja syntax error at line {exc.lineno}: {exc.message}", details={"line": exc.lineno}
        ) from None
    except RecursionError:
        raise TemplateError("template is nested too deeply") from None
    except (ValueError, OverflowError, MemoryError) as exc:  # e.g. a number literal with 10,000 digits
        raise TemplateError(f"template cannot be compiled: {exc}") from None


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
    clock = _Clock(RENDER_SECONDS)
    variables: dict[str, Any] = {
        "ref": clock.paused(ref),
        "landing_zone": clock.paused(landing_zone),
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
        out.sql = _render_bounded(template, variables, clock)
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
