"""The fast write path: DuckDB writes the Parquet data file itself, pyiceberg only commits it.

For ``full_refresh`` and ``append_only`` SQL pipelines the result never needs to pass through Python:
``COPY (<query>) TO '<table>/data/<file>.parquet' (FIELD_IDS …)`` runs the query and writes the file with
DuckDB's parallel Parquet writer (using every core while the DAG is still narrow), and the file is added to
the Iceberg table with one fast-append commit. Anything outside the safe set of column types falls back to
the Arrow path, which handles every case.

The table may live in a local folder or on S3-compatible object storage: DuckDB writes ``s3://`` through
its httpfs extension with the run's S3 settings as a DuckDB secret (:func:`engine.connect`), and pyiceberg
reads footers and removes files through the table's file IO. ``RAT_WRITE_PATH=arrow`` in the environment of
the processes that run pipelines turns the fast path off (every write takes the Arrow path), as an escape
hatch and for comparisons.
"""

from __future__ import annotations

import os
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.table import Table

from ..common.memo import MISSING, ContentKeys, IdentityMemo, Lru
from ..common.tables import table_folder
from .engine import WriteOptions, quote_ident, single_statement
from .pipelines import PipelineSpec

STRATEGIES = ("full_refresh", "append_only")
ENV_WRITE_PATH = "RAT_WRITE_PATH"  # "arrow": never let DuckDB write a table's files
# Keyed strategies take the fast path for a first load only (nothing to replace yet), see check_staged.
FIRST_LOAD = ("incremental", "delete_insert")
# The plain column types both ways: the DuckDB type that writes an Arrow type to Parquet as pyiceberg reads it
# back (:func:`duck_type`), and the Arrow type DuckDB exports a result column of that type as (:func:`plan`
# reads a result's schema from its bound types instead of executing it). Timestamps (microseconds; with a
# time zone, UTC on RAT's connections) and DECIMAL(p, s) come on top; tests/core/test_fast_plan.py holds the
# DuckDB-to-Arrow direction to DuckDB's own export.
_PLAIN_TYPES: tuple[tuple[pa.DataType, str], ...] = (
    (pa.int32(), "INTEGER"), (pa.int64(), "BIGINT"), (pa.float32(), "FLOAT"), (pa.float64(), "DOUBLE"),
    (pa.bool_(), "BOOLEAN"), (pa.string(), "VARCHAR"), (pa.binary(), "BLOB"), (pa.date32(), "DATE"),
)
_DUCK_TYPES: dict[str, str] = {str(arrow): duck for arrow, duck in _PLAIN_TYPES}
_ARROW_OF_DUCKDB: dict[str, pa.DataType] = {
    **{duck: arrow for arrow, duck in _PLAIN_TYPES},
    "TIMESTAMP": pa.timestamp("us"), "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


# What adding a data file derives from the table's schema: one entry per table schema and file schema, the
# table schema by content (a re-parsed metadata file's equal schema finds what the previous object built).
_DataFileChecks = IdentityMemo(4096)
_SchemaKeys = ContentKeys(lambda schema: (tuple(schema.identifier_field_ids), schema.fields))


def _memoize_data_file_checks() -> None:
    """Route what ``parquet_file_to_data_file`` derives from the table's schema through a memo
    (``_DataFileChecks``, ADR 0030): the check that the file's Arrow schema (with its field ids) fits the table's schema
    (~0.7 ms of Python per file, by far most of adding a data file), the statistics plan and the column-path
    mapping. Each depends only on the table schema's fields, taken by value (:class:`ContentKeys`: equal
    schemas of re-parsed metadata files, or of tables with the same columns, share one entry and keep no
    schema object alive), and the file schema's text with its field metadata (or the table properties); a
    check that fails is not kept, so it fails each time.

    Done here, where data files are added, not with the other pyiceberg patches in ``stores.catalog``:
    importing ``pyiceberg.io.pyarrow`` costs ~50 MiB, which a server that never writes a table should not
    pay."""
    from pyiceberg.io import pyarrow as io_pyarrow

    names = ("_check_pyarrow_schema_compatible", "compute_statistics_plan", "parquet_path_to_id_mapping")
    if not all(hasattr(io_pyarrow, n) for n in names) or getattr(
            io_pyarrow._check_pyarrow_schema_compatible, "_rat_memoized", False):
        return
    check, plan, mapping = (getattr(io_pyarrow, n) for n in names)

    def checked(requested_schema: Any, provided_schema: Any, *args: Any, **kwargs: Any) -> None:
        text = provided_schema.to_string(show_field_metadata=True, show_schema_metadata=False)
        key = ("check", _SchemaKeys.of(requested_schema), text, args, tuple(sorted(kwargs.items())))
        _DataFileChecks.get(key, (), lambda: check(requested_schema, provided_schema, *args, **kwargs) or True)

    def statistics_plan(schema: Any, table_properties: Any) -> Any:
        key = ("stats", _SchemaKeys.of(schema), tuple(sorted(table_properties.items())))
        return _DataFileChecks.get(key, (), lambda: plan(schema, table_properties))

    def id_mapping(schema: Any) -> Any:
        return _DataFileChecks.get(("paths", _SchemaKeys.of(schema)), (), lambda: mapping(schema))

    checked._rat_memoized = True  # type: ignore[attr-defined]
    checked._rat_original = check  # type: ignore[attr-defined]
    io_pyarrow._check_pyarrow_schema_compatible = checked
    io_pyarrow.compute_statistics_plan = statistics_plan
    io_pyarrow.parquet_path_to_id_mapping = id_mapping


_memoize_data_file_checks()


class Unsupported(Exception):
    """This result cannot take the fast path; the caller uses the Arrow path instead."""


def arrow_forced() -> bool:
    """``RAT_WRITE_PATH=arrow``: every write takes the Arrow path (pyiceberg's own writer and file IO)."""
    return os.environ.get(ENV_WRITE_PATH, "").strip().lower() == "arrow"


def writable(conn: duckdb.DuckDBPyConnection | None, location: str) -> bool:
    """Can DuckDB write files under ``location``: a local folder, or ``s3://`` with httpfs loaded and an S3
    secret that applies to it (the run's S3 settings, see :func:`engine.connect`)? Not when the fast path is
    turned off (:func:`arrow_forced`)."""
    if arrow_forced():
        return False
    if local_path(location) is not None:
        return True
    if conn is None or urlparse(location).scheme != "s3":
        return False
    try:
        loaded = conn.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchone()
        if not (loaded and loaded[0]):
            return False
        return conn.execute("SELECT name FROM which_secret(?, 's3')", [location]).fetchone() is not None
    except duckdb.Error:
        return False


def plan(conn: duckdb.DuckDBPyConnection, spec: PipelineSpec, sql: str, warehouse: str, *,
         first_load: bool) -> pa.Schema | None:
    """The result schema if this run can take the fast path, else ``None``.

    ``first_load``: the pipeline's table has no snapshot on ``main`` yet (no table, or one without data),
    as the run found when it loaded the table. A keyed strategy's result is then the table itself, once its
    keys are checked (:func:`check_staged`).

    Local and S3 warehouses both can (:func:`writable`); a table the catalog puts elsewhere is refused by
    :func:`stage`, which sends the run back to the Arrow path.
    """
    if not writable(conn, warehouse):
        return None
    strategy = spec.config.merge_strategy
    if spec.kind != "sql" or spec.config.partition_by:
        return None
    if strategy not in STRATEGIES and not (strategy in FIRST_LOAD and first_load):
        return None
    try:  # binding is enough: executing even a LIMIT 0 query costs more than twice as much
        relation = conn.sql(f"SELECT * FROM (\n{strip(sql)}\n) AS q")
        names, duck_types = relation.columns, [str(t) for t in relation.types]
    except duckdb.Error:
        return None  # the real execution reports the error
    # JSON, UUID, ENUM … look like strings in Arrow but DuckDB writes them to Parquet with their own
    # logical types (and statistics pyiceberg cannot read): only plain DuckDB types take this path. The
    # names are unique: ``SELECT *`` renames a repeated one (x, x_1), as the COPY's file has them.
    types = [arrow_of_duckdb(t) for t in duck_types]
    if None in types:
        return None
    return pa.schema([pa.field(name, t, nullable=True) for name, t in zip(names, types, strict=True)])


def arrow_of_duckdb(duck: str) -> pa.DataType | None:
    """The Arrow type a result column of DuckDB type ``duck`` has, for the types the fast path takes; else None."""
    if duck in _ARROW_OF_DUCKDB:
        return _ARROW_OF_DUCKDB[duck]
    match = _DECIMAL.fullmatch(duck)
    return pa.decimal128(int(match[1]), int(match[2])) if match else None


def check_staged(conn: duckdb.DuckDBPyConnection, spec: PipelineSpec, staged: Staged) -> None:
    """For a keyed first load, what ``strategies.prepare`` checks on an Arrow batch, on the staged file:
    NULL keys are refused (unless ``null_keys: allow``); a batch whose keys repeat goes back to the Arrow
    path (:class:`Unsupported`), which de-duplicates it by the documented winner rule."""
    from .strategies import null_keys_error

    config = spec.config
    if config.merge_strategy not in FIRST_LOAD or not staged.rows or not config.unique_key:
        return
    source = staged.relation
    q = quote_ident
    if config.null_keys != "allow":
        counts = conn.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE {q(k)} IS NULL)"
                                                    for k in config.unique_key) + f" FROM {source}").fetchone()
        for key, nulls in zip(config.unique_key, counts or (), strict=False):
            if nulls:
                raise null_keys_error(str(spec.pid), key, int(nulls))
    if config.merge_strategy == "incremental" and not keys_unique(conn, source, config.unique_key):
        raise Unsupported("the batch repeats a key; de-duplicating it on the Arrow path")


