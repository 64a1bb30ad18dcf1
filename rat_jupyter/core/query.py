"""Catalog tables as DuckDB views, and the read-only query service built on them.

The query service is read-only by construction: its DuckDB database has external access switched off
(only the Iceberg warehouse is readable, for the views), its configuration is locked after set-up, and a
query must parse as exactly one SELECT whose table functions are on an allow-list. Every query sees the
latest published snapshot: views are re-pointed whenever a table's metadata location changed.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa

from . import engine
from .errors import Invalid, NotFound, RatError, TooLarge
from .names import PipelineId, validate_namespace
from .settings import Settings

MAX_SQL_BYTES = 100_000
# Table functions a read-only query may call: generators and introspection, nothing that reads files.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "duckdb_columns", "duckdb_tables", "duckdb_views",
    "duckdb_schemas", "duckdb_databases", "duckdb_types", "duckdb_functions", "duckdb_keywords",
    "pragma_version", "pragma_table_info", "pragma_show", "information_schema_columns",
    "information_schema_tables", "summary", "repeat", "repeat_row", "sql_auto_complete", "test_all_types",
})
# Scalar functions that reveal the server's configuration or environment, or change connection state.
BLOCKED_FUNCTIONS = frozenset({"current_setting", "getenv", "getvariable", "setseed", "write_log"})


class QueryError(RatError):
    code = "QUERY_ERROR"
    status = 400


class QueryTimeout(RatError):
    code = "QUERY_TIMEOUT"
    status = 408


class CatalogViews:
    """Keeps ``"ns"."layer"."name"`` views in a DuckDB database in step with the Iceberg catalog."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
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
            for pid in list(self._current):
                if pid not in locations:
                    try:
                        conn.execute(f"DROP VIEW IF EXISTS {pid.sql}")
                    except duckdb.Error:
                        pass
                    del self._current[pid]
            return dict(self._current)


def _walk(node: Any, tables: list[str], functions: list[str], refs: list[str]) -> None:
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
        for value in node.values():
            _walk(value, tables, functions, refs)
    elif isinstance(node, list):
        for value in node:
            _walk(value, tables, functions, refs)


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
    _walk(tree, tables, functions, refs)
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
    return text


def _clean(message: str) -> str:
    """Errors reach clients: keep the first lines, drop internals."""
    return "\n".join(message.strip().splitlines()[:3])


class QueryService:
    """Read-only SQL over the catalog's published tables."""

    def __init__(self, settings: Settings, catalog: Any) -> None:
        self.settings = settings
        self.views = CatalogViews(catalog)
        self._conn = self._build()
        self._lock = threading.Lock()

    def _build(self) -> duckdb.DuckDBPyConnection:
        conn = engine.connect(self.settings, extensions=engine.needed_extensions(self.settings))
        warehouse = self.settings.resolved_warehouse
        allowed = urlparse(warehouse).path if warehouse.startswith("file://") else warehouse
        allowed = allowed.rstrip("/") + "/"
        conn.execute("SET allowed_directories = [?]", [allowed])
        conn.execute("SET enable_external_access = false")
        conn.execute("SET python_enable_replacements = false")  # no Python variables as tables
        if self.settings.query_memory_limit:
            conn.execute("SET memory_limit = ?", [self.settings.query_memory_limit])
        conn.execute("SET lock_configuration = true")
        return conn

    def close(self) -> None:
        self._conn.close()

    def execute(self, sql: str, namespace: str | None = None, limit: int | None = None,
                timeout: float | None = None) -> dict[str, Any]:
        limit = self.settings.query_row_limit if limit is None else limit
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > 100_000:
            raise Invalid("limit must be between 1 and 100000")
        timeout = timeout or self.settings.query_timeout_seconds
        start = time.perf_counter()
        with self._lock:
            self.views.sync(self._conn)
            cursor = self._conn.cursor()
        try:
            text = check_read_only(cursor, sql)
            if namespace:
                validate_namespace(namespace)
                try:
                    cursor.execute(f"USE {engine.quote_ident(namespace)}")
                except duckdb.Error:
                    raise NotFound(f"namespace '{namespace}' has no tables yet") from None
            table = self._run(cursor, f"SELECT * FROM ({text.strip().rstrip(';')}) AS q LIMIT {limit + 1}", timeout)
        finally:
            cursor.close()
        truncated = table.num_rows > limit
        if truncated:
            table = table.slice(0, limit)
        return {
            "columns": [{"name": f.name, "type": _type_name(f.type)} for f in table.schema],
            "rows": [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()],
            "total_rows": table.num_rows, "truncated": truncated, "limit": limit,
            "duration_ms": int((time.perf_counter() - start) * 1000),
        }

    def _run(self, cursor: duckdb.DuckDBPyConnection, sql: str, timeout: float) -> pa.Table:
        timer = threading.Timer(timeout, cursor.interrupt)
        timer.daemon = True
        timer.start()
        started = time.monotonic()
        try:
            result = cursor.execute(sql).arrow()
            if isinstance(result, pa.RecordBatchReader):
                result = result.read_all()
            return result
        except duckdb.InterruptException:
            raise QueryTimeout(f"query stopped: it ran longer than the {timeout:g} s statement timeout") from None
        except duckdb.Error as exc:
            if time.monotonic() - started >= timeout:
                raise QueryTimeout(f"query stopped: it ran longer than the {timeout:g} s statement timeout") from None
            raise QueryError(_clean(str(exc))) from None
        finally:
            timer.cancel()

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


def _type_name(t: pa.DataType) -> str:
    return str(t)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return None
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)
