"""DuckDB connections with the Iceberg extension loaded offline, and catalog tables exposed as views.

Extensions come from the ``duckdb-extension-*`` PyPI packages: with autoinstall off, a missing extension
fails fast instead of trying the network.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from .names import PipelineId
from .settings import Settings, parquet_version_choice

_EXTENSIONS = ("avro", "iceberg", "httpfs")
_installed: set[tuple[str, str]] = set()
_install_lock = threading.Lock()


def _extension_file(name: str) -> Path:
    module = importlib.import_module(f"duckdb_extension_{name}")
    base = Path(module.__file__ or "").parent / "extensions"
    return next(base.glob(f"v{duckdb.__version__}/{name}.duckdb_extension"))


_shared: dict[str, duckdb.DuckDBPyConnection] = {}
_shared_lock = threading.Lock()


def _s3_configured(settings: Settings) -> bool:
    return bool(settings.s3.endpoint or settings.s3.access_key_id)


def needed_extensions(settings: Settings) -> tuple[str, ...]:
    """httpfs is large and slow to load: only load it when something lives on S3."""
    return _EXTENSIONS if _remote(settings) else ("avro", "iceberg")


def _remote(settings: Settings) -> bool:
    """Whether the workspace's files live on S3 (or another remote store) rather than on a local disk."""
    return _s3_configured(settings) or any(u.startswith(("s3://", "http://", "https://")) for u in
                                           (settings.resolved_storage_url, settings.resolved_warehouse))