def keys_unique(conn: duckdb.DuckDBPyConnection, relation: str, keys: tuple[str, ...]) -> bool:
    """No two rows of ``relation`` share a key (NULL equal to NULL).

    A single integer key whose values span a range not much wider than the row count is checked with one
    streaming bitmap (``bitstring_agg``: as many distinct values as rows) instead of a hash aggregate over
    every key, which is ten times slower on a large first load."""
    q = quote_ident
    if len(keys) == 1:
        k = q(keys[0])
        low, high, n, nulls = conn.execute(
            f"SELECT min({k}), max({k}), count({k}), count(*) - count({k}) FROM {relation}").fetchone()
        if nulls > 1:
            return False
        if not n:
            return True
        if isinstance(low, int) and isinstance(high, int) and high - low < min(max(8 * n, 1 << 20), 1 << 31):
            try:
                distinct = conn.execute(f"SELECT bit_count(bitstring_agg({k}, {low}, {high})) "
                                        f"FROM {relation}").fetchone()[0]
                return int(distinct) == n
            except duckdb.Error:
                pass  # not an integer type DuckDB can make a bitmap of: the general check below
    grouped = ", ".join(q(k) for k in keys)
    return conn.execute(f"SELECT 1 FROM {relation} GROUP BY {grouped} HAVING count(*) > 1 LIMIT 1").fetchone() is None


