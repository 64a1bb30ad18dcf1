"""Rich displays of query results, shared by the RAT SQL kernel and the ``%rat`` magics.

Only the first ``limit`` rows are ever converted to Python values: a million-row result costs the same
to display as a ten-row one, and the full result stays an Arrow table for the next cell.
"""

from __future__ import annotations

import datetime as dt
import decimal
import html
import json
import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

DATARESOURCE = "application/vnd.dataresource+json"
MAX_CELL_CHARS = 200
MAX_TEXT_WIDTH = 40

_STYLE = (
    "<style>.rat-result{border-collapse:collapse;font-size:12px;margin:2px 0}"
    ".rat-result th,.rat-result td{border:1px solid #d0d7de;padding:2px 8px;text-align:left;"
    "vertical-align:top;white-space:pre}"
    ".rat-result th{background:#f6f8fa}.rat-result .rat-type{font-weight:normal;color:#57606a;font-size:11px}"
    ".rat-result .rat-null{color:#8c959f;font-style:italic}"
    ".rat-caption{font-size:12px;color:#57606a;margin:2px 0 6px}</style>"
)

STATUS_COLOURS = {
    "success": "#1a7f37", "pass": "#1a7f37", "failed": "#cf222e", "fail": "#cf222e", "error": "#cf222e",
    "running": "#0969da", "pending": "#9a6700", "cancelled": "#6e7781", "skipped": "#6e7781",
}


def display_value(value: Any) -> str | None:
    """One cell as display text (``None`` stays ``None`` so callers can style SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, bytes):
        text = "\\x" + value.hex()
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def json_value(value: Any) -> Any:
    """A value the Jupyter message JSON can carry unchanged (NaN and infinities become null)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def table_schema_type(t: pa.DataType) -> str:
    """The Frictionless Table Schema type a data-resource renderer understands."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array"
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "object"
    return "any"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def caption(total: int, columns: int, shown: int, *, name: str | None = None,
            elapsed_ms: float | None = None) -> str:
    parts = [f"{_count(total, 'row')}, {_count(columns, 'column')}"]
    if shown < total:
        parts.append(f"showing the first {shown:,}")
    if name:
        parts.append(f"stored as {name}")
    if elapsed_ms is not None:
        parts.append(f"{elapsed_ms:,.0f} ms")
    return " · ".join(parts)


def mime_bundle(table: pa.Table, *, limit: int, types: Sequence[str] | None = None, total_rows: int | None = None,
                name: str | None = None, elapsed_ms: float | None = None) -> dict[str, Any]:
    """``text/html``, ``text/plain`` and a Table Schema data resource for the first ``limit`` rows.

    ``types`` are the SQL type names to show (DuckDB's, when the result came from DuckDB); Arrow's are used
    otherwise. ``total_rows`` overrides the row count when ``table`` is itself only a sample (previews).
    """
    total = table.num_rows if total_rows is None else total_rows
    head = table.slice(0, max(0, limit)) if table.num_rows > limit else table
    names = table.column_names
    values = list(zip(*(c.to_pylist() for c in head.columns), strict=True))
    type_names = list(types) if types is not None and len(types) == len(names) else [str(f.type) for f in table.schema]
    cap = caption(total, len(names), head.num_rows, name=name, elapsed_ms=elapsed_ms)
    cells = [[display_value(v) for v in row] for row in values]
    return {
        "text/html": _html_table(names, type_names, cells, cap),
        "text/plain": _text_table(names, type_names, cells, cap),
        DATARESOURCE: {
            "schema": {"fields": [{"name": n, "type": table_schema_type(f.type)} for n, f in zip(names, table.schema,
                                                                                                    strict=True)]},
            "data": [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in values],
        },
    }


def _html_table(names: list[str], types: list[str], cells: list[list[str | None]], cap: str) -> str:
    out = [_STYLE, '<table class="rat-result"><thead><tr>']
    for n, t in zip(names, types, strict=True):
        out.append(f'<th>{html.escape(n)}<br><span class="rat-type">{html.escape(t)}</span></th>')
    out.append("</tr></thead><tbody>")
    for row in cells:
        out.append("<tr>")
        for v in row:
            out.append('<td class="rat-null">NULL</td>' if v is None else f"<td>{html.escape(v)}</td>")
        out.append("</tr>")
    out.append(f'</tbody></table><div class="rat-caption">{html.escape(cap)}</div>')
    return "".join(out)


def _clip(text: str) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_TEXT_WIDTH else text[: MAX_TEXT_WIDTH - 1] + "…"


def _text_table(names: list[str], types: list[str], cells: list[list[str | None]], cap: str) -> str:
    grid = [[_clip(n) for n in names], [_clip(t) for t in types]]
    grid += [[_clip("NULL" if v is None else v) for v in row] for row in cells]
    widths = [max(len(r[i]) for r in grid) for i in range(len(names))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    lines.insert(2, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, cap]) if names else cap


def html_listing(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, status_column: int | None = None,
                 title: str = "") -> dict[str, str]:
    """A small HTML + text table for listings (pipelines, quality tests), with coloured statuses."""
    out = [_STYLE, '<table class="rat-result"><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, v in enumerate(row):
            text = "" if v is None else str(v)
            colour = STATUS_COLOURS.get(text) if i == status_column else None
            style = f' style="color:{colour};font-weight:600"' if colour else ""
            out.append(f"<td{style}>{html.escape(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if title:
        out.append(f'<div class="rat-caption">{html.escape(title)}</div>')
    grid = [[str(h) for h in headers]] + [["" if v is None else _clip(str(v)) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in grid) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if title:
        lines.append(title)
    return {"text/html": "".join(out), "text/plain": "\n".join(lines)}


class Rich:
    """A value that displays as a MIME bundle in IPython and keeps the data it shows (``.data``)."""

    def __init__(self, bundle: dict[str, Any], data: Any = None) -> None:
        self.bundle = bundle
        self.data = data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.bundle

    def __repr__(self) -> str:
        return str(self.bundle.get("text/plain", ""))