def session_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A new connection (cursor) to this process's shared DuckDB database.

    Loading the extensions costs ~0.3 s per database, so a worker keeps one database and gives each run
    its own connection: temp tables, registered Arrow tables and interrupts stay per run. Namespaces a
    run ATTACHes are database-wide, so :func:`close_session` detaches them.
    """
    return _shared_base(settings).cursor()


def parquet_version_for(settings: Settings) -> str:
    """The Parquet format version (``V1`` or ``V2``) to write for ``settings.parquet_version``.

    ``auto`` writes V2 (DELTA_BINARY_PACKED and friends: files about half the size of V1 with zstd, and a
    third faster to read back) on RAT's own SQL catalog, and V1 on a REST catalog: tables in a shared
    catalog are read by other engines too, and some (Iceberg's Spark vectorized reader before 1.11) refuse
    V2 encodings.
    """
    choice = parquet_version_choice(settings.parquet_version)
    if choice == "auto":
        return "V1" if settings.catalog_type == "rest" else "V2"
    return choice.upper()


@dataclass(frozen=True)
class WriteOptions:
    """How the files a run writes are encoded, derived from its settings (ADR 0033).

    A run's :class:`~rat_jupyter.core.runner.Session` holds one and hands it to every ``COPY`` it writes
    through (:mod:`fastwrite`), so the format follows the workspace of the run, not whichever workspace the
    process connected to last: a notebook kernel or a test may serve two.
    """

    parquet_version: str  # "V1" or "V2": the data files'
    preserve_order: bool = False  # Settings.preserve_insertion_order: keep the read order without ORDER BY

    @classmethod
    def of(cls, settings: Settings) -> WriteOptions:
        return cls(parquet_version_for(settings), settings.preserve_insertion_order)


def _shared_base(settings: Settings) -> duckdb.DuckDBPyConnection:
    key = repr(settings)
    with _shared_lock:
        base = _shared.get(key)
        if base is None:
            base = connect(settings, extensions=needed_extensions(settings))
            _shared[key] = base
    return base


def use_threads(settings: Settings, threads: int | None) -> None:
    """Size this process's shared DuckDB database to ``threads`` for the next task (``None``: leave it).

    The local executor hands each task the cores the other busy workers leave (ADR 0031): two workers with
    DuckDB's default of one thread per core each would run twice as many threads as there are cores, each
    with its own sink states, for more memory and no speed. ``threads`` is a database-wide setting, which is
    right here: a worker runs one task at a time. DuckDB restarts its threads only when the count changes.
    """
    if threads is None or settings.duckdb_threads:
        return
    _shared_base(settings).execute(f"SET GLOBAL threads = {max(1, int(threads))}")


_ARENAS_ALL = 4096  # jemalloc's MALLCTL_ARENAS_ALL: "every arena" in an ``arena.<i>.*`` name


@functools.cache
def _mallctl() -> Any:
    """jemalloc's ``mallctl`` inside DuckDB's extension module, or ``None`` where this build has none."""
    try:
        import _duckdb  # the extension module that holds DuckDB and its allocator

        fn = ctypes.CDLL(_duckdb.__file__).duckdb_je_mallctl
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    fn.argtypes = (ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    fn.restype = ctypes.c_int
    return fn


def release_memory() -> bool:
    """Give the pages DuckDB's allocator holds free back to the system now; False where it cannot.

    DuckDB's Linux builds bundle jemalloc, which keeps freed pages for a second or more (its decay, driven by
    later allocations) in case they are wanted again: a worker that has just run a large model held up to
    200 MiB that way while it waited for its next task. Purging when a session ends costs about 1.5 ms after
    a large query and 0.02 ms after a small one; a decay of zero, the other way to get there, purges on every
    free and slowed a DAG by a fifth (ADR 0037). Builds without jemalloc (macOS, Windows) do not export
    ``duckdb_je_mallctl``: then this is a no-op.
    """
    fn = _mallctl()
    if fn is None:
        return False
    return fn(f"arena.{_ARENAS_ALL}.purge".encode(), None, None, None, 0) == 0


def close_session(conn: duckdb.DuckDBPyConnection, attached: Collection[str] = ()) -> None:
    """Detach what a session attached, close its cursor and give what its queries freed back to the system.

    Every unit of DuckDB work ends here — a run, a preview or a test run in a worker (local or Dask), a
    query in the query service — so none of them holds freed pages until its process's next task
    (ADR 0037). Run ATTACHes are database-wide, hence the detach.
    """
    for name in attached:
        try:
            conn.execute(f"DETACH DATABASE IF EXISTS {quote_ident(name)}")
        except duckdb.Error:
            pass
    try:
        conn.close()
    except duckdb.Error:
        pass
    release_memory()


def connect(settings: Settings, *, extensions: tuple[str, ...] = _EXTENSIONS,
            config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the given extensions loaded and S3 configured if used.

    With S3 settings, httpfs is loaded whatever ``extensions`` asks for: the S3 secret is an httpfs
    secret type (DuckDB refuses ``CREATE SECRET (TYPE s3 …)`` without it), and every file of an S3
    workspace is read through it.
    """
    s3 = _s3_configured(settings)
    if s3 and "httpfs" not in extensions:
        extensions = (*extensions, "httpfs")
    ext_dir = settings.data_dir / "duckdb_extensions"
    cfg: dict[str, Any] = {
        "extension_directory": str(ext_dir),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if settings.duckdb_threads:
        cfg["threads"] = settings.duckdb_threads
    if settings.duckdb_memory_limit:
        cfg["memory_limit"] = settings.duckdb_memory_limit
    if not _remote(settings):
        # Local files are in the kernel's page cache once read. DuckDB's external file cache kept a second
        # copy of every data file a run read, for the life of the worker; a full refresh writes new files
        # each run, so a busy worker grew by files nobody reads again (ADR 0036). On S3 it saves GETs.
        cfg["enable_external_file_cache"] = False
    cfg.update(config or {})
    conn = duckdb.connect(":memory:", config=cfg)
    for name in extensions:
        key = (str(ext_dir), name)
        if key not in _installed:
            with _install_lock:
                if not (ext_dir / f"v{duckdb.__version__}").exists() or key not in _installed:
                    conn.execute(f"INSTALL '{_extension_file(name)}'")
                    _installed.add(key)
        conn.execute(f"LOAD {name}")
    # TIMESTAMPTZ arithmetic, casts and text follow the session time zone, which DuckDB takes from the
    # server's TZ: pin it to UTC so a pipeline computes the same values on every server (and watermarks
    # render as UTC). ICU is built into the duckdb wheel; GLOBAL makes every cursor inherit it.
    conn.execute("SET GLOBAL TimeZone = 'UTC'")
    if s3:
        _s3_secret(conn, settings)
    return conn


def _s3_secret(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    s3 = settings.s3
    endpoint = (s3.endpoint or "").replace("http://", "").replace("https://", "")
    use_ssl = "true" if (s3.endpoint or "").startswith("https://") else "false"
    parts = ["TYPE s3", f"REGION '{s3.region}'", f"USE_SSL {use_ssl}"]
    if s3.access_key_id:
        parts += [f"KEY_ID '{_q(s3.access_key_id)}'", f"SECRET '{_q(s3.secret_access_key or '')}'"]
    if endpoint:
        parts += [f"ENDPOINT '{_q(endpoint)}'"]
    if s3.path_style:
        parts.append("URL_STYLE 'path'")
    conn.execute(f"CREATE OR REPLACE SECRET rat_s3 ({', '.join(parts)})")


def _q(value: str) -> str:
    return value.replace("'", "''")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def register_table_view(conn: duckdb.DuckDBPyConnection, pid: PipelineId, metadata_location: str,
                        snapshot_id: int | None = None, attached: set[str] | None = None) -> None:
    """Expose an Iceberg table as the view ``"ns"."layer"."name"`` (the SQL ``ref()`` renders to)."""
    _ensure_schema(conn, pid, attached if attached is not None else set())
    snap = f", snapshot_from_id = {int(snapshot_id)}" if snapshot_id is not None else ""
    conn.execute(
        f"CREATE OR REPLACE VIEW {pid.sql} AS SELECT * FROM iceberg_scan('{_q(metadata_location)}'{snap})"
    )


def register_parquet_view(conn: duckdb.DuckDBPyConnection, pid: PipelineId, files: tuple[str, ...],
                          columns: list[str], attached: set[str] | None = None) -> None:
    """Expose an Iceberg snapshot as the view ``"ns"."layer"."name"`` over its data files, the table's columns
    in the table's order. Only for a snapshot whose files a plain read returns exactly (no delete files, one
    schema): ``runner._Files`` decides; binding it reads the files' footers, not the table's metadata."""
    _ensure_schema(conn, pid, attached if attached is not None else set())
    listed = ", ".join(f"'{_q(f)}'" for f in files)
    select = ", ".join(quote_ident(c) for c in columns)
    conn.execute(f"CREATE OR REPLACE VIEW {pid.sql} AS SELECT {select} "
                 f"FROM read_parquet([{listed}], hive_partitioning = false)")


def _ensure_schema(conn: duckdb.DuckDBPyConnection, pid: PipelineId, attached: set[str]) -> None:
    """The in-memory catalog and schema the view ``"ns"."layer"."name"`` lives in (``attached``: done already)."""
    if pid.namespace not in attached:
        try:
            conn.execute(f"ATTACH ':memory:' AS {quote_ident(pid.namespace)}")
        except duckdb.BinderException:
            pass  # already attached
        attached.add(pid.namespace)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(pid.namespace)}.{quote_ident(pid.layer)}")


def register_empty_view(conn: duckdb.DuckDBPyConnection, pid: PipelineId, schema_sql: str,
                        attached: set[str] | None = None) -> None:
    """A table that exists but has no snapshot yet: an empty view with the right columns."""
    _ensure_schema(conn, pid, attached if attached is not None else set())
    conn.execute(f"CREATE OR REPLACE VIEW {pid.sql} AS SELECT * FROM ({schema_sql}) LIMIT 0")


def register_table_sql(conn: duckdb.DuckDBPyConnection, pid: PipelineId, select_sql: str) -> None:
    """Point the view ``"ns"."layer"."name"`` at an arbitrary relation (used to audit a first write)."""
    conn.execute(f"CREATE OR REPLACE VIEW {pid.sql} AS {select_sql}")


def contained_statement(conn: duckdb.DuckDBPyConnection, sql: str, what: str) -> str:
    """``single_statement(sql)``, refused when it would break out of the parentheses RAT wraps it in.

    Previews, quality tests and the fast write path run ``CREATE TEMP TABLE … AS (<sql>)``,
    ``SELECT … FROM (<sql>)`` or ``COPY (<sql>) TO …``; a rendered text such as
    ``SELECT 1); COPY (…) TO '/tmp/x'; SELECT (1`` would close that parenthesis and run statements of its
    own (a preview writing files, a run writing outside its table). It is checked with DuckDB's own parser:
    wrapped, it must still be exactly one statement. A text that does not parse is left to the execution,
    which reports the syntax error at its line (nothing runs when any part of a query fails to parse).
    """
    from .errors import Invalid

    sql = single_statement(sql)
    try:
        statements = conn.extract_statements(f"SELECT * FROM ({sql}\n) AS q")
    except duckdb.Error:
        return sql
    if len(statements) != 1:
        raise Invalid(f"{what} must be a single SELECT statement; it closes the query it is part of and adds "
                      f"statements of its own (check for an unbalanced ')' or a ';')")
    return sql


def single_statement(sql: str) -> str:
    """``sql`` without trailing semicolons and comments, so it can be wrapped in ``(...)`` or ``COPY (...)``.

    Scans quotes and comments properly: ``SELECT 1; -- done`` and ``SELECT 1 /* x */ ;`` both become
    ``SELECT 1``, while a ``--`` inside a string literal is left alone.
    """
    end = 0  # one past the last character that is code (not whitespace, comment or ';')
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            end = min(i, n)
            continue
        if sql.startswith("--", i):
            nl = sql.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        if not ch.isspace() and ch != ";":
            end = i + 1
        i += 1
    return sql[:end]