def strip(sql: str) -> str:
    return single_statement(sql)


@dataclass
class Staged:
    uri: str
    local: str | None
    rows: int
    io: FileIO | None = None  # removes the file from object storage when it is not committed

    @property
    def relation(self) -> str:
        """The staged file as a DuckDB table function call."""
        return f"read_parquet({_sql_str(self.local or self.uri)})"

    def discard(self) -> None:
        if self.local:
            if os.path.exists(self.local):
                os.remove(self.local)
        elif self.io is not None:
            remove(self.io, self.uri)


def remove(io: FileIO, uri: str) -> None:
    """Delete a file RAT wrote and will not commit, through the table's file IO (local or S3); a file that
    is already gone is fine, and the reaper's orphan clean-up removes whatever a failure here leaves."""
    try:
        io.delete(uri)
    except (FileNotFoundError, OSError):
        pass


def field_ids(table: Table | None, columns: list[str]) -> dict[str, int]:
    """The Iceberg field id of each result column: the table's, or 1..n for a table about to be created
    (what pyiceberg assigns to a flat schema; checked again before the commit)."""
    if table is None:
        return {name: i for i, name in enumerate(columns, start=1)}
    by_name = {f.name: f.field_id for f in table.schema().fields}
    return {name: by_name[name] for name in columns}


