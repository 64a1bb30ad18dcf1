"""Catalog tables as DuckDB views, and the read-only query service built on them.

The query service is read-only by construction: its DuckDB database has external access switched off
(only the Iceberg warehouse is readable, for the views), its configuration is locked after set-up, and a
query must parse as exactly one SELECT whose table functions are on an allow-list. Every query sees the
latest published snapshot: views are re-pointed whenever a table's metadata location changed.

Limits hold in the server process, because a query runs there:

- memory: DuckDB's ``memory_limit`` with no temp directory (nothing spills to disk), plus a process guard
  that interrupts running queries when the process grows past that limit plus a margin — DuckDB does not
  account every allocation (a huge string or list) against its limit;
- functions that allocate without bound in one call (``range``/``generate_series`` building a list,
  ``repeat``, ``lpad``/``rpad``, ``list_resize``, ``printf`` widths) must have literal size arguments
  within :data:`MAX_SERIES` / :data:`MAX_STRING_BYTES`; one such call cannot be interrupted, so it is
  refused before it runs;
- time: a timer interrupts the query at the deadline;
- result size: rows are fetched in small batches and fetching stops at :data:`MAX_RESULT_BYTES`.

Server paths never reach a client: ``duckdb_views()`` and ``duckdb_functions()`` are shadowed by macros
that show the warehouse as ``warehouse/``, the system catalog views (``pg_settings``,
``information_schema.views``…) cannot be queried, and error messages are scrubbed the same way.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa

from . import engine
from .errors import Invalid, NotFound, RatError, TooLarge
from .names import PipelineId, validate_namespace
from .settings import Settings

MAX_SQL_BYTES = 100_000
MAX_SERIES = 10_000_000  # elements a list-building range()/generate_series() may produce
MAX_STRING_BYTES = 10_000_000  # bytes (or list elements) one repeat()/lpad()/rpad()/list_resize() may produce
MAX_FORMAT_WIDTH = 10_000  # widths in printf()/format() strings, and bar() widths
MAX_RESULT_BYTES = 32 * 1024 * 1024  # Arrow bytes fetched for one response before it is truncated
MEMORY_MARGIN_BYTES = 256 * 1024 * 1024  # the process guard's allowance above the DuckDB memory limit
FETCH_BATCH_ROWS = 256
COUNT_SECONDS = 5.0  # at most this long (and never past the statement timeout) counting a truncated result
# Table functions a read-only query may call: generators and introspection, nothing that reads files.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "duckdb_columns", "duckdb_tables", "duckdb_views",
    "duckdb_schemas", "duckdb_databases", "duckdb_types", "duckdb_functions", "duckdb_keywords",
    "pragma_version", "pragma_table_info", "pragma_show", "information_schema_columns",
    "information_schema_tables", "summary", "repeat", "repeat_row", "sql_auto_complete", "test_all_types",
})
# Scalar functions that reveal the server's configuration or environment, or change connection state.
BLOCKED_FUNCTIONS = frozenset({"current_setting", "getenv", "getvariable", "setseed", "write_log"})
# DuckDB's system catalog; the view names are read from the database at start-up (see _build).
_SYSTEM_CATALOGS = frozenset({"system", "temp"})
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
_SYSTEM_VIEWS: set[str] = {"duckdb_views", "duckdb_settings", "pg_settings", "sqlite_master"}


class QueryError(RatError):
    code = "QUERY_ERROR"
    status = 400


class QueryTimeout(RatError):
    code = "QUERY_TIMEOUT"
    status = 408


class QueryLimit(TooLarge):
    """The query needs more memory than the service allows."""

    code = "QUERY_LIMIT"


class CatalogViews:
    """Keeps ``"ns"."layer"."name"`` views in a DuckDB database in step with the Iceberg catalog."""

    def __init__(self, catalog: Any,
                 on_attach: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None) -> None:
        self.catalog = catalog
        self.on_attach = on_attach  # called once per namespace database, after its first view
        self._shadowed: set[str] = set()
        self._current: dict[PipelineId, str] = {}
        self._attached: set[str] = set()
        self._lock = threading.Lock()

    def sync(self, conn: duckdb.DuckDBPyConnection) -> dict[PipelineId, str]:
        locations = self.catalog.locations()
        with self._lock:
            for pid, location in locations.items():
                if self._current.get(pid) != location:
                    if location is None:
                        continue
                    engine.register_table_view(conn, pid, location, None, self._attached)
                    self._current[pid] = location
                    if self.on_attach and pid.namespace not in self._shadowed:
                        self.on_attach(conn, pid.namespace)
                        self._shadowed.add(pid.namespace)
            for pid in list(self._current):
                if pid not in locations:
                    try:
                        conn.execute(f"DROP VIEW IF EXISTS {pid.sql}")
                    except duckdb.Error:
                        pass
                    del self._current[pid]
            return dict(self._current)


def _walk(node: Any, tables: list[str], functions: list[str], refs: list[str],
          bases: list[tuple[str, str, str]] | None = None) -> None:
    """Collect table functions, scalar function names and base-table references of a serialized query."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            tables.append(str(fn.get("function_name", "")).lower())
        elif kind == "FUNCTION":
            functions.append(str(node.get("function_name", "")).lower())
        elif kind == "BASE_TABLE":
            refs += [str(node.get(k) or "") for k in ("catalog_name", "schema_name", "table_name")]
            if bases is not None:
                bases.append(tuple(str(node.get(k) or "").lower()  # type: ignore[arg-type]
                                   for k in ("catalog_name", "schema_name", "table_name")))
        for value in node.values():
            _walk(value, tables, functions, refs, bases)
    elif isinstance(node, list):
        for value in node:
            _walk(value, tables, functions, refs, bases)


