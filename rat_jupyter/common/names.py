"""Validation of every name and storage path that crosses a boundary.

Names are ``^[a-z][a-z0-9_]*$`` (no ``-``), so each is also a safe, unquoted SQL identifier.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import Invalid

LAYERS = ("bronze", "silver", "gold")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 128
MAX_PATH = 1024

# DuckDB refuses these as attached database names, or parses them as keywords in ``ns.layer.table``.
RESERVED_NAMESPACES = frozenset(
    {
        "main", "memory", "system", "temp", "information_schema", "pg_catalog", "default", "select",
        "from", "where", "table", "order", "group", "limit", "union", "all", "and", "or", "not", "null",
        "true", "false", "case", "when", "then", "else", "end", "as", "on", "join", "with", "create",
        "primary", "references", "user", "check", "column", "constraint", "grant", "having", "in", "into",
        "is", "offset", "only", "some", "any", "array", "asc", "desc", "distinct", "do", "for", "foreign",
        "leading", "trailing", "both", "cast", "collate", "current_date", "current_time", "deferrable",
        "except", "fetch", "initially", "intersect", "lateral", "placing", "returning", "symmetric",
        "to", "unique", "using", "variadic", "window", "analyse", "analyze", "current_role",
        "current_timestamp", "current_user", "session_user", "localtime", "localtimestamp", "pivot",
        "unpivot", "qualify", "summarize", "describe", "show", "lambda",
    }
)


def validate_name(value: object, kind: str = "name") -> str:
    """Return ``value`` if it is a valid RAT name, else raise :class:`Invalid` saying why."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"{kind} is required")
    if len(value) > MAX_NAME:
        raise Invalid(f"{kind} '{value[:40]}…' is longer than {MAX_NAME} characters")
    if not NAME_RE.match(value):
        raise Invalid(
            f"invalid {kind} '{value}': use lower-case letters, digits and '_', starting with a letter"
        )
    return value


def validate_namespace(value: object) -> str:
    name = validate_name(value, "namespace")
    if name in RESERVED_NAMESPACES:
        raise Invalid(f"namespace '{name}' is a reserved SQL word; choose another name")
    return name


def validate_layer(value: object) -> str:
    if value not in LAYERS:
        raise Invalid(f"invalid layer '{value}': must be one of {', '.join(LAYERS)}")
    return str(value)


def validate_column(value: object, kind: str = "column") -> str:
    if not isinstance(value, str) or not COLUMN_RE.match(value) or len(value) > MAX_NAME:
        raise Invalid(f"invalid {kind} '{value}': must match {COLUMN_RE.pattern}")
    return value


def validate_path(value: object) -> str:
    """Validate a storage path (relative, ``/``-separated, no traversal, no control characters).

    Percent-encoded variants are decoded first, so ``%2e%2e/`` is caught like ``../``.
    """
    if not isinstance(value, str) or not value.strip():
        raise Invalid("path is required")
    decoded = value
    for _ in range(3):  # catch double-encoding too
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    for candidate in (value, decoded):
        if "\x00" in candidate:
            raise Invalid("path must not contain NUL bytes")
        if "\\" in candidate:
            raise Invalid("path must not contain backslashes")
        if candidate.startswith("/") or re.match(r"^[A-Za-z]:", candidate):
            raise Invalid("path must be relative (no leading '/')")
        parts = candidate.split("/")
        if any(p in ("..", ".") for p in parts):
            raise Invalid("path must not contain '.' or '..' segments")
        if any(unicodedata.category(ch) == "Cc" for ch in candidate):
            raise Invalid("path must not contain control characters")
    if len(value) > MAX_PATH:
        raise Invalid(f"path is longer than {MAX_PATH} characters")
    if "//" in value or value.endswith("/"):
        raise Invalid("path must not contain empty segments")
    return value


def validate_prefix(value: object) -> str:
    """Like :func:`validate_path` but a trailing ``/`` is allowed (it lists a folder)."""
    if isinstance(value, str) and value.endswith("/"):
        validate_path(value.rstrip("/"))
        return value
    return validate_path(value)


@dataclass(frozen=True, order=True)
class PipelineId:
    """``namespace.layer.name`` — the identity of a pipeline and of the table it produces."""

    namespace: str
    layer: str
    name: str

    @classmethod
    def of(cls, namespace: str, layer: str, name: str) -> PipelineId:
        return cls(validate_namespace(namespace), validate_layer(layer), validate_name(name, "pipeline name"))

    @classmethod
    def parse(cls, text: str, default_namespace: str | None = None) -> PipelineId:
        """Parse ``ns.layer.name`` or ``layer.name`` (then ``default_namespace`` is used)."""
        if not isinstance(text, str):
            raise Invalid("pipeline reference must be a string")
        parts = text.strip().split(".")
        if len(parts) == 2 and default_namespace:
            return cls.of(default_namespace, parts[0], parts[1])
        if len(parts) == 3:
            return cls.of(*parts)
        raise Invalid(f"'{text}' is not a pipeline reference: write ns.layer.name or layer.name")

    def __str__(self) -> str:
        return f"{self.namespace}.{self.layer}.{self.name}"

    @property
    def prefix(self) -> str:
        """Storage folder holding the pipeline's files."""
        return f"{self.namespace}/pipelines/{self.layer}/{self.name}/"

    @property
    def table_identifier(self) -> tuple[str, str, str]:
        return (self.namespace, self.layer, self.name)

    @property
    def sql(self) -> str:
        """The quoted three-part SQL name a template's ``ref()`` renders to."""
        return f'"{self.namespace}"."{self.layer}"."{self.name}"'
