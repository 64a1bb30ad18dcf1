"""Merge strategies (STRAT-01..06): how a run's result lands in its Iceberg table.

Every strategy writes to ``target`` (the run's branch, or ``main`` when nothing has to be audited) and
returns ``rows_written`` = rows this run wrote: the result rows for full_refresh/append_only/delete_insert/
snapshot, the de-duplicated rows for incremental, and the new versions for scd2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, BooleanExpression, In
from pyiceberg.table import Table

from .config import PipelineConfig
from .engine import quote_ident
from .errors import Invalid


@dataclass
class WriteResult:
    rows_written: int
    detail: str = ""


def normalize_arrow(table: pa.Table) -> pa.Table:
    """Cast types Iceberg cannot store (unsigned, small ints, large/view strings, null) to ones it can."""
    fields = [pa.field(f.name, _iceberg_type(f.type), nullable=True) for f in table.schema]
    target = pa.schema(fields)
    if target.equals(table.schema, check_metadata=False):
        return table
    columns = []
    for col, field in zip(table.columns, target, strict=True):
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        columns.append(col.cast(field.type) if col.type != field.type else col)
    return pa.Table.from_arrays(columns, schema=target)


def _iceberg_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _iceberg_type(t.value_type)
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t) and t.unit != "us":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_time32(t):
        return pa.time64("us")
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_iceberg_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _iceberg_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_iceberg_type(t.key_type), _iceberg_type(t.item_type))
    return t


def dedup_last(data: pa.Table, keys: tuple[str, ...], order_by: str | None = None) -> pa.Table:
    """Keep one row per key: the newest by ``order_by`` if given, else the last by position."""
    if data.num_rows == 0:
        return data
    idx = pa.array(range(data.num_rows), pa.int64())
    work = data.append_column("__rat_pos", idx)
    if order_by:
        work = work.sort_by([(order_by, "ascending"), ("__rat_pos", "ascending")])
        work = work.set_column(work.schema.get_field_index("__rat_pos"), "__rat_pos",
                               pa.array(range(work.num_rows), pa.int64()))
    keep = work.group_by(list(keys), use_threads=False).aggregate([("__rat_pos", "max")])
    positions = pc.sort_indices(keep["__rat_pos_max"])
    taken = work.take(pc.take(keep["__rat_pos_max"], positions))
    return taken.drop_columns(["__rat_pos"])


def _check_columns(data: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in data.column_names]
    if missing:
        raise Invalid(f"{what} column(s) {', '.join(missing)} not in the pipeline result "
                      f"(columns: {', '.join(data.column_names)})")


def _key_filter(data: pa.Table, column: str) -> BooleanExpression:
    values = [v for v in pc.unique(data[column]).to_pylist() if v is not None]
    return In(column, values) if values else AlwaysFalse()


def _has_rows(table: Table, target: str) -> bool:
    return table.metadata.snapshot_by_name(target) is not None


def apply(
    table: Table, data: pa.Table, config: PipelineConfig, target: str, conn: duckdb.DuckDBPyConnection,
    current_sql: str | None, run_ts: datetime,
) -> WriteResult:
    """Write ``data`` into ``table`` on branch ``target`` with the configured strategy.

    ``current_sql`` names a DuckDB relation with the table's current rows (for SQL-computed merges), or
    ``None`` when the table has no data yet.
    """
    strategy = config.merge_strategy
    keys = config.unique_key
    if keys:
        _check_columns(data, keys, "unique_key")
    existing = _has_rows(table, target)

    if strategy == "full_refresh":
        table.overwrite(data, branch=target)
        return WriteResult(data.num_rows)

    if strategy == "append_only":
        table.append(data, branch=target)
        return WriteResult(data.num_rows)

    if strategy in ("incremental", "delete_insert"):
        new = dedup_last(data, keys, config.watermark_column) if strategy == "incremental" else data
        if not existing or new.num_rows == 0:
            if not existing:
                table.overwrite(new, branch=target)
            return WriteResult(new.num_rows)
        if len(keys) == 1:
            with table.transaction() as tx:
                tx.delete(_key_filter(new, keys[0]), branch=target)
                tx.append(new, branch=target)
        else:
            merged = _merge_composite(conn, current_sql, new, keys)
            table.overwrite(merged, branch=target)
        return WriteResult(new.num_rows)

    if strategy == "snapshot":
        column = config.partition_column or ""
        _check_columns(data, (column,), "partition_column")
        if not existing:
            table.overwrite(data, branch=target)
        elif data.num_rows:
            with table.transaction() as tx:
                tx.delete(_key_filter(data, column), branch=target)
                tx.append(data, branch=target)
        return WriteResult(data.num_rows)

    if strategy == "scd2":
        final, inserted, closed = _scd2(conn, current_sql if existing else None, data, config, run_ts)
        table.overwrite(final, branch=target)
        return WriteResult(inserted, f"{inserted} new version(s), {closed} closed")

    raise Invalid(f"unknown merge_strategy '{strategy}'")


def initial(data: pa.Table, config: PipelineConfig, conn: duckdb.DuckDBPyConnection, run_ts: datetime
            ) -> WriteResult | tuple[pa.Table, WriteResult]:
    """The rows a first run writes into an empty table (what ``apply`` would produce on no data)."""
    strategy = config.merge_strategy
    if config.unique_key:
        _check_columns(data, config.unique_key, "unique_key")
    if strategy == "incremental":
        rows = dedup_last(data, config.unique_key, config.watermark_column)
        return rows, WriteResult(rows.num_rows)
    if strategy == "snapshot":
        _check_columns(data, (config.partition_column or "",), "partition_column")
    if strategy == "scd2":
        final, inserted, _closed = _scd2(conn, None, data, config, run_ts)
        return final, WriteResult(inserted, f"{inserted} new version(s), 0 closed")
    return data, WriteResult(data.num_rows)


def _merge_composite(conn: duckdb.DuckDBPyConnection, current_sql: str | None, new: pa.Table,
                     keys: tuple[str, ...]) -> pa.Table:
    conn.register("__rat_new", new)
    try:
        cond = " AND ".join(f"c.{quote_ident(k)} IS NOT DISTINCT FROM n.{quote_ident(k)}" for k in keys)
        sql = (f"SELECT c.* FROM {current_sql} c WHERE NOT EXISTS (SELECT 1 FROM __rat_new n WHERE {cond}) "
               f"UNION ALL BY NAME SELECT * FROM __rat_new")
        return _arrow(conn.execute(sql))
    finally:
        conn.unregister("__rat_new")


def scd2_schema(data: pa.Schema, config: PipelineConfig) -> pa.Schema:
    names = [n for n in data.names if n not in (config.scd_valid_from, config.scd_valid_to)]
    fields = [data.field(n) for n in names]
    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([*fields, pa.field(config.scd_valid_from, ts), pa.field(config.scd_valid_to, ts)])


def _scd2(conn: duckdb.DuckDBPyConnection, current_sql: str | None, data: pa.Table, config: PipelineConfig,
          run_ts: datetime) -> tuple[pa.Table, int, int]:
    """Close the open version of each key whose tracked columns changed and add a new version.

    Unchanged keys keep their open version untouched (RAT closed every key in each batch; we do not).
    """
    vf, vt = config.scd_valid_from, config.scd_valid_to
    keys = config.unique_key
    new = dedup_last(data.drop_columns([c for c in (vf, vt) if c in data.column_names]), keys,
                     config.watermark_column)
    tracked = [c for c in new.column_names if c not in keys]
    schema = scd2_schema(new.schema, config)
    conn.register("__rat_new", new)
    try:
        q = quote_ident
        ts = f"TIMESTAMPTZ '{run_ts.isoformat()}'"
        cols = ", ".join(f"n.{q(c)}" for c in new.column_names)
        if current_sql is None:
            final = _arrow(conn.execute(
                f"SELECT {cols}, {ts} AS {q(vf)}, NULL::TIMESTAMPTZ AS {q(vt)} FROM __rat_new n"))
            return _cast(final, schema), new.num_rows, 0
        join = " AND ".join(f"o.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in keys)
        differs = " OR ".join(f"o.{q(c)} IS DISTINCT FROM n.{q(c)}" for c in tracked) or "FALSE"
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE __rat_changed AS SELECT n.* FROM __rat_new n "
            f"LEFT JOIN (SELECT * FROM {current_sql} WHERE {q(vt)} IS NULL) o ON {join} "
            f"WHERE o.{q(keys[0])} IS NULL OR {differs}"
        )
        inserted = conn.execute("SELECT count(*) FROM __rat_changed").fetchone()[0]
        key_match = " AND ".join(f"c.{q(k)} IS NOT DISTINCT FROM x.{q(k)}" for k in keys)
        closes = f"(c.{q(vt)} IS NULL AND EXISTS (SELECT 1 FROM __rat_changed x WHERE {key_match}))"
        closed = conn.execute(f"SELECT count(*) FROM {current_sql} c WHERE {closes}").fetchone()[0]
        final = _arrow(conn.execute(
            f"SELECT * REPLACE (CASE WHEN {closes} THEN {ts} ELSE c.{q(vt)} END AS {q(vt)}) "
            f"FROM {current_sql} c "
            f"UNION ALL BY NAME SELECT {cols}, {ts} AS {q(vf)}, NULL::TIMESTAMPTZ AS {q(vt)} FROM __rat_changed n"
        ))
        conn.execute("DROP TABLE IF EXISTS __rat_changed")
        return _cast(final, schema), int(inserted), int(closed)
    finally:
        conn.unregister("__rat_new")


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    table = table.select([n for n in schema.names if n in table.column_names])
    return normalize_arrow(table).cast(pa.schema([schema.field(n) for n in table.column_names]))


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    out = result.arrow()
    if isinstance(out, pa.RecordBatchReader):
        out = out.read_all()
    return normalize_arrow(out)