_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}
_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "/": lambda a, b: a / b if b else math.inf, "//": lambda a, b: a // b if b else math.inf,
          "**": lambda a, b: _pow(a, b), "^": lambda a, b: _pow(a, b), "pow": lambda a, b: _pow(a, b),
          "power": lambda a, b: _pow(a, b)}
# function -> index of its size argument; the produced size is that argument times the first argument's
# literal length (when the first argument is a literal string or list)
_SIZED = {"repeat": 1, "lpad": 1, "rpad": 1, "list_resize": 1, "array_resize": 1}
_FORMATTERS = {"printf", "format", "sprintf"}
_WIDTH = re.compile(r"(\d{5,})")


def _pow(a: float, b: float) -> float:
    try:
        return float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        return math.inf
    except TypeError:
        return math.inf


def _number(node: Any) -> float | None:
    """The value of a literal numeric expression (``-5``, ``10**9``, ``3::BIGINT``), else ``None``.

    Computed in floats: a huge literal becomes a huge float or ``inf``, never a huge Python integer."""
    if not isinstance(node, dict):
        return None
    cls = node.get("class")
    if cls == "CONSTANT":
        value = node.get("value") or {}
        kind = (value.get("type") or {}).get("id")
        raw = value.get("value")
        if value.get("is_null") or kind not in _NUMERIC:
            if kind == "VARCHAR" and isinstance(raw, str):
                try:
                    return float(raw)
                except ValueError:
                    return None
            return None
        if isinstance(raw, dict):  # HUGEINT
            return float(raw.get("upper", 0)) * 2.0**64 + float(raw.get("lower", 0))
        if kind == "DECIMAL":
            scale = ((value.get("type") or {}).get("type_info") or {}).get("scale", 0)
            return float(raw) / 10.0 ** int(scale)
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    if cls == "CAST":
        return _number(node.get("child"))
    if cls == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        args = [_number(c) for c in node.get("children") or []]
        if any(a is None for a in args):
            return None
        if name == "-" and len(args) == 1:
            return -args[0]  # type: ignore[operator]
        if name in _ARITH and len(args) == 2:
            try:
                out = _ARITH[name](args[0], args[1])
            except (OverflowError, ZeroDivisionError):
                return math.inf
            return float(out)
    return None