def stage(conn: duckdb.DuckDBPyConnection, location: str, ids: dict[str, int], sql: str, run_id: str,
          write: WriteOptions, io: FileIO | None = None) -> Staged:
    """Run the query straight into a Parquet file under the table's data folder (not committed yet).

    ``io`` (the table's file IO) removes the file again if the run does not commit it. A location DuckDB
    cannot write (:func:`writable`) is :class:`Unsupported`."""
    if not writable(conn, location):
        raise Unsupported(f"DuckDB cannot write to {urlparse(location).scheme or 'this'} storage here")
    uri = _new_uri(location, run_id)
    local = local_path(uri)
    if local is None and io is None:
        raise Unsupported("no file IO to remove an uncommitted file with")
    query = strip(sql)
    return Staged(uri, local, _copy(conn, query, uri, ids, write.parquet_version,
                                    ordered=keeps_order(query, write)), io)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _new_uri(location: str, kind: str) -> str:
    return f"{location.rstrip('/')}/data/rat-{kind}-{uuid.uuid4().hex}.parquet"


# Row groups of a result written in no particular order: half DuckDB's default of 122,880 rows. Each writer
# thread holds the row group it is filling, so this halves what a large write holds per thread (ADR 0039).
UNORDERED_ROW_GROUP_ROWS = 61_440
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def keeps_order(query: str, write: WriteOptions) -> bool:
    """Whether ``query``'s result must be written in the order DuckDB produces it.

    A query that says ORDER BY anywhere (a window's or a subquery's too, or a comment: the test errs on the
    side of order) keeps it, as does every query with ``preserve_insertion_order`` set; without ORDER BY SQL
    promises no order, and letting each thread write as it goes takes about half the memory (ADR 0039)."""
    return write.preserve_order or _ORDER_BY.search(query) is not None


def _copy(conn: duckdb.DuckDBPyConnection, query: str, uri: str, ids: dict[str, int], version: str, *,
          ordered: bool) -> int:
    """``COPY`` a query to a new Parquet file at ``uri`` (zstd, Parquet format ``version``, Iceberg field
    ``ids`` by column); its rows.

    Every file RAT writes goes through here: a first load's result, an upsert's new rows and its
    position-delete file, a compaction. Unless ``ordered``, the rows go to the file in no particular order
    (``PRESERVE_ORDER false``: the writer threads need not hold finished row groups until the ones before
    them are done) in row groups of :data:`UNORDERED_ROW_GROUP_ROWS`. DuckDB's own ``preserve_insertion_order
    = false`` would keep an ORDER BY's order, but it is database-wide, and previews in the same worker show
    the first rows of a file in file order; the option on the COPY drops every order, hence ``ordered``."""
    local = local_path(uri)
    if local:
        os.makedirs(os.path.dirname(local), exist_ok=True)
    ids_sql = ", ".join(f"{quote_ident(name)}: {fid}" for name, fid in ids.items())
    layout = "" if ordered else f"PRESERVE_ORDER false, ROW_GROUP_SIZE {UNORDERED_ROW_GROUP_ROWS}, "
    row = conn.execute(f"COPY (\n{query}\n) TO {_sql_str(local or uri)} "
                       f"(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION {version}, {layout}"
                       f"FIELD_IDS {{{ids_sql}}})").fetchone()
    return int(row[0]) if row else 0


def commit(table: Table, staged: Staged, target: str, replace: bool) -> None:
    """One Iceberg snapshot on ``target``: the new file, replacing every current data file if ``replace``
    (one ``overwrite`` snapshot, so time travel to the previous snapshot gives the previous table)."""
    from .strategies import commit_files

    try:
        data_file = parquet_file_to_data_file(table.io, table.metadata, staged.uri)
    except (ValueError, TypeError, AttributeError) as exc:  # the Arrow path handles whatever this cannot
        raise Unsupported(str(exc).strip().splitlines()[0] if str(exc).strip() else "schema mismatch") from None
    live = live_files(table, target) if replace else None
    commit_files(table, target, live.data if live else [], [data_file], live=live)


# ---------------------------------------------------------------------------------- row-level writes
#
# Keyed strategies (incremental, delete_insert) change a few rows of a large table. Rewriting every data
# file that holds one of the keys would, for keys spread over the table, rewrite all of it on every run
# (ADR 0023). Instead a run adds ONE Iceberg v2 position-delete file naming the (file, row) pairs of the
# replaced rows and ONE data file with the new rows, in one snapshot; DuckDB's iceberg_scan and pyiceberg
# both apply position deletes on read. A table whose deletes pile up is compacted by the upsert run that
# passes the threshold (never by the reaper): its live rows are rewritten into a fresh file and every old
# data and delete file leaves the snapshot in the same commit.

