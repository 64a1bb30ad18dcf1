"""The fast write path: DuckDB writes the Parquet data file itself, pyiceberg only commits it.

For ``full_refresh`` and ``append_only`` SQL pipelines the result never needs to pass through Python:
``COPY (<query>) TO '<table>/data/<file>.parquet' (FIELD_IDS …)`` runs the query and writes the file with
DuckDB's parallel Parquet writer (using every core while the DAG is still narrow), and the file is added to
the Iceberg table with one fast-append commit. Anything outside the safe set of column types falls back to
the Arrow path, which handles every case.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.table import Table

from .engine import quote_ident, single_statement
from .pipelines import PipelineSpec

STRATEGIES = ("full_refresh", "append_only")
_PLAIN_DUCKDB = frozenset({"INTEGER", "BIGINT", "FLOAT", "DOUBLE", "BOOLEAN", "VARCHAR", "DATE", "BLOB",
                           "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"})


class Unsupported(Exception):
    """This result cannot take the fast path; the caller uses the Arrow path instead."""


def _safe_type(t: pa.DataType) -> bool:
    return (pa.types.is_int32(t) or pa.types.is_int64(t) or pa.types.is_float32(t) or pa.types.is_float64(t)
            or pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_date32(t)
            or pa.types.is_decimal128(t) or pa.types.is_binary(t)
            or (pa.types.is_timestamp(t) and t.unit == "us" and t.tz in (None, "UTC", "Etc/UTC", "+00:00")))


def plan(conn: duckdb.DuckDBPyConnection, spec: PipelineSpec, sql: str, warehouse: str) -> pa.Schema | None:
    """The result schema if this run can take the fast path, else ``None``.

    Only for a local warehouse for now: writing object storage from DuckDB is not covered by the tests yet,
    so S3 warehouses keep the Arrow path (pyiceberg's own file IO).
    """
    if urlparse(warehouse).scheme not in ("", "file"):
        return None
    if spec.kind != "sql" or spec.config.merge_strategy not in STRATEGIES or spec.config.partition_by:
        return None
    try:
        relation = conn.sql(f"SELECT * FROM (\n{strip(sql)}\n) AS q LIMIT 0")
        duck_types = [str(t) for t in relation.types]
        probe = relation.arrow()
    except duckdb.Error:
        return None  # the real execution reports the error
    # JSON, UUID, ENUM … look like strings in Arrow but DuckDB writes them to Parquet with their own
    # logical types (and statistics pyiceberg cannot read): only plain DuckDB types take this path.
    if not all(t in _PLAIN_DUCKDB or t.startswith("DECIMAL(") for t in duck_types):
        return None
    schema = probe.schema if isinstance(probe, pa.Table | pa.RecordBatchReader) else None
    if schema is None or len(set(schema.names)) != len(schema.names):
        return None
    if not all(_safe_type(f.type) for f in schema):
        return None
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])


def strip(sql: str) -> str:
    return single_statement(sql)


@dataclass
class Staged:
    uri: str
    local: str | None
    rows: int

    def discard(self) -> None:
        if self.local and os.path.exists(self.local):
            os.remove(self.local)


def field_ids(table: Table | None, columns: list[str]) -> dict[str, int]:
    """The Iceberg field id of each result column: the table's, or 1..n for a table about to be created
    (what pyiceberg assigns to a flat schema; checked again before the commit)."""
    if table is None:
        return {name: i for i, name in enumerate(columns, start=1)}
    by_name = {f.name: f.field_id for f in table.schema().fields}
    return {name: by_name[name] for name in columns}


def stage(conn: duckdb.DuckDBPyConnection, location: str, ids: dict[str, int], sql: str, run_id: str) -> Staged:
    """Run the query straight into a Parquet file under the table's data folder (not committed yet)."""
    ids_sql = ", ".join(f"{quote_ident(name)}: {fid}" for name, fid in ids.items())
    uri = f"{location.rstrip('/')}/data/rat-{run_id}-{uuid.uuid4().hex}.parquet"
    parsed = urlparse(uri)
    local = parsed.path if parsed.scheme in ("", "file") else None
    target = local or uri
    if local:
        os.makedirs(os.path.dirname(local), exist_ok=True)
    escaped = target.replace("'", "''")
    result = conn.execute(
        f"COPY (\n{strip(sql)}\n) TO '{escaped}' (FORMAT parquet, COMPRESSION zstd, FIELD_IDS {{{ids_sql}}})")
    row = result.fetchone()
    return Staged(uri, local, int(row[0]) if row else 0)


def commit(table: Table, staged: Staged, target: str, replace: bool) -> None:
    """One Iceberg snapshot on ``target``: the new file, replacing every current data file if ``replace``
    (one ``overwrite`` snapshot, so time travel to the previous snapshot gives the previous table)."""
    from .strategies import commit_files, current_files

    try:
        data_file = parquet_file_to_data_file(table.io, table.metadata, staged.uri)
    except (ValueError, TypeError, AttributeError) as exc:  # the Arrow path handles whatever this cannot
        raise Unsupported(str(exc).strip().splitlines()[0] if str(exc).strip() else "schema mismatch") from None
    removed = current_files(table, target) if replace else []
    commit_files(table, target, removed, [data_file])