def _literal_len(node: Any) -> int:
    """Length of a literal string or list argument (1 when it is not a literal: the count still counts)."""
    if isinstance(node, dict) and node.get("class") == "CONSTANT":
        raw = (node.get("value") or {}).get("value")
        if isinstance(raw, str | list):
            return max(1, len(raw))
    if isinstance(node, dict) and node.get("class") == "FUNCTION" and node.get("function_name") == "list_value":
        return max(1, len(node.get("children") or []))
    return 1


def _series_size(name: str, args: list[Any]) -> float | None:
    nums = [_number(a) for a in args]
    if not nums or any(n is None for n in nums) or len(nums) > 3:
        return None
    if len(nums) == 1:
        start, stop, step = 0.0, nums[0], 1.0
    else:
        start, stop = nums[0], nums[1]
        step = nums[2] if len(nums) == 3 else 1.0
    if not step or any(math.isnan(v) for v in (start, stop, step)):  # type: ignore[arg-type]
        return 0.0
    size = (stop - start) / step  # type: ignore[operator]
    return max(0.0, size) + (1 if name == "generate_series" else 0)


def _check_sizes(node: Any, table_fn: bool = False) -> None:
    """Refuse calls that would allocate without bound in one (uninterruptible) call."""
    if isinstance(node, list):
        for value in node:
            _check_sizes(value)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "TABLE_FUNCTION":
        fn = node.get("function") or {}
        if fn.get("schema") or fn.get("catalog"):
            raise QueryError("table functions must not be qualified with a schema or catalog")
        _check_function(fn, table_fn=True)
        for key, value in node.items():
            if key != "function":
                _check_sizes(value)
        _check_sizes(fn.get("children") or [])
        return
    if node.get("class") == "FUNCTION":
        _check_function(node, table_fn=False)
    for value in node.values():
        _check_sizes(value)