POS_FILE_PATH_ID = 2147483546  # Iceberg's reserved field ids of a position-delete file
POS_POS_ID = 2147483545
# Position-delete files are V1 whatever the settings: pyiceberg reads their ``file_path`` as a dictionary
# column, and pyarrow cannot decode V2's DELTA_LENGTH_BYTE_ARRAY (what DuckDB picks for a column of few rows)
# into one. The files are small, so V2 would buy nothing there.
DELETE_FILE_VERSION = "V1"
# Compact when deleted rows exceed this share of the rows in data files, or this many delete files stack up.
COMPACT_DELETED_RATIO = 0.25
COMPACT_DELETE_FILES = 32

def duck_type(t: pa.DataType) -> str | None:
    """The DuckDB type that writes ``t`` to Parquet exactly as pyiceberg reads it back, else None."""
    if str(t) in _DUCK_TYPES:
        return _DUCK_TYPES[str(t)]
    if pa.types.is_decimal128(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t) and t.unit == "us":
        return "TIMESTAMPTZ" if t.tz is not None else "TIMESTAMP"
    return None


def local_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    return parsed.path if parsed.scheme in ("", "file") else None


def _arrow_target(table: Table) -> pa.Schema:
    from pyiceberg.io.pyarrow import _pyarrow_schema_ensure_small_types, schema_to_pyarrow

    return _pyarrow_schema_ensure_small_types(schema_to_pyarrow(table.schema(), include_field_ids=False))


def row_level(table: Table, conn: duckdb.DuckDBPyConnection | None = None) -> bool:
    """Can DuckDB write this table's files (a location :func:`writable` on ``conn`` — local, or S3 with the
    run's secret — unpartitioned, v2, flat columns DuckDB types)?

    Partitioned tables keep the copy-on-write path: a position-delete file must sit in the partition of the
    rows it deletes. Without ``conn`` only a local table qualifies.
    """
    if not writable(conn, table.location()) or table.metadata.format_version < 2:
        return False
    if not table.spec().is_unpartitioned():
        return False
    return all(duck_type(f.type) is not None for f in _arrow_target(table))


def _select_list(table: Table, available: dict[str, str], alias: str = "") -> str:
    """The table's columns in order and exact type from a relation with columns ``available``."""
    prefix = f"{alias}." if alias else ""
    parts = []
    for f in _arrow_target(table):
        duck = duck_type(f.type)
        source = f"{prefix}{quote_ident(f.name)}" if f.name in available else "NULL"
        parts.append(f"CAST({source} AS {duck}) AS {quote_ident(f.name)}")
    return ", ".join(parts)


def copy_to_data_file(conn: duckdb.DuckDBPyConnection, table: Table, relation_sql: str, write: WriteOptions, *,
                      ordered: bool) -> Any:
    """``COPY`` a relation (already in the table's columns and types) to a new data file; its DataFile.

    ``ordered``: see :func:`_copy`. Returns None for an empty relation (the file is removed again)."""
    uri = _new_uri(table.location(), "data")
    if not _copy(conn, relation_sql, uri, {f.name: f.field_id for f in table.schema().fields}, write.parquet_version,
                 ordered=ordered):
        remove(table.io, uri)
        return None
    return parquet_file_to_data_file(table.io, table.metadata, uri)


def write_arrow(conn: duckdb.DuckDBPyConnection, table: Table, data: pa.Table, write: WriteOptions) -> list[Any]:
    """Data files holding ``data`` (the table's columns, any order), written by DuckDB's parallel writer.

    The rows keep ``data``'s order: a Python pipeline has no ORDER BY to say it wants one."""
    name = f"__rat_write_{uuid.uuid4().hex[:8]}"
    conn.register(name, data)
    try:
        written = copy_to_data_file(conn, table, f"SELECT {_select_list(table, set(data.column_names))} "
                                                 f"FROM {name}", write, ordered=True)
    finally:
        conn.unregister(name)
    return [written] if written is not None else []


@dataclass
class LiveFiles:
    entries: list[Any]  # the live manifest entries of the data files
    deletes: list[Any]

    @property
    def data(self) -> list[Any]:
        return [e.data_file for e in self.entries]

    @property
    def records(self) -> int:
        return sum(f.record_count for f in self.data)

    @property
    def deleted(self) -> int:
        return sum(f.record_count for f in self.deletes)


