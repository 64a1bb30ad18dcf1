"""A notebook SQL session: one DuckDB connection over the catalog, cells compiled exactly like pipelines.

The RAT SQL kernel and the ``%rat`` magics share this class, so a cell behaves the same in both. A cell is
Jinja SQL: its leading ``-- @key: value`` annotations are read and blanked with the same function a
pipeline uses, and it is rendered with the same :func:`~rat_jupyter.core.templating.render` — so
``{{ ref('silver.orders') }}`` compiles to ``"ns"."silver"."orders"`` here exactly as it does in a run, and
SQL that works in a cell can be pasted into a pipeline.

Catalog tables are DuckDB views (:class:`~rat_jupyter.core.query.CatalogViews`) re-pointed before every
cell, so a cell always reads the latest published snapshot (re-pointing costs ~0.1 ms when nothing
changed). Results stay Arrow tables: ``_`` is the last one and ``-- @name: foo`` keeps one as ``foo``,
both registered in DuckDB (zero-copy) for later cells.
"""

from __future__ import annotations

import difflib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ..core import engine
from ..core.config import parse_annotations
from ..core.errors import Invalid, NotFound, RatError
from ..core.names import PipelineId, validate_namespace
from ..core.query import CatalogViews
from ..core.settings import Settings
from ..core.templating import RenderContext, Rendered, render

if TYPE_CHECKING:
    from ..core.workspace import Workspace

DEFAULT_DISPLAY_LIMIT = 50
MAX_DISPLAY_LIMIT = 10_000
LAST = "_"
DIRECTIVES = ("namespace", "limit", "name", "compile")
# Statement kinds whose result is rows to keep as ``_``; anything else (DDL, INSERT, SET) only reports.
ROW_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "RELATION"})
RESULT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DIRECTIVE_RE = re.compile(r"^\s*%(\w+)\s*(.*?)\s*$")
_JINJA_MARKS = ("{{", "{%", "{#")
_LINE_RE = re.compile(r"\n\s*LINE (\d+):")
_QUOTED_RE = re.compile(r'"([^"\n]+)"')
_REF_ARG_RE = re.compile(r"""\bref\(\s*['"]([\w.]+)['"]""")
_REF_OPEN_RE = re.compile(r"""\bref\(\s*['"]([\w.]*)$""")
_THREE_PART_RE = re.compile(r'"?([a-z][a-z0-9_]*)"?\s*\.\s*"?([a-z][a-z0-9_]*)"?\s*\.\s*"?([a-z][a-z0-9_]*)"?')
_WORD_RE = re.compile(r"[\w.]*$")
_IDENT_RE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?![\w(])")
_WORD_TOKEN_RE = re.compile(r"[A-Za-z_]\w*")