def _check_function(fn: dict[str, Any], *, table_fn: bool) -> None:
    name = str(fn.get("function_name", "")).lower()
    children = list(fn.get("children") or [])
    positional = [c for c in children if not (isinstance(c, dict) and c.get("class") == "COMPARISON")]
    if name in ("range", "generate_series"):
        if table_fn:
            return  # as a table function it streams rows: the timeout and the memory guard bound it
        size = _series_size(name, positional)
        if size is None:
            raise QueryError(f"{name}() in an expression builds a list in one step: its arguments must be "
                             f"literal numbers (at most {MAX_SERIES:,} elements)")
        if size > MAX_SERIES:
            raise QueryError(f"{name}() would produce {size:,.0f} elements; at most {MAX_SERIES:,} are allowed")
    elif name in _SIZED and len(positional) > _SIZED[name]:
        count = _number(positional[_SIZED[name]])
        if count is None:
            raise QueryError(f"{name}() needs a literal size argument (the result is built in one step)")
        size = count * (_literal_len(positional[0]) if name in ("repeat",) else 1)
        if size > MAX_STRING_BYTES:
            raise QueryError(f"{name}() would build {size:,.0f} bytes or elements; at most "
                             f"{MAX_STRING_BYTES:,} are allowed")
    elif name == "bar" and len(positional) >= 4:
        width = _number(positional[3])
        if width is None or width > MAX_FORMAT_WIDTH:
            raise QueryError(f"bar() needs a literal width of at most {MAX_FORMAT_WIDTH:,}")
    elif name in _FORMATTERS and positional:
        first = positional[0]
        raw = (first.get("value") or {}).get("value") if isinstance(first, dict) else None
        if not (isinstance(first, dict) and first.get("class") == "CONSTANT" and isinstance(raw, str)):
            raise QueryError(f"{name}() needs a literal format string")
        if any(int(w) > MAX_FORMAT_WIDTH for w in _WIDTH.findall(raw)):
            raise QueryError(f"{name}() widths are at most {MAX_FORMAT_WIDTH:,}")


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Return the single SELECT statement in ``sql`` or raise :class:`QueryError` saying why not."""
    if not isinstance(sql, str) or not sql.strip():
        raise Invalid("sql is required")
    if len(sql.encode()) > MAX_SQL_BYTES:
        raise TooLarge(f"query is larger than {MAX_SQL_BYTES // 1000} KB")
    if "\x00" in sql:
        raise QueryError("query must not contain NUL bytes")
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"syntax error: {_clean(str(exc))}") from None
    if len(statements) != 1:
        raise QueryError("exactly one statement is allowed")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind != "SELECT":
        raise QueryError(f"only read-only SELECT queries are allowed (got {kind})")
    text = statements[0].query
    try:
        tree = json.loads(conn.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()[0])
    except duckdb.Error as exc:
        raise QueryError(f"cannot analyse the query: {_clean(str(exc))}") from None
    if tree.get("error"):
        raise QueryError(f"only plain SELECT queries are allowed: {tree.get('error_message', 'unsupported')}")
    tables: list[str] = []
    functions: list[str] = []
    refs: list[str] = []
    bases: list[tuple[str, str, str]] = []
    _walk(tree, tables, functions, refs, bases)
    blocked = sorted({f for f in tables if f not in ALLOWED_TABLE_FUNCTIONS})
    if blocked:
        raise QueryError(f"table function(s) not allowed in queries: {', '.join(blocked)}; "
                         "query catalog tables by name (ns.layer.name)")
    blocked = sorted({f for f in functions if f in BLOCKED_FUNCTIONS})
    if blocked:
        raise QueryError(f"function(s) not allowed in queries: {', '.join(blocked)}")
    # A quoted string in FROM is a DuckDB replacement scan ('file.parquet' reads the file): table
    # references must be plain identifiers.
    bad = sorted({r for r in refs if r and not r.isidentifier()})
    if bad:
        raise QueryError(f"table references must be names (ns.layer.name), not {', '.join(map(repr, bad))}")
    # The system catalog views (pg_settings, information_schema.views, sqlite_master…) are views over table
    # functions the allow-list refuses, and show server configuration: not queryable by name.
    system = sorted({".".join(p for p in b if p) for b in bases
                     if b[0] in _SYSTEM_CATALOGS or b[1] in _SYSTEM_SCHEMAS or b[2] in _SYSTEM_VIEWS})
    if system:
        raise QueryError(f"system catalog views are not available in queries: {', '.join(system)}; "
                         "use duckdb_tables(), duckdb_columns() or the schema API")
    _check_sizes(tree)
    return text


def _clean(message: str) -> str:
    """Errors reach clients: keep the first lines, drop internals."""
    return "\n".join(message.strip().splitlines()[:3])


class _MemoryGuard:
    """Interrupts running queries when the process outgrows DuckDB's limit plus a margin.

    DuckDB's ``memory_limit`` covers its buffer manager, not every allocation (a huge string, a list being
    built); this guard watches the process's resident memory while queries run and interrupts them all
    when it passes ``baseline + limit + margin``. One poll every 10 ms costs nothing measurable.
    """

    def __init__(self, limit_bytes: int, margin_bytes: int = MEMORY_MARGIN_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self.margin_bytes = margin_bytes
        self._active: dict[int, duckdb.DuckDBPyConnection] = {}
        self._tripped: set[int] = set()
        self._lock = threading.Lock()
        self._baseline = 0
        self._thread: threading.Thread | None = None
        self.peak_bytes = 0

    @property
    def ceiling(self) -> int:
        return self._baseline + self.limit_bytes + self.margin_bytes

    def start(self, token: int, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if not self._active:
                self._baseline = _rss()
            self._active[token] = cursor
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="rat-query-memory", daemon=True)
                self._thread.start()

    def stop(self, token: int) -> bool:
        """End watching ``token``; True if the guard interrupted it."""
        with self._lock:
            self._active.pop(token, None)
            tripped = token in self._tripped
            self._tripped.discard(token)
            return tripped

    def _watch(self) -> None:
        while True:
            with self._lock:
                if not self._active:
                    self._thread = None
                    return
            rss = _rss()
            self.peak_bytes = max(self.peak_bytes, rss)
            if rss > self.ceiling:
                with self._lock:
                    for token, cursor in self._active.items():
                        if token not in self._tripped:
                            self._tripped.add(token)
                            cursor.interrupt()
            time.sleep(0.01)


def _rss() -> int:
    """Resident set size of this process (Linux ``/proc``; 0 elsewhere, which disables the guard's trip)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """``"1GB"`` → 10⁹ (DuckDB's reading of memory sizes: ``GB`` is decimal, ``GiB`` binary)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise Invalid(f"invalid memory size '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class QueryService:
    """Read-only SQL over the catalog's published tables."""

    def __init__(self, settings: Settings, catalog: Any) -> None:
        self.settings = settings
        self._hidden = _hidden_prefixes(settings)
        self.views = CatalogViews(catalog, on_attach=lambda conn, ns: _shadow_introspection(conn, ns, self._hidden))
        self._conn = self._build()
        self._lock = threading.Lock()
        limit = parse_bytes(settings.query_memory_limit) if settings.query_memory_limit else 0
        self.memory = _MemoryGuard(limit) if limit else None
        self._tokens = iter(range(1, 1 << 62))

    def _build(self) -> duckdb.DuckDBPyConnection:
        conn = engine.connect(self.settings, extensions=engine.needed_extensions(self.settings))
        warehouse = self.settings.resolved_warehouse
        allowed = urlparse(warehouse).path if warehouse.startswith("file://") else warehouse
        allowed = allowed.rstrip("/") + "/"
        conn.execute("SET allowed_directories = [?]", [allowed])
        conn.execute("SET temp_directory = ''")  # nothing spills to disk: the memory limit is the limit
        conn.execute("SET max_temp_directory_size = '0KB'")
        conn.execute("SET enable_external_access = false")
        # The progress bar takes the GIL to report from a long query: it would stall the event loop.
        conn.execute("SET enable_progress_bar = false")
        if not self.settings.duckdb_threads:  # leave a core to the server's event loop
            conn.execute("SET threads = ?", [max(1, (os.cpu_count() or 2) - 1)])
        conn.execute("SET python_enable_replacements = false")  # no Python variables as tables
        if self.settings.query_memory_limit:
            conn.execute("SET memory_limit = ?", [self.settings.query_memory_limit])
        _SYSTEM_VIEWS.update(r[0].lower() for r in conn.execute(
            "SELECT view_name FROM duckdb_views() WHERE internal").fetchall())
        _shadow_introspection(conn, "memory", self._hidden)
        conn.execute("SET lock_configuration = true")
        return conn

    def close(self) -> None:
        self._conn.close()

    def scrub(self, text: str) -> str:
        """``text`` with server paths replaced by logical names (for errors and introspection)."""
        for prefix, name in self._hidden:
            text = text.replace(prefix, name)
        return text

    def execute(self, sql: str, namespace: str | None = None, limit: int | None = None,
                timeout: float | None = None, count: bool = True) -> dict[str, Any]:
        """Run a read-only query; at most ``limit`` rows come back. When the result is truncated and ``count``
        is set, the rows the whole query returns are counted with the time the statement timeout leaves (at most
        ``COUNT_SECONDS``), so a console can say "N of M"; ``matched_rows`` is None when that count did not
        finish or hit a limit (the rows themselves are still answered)."""
        limit = self.settings.query_row_limit if limit is None else limit
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > 100_000:
            raise Invalid("limit must be between 1 and 100000")
        timeout = timeout or self.settings.query_timeout_seconds
        start = time.perf_counter()
        with self._lock:
            self.views.sync(self._conn)
            cursor = self._conn.cursor()
        try:
            try:
                text = check_read_only(cursor, sql)
            except RatError as exc:
                exc.message = self.scrub(exc.message)
                exc.args = (exc.message,)
                raise
            if namespace:
                validate_namespace(namespace)
                try:
                    cursor.execute(f"USE {engine.quote_ident(namespace)}")
                except duckdb.Error:
                    raise NotFound(f"namespace '{namespace}' has no tables yet") from None
            body = text.strip().rstrip(";")
            table, clipped = self._run(cursor, f"SELECT * FROM ({body}) AS q LIMIT {limit + 1}", timeout, limit + 1)
            truncated = table.num_rows > limit or clipped
            if table.num_rows > limit:
                table = table.slice(0, limit)
            matched: int | None = table.num_rows
            if truncated:
                left = timeout - (time.perf_counter() - start)
                matched = self._count(cursor, body, min(COUNT_SECONDS, left)) if count and left > 0 else None
        finally:
            # What the query freed goes back to the system now: DuckDB's allocator would otherwise keep it
            # in the resident server until later queries reuse it (ADR 0037); ~1.5 ms after a large query.
            engine.close_session(cursor)
        return {
            "columns": [{"name": f.name, "type": _type_name(f.type)} for f in table.schema],
            "rows": _rows(table),
            "total_rows": table.num_rows, "matched_rows": matched, "truncated": truncated, "limit": limit,
            "duration_ms": int((time.perf_counter() - start) * 1000),
        }

    def _count(self, cursor: duckdb.DuckDBPyConnection, body: str, budget: float) -> int | None:
        """How many rows ``body`` returns, under the same guards as the query itself; None past them."""
        try:
            counted, _ = self._run(cursor, f"SELECT count(*) AS n FROM ({body}) AS q", budget, 1)
        except RatError:
            return None
        return int(counted.column(0)[0].as_py())

    def _run(self, cursor: duckdb.DuckDBPyConnection, sql: str, timeout: float,
             max_rows: int) -> tuple[pa.Table, bool]:
        """Run ``sql`` under the deadline and the memory guard; fetch at most ``MAX_RESULT_BYTES``."""
        timed_out = threading.Event()

        def deadline() -> None:
            timed_out.set()
            cursor.interrupt()

        timer = threading.Timer(timeout, deadline)
        timer.daemon = True
        token = next(self._tokens)
        if self.memory:
            self.memory.start(token, cursor)
        timer.start()
        started = time.monotonic()
        stopped_for_memory = False
        try:
            reader = cursor.execute(sql).fetch_record_batch(FETCH_BATCH_ROWS)
            batches: list[pa.RecordBatch] = []
            rows = size = 0
            clipped = False
            for batch in reader:
                if size + batch.nbytes > MAX_RESULT_BYTES:
                    batch = _fit(batch, MAX_RESULT_BYTES - size)
                    clipped = True
                batches.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
                if rows >= max_rows or clipped:
                    break
            return pa.Table.from_batches(batches, schema=reader.schema), clipped
        except duckdb.OutOfMemoryException:
            raise self._memory_error() from None
        except duckdb.Error as exc:
            stopped_for_memory = bool(self.memory and self.memory.stop(token))
            if stopped_for_memory:
                raise self._memory_error() from None
            if timed_out.is_set() or time.monotonic() - started >= timeout:
                raise QueryTimeout(f"query stopped: it ran longer than the {timeout:g} s statement timeout") from None
            message = self.scrub(_clean(str(exc)))
            if "Out of Memory" in message or "could not allocate" in message:
                raise self._memory_error() from None
            raise QueryError(message) from None
        finally:
            timer.cancel()
            if self.memory and not stopped_for_memory:
                self.memory.stop(token)

    def _memory_error(self) -> QueryLimit:
        return QueryLimit(f"query stopped: it needs more than the {self.settings.query_memory_limit} memory "
                          "limit of the query service; filter or aggregate more, or select fewer rows")

    def schema(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every table with its columns (what a query console's schema tree needs)."""
        with self._lock:
            tables = self.views.sync(self._conn)
            cursor = self._conn.cursor()
        out = []
        try:
            for pid in sorted(tables):
                if namespace and pid.namespace != namespace:
                    continue
                cols = cursor.execute(f"DESCRIBE {pid.sql}").fetchall()
                out.append({"namespace": pid.namespace, "layer": pid.layer, "name": pid.name,
                            "columns": [{"name": c[0], "type": c[1]} for c in cols]})
        finally:
            cursor.close()
        return out


def _fit(batch: pa.RecordBatch, budget: int) -> pa.RecordBatch:
    """The longest prefix of ``batch`` within ``budget`` bytes (at least one row, so a reply shows
    something even when a single row is larger than the cap)."""
    lo, hi = 1, batch.num_rows
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if batch.slice(0, mid).nbytes <= budget:
            lo = mid
        else:
            hi = mid - 1
    return batch.slice(0, lo)


def _shadow_introspection(conn: duckdb.DuckDBPyConnection, database: str,
                          hidden: list[tuple[str, str]]) -> None:
    """``duckdb_views()`` and ``duckdb_functions()`` of ``database`` show logical locations.

    Macros in a database's ``main`` schema are found before the system functions, for every cursor
    (temporary macros would be per connection) and whichever database is current (``USE ns``)."""
    def scrub(col: str) -> str:
        out = col
        for prefix, name in hidden:
            out = f"replace({out}, {_sql_str(prefix)}, {_sql_str(name)})"
        return out

    db = engine.quote_ident(database)
    conn.execute(f"CREATE OR REPLACE MACRO {db}.main.duckdb_views() AS TABLE SELECT * REPLACE ("
                 f"{scrub('sql')} AS sql) FROM system.main.duckdb_views()")
    conn.execute(f"CREATE OR REPLACE MACRO {db}.main.duckdb_functions() AS TABLE SELECT * REPLACE ("
                 f"{scrub('macro_definition')} AS macro_definition) FROM system.main.duckdb_functions()")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _hidden_prefixes(settings: Settings) -> list[tuple[str, str]]:
    """Server locations and the logical names clients see instead, longest first."""
    out: list[tuple[str, str]] = []
    warehouse = settings.resolved_warehouse
    local = urlparse(warehouse).path if warehouse.startswith("file://") else warehouse
    for path, name in ((local, "warehouse"), (warehouse, "warehouse"),
                       (str(settings.resolved_storage_url), "storage"), (str(settings.data_dir), "data")):
        path = path.rstrip("/")
        if path and path not in ("", "/", ".") and (path, name) not in out:
            out.append((path, name))
            if path.startswith("/"):
                out.append(("file://" + path, name))
    return sorted(out, key=lambda p: -len(p[0]))


def _type_name(t: pa.DataType) -> str:
    return str(t)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts. A column Python cannot represent (dates outside year 1-9999, infinite
    timestamps) falls back to Arrow's own text rendering instead of failing the query."""
    columns: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            values = column.to_pylist()
        except (ValueError, OverflowError, OSError):
            values = _column_as_text(column)
        columns[name] = [_json_value(v) for v in values]
    names = list(columns)
    return [{n: columns[n][i] for n in names} for i in range(table.num_rows)]


def _column_as_text(column: pa.ChunkedArray) -> list[Any]:
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):
        out: list[Any] = []
        for value in column:
            try:
                out.append(value.as_py())
            except (ValueError, OverflowError, OSError):
                out.append(str(value.value) if hasattr(value, "value") else None)
        return out


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
            return None  # NaN and infinities are not JSON
        return value
    if isinstance(value, Decimal):
        # sum() of integers is a HUGEINT, which Arrow carries as decimal(38, 0): a number, not a string
        if not value.is_finite():
            return None
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)