def _entries_weight(entries: tuple[Any, ...]) -> int:
    """About the KiB manifest entries hold parsed: one for an entry and its file, one per three columns of
    statistics (tracemalloc: ~3.2 KiB an entry of an 8-column table, ~7 KiB of an 18-column one)."""
    return sum(1 + len(e.data_file.value_counts or ()) // 3 for e in entries)


class _Manifests:
    """Per-process memo of manifest lists and of the live entries of manifests, by path (ADR 0030).

    Both files are immutable once written, and a run reads the same ones more than once: its own table's
    snapshot to register ``{{ this }}`` and again to list the files a full refresh replaces; a ``ref()`` to
    a table another run of this worker just read. Entries are kept up to ``MAX_UNITS`` in all, weighed by
    what they hold (:func:`_entries_weight`, about a KiB a unit), least recently used first out; a manifest
    heavier than that is read each time. A bound by count (it was 100,000 entries) let a worker hold 300 MiB
    of 8-column entries, over a GiB of wide ones. The entries are pyiceberg's frozen records (sequence
    numbers already inherited from their manifest); callers never change them.

    A table's newer snapshot supersedes the older one here (:meth:`_supersede`): a full refresh writes a new
    manifest every run, and the replaced ones' entries (~7 KiB each with their column statistics) stayed
    until the bound, so a worker running a large DAG again and again grew by every run's manifests.
    """

    MAX_UNITS = 32_768  # ~32 MiB of entries
    _lists: Lru[tuple[Any, ...]] = Lru(1024)  # manifest list path -> its manifests
    # manifest path -> its live entries
    _entries: Lru[tuple[Any, ...]] = Lru(MAX_UNITS, weight=_entries_weight)
    # table folder -> (sequence number, timestamp, manifest list) of its newest snapshot read
    _newest: Lru[tuple[int, int, str]] = Lru(4096)

    @classmethod
    def of(cls, io: FileIO, snap: Any) -> list[Any]:
        """The live (not DELETED) entries of every manifest of ``snap``."""
        manifests = cls._lists.get(snap.manifest_list)
        if manifests is MISSING:
            manifests = tuple(snap.manifests(io))
            cls._lists.put(snap.manifest_list, manifests)
            cls._supersede(snap, manifests)
        return [e for m in manifests for e in cls._live(io, m)]

    @classmethod
    def _supersede(cls, snap: Any, manifests: tuple[Any, ...]) -> None:
        """Record ``snap`` as its table's newest snapshot read, dropping the previous newest's manifest list and
        the manifests it does not share with ``snap``. An older snapshot (time travel, a branch behind) is
        read and kept as any other, but supersedes nothing. The previous snapshot's manifests are the ones
        its list still holds here: a list already evicted took only its own entry with it, and its
        manifests' entries leave by the bound as before."""
        newest = (snap.sequence_number or 0, snap.timestamp_ms, snap.manifest_list)
        gone = cls._newest.put(table_folder(snap.manifest_list), newest, keep=lambda held, new: held[:2] > new[:2])
        if gone is MISSING or gone is newest or gone[2] == snap.manifest_list:
            return
        previous = cls._lists.get(gone[2])
        cls._lists.pop(gone[2])
        if previous is MISSING:
            return
        paths = {m.manifest_path for m in manifests}
        for m in previous:
            if m.manifest_path not in paths:
                cls._entries.pop(m.manifest_path)

    @classmethod
    def _live(cls, io: FileIO, manifest: Any) -> tuple[Any, ...]:
        path = manifest.manifest_path
        hit = cls._entries.get(path)
        if hit is not MISSING:
            return hit
        entries = tuple(manifest.fetch_manifest_entry(io, discard_deleted=True))
        cls._entries.put(path, entries)
        return entries


def snapshot_entries(table: Table, snap: Any) -> list[Any]:
    """The live manifest entries (data and delete files) of ``snap``, read once per process."""
    return _Manifests.of(table.io, snap)


def live_files(table: Table, target: str) -> LiveFiles:
    """The data and position-delete files of ``target``'s snapshot (read from its manifests)."""
    from pyiceberg.manifest import DataFileContent

    snap = table.metadata.snapshot_by_name(target)
    out = LiveFiles([], [])
    if snap is None:
        return out
    for entry in snapshot_entries(table, snap):
        f = entry.data_file
        if f.content == DataFileContent.DATA:
            out.entries.append(entry)
        elif f.content == DataFileContent.POSITION_DELETES:
            out.deletes.append(f)
        else:
            raise Unsupported("the table has equality-delete files")
    return out


def _parquet_list(files: list[Any]) -> str:
    return "[" + ", ".join(_sql_str(local_path(f.file_path) or f.file_path) for f in files) + "]"


def _path_map(files: list[Any]) -> str:
    """``m(file_path, local)`` for ``files``: read_parquet's ``filename`` is the local path, while a
    position-delete file names a data file by its Iceberg path."""
    return "(VALUES " + ", ".join(f"({_sql_str(f.file_path)}, {_sql_str(local_path(f.file_path) or f.file_path)})"
                                  for f in files) + ") AS m(file_path, local)"


def _deleted_positions_sql(live: LiveFiles) -> str | None:
    if not live.deletes:
        return None
    return f"SELECT file_path, pos FROM read_parquet({_parquet_list(live.deletes)})"


def merge_on_read(conn: duckdb.DuckDBPyConnection, table: Table, data: pa.Table, keys: tuple[str, ...],
                  target: str, write: WriteOptions) -> str:
    """Replace every live row of ``target`` whose key (``IS NOT DISTINCT FROM``) is in ``data`` by ``data``'s
    rows, in one snapshot: a position-delete file + a data file, or a compaction when deletes piled up.

    Only data files whose key range (Iceberg lower/upper bounds of the first key column) can hold one of
    the keys are read, and only their key columns. Returns what it did, for the run log.
    """
    from .strategies import commit_files

    live = live_files(table, target)
    q = quote_ident
    batch = f"__rat_batch_{uuid.uuid4().hex[:8]}"
    conn.register(batch, data)
    try:
        candidates = _candidate_files(table, live.data, data, keys[0])
        positions = None
        if candidates:
            # NULL keys only match with null_keys: allow; plain equality is the faster join otherwise
            nullable = any(data[k].null_count for k in keys)
            match = " AND ".join(f"f.{q(k)} IS NOT DISTINCT FROM b.{q(k)}" if nullable else f"f.{q(k)} = b.{q(k)}"
                                 for k in keys)
            by_name = ", union_by_name = true" if _schemas_differ(table, candidates, keys) else ""
            hits = (f"SELECT f.filename, f.file_row_number AS pos FROM read_parquet({_parquet_list(candidates)}, "
                    f"filename = true, file_row_number = true{by_name}) f SEMI JOIN {batch} b ON {match}")
            positions = (f"SELECT m.file_path, h.pos FROM ({hits}) h JOIN {_path_map(candidates)} "
                         "ON h.filename = m.local")
            deleted = _deleted_positions_sql(live)
            if deleted:
                positions = (f"SELECT p.file_path, p.pos FROM ({positions}) p ANTI JOIN ({deleted}) d "
                             "ON p.file_path = d.file_path AND p.pos = d.pos")
            conn.execute(f"CREATE OR REPLACE TEMP TABLE __rat_positions AS {positions}")
        replaced = int(conn.execute("SELECT count(*) FROM __rat_positions").fetchone()[0]) if positions else 0
        if (live.deleted + replaced > COMPACT_DELETED_RATIO * max(live.records, 1)
                or len(live.deletes) + 1 > COMPACT_DELETE_FILES):
            extra = "UNION ALL SELECT file_path, pos FROM __rat_positions" if positions else ""
            kept = _live_rows_sql(table, live, extra)
            union = (f"SELECT {_select_list(table, _columns(conn, kept))} FROM ({kept}) "
                     f"UNION ALL SELECT {_select_list(table, set(data.column_names))} FROM {batch}")
            added = copy_to_data_file(conn, table, union, write, ordered=write.preserve_order)
            commit_files(table, target, live.data, [added] if added else [], live=live)
            return f"compacted: {len(live.data)} data and {len(live.deletes)} delete file(s) rewritten"
        added = []
        if replaced:
            added.append(_write_deletes(conn, table))
        # the batch is the query's result in its order (its ORDER BY, if any, is not in this SQL)
        new = copy_to_data_file(conn, table, f"SELECT {_select_list(table, set(data.column_names))} FROM {batch}",
                                write, ordered=True)
        if new is not None:
            added.append(new)
        if added:
            commit_files(table, target, [], added)
        return f"{replaced} row(s) replaced by position deletes"
    finally:
        conn.unregister(batch)
        conn.execute("DROP TABLE IF EXISTS __rat_positions")


def _schemas_differ(table: Table, files: list[Any], keys: tuple[str, ...]) -> bool:
    """Whether reading the key columns of ``files`` needs DuckDB's (slower) by-name union: some file lacks
    a key column (written before it existed) or the key's type changed since (widened)."""
    ids = [table.schema().find_field(k).field_id for k in keys]
    for key, fid in zip(keys, ids, strict=True):
        types = {str(f.field_type) for s in table.metadata.schemas for f in s.fields if f.field_id == fid}
        if len(types) > 1 or any(fid not in (f.value_counts or {}) for f in files):
            return True
        names = {f.name for s in table.metadata.schemas for f in s.fields if f.field_id == fid}
        if names != {key}:
            return True
    return False


def _columns(conn: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {d[0] for d in conn.execute(f"SELECT * FROM ({sql}) LIMIT 0").description}


def _live_rows_sql(table: Table, live: LiveFiles, extra_deletes: str = "") -> str:
    """The table's live rows (data files minus position deletes), columns by name as the files have them."""
    if not live.data:
        return f"SELECT {_select_list(table, set())} WHERE false"
    rows = (f"SELECT * EXCLUDE (filename, file_row_number), filename AS __rat_file, "
            f"file_row_number AS __rat_pos FROM read_parquet({_parquet_list(live.data)}, filename = true, "
            "file_row_number = true, union_by_name = true)")
    deleted = _deleted_positions_sql(live)
    deletes = " UNION ALL ".join(s for s in (deleted, extra_deletes.removeprefix("UNION ALL ")) if s)
    if not deletes:
        return f"SELECT * EXCLUDE (__rat_file, __rat_pos) FROM ({rows})"
    return (f"SELECT r.* EXCLUDE (__rat_file, __rat_pos) FROM ({rows}) r JOIN {_path_map(live.data)} "
            "ON r.__rat_file = m.local "
            f"ANTI JOIN ({deletes}) d ON d.file_path = m.file_path AND d.pos = r.__rat_pos")


def _write_deletes(conn: duckdb.DuckDBPyConnection, table: Table) -> Any:
    """A position-delete file of ``__rat_positions``, in :data:`DELETE_FILE_VERSION` whatever the settings."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    uri = _new_uri(table.location(), "deletes")
    rows = _copy(conn, "SELECT file_path, pos::BIGINT AS pos FROM __rat_positions ORDER BY file_path, pos", uri,
                 {"file_path": POS_FILE_PATH_ID, "pos": POS_POS_ID}, DELETE_FILE_VERSION, ordered=True)
    return DataFile.from_args(content=DataFileContent.POSITION_DELETES, file_path=uri,
                              file_format=FileFormat.PARQUET, partition=Record(), record_count=rows,
                              file_size_in_bytes=len(table.io.new_input(uri)),
                              spec_id=table.metadata.default_spec_id)


def _candidate_files(table: Table, files: list[Any], data: pa.Table, key: str) -> list[Any]:
    """The data files whose [lower, upper] bounds of ``key`` overlap the batch's key range (all files when
    the bounds are missing, the key can be NULL, or the type has no simple order)."""
    from pyiceberg.conversions import from_bytes

    field = table.schema().find_field(key)
    column = data[key]
    orderable = pa.types.is_integer(column.type) or pa.types.is_date32(column.type)
    if not data.num_rows or column.null_count or not orderable:
        return files
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if pa.types.is_date32(column.type):
        import datetime as _dt

        low, high = (low - _dt.date(1970, 1, 1)).days, (high - _dt.date(1970, 1, 1)).days
    out = []
    for f in files:
        lower = (f.lower_bounds or {}).get(field.field_id)
        upper = (f.upper_bounds or {}).get(field.field_id)
        try:
            lo, hi = from_bytes(field.field_type, lower), from_bytes(field.field_type, upper)
        except (TypeError, ValueError, struct.error):  # no bounds, or written before the column widened
            out.append(f)
            continue
        if hi >= low and lo <= high:
            out.append(f)
    return out