class CellError(RatError):
    """A cell failed: a short message that says which line, never a traceback.

    ``_render_traceback_`` is IPython's hook for exceptions that render themselves, so the ``%rat`` magics
    can let this propagate and the notebook shows one line instead of a Python traceback.
    """

    code = "CELL_ERROR"
    status = 400

    def __init__(self, message: str, *, ename: str = "RatSQLError", line: int | None = None) -> None:
        super().__init__(message, details={"line": line})
        self.ename = ename
        self.line = line

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{self.ename}\x1b[0m: {self.message}"]


@dataclass
class CellOptions:
    """What a cell's directives asked for. ``%`` directives and ``-- @`` annotations share the names."""

    name: str | None = None
    limit: int | None = None  # ``-- @limit: N``: this cell only
    default_limit: int | None = None  # ``%limit N``: this and later cells
    namespace: str | None = None  # ``%namespace NS`` / ``-- @namespace: NS``: this and later cells
    compile_only: bool = False  # ``%compile``: show the compiled SQL, run nothing
    this: str | None = None  # ``-- @this: layer.name``: what ``{{ this }}`` is in this cell (a quality test's table)
    this_line: int | None = None
    show: list[str] = field(default_factory=list)  # directives given without a value: report the setting


@dataclass
class CellResult:
    """The outcome of one cell. ``table`` is ``None`` when the cell produced no rows to keep."""

    table: pa.Table | None
    sql: str = ""
    types: list[str] = field(default_factory=list)
    name: str | None = None
    limit: int = DEFAULT_DISPLAY_LIMIT
    elapsed_ms: float = 0.0
    messages: list[str] = field(default_factory=list)
    compiled_only: bool = False
    options: CellOptions = field(default_factory=CellOptions)


def parse_cell(source: str) -> tuple[CellOptions, str]:
    """Read the cell's leading directives; return them and the SQL with directive lines blanked.

    Blanking (not removing) keeps line numbers, so an error's line is the line in the cell. Annotations go
    through :func:`~rat_jupyter.core.config.parse_annotations`, the function a pipeline's source goes through,
    which is what makes a cell and a pipeline with the same text compile to the same SQL.
    """
    opts = CellOptions()
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        m = _DIRECTIVE_RE.match(line)
        if m:
            _directive(opts, m.group(1), m.group(2), line=i + 1, persistent=True)
            lines[i] = "\n" if line.endswith("\n") else ""
            continue
        if not stripped or stripped.startswith(("--", "#")):
            continue
        break
    text = "".join(lines)
    if "@" not in text:  # fast path: no annotation can be present
        return opts, text
    annotations, body = parse_annotations(text)
    for key in ("name", "limit", "namespace"):
        if key in annotations:
            _directive(opts, key, annotations[key], line=_annotation_line(source, key), persistent=False)
    if annotations.get("this"):
        opts.this, opts.this_line = annotations["this"], _annotation_line(source, "this")
    return opts, body


def _annotation_line(source: str, key: str) -> int | None:
    for i, line in enumerate(source.splitlines(), start=1):
        if re.match(rf"^\s*(--|#)\s*@{key}:", line):
            return i
    return None


def _directive(opts: CellOptions, key: str, value: str, *, line: int | None, persistent: bool) -> None:
    where = f" (line {line})" if line else ""
    if key not in DIRECTIVES:
        raise CellError(f"unknown directive %{key}{where}: use %namespace, %limit, %name or %compile",
                        ename="UsageError", line=line)
    if key == "compile":
        opts.compile_only = True
        return
    if not value:
        if key == "name":
            raise CellError(f"%name needs a result name{where}", ename="UsageError", line=line)
        opts.show.append(key)
        return
    if key == "name":
        if not RESULT_NAME_RE.match(value) or value == LAST:
            raise CellError(f"invalid result name '{value}'{where}: use letters, digits and '_' (not just '_')",
                            ename="UsageError", line=line)
        opts.name = value
    elif key == "limit":
        try:
            limit = int(value)
        except ValueError:
            limit = -1
        if not 0 <= limit <= MAX_DISPLAY_LIMIT:
            raise CellError(f"display limit must be a number from 0 to {MAX_DISPLAY_LIMIT}{where}",
                            ename="UsageError", line=line)
        if persistent:
            opts.default_limit = limit
        else:
            opts.limit = limit
    else:
        opts.namespace = value


def has_jinja(text: str) -> bool:
    """A text without Jinja markers renders to itself (Jinja only normalises ``\\r\\n``)."""
    return "\r" in text or any(mark in text for mark in _JINJA_MARKS)


def arrow_to_pandas(table: pa.Table) -> Any:
    """Arrow to pandas the way DuckDB's ``.df()`` types it (DECIMAL becomes float64), without copies.

    ``split_blocks`` skips consolidating columns into 2-D blocks: on a million rows that is most of the cost
    of ``to_pandas()``, and pandas consolidates lazily if an operation needs it.
    """
    if any(pa.types.is_decimal(f.type) for f in table.schema):
        table = pa.table([c.cast(pa.float64(), safe=False) if pa.types.is_decimal(c.type) else c
                          for c in table.columns], names=table.column_names)
    return table.to_pandas(split_blocks=True)


class NotebookSession:
    """One notebook's SQL state: the workspace, a DuckDB connection, the current namespace and results."""

    def __init__(self, settings: Settings | None = None, *, namespace: str | None = None,
                 display_limit: int = DEFAULT_DISPLAY_LIMIT, workspace: Workspace | None = None) -> None:
        self.settings = settings if settings is not None else (workspace.settings if workspace else Settings.from_env())
        self.display_limit = display_limit
        self._workspace = workspace
        self._owns_workspace = workspace is None
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._views: CatalogViews | None = None
        self._namespace: str | None = None
        self._requested_namespace = namespace or os.environ.get("RAT_NAMESPACE") or None
        self.tables: dict[PipelineId, str] = {}
        self.results: dict[str, pa.Table] = {}
        self.last: pa.Table | None = None
        self._columns: dict[tuple[PipelineId, str], list[str]] = {}
        self._registered: dict[str, pa.Table] = {}  # what each result name points at in DuckDB right now
        self._probe: sqlite3.Connection | None = None
        self._catalog_version: int | None = None
        self._lock = threading.RLock()

    # -- lazily opened parts ----------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        """Opened on first use with ``server=False``: a notebook must not recover (fail) the server's runs."""
        if self._workspace is None:
            from ..core.workspace import Workspace

            self._workspace = Workspace.open(self.settings, server=False)
        return self._workspace

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            with self._lock:
                if self._conn is None:
                    conn = engine.connect(self.settings, extensions=engine.needed_extensions(self.settings))
                    self._views = CatalogViews(self.workspace.catalog)
                    self._probe = self._open_probe()
                    self._catalog_version = None  # a new database has no views yet: the next sync must build them
                    self.tables = {}
                    self._conn = conn
        return self._conn

    def interrupt(self) -> None:
        """Stop whatever DuckDB is running for this session and start the next cell on a fresh connection.

        An interrupt can land between DuckDB calls (e.g. while a streamed result is being read), where
        ``interrupt()`` alone leaves the query running and the next cell waiting behind it; closing the
        connection always ends it. Results kept in Python (``_`` and named ones) are registered again.
        """
        with self._lock:
            conn, self._conn = self._conn, None
            self._registered.clear()
            if self._probe is not None:
                self._probe.close()
                self._probe = None
        if conn is not None:
            for stop in (conn.interrupt, conn.close):
                try:
                    stop()
                except duckdb.Error:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._probe is not None:
                self._probe.close()
                self._probe = None
            self._registered.clear()
            if self._conn is not None:
                try:
                    self._conn.close()
                except duckdb.Error:
                    pass
                self._conn = None
            if self._workspace is not None and self._owns_workspace:
                self._workspace.close()
                self._workspace = None

    # -- namespace --------------------------------------------------------------------------------------
    @property
    def namespace(self) -> str | None:
        """The namespace ``layer.name`` refs resolve in: set explicitly, ``$RAT_NAMESPACE``, or the first one.

        The default is remembered once found, so a namespace created later never silently changes it.
        """
        if self._namespace is None:
            if self._requested_namespace:
                self.set_namespace(self._requested_namespace)
            else:
                names = [n["name"] for n in self.workspace.list_namespaces()]
                self._namespace = names[0] if names else None
        return self._namespace

    def set_namespace(self, name: str) -> str:
        try:
            validate_namespace(name)
            self.workspace.state.get_namespace(name)
        except Invalid as exc:
            raise CellError(exc.message, ename="UsageError") from None
        except NotFound:
            known = [n["name"] for n in self.workspace.list_namespaces()]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else (f"; namespaces: {', '.join(known)}" if known else "")
            raise CellError(f"namespace '{name}' does not exist{hint}", ename="NotFound") from None
        self._namespace = name
        self._requested_namespace = name
        return name

    # -- catalog views ----------------------------------------------------------------------------------
    def sync(self) -> dict[PipelineId, str]:
        """Re-point the views of tables whose metadata changed (a run may have published since).

        With the embedded SQLite catalog, ``PRAGMA data_version`` (3 µs) says whether any connection committed
        since the last sync; only then are the locations read (~55 µs through SQLAlchemy). Other catalogs
        are read every time.
        """
        conn = self.conn
        assert self._views is not None
        with self._lock:
            version = self._catalog_data_version()
            if version is None or version != self._catalog_version:
                self.tables = self._views.sync(conn)
                self._catalog_version = version
        return self.tables

    def _open_probe(self) -> sqlite3.Connection | None:
        uri = self.settings.resolved_catalog_uri
        if self.settings.catalog_type != "sql" or not uri.startswith("sqlite:///"):
            return None
        path = uri[len("sqlite:///"):]
        if not os.path.exists(path):
            return None
        try:
            probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            probe.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return probe

    def _catalog_data_version(self) -> int | None:
        if self._probe is None:
            return None
        try:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self._probe = None
            return None

    # -- compile ----------------------------------------------------------------------------------------
    def compile(self, source: str, *, namespace: str | None = None) -> str:
        """The SQL a cell runs (directives applied, Jinja rendered) — what a pipeline run logs as compiled SQL."""
        opts, body = parse_cell(source)
        with self._lock:
            self.sync()
            ns = namespace or (self._checked(opts.namespace) if opts.namespace else self.namespace)
            return self._render(body, ns, self._this(opts.this, opts.this_line, ns)).sql

    def _checked(self, namespace: str) -> str:
        try:
            validate_namespace(namespace)
            self.workspace.state.get_namespace(namespace)
        except RatError:
            self.set_namespace(namespace)  # raises the helpful error
        return namespace

    def _this(self, ref: str | None, line: int | None, namespace: str | None) -> str | None:
        """``-- @this: layer.name``: the table ``{{ this }}`` stands for, so a quality test's SQL runs in a
        cell unchanged (a test reads ``{{ this }}``, which otherwise exists only inside a pipeline)."""
        if not ref:
            return None
        where = f" (line {line})" if line else ""
        try:
            pid = PipelineId.parse(ref, namespace)
        except Invalid as exc:
            raise CellError(f"-- @this: {exc.message}{where}", ename="UsageError", line=line) from None
        try:
            return self._resolve_ref(pid)
        except NotFound as exc:
            raise CellError(f"-- @this: {exc.message}{where}", ename="NotFound", line=line) from None

    def _render(self, body: str, namespace: str | None, this: str | None = None) -> Rendered:
        if not has_jinja(body):
            return Rendered(sql=body)
        ctx = RenderContext(namespace=namespace or "", run_started_at=datetime.now(UTC).isoformat(),
                            resolve_ref=self._resolve_ref, resolve_landing=self._resolve_landing, this_sql=this)
        try:
            return render(body, ctx)
        except CellError:
            raise
        except RatError as exc:
            message = exc.message
            if not namespace and "is not a pipeline reference" in message:
                message += "; there is no current namespace: set one with %namespace NAME"
            line = (exc.details or {}).get("line") if isinstance(exc.details, dict) else None
            if line is None:
                m = re.search(r"line (\d+)", message)
                line = int(m.group(1)) if m else _template_line(message, body)
                if line is not None and not m:
                    message = f"{message} (line {line})"
            raise CellError(message, ename=type(exc).__name__, line=line) from None

    def _resolve_ref(self, pid: PipelineId) -> str:
        if pid in self.tables:
            return pid.sql
        raise NotFound(self._missing_table(pid))

    def _missing_table(self, pid: PipelineId) -> str:
        current = self._namespace

        def short(p: PipelineId) -> str:
            return f"{p.layer}.{p.name}" if p.namespace == current else str(p)

        message = f"ref('{short(pid)}'): table {pid} does not exist"
        if self.workspace.state.find_pipeline(*pid.table_identifier):
            return message + f" yet: its pipeline has not run successfully (%rat run {pid})"
        known = {str(p): p for p in self.tables}
        close = difflib.get_close_matches(str(pid), list(known), n=1, cutoff=0.6)
        if close:
            return message + f"; did you mean '{short(known[close[0]])}'?"
        return message

    def _resolve_landing(self, namespace: str, zone: str, pattern: str) -> str:
        return self.workspace.storage.uri(f"{namespace}/landing/{zone}") + "/" + pattern

    # -- run --------------------------------------------------------------------------------------------
    def run(self, source: str, *, namespace: str | None = None, name: str | None = None) -> CellResult:
        """Run one cell. ``namespace`` and ``name`` are per-call overrides (the magics' options)."""
        start = time.perf_counter()
        opts, body = parse_cell(source)
        if name is not None:
            _directive(opts, "name", name, line=None, persistent=False)
        result = CellResult(table=None, options=opts)
        with self._lock:
            if opts.namespace:
                self.set_namespace(opts.namespace)
                result.messages.append(f"namespace: {opts.namespace}")
            if opts.default_limit is not None:
                self.display_limit = opts.default_limit
                result.messages.append(f"display limit: {opts.default_limit} rows")
            for key in opts.show:
                if key == "namespace":
                    result.messages.append(f"namespace: {self.namespace or '(none: create one first)'}")
                elif key == "limit":
                    result.messages.append(f"display limit: {self.display_limit} rows")
            result.limit = self.display_limit if opts.limit is None else opts.limit
            if not body.strip():
                result.elapsed_ms = (time.perf_counter() - start) * 1000
                return result
            self.sync()
            if namespace:
                self._checked(namespace)
            ns = namespace or self.namespace
            rendered = self._render(body, ns, self._this(opts.this, opts.this_line, ns))
            result.sql = rendered.sql
            if opts.compile_only:
                result.compiled_only = True
            else:
                result.table, result.types, message = self._execute(rendered.sql, body)
                if message:
                    result.messages.append(message)
                if result.table is not None:
                    result.name = opts.name
                    self._store(result.table, opts.name)
        result.elapsed_ms = (time.perf_counter() - start) * 1000
        return result

    def _execute(self, sql: str, body: str) -> tuple[pa.Table | None, list[str], str | None]:
        conn = self.conn
        try:
            statements = conn.extract_statements(sql)
            if not statements:
                return None, [], None
            kind = str(statements[-1].type).rsplit(".", 1)[-1]
            self._register_used(sql)
            cursor = conn.execute(sql)
            description = cursor.description
            if kind not in ROW_STATEMENTS or description is None:
                rows = cursor.fetchall() if description is not None else []
                if kind in ("INSERT", "UPDATE", "DELETE") and rows and isinstance(rows[0][0], int):
                    count = rows[0][0]
                    return None, [], f"{count:,} row{'' if count == 1 else 's'} affected"
                return None, [], "OK"
            types = [str(d[1]) for d in description]
            table = _fetch_arrow(cursor)
        except (KeyboardInterrupt, duckdb.InterruptException):
            self.interrupt()
            raise CellError("query interrupted", ename="KeyboardInterrupt") from None
        except duckdb.Error as exc:
            raise sql_error(exc, sql, body) from None
        except (RuntimeError, pa.ArrowException) as exc:
            # An interrupt while the result streams out surfaces through Arrow's reader.
            if "interrupt" in str(exc).lower():
                self.interrupt()
                raise CellError("query interrupted", ename="KeyboardInterrupt") from None
            raise
        return table, types, None

    def _store(self, table: pa.Table, name: str | None) -> None:
        """Keep the result; DuckDB sees it by name only once a cell uses the name (see ``_register_used``)."""
        self.last = table
        self._forget(LAST)
        if name:
            self.results[name] = table
            self._forget(name)

    def _forget(self, name: str) -> None:
        """Drop DuckDB's reference to a replaced result, so its memory is freed with it."""
        if self._registered.pop(name, None) is not None:
            try:
                self.conn.unregister(name)
            except duckdb.Error:
                pass

    def _register_used(self, sql: str) -> None:
        """Register ``_`` and named results the SQL mentions, if not registered already.

        Registering an Arrow table costs ~150 µs, a noticeable share of a small cell, and most cells never
        read the previous result — so it is done on demand, before the statement that needs it.
        """
        available = {LAST: self.last} if self.last is not None else {}
        available.update(self.results)
        if not available:
            return
        for name in set(_WORD_TOKEN_RE.findall(sql)) & available.keys():
            table = available[name]
            if self._registered.get(name) is not table:
                self.conn.register(name, table)
                self._registered[name] = table

    def result(self, name: str = LAST) -> pa.Table:
        if name == LAST:
            if self.last is None:
                raise CellError("no result yet: run a query first", ename="NotFound")
            return self.last
        try:
            return self.results[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.results), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise CellError(f"no result named '{name}'{hint}", ename="NotFound") from None

    # -- completion -------------------------------------------------------------------------------------
    def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        """Completions at ``cursor_pos``: ``ref('…')`` arguments, table names, result names and columns."""
        before = code[:cursor_pos]
        with self._lock:
            self.sync()
            current = self._namespace if self._namespace is not None else self.namespace
            ref = _REF_OPEN_RE.search(before)
            if ref:
                prefix = ref.group(1)
                local = sorted(f"{p.layer}.{p.name}" for p in self.tables if p.namespace == current)
                everything = sorted(str(p) for p in self.tables)
                return _dedupe(c for c in [*local, *everything] if c.startswith(prefix)), cursor_pos - len(prefix), \
                    cursor_pos
            word = _WORD_RE.search(before)
            token = word.group(0) if word else ""
            columns = self._cell_columns(code, current)
            tables = sorted(str(p) for p in self.tables)
            if "." in token:
                qualifier, _, part = token.rpartition(".")
                found = [t for t in tables if t.startswith(token)]
                found += [f"{qualifier}.{c}" for c in columns if c.startswith(part)]
            else:
                names = [*([LAST] if self.last is not None else []), *sorted(self.results)]
                found = [c for c in columns if c.startswith(token)]
                found += [n for n in names if n.startswith(token)]
                found += [t for t in tables if t.startswith(token)]
            return _dedupe(found), cursor_pos - len(token), cursor_pos

    def _cell_columns(self, code: str, namespace: str | None) -> list[str]:
        """Columns of the tables and results the cell mentions (the ones a user is likely typing)."""
        columns: list[str] = []
        mentioned: list[PipelineId] = []
        for m in _REF_ARG_RE.finditer(code):
            try:
                mentioned.append(PipelineId.parse(m.group(1), namespace))
            except Invalid:
                continue
        for m in _THREE_PART_RE.finditer(code):
            mentioned.append(PipelineId(m.group(1), m.group(2), m.group(3)))
        for pid in _dedupe(mentioned):
            if pid in self.tables:
                columns += self._table_columns(pid)
        words = set(_IDENT_RE.findall(code))
        if LAST in words and self.last is not None:
            columns += self.last.column_names
        for name, table in self.results.items():
            if name in words:
                columns += table.column_names
        return _dedupe(columns)

    def _table_columns(self, pid: PipelineId) -> list[str]:
        key = (pid, self.tables[pid])
        if key not in self._columns:
            try:
                self._columns[key] = [r[0] for r in self.conn.execute(f"DESCRIBE {pid.sql}").fetchall()]
            except duckdb.Error:
                return []
        return self._columns[key]


def _fetch_arrow(cursor: duckdb.DuckDBPyConnection) -> pa.Table:
    """The result as one Arrow table, read as a stream of batches (3x cheaper than ``to_arrow_table()``
    on small results, 2x on a million rows)."""
    reader = cursor.to_arrow_reader() if hasattr(cursor, "to_arrow_reader") else cursor.arrow()
    return reader.read_all() if isinstance(reader, pa.RecordBatchReader) else reader


def _dedupe(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def sql_error(exc: duckdb.Error, sql: str, body: str) -> CellError:
    """DuckDB's error, short: the first line plus its hint, and the line of the cell it points at.

    DuckDB reports ``LINE n:`` relative to the whole submitted text. The compiled SQL has the cell's line
    numbers unless Jinja added or removed lines; then the line is given as a line of the compiled SQL.
    """
    text = str(exc).strip()
    m = _LINE_RE.search(text)
    head = text[: m.start()] if m else text
    parts = [p.strip() for p in head.splitlines() if p.strip()]
    message = " ".join(parts[:2]) if len(parts) > 1 and len(parts[1]) < 200 else parts[0] if parts else str(exc)
    line = int(m.group(1)) if m else None
    if line is None:
        line = _guess_line(head, sql)
    ename = type(exc).__name__.replace("Exception", "Error")
    if line is None:
        return CellError(message, ename=ename)
    if sql.count("\n") != body.count("\n"):
        return CellError(f"{message} (line {line} of the compiled SQL; use %compile to see it)", ename=ename)
    return CellError(f"{message} (line {line})", ename=ename, line=line)


def _template_line(message: str, body: str) -> int | None:
    """Some template errors (``this`` outside a pipeline) carry no line: find the name they quote in a block."""
    for name in re.findall(r"'(\w+)'", message):
        pattern = re.compile(rf"\{{[{{%][^}}]*(?<![\w.]){re.escape(name)}(?!\w)")
        for i, text in enumerate(body.splitlines(), start=1):
            if pattern.search(text):
                return i
    return None


def _guess_line(message: str, sql: str) -> int | None:
    """Binder errors on multi-statement cells carry no ``LINE``: find the quoted name they complain about."""
    for name in _QUOTED_RE.findall(message.splitlines()[0] if message else ""):
        pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
        for i, text in enumerate(sql.splitlines(), start=1):
            code = text.split("--", 1)[0]
            if pattern.search(code):
                return i
    return None
