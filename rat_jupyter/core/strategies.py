"""Merge strategies (STRAT-01..06): how a run's result lands in its Iceberg table.

``docs/strategies.md`` is the contract; each concern lives in one function here:

- :func:`normalize_arrow` — every Arrow type becomes an Iceberg type or is refused naming the column;
- :func:`prepare` — config columns exist, NULL-key policy, deterministic de-duplication of the batch;
- :func:`plan_schema` / :func:`stage_schema` — schema evolution (``on_schema_change``, type widening),
  staged in the table metadata without becoming ``main``'s schema until the run publishes;
- :func:`apply` / :func:`initial` — the strategy itself;
- :func:`commit` — every write is ONE snapshot (replace, overwrite or append), so time travel to the
  previous snapshot always gives the previous run's table.

``rows_written`` = rows this run wrote: the result rows for full_refresh/append_only/delete_insert/
snapshot, the de-duplicated rows for incremental, and the new versions for scd2.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, In, IsNull, Or
from pyiceberg.schema import Schema
from pyiceberg.table import DataScan, Table
from pyiceberg.table.update import AddSchemaUpdate, SetCurrentSchemaUpdate, TableRequirement, TableUpdate
from pyiceberg.types import DecimalType, DoubleType, FloatType, IcebergType, IntegerType, LongType

from . import fastwrite
from .config import PipelineConfig
from .engine import WriteOptions, quote_ident
from .errors import Invalid

KEYED = ("incremental", "delete_insert", "scd2")


class SchemaRefused(Invalid):
    code = "SCHEMA_CHANGE_REFUSED"


class NullKeys(Invalid):
    code = "NULL_KEYS"


@dataclass
class WriteResult:
    rows_written: int
    detail: str = ""


# ----------------------------------------------------------------------------------------------- types

def normalize_arrow(table: pa.Table, pipeline: str = "") -> pa.Table:
    """Cast every column to a type Iceberg stores (UTC µs timestamps, signed ints, plain strings …).

    A type Iceberg cannot store (interval, union, opaque extensions …) is refused with a message naming the
    column and a fix, instead of failing somewhere inside the writer with a library's table drawing.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    fields = [pa.field(f.name, _iceberg_type(f.type, f.name, pipeline), nullable=True) for f in table.schema]
    target = pa.schema(fields)
    if target.equals(table.schema, check_metadata=False) and all(f.nullable for f in table.schema):
        return table
    columns = [_cast_column(col, f.type) for col, f in zip(table.columns, target, strict=True)]
    return pa.Table.from_arrays(columns, schema=target)


def _cast_column(col: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    if isinstance(col.type, pa.ExtensionType):
        col = pa.chunked_array([c.storage for c in col.chunks], col.type.storage_type)
        if pa.types.is_fixed_size_binary(col.type) and pa.types.is_string(to):  # arrow.uuid
            return pa.chunked_array([pa.array([None if v is None else str(uuid.UUID(bytes=v))
                                               for v in c.to_pylist()], pa.string()) for c in col.chunks],
                                    pa.string())
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if col.type == to:
        return col
    # Truncating nanoseconds to microseconds is the documented rule, not a data error.
    return col.cast(to, safe=not _has_timestamp(col.type))


def _has_timestamp(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t) or pa.types.is_time(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_timestamp(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_timestamp(f.type) for f in t)
    if pa.types.is_map(t):
        return _has_timestamp(t.key_type) or _has_timestamp(t.item_type)
    return False


def _refuse(pipeline: str, column: str, what: str) -> Invalid:
    who = f"pipeline {pipeline}: " if pipeline else ""
    return Invalid(f"{who}column '{column}' has type {what}, which Iceberg cannot store. "
                   "Cast it in the query, e.g. to VARCHAR or BIGINT.")


def _iceberg_type(t: pa.DataType, column: str, pipeline: str) -> pa.DataType:
    if isinstance(t, pa.ExtensionType):
        name = t.extension_name
        if name == "arrow.uuid":
            return pa.string()
        if name == "arrow.json":
            return pa.string()
        raise _refuse(pipeline, column, f"{name} ({t})")
    if pa.types.is_dictionary(t):
        return _iceberg_type(t.value_type, column, pipeline)
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t):
        return pa.int64()
    if pa.types.is_uint64(t):
        return pa.decimal128(20, 0)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz is not None else None)
    if pa.types.is_time(t):
        return pa.time64("us")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise _refuse(pipeline, column, f"decimal({t.precision}, {t.scale}) (more than 38 digits)")
        return pa.decimal128(t.precision, t.scale)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(_iceberg_type(t.value_type, column, pipeline))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _iceberg_type(f.type, column, pipeline)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_iceberg_type(t.key_type, column, pipeline), _iceberg_type(t.item_type, column, pipeline))
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_binary(t) or pa.types.is_date32(t) or pa.types.is_fixed_size_binary(t)):
        return t
    if pa.types.is_interval(t):
        raise _refuse(pipeline, column, "interval")
    if pa.types.is_duration(t):
        raise _refuse(pipeline, column, "duration")
    if pa.types.is_union(t):
        raise _refuse(pipeline, column, "union")
    raise _refuse(pipeline, column, str(t))


# ------------------------------------------------------------------------------------- batch preparation

def check_columns(data: pa.Table, config: PipelineConfig, pipeline: str) -> None:
    """Config that names a column the result does not have is a config error naming it."""
    wanted: list[tuple[str, str]] = [("unique_key", k) for k in config.unique_key]
    if config.watermark_column:
        wanted.append(("watermark_column", config.watermark_column))
    if config.merge_strategy == "snapshot" and config.partition_column:
        wanted.append(("partition_column", config.partition_column))
    wanted += [("partition_by", p.column) for p in config.partition_by]
    names = set(data.column_names)
    for key, column in wanted:
        if column not in names:
            raise Invalid(f"pipeline {pipeline}: {key} column '{column}' is not in the result (columns: "
                          f"{', '.join(data.column_names) or 'none'}). Fix the config or add the column to "
                          "the query.")


def check_null_keys(data: pa.Table, config: PipelineConfig, pipeline: str) -> None:
    if config.merge_strategy not in KEYED or config.null_keys == "allow" or data.num_rows == 0:
        return
    for key in config.unique_key:
        nulls = data[key].null_count
        if nulls:
            raise null_keys_error(pipeline, key, nulls)


def null_keys_error(pipeline: str, key: str, nulls: int) -> NullKeys:
    return NullKeys(f"pipeline {pipeline}: {nulls} result row(s) have NULL in unique_key column '{key}'. "
                    f"Filter them out (WHERE {key} IS NOT NULL) or set null_keys: allow.")


def dedup(conn: duckdb.DuckDBPyConnection, data: pa.Table, keys: tuple[str, ...],
          order_by: str | None = None) -> pa.Table:
    """One row per key: the greatest ``order_by`` wins, ties broken by the greatest whole row.

    Comparing whole rows (in column order, NULL smallest, nested values by their text) makes the winner
    independent of row order, so the same input always gives the same table.
    """
    if data.num_rows == 0 or not keys:
        return data
    q = quote_ident
    order = [f"{q(order_by)} DESC NULLS LAST"] if order_by else []
    for f in data.schema:
        nested = pa.types.is_nested(f.type)
        order.append(f"{'CAST(' + q(f.name) + ' AS VARCHAR)' if nested else q(f.name)} DESC NULLS LAST")
    name = f"__rat_dedup_{uuid.uuid4().hex[:8]}"
    conn.register(name, data)
    try:
        # A batch without duplicate keys is its own result: one hash aggregate instead of a window that
        # sorts every row by all of its columns (a first load of a large table is usually that case).
        if fastwrite.keys_unique(conn, name, keys):
            return data
        out = _arrow(conn.execute(
            f"SELECT * FROM {name} QUALIFY row_number() OVER (PARTITION BY {', '.join(q(k) for k in keys)} "
            f"ORDER BY {', '.join(order)}) = 1"))
    finally:
        conn.unregister(name)
    return out.select(data.column_names).cast(data.schema)


def prepare(data: pa.Table, config: PipelineConfig, conn: duckdb.DuckDBPyConnection, pipeline: str) -> pa.Table:
    """The batch a strategy merges: checked columns and keys, de-duplicated for incremental and scd2."""
    check_columns(data, config, pipeline)
    check_null_keys(data, config, pipeline)
    if config.merge_strategy in ("incremental", "scd2"):
        if config.merge_strategy == "scd2":
            data = data.drop_columns([c for c in (config.scd_valid_from, config.scd_valid_to)
                                      if c in data.column_names])
        return dedup(conn, data, config.unique_key, config.watermark_column)
    return data


# ------------------------------------------------------------------------------------------------ schema

@dataclass
class SchemaPlan:
    """A schema change staged for a run: ``stage`` is committed before the write (it adds a schema the
    table does not use yet), ``publish`` goes into the commit that moves ``main``."""

    schema_id: int | None = None
    stage: tuple[TableUpdate, ...] = ()
    publish: tuple[TableUpdate, ...] = ()
    requirements: tuple[TableRequirement, ...] = ()
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.schema_id is not None


def scd2_schema(data: pa.Schema, config: PipelineConfig) -> pa.Schema:
    names = [n for n in data.names if n not in (config.scd_valid_from, config.scd_valid_to)]
    fields = [data.field(n) for n in names]
    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([*fields, pa.field(config.scd_valid_from, ts), pa.field(config.scd_valid_to, ts)])


def _type_name(t: IcebergType) -> str:
    names = {"int": "integer", "long": "bigint", "float": "float", "double": "double", "string": "varchar"}
    return names.get(str(t), str(t))


def _compare(current: IcebergType, new: IcebergType) -> str:
    """'same', 'widen' (the table column must widen to ``new``), 'castable' (``new`` fits the table type) or
    'refused' — by Iceberg's promotion rules: int→long, float→double, decimal precision increase."""
    if current == new:
        return "same"
    pairs = ((IntegerType, LongType), (FloatType, DoubleType))
    for small, big in pairs:
        if isinstance(current, small) and isinstance(new, big):
            return "widen"
        if isinstance(current, big) and isinstance(new, small):
            return "castable"
    if isinstance(current, DecimalType) and isinstance(new, DecimalType) and current.scale == new.scale:
        return "widen" if new.precision > current.precision else "castable"
    if current.is_primitive and new.is_primitive:
        return "refused"
    return "nested"


def plan_schema(table: Table, data: pa.Schema, config: PipelineConfig, pipeline: str) -> SchemaPlan:
    """What the result's columns change in the table's schema, by ``on_schema_change`` (docs/strategies.md §4)."""
    from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids

    if config.merge_strategy == "scd2":
        data = scd2_schema(data, config)
    current = table.schema()
    result = _pyarrow_to_schema_without_ids(data)
    by_name = {f.name: f for f in current.fields}
    added: list[str] = []
    widened: list[tuple[str, IcebergType, IcebergType]] = []
    nested: list[str] = []
    for f in result.fields:
        old = by_name.get(f.name)
        if old is None:
            added.append(f.name)
            continue
        verdict = _compare(old.field_type, f.field_type)
        if verdict == "refused":
            a, b = _type_name(old.field_type), _type_name(f.field_type)
            raise SchemaRefused(
                f"pipeline {pipeline}: column '{f.name}' is {a} in the table but {b} in the result; Iceberg "
                f"cannot change {a} to {b}. Cast it in the query (CAST({f.name} AS {a.upper()})) or give it "
                "a new name.")
        if verdict == "widen":
            widened.append((f.name, old.field_type, f.field_type))
        elif verdict == "nested":
            nested.append(f.name)
    result_names = {f.name for f in result.fields}
    missing = [n for n in by_name if n not in result_names]
    mode = config.on_schema_change
    changes = ([f"added {n}" for n in added] + [f"widened {n} {_type_name(a)}→{_type_name(b)}"
                                                 for n, a, b in widened])
    if mode == "fail" and (added or widened or missing or nested):
        parts = [f"added: {', '.join(added)}"] if added else []
        parts += [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"type changed: {', '.join(n for n, _, _ in widened)}"] if widened else []
        parts += [f"nested type changed: {', '.join(nested)}"] if nested else []
        raise SchemaRefused(f"pipeline {pipeline}: the result's columns differ from the table ({'; '.join(parts)}) "
                            "and on_schema_change is 'fail'. Change the query, or set on_schema_change: "
                            "append_new_columns.")
    drop = missing if mode == "sync_all_columns" and config.merge_strategy != "scd2" else []
    if not (added or widened or nested or drop):
        return SchemaPlan()
    update = table.update_schema()
    try:
        subset = pa.schema([data.field(n) for n in added + [w[0] for w in widened] + nested])
        update.union_by_name(subset)
        for name in drop:
            update.delete_column(name)
        updates, requirements = update._commit()
    except (ValueError, TypeError) as exc:
        raise SchemaRefused(f"pipeline {pipeline}: the result's column types cannot be stored in the table "
                            f"({_first_line(exc)}). Cast the columns in the query to their previous types, or "
                            "give them new names.") from None
    changes += [f"dropped {n}" for n in drop] + [f"changed {n}" for n in nested]
    new_schema = update._apply()
    existing = next((s.schema_id for s in table.metadata.schemas if s == new_schema), None)
    stage = tuple(u for u in updates if isinstance(u, AddSchemaUpdate))
    publish = tuple(u for u in updates if not isinstance(u, AddSchemaUpdate | SetCurrentSchemaUpdate))
    schema_id = existing if existing is not None else new_schema.schema_id
    if not updates:
        return SchemaPlan()
    return SchemaPlan(schema_id, stage, (SetCurrentSchemaUpdate(schema_id=schema_id), *publish),
                      requirements, changes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def stage_schema(table: Table, plan: SchemaPlan) -> Table:
    """Add the run's schema to the table metadata WITHOUT making it current, and return a view of the table
    that writes with it. ``main``'s schema and properties are unchanged until the publish commit."""
    if not plan.changed:
        return table
    staged = {s.schema_id for s in table.metadata.schemas}
    if plan.stage and plan.schema_id not in staged:  # idempotent: the fast path stages before writing
        table._do_commit(plan.stage, ())  # no public pyiceberg call adds a schema only
    return with_schema(table, plan.schema_id)


def with_schema(table: Table, schema_id: int | None) -> Table:
    """The same table object, but whose writes use schema ``schema_id`` (a staged, not-yet-current one)."""
    if schema_id is None or table.metadata.current_schema_id == schema_id:
        return table
    metadata = table.metadata.model_copy(update={"current_schema_id": schema_id})
    return Table(table.name(), metadata, table.metadata_location, table.io, table.catalog)


# -------------------------------------------------------------------------------------------- strategies

def apply(
    table: Table, data: pa.Table, config: PipelineConfig, target: str, conn: duckdb.DuckDBPyConnection,
    current_sql: str | None, run_ts: datetime, pipeline: str = "", *, write: WriteOptions,
) -> WriteResult:
    """Write ``data`` into ``table`` on branch ``target`` with the configured strategy, as one snapshot.

    ``current_sql`` names a DuckDB relation with the table's current rows (for SQL-computed merges).
    ``data`` must already be :func:`prepare`-d.
    """
    strategy = config.merge_strategy
    keys = config.unique_key
    existing = table.metadata.snapshot_by_name(target) is not None

    if strategy == "full_refresh":
        commit(table, data, target, conn, write, delete_all=True)
        return WriteResult(data.num_rows)

    if strategy == "append_only":
        commit(table, data, target, conn, write)
        return WriteResult(data.num_rows)

    if strategy in ("incremental", "delete_insert"):
        if config.hard_deletes == "delete" or not existing:
            commit(table, data, target, conn, write, delete_all=True)
        elif data.num_rows == 0:
            pass
        elif fastwrite.row_level(table, conn):
            detail = fastwrite.merge_on_read(conn, table, data, keys, target, write)
            return WriteResult(data.num_rows, detail)
        elif len(keys) == 1:
            commit(table, data, target, conn, write, delete_column=keys[0], delete_values=pc.unique(data[keys[0]]))
        else:
            commit(table, _merge_composite(conn, current_sql, data, keys), target, conn, write, delete_all=True)
        return WriteResult(data.num_rows)

    if strategy == "snapshot":
        column = config.partition_column or ""
        if not existing:
            commit(table, data, target, conn, write, delete_all=True)
        elif data.num_rows:
            commit(table, data, target, conn, write, delete_column=column, delete_values=pc.unique(data[column]))
        return WriteResult(data.num_rows)

    if strategy == "scd2":
        final, inserted, closed = _scd2(conn, current_sql if existing else None, data, config, run_ts, [])
        if inserted or closed:
            commit(table, final, target, conn, write, delete_all=True)
        return WriteResult(inserted, f"{inserted} new version(s), {closed} closed")

    raise Invalid(f"unknown merge_strategy '{strategy}'")


def initial(data: pa.Table, config: PipelineConfig, conn: duckdb.DuckDBPyConnection, run_ts: datetime
            ) -> tuple[pa.Table, WriteResult]:
    """The rows a first run writes into an empty table (what ``apply`` produces on no data).
    ``data`` must already be :func:`prepare`-d."""
    if config.merge_strategy == "scd2":
        final, inserted, _closed = _scd2(conn, None, data, config, run_ts, [])
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


def _scd2(conn: duckdb.DuckDBPyConnection, current_sql: str | None, new: pa.Table, config: PipelineConfig,
          run_ts: datetime, table_columns: list[str]) -> tuple[pa.Table, int, int]:
    """Close the open version of each key whose tracked columns changed and add a new version.

    Unchanged keys keep their open version untouched (RAT closed every key in each batch; we do not).
    Columns the result no longer has stay in every existing version (history is never rewritten); a column
    the table does not have yet counts as changed where the result has a value.
    """
    vf, vt = config.scd_valid_from, config.scd_valid_to
    keys = config.unique_key
    tracked = [c for c in new.column_names if c not in keys]
    conn.register("__rat_new", new)
    try:
        q = quote_ident
        ts = f"TIMESTAMPTZ '{run_ts.isoformat()}'"
        cols = ", ".join(f"n.{q(c)}" for c in new.column_names)
        if current_sql is None:
            final = _arrow(conn.execute(
                f"SELECT {cols}, {ts} AS {q(vf)}, NULL::TIMESTAMPTZ AS {q(vt)} FROM __rat_new n"))
            return final, new.num_rows, 0
        known = set(table_columns) or {d[0] for d in conn.execute(f"SELECT * FROM {current_sql} LIMIT 0").description}
        join = " AND ".join(f"o.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in keys)
        differs = " OR ".join(
            f"o.{q(c)} IS DISTINCT FROM n.{q(c)}" if c in known else f"n.{q(c)} IS NOT NULL" for c in tracked
        ) or "FALSE"
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE __rat_changed AS SELECT n.* FROM __rat_new n "
            f"LEFT JOIN (SELECT * FROM {current_sql} WHERE {q(vt)} IS NULL) o ON {join} "
            f"WHERE o.{q(vf)} IS NULL OR {differs}"
        )
        inserted = conn.execute("SELECT count(*) FROM __rat_changed").fetchone()[0]
        key_match = " AND ".join(f"c.{q(k)} IS NOT DISTINCT FROM x.{q(k)}" for k in keys)
        closes = f"EXISTS (SELECT 1 FROM __rat_changed x WHERE {key_match})"
        if config.hard_deletes == "invalidate":
            closes = f"({closes} OR NOT EXISTS (SELECT 1 FROM __rat_new x WHERE {key_match}))"
        closes = f"(c.{q(vt)} IS NULL AND {closes})"
        closed = conn.execute(f"SELECT count(*) FROM {current_sql} c WHERE {closes}").fetchone()[0]
        final = _arrow(conn.execute(
            f"SELECT * REPLACE (CASE WHEN {closes} THEN {ts} ELSE c.{q(vt)} END AS {q(vt)}) "
            f"FROM {current_sql} c "
            f"UNION ALL BY NAME SELECT {cols}, {ts} AS {q(vf)}, NULL::TIMESTAMPTZ AS {q(vt)} FROM __rat_changed n"
        ))
        conn.execute("DROP TABLE IF EXISTS __rat_changed")
        return final, int(inserted), int(closed)
    finally:
        conn.unregister("__rat_new")


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    out = result.arrow()
    if isinstance(out, pa.RecordBatchReader):
        out = out.read_all()
    return normalize_arrow(out)


# ------------------------------------------------------------------------------------------------ commit

def align(data: pa.Table, schema: Schema) -> pa.Table:
    """``data`` with exactly the table's columns, in order and type (missing columns are NULL)."""
    from pyiceberg.io.pyarrow import _pyarrow_schema_ensure_small_types, schema_to_pyarrow

    target = _pyarrow_schema_ensure_small_types(schema_to_pyarrow(schema, include_field_ids=False))
    columns = []
    for f in target:
        if f.name in data.column_names:
            col = data[f.name]
            columns.append(col if col.type == f.type else col.cast(f.type))
        else:
            columns.append(pa.nulls(data.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=pa.schema([pa.field(f.name, f.type) for f in target]))


def commit(table: Table, add: pa.Table | None, target: str, conn: duckdb.DuckDBPyConnection,
           write: WriteOptions, *, delete_all: bool = False, delete_column: str | None = None,
           delete_values: Any = None) -> bool:
    """ONE snapshot on ``target``: drop every current row (``delete_all``) or the rows whose
    ``delete_column`` is in ``delete_values`` (NULL included when present), then add ``add``.

    pyiceberg's own delete + append makes two snapshots (the first one a table without the replaced rows);
    this copy-on-write version rewrites the affected files and adds the new ones in a single commit.
    ``add`` is written by DuckDB's parallel Parquet writer on ``conn`` (the run's database, with its thread
    and memory settings) in ``write``'s format when the table allows it, else by pyiceberg. Returns False
    when there was nothing to change (no snapshot).
    """
    from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files

    metadata = table.metadata
    schema = table.schema()
    write_uuid = uuid.uuid4()
    counter = itertools.count(0)
    removed = []
    added = []
    live = None
    if delete_all and metadata.snapshot_by_name(target) is not None:
        live = fastwrite.live_files(table, target)
        removed = list(live.data)
    elif metadata.snapshot_by_name(target) is not None and delete_column:
        values = delete_values.to_pylist() if hasattr(delete_values, "to_pylist") else list(delete_values)
        present = [v for v in values if v is not None]
        row_filter: BooleanExpression = In(delete_column, present) if present else IsNull(delete_column)
        if present and len(present) != len(values):
            row_filter = Or(row_filter, IsNull(delete_column))
        scan = DataScan(table_metadata=metadata, io=table.io, row_filter=row_filter).use_ref(target)
        for task in scan.plan_files():
            rows = ArrowScan(table_metadata=metadata, io=table.io, projected_schema=schema,
                             row_filter=AlwaysTrue()).to_table(tasks=[task])
            column = rows[delete_column]
            match = pc.is_in(column, value_set=pa.array(values).cast(column.type), skip_nulls=False)
            keep = rows.filter(pc.invert(match))
            if keep.num_rows == rows.num_rows:
                continue
            removed.append(task.file)
            if keep.num_rows:
                added.extend(_dataframe_to_data_files(table_metadata=metadata, df=keep, io=table.io,
                                                      write_uuid=write_uuid, counter=counter))
    if add is not None and add.num_rows:
        if fastwrite.row_level(table, conn):
            added.extend(fastwrite.write_arrow(conn, table, add, write))
        else:
            added.extend(_dataframe_to_data_files(table_metadata=metadata, df=align(add, schema), io=table.io,
                                                  write_uuid=write_uuid, counter=counter))
    if not removed and not added:
        return False
    commit_files(table, target, removed, added, write_uuid, live=live)
    return True


def commit_files(table: Table, target: str, removed: list[Any], added: list[Any],
                 write_uuid: uuid.UUID | None = None, *, live: fastwrite.LiveFiles | None = None) -> None:
    """One snapshot that removes ``removed`` data files and adds ``added`` files (an append when nothing goes).

    ``added`` may hold position-delete files (they go into a delete manifest, the snapshot is an
    ``overwrite``); removing every live data file also removes the table's delete files, which describe
    rows of those files only. ``live`` is ``target``'s listing when the caller already made it (it is
    read from the manifests here otherwise, and only when something is removed). A commit to ``main`` also
    sets the metadata-bounding properties a table created before them lacks (the same commit, so a failed
    run never changes them) and expires the snapshots beyond the table's bound; appends merge small
    manifests when the table asks to.
    """
    from pyiceberg.manifest import DataFileContent
    from pyiceberg.utils.properties import property_as_bool

    from ..common.history import expiry, missing_properties, overwrite

    data = [f for f in added if f.content == DataFileContent.DATA]
    deletes = [f for f in added if f.content != DataFileContent.DATA]
    if removed:
        if live is None and table.metadata.snapshot_by_name(target) is not None:
            live = fastwrite.live_files(table, target)
        gone = {f.file_path for f in removed}
        if live is not None and live.deletes and all(f.file_path in gone for f in live.data):
            removed = [*removed, *(f for f in live.deletes if f.file_path not in gone)]
    with table.transaction() as tx:
        missing = missing_properties(table) if target == "main" else {}
        if missing:
            tx.set_properties(missing)
        update = tx.update_snapshot(branch=target)
        merge = property_as_bool(tx.table_metadata.properties, "commit.manifest-merge.enabled", False)
        if removed and not deletes and _replaces_all(live, removed, tx.table_metadata.default_spec_id):
            assert live is not None
            producer = overwrite(update, write_uuid)
            producer.__class__ = _lean_replace(type(producer))
            producer._rat_removed = live.entries
        elif removed or deletes:
            producer = overwrite(update, write_uuid)
            producer.__class__ = _row_level(type(producer))
            producer._rat_deletes = deletes
        else:
            producer = update.merge_append() if merge else update.fast_append()
        with producer as files:
            for f in removed:
                files.delete_data_file(f)
            for f in data:
                files.append_data_file(f)
        if target == "main" and (updates := expiry(tx.table_metadata)):  # the same commit (common.history)
            tx._apply(updates)


def _replaces_all(live: fastwrite.LiveFiles | None, removed: list[Any], spec_id: int) -> bool:
    """Whether a commit removes every live data file of a table without delete files, all written with the
    current partition spec: the shape of a full refresh, which :func:`_lean_replace` commits directly."""
    if live is None or live.deletes or len(removed) != len(live.entries):
        return False
    return ({f.file_path for f in removed} == {f.file_path for f in live.data}
            and all(e.data_file.spec_id == spec_id for e in live.entries))


@functools.cache
def _lean_replace(base: type) -> type:
    """``base`` (pyiceberg's overwrite producer) for a commit that replaces every live data file.

    pyiceberg's overwrite reads the parent's manifests twice more (once to find the entries to mark
    deleted, once to keep the rest) and writes an added manifest and a deleted one, each in a pool thread.
    When every live file goes, nothing of the parent survives: ONE manifest, written here, holds the added
    files and the removed ones as DELETED entries (their sequence numbers kept, as Iceberg requires), from
    the entries the caller already read (ADR 0029). The snapshot, its summary and the commit's
    requirements (``main`` must not have moved) are pyiceberg's own.
    """
    from pyiceberg.manifest import ManifestEntry, ManifestEntryStatus

    class _LeanReplace(base):  # type: ignore[misc, valid-type]
        _rat_removed: list[Any] = []

        def _manifests(self) -> list[Any]:
            with self.new_manifest_writer(spec=self._transaction.table_metadata.spec()) as writer:
                for f in self._added_data_files:
                    writer.add(ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id,
                        sequence_number=None, file_sequence_number=None, data_file=f))
                for entry in self._rat_removed:
                    writer.add_entry(ManifestEntry.from_args(
                        status=ManifestEntryStatus.DELETED, snapshot_id=self._snapshot_id,
                        sequence_number=entry.sequence_number, file_sequence_number=entry.file_sequence_number,
                        data_file=entry.data_file))
            return [writer.to_manifest_file()]

    return _LeanReplace


@functools.cache
def _row_level(base: type) -> type:
    """``base`` (pyiceberg's overwrite producer) that also adds position-delete files and removes them.

    pyiceberg 0.12 reads delete files but has no call that writes them: the added ones go into a manifest
    of content ``deletes`` (sequence number inherited from the snapshot), and the snapshot summary counts
    them; removed delete files leave the rewritten manifests like removed data files do.
    """
    from pyiceberg.manifest import (
        DataFileContent,
        ManifestContent,
        ManifestEntry,
        ManifestEntryStatus,
        ManifestWriterV2,
    )

    class _DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    class _RowLevel(base):  # type: ignore[misc, valid-type]
        _rat_deletes: list[Any] = []

        def _manifests(self) -> list[Any]:
            manifests = list(super()._manifests())
            if self._rat_deletes:
                writer = _DeleteManifestWriter(self._transaction.table_metadata.spec(), self.schema(),
                                               self.new_manifest_output(), self._snapshot_id, self._compression)
                with writer:
                    for f in self._rat_deletes:
                        writer.add(ManifestEntry.from_args(
                            status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id,
                            sequence_number=None, file_sequence_number=None, data_file=f))
                manifests.append(writer.to_manifest_file())
            return manifests

        def _summary(self, snapshot_properties: Any = None) -> Any:
            data = self._added_data_files
            self._added_data_files = [*data, *self._rat_deletes]
            try:
                return super()._summary(snapshot_properties or {})
            finally:
                self._added_data_files = data

        def _validate_required_deletes(self, deleted_entries: list[Any]) -> None:
            required = self._deleted_data_files
            self._deleted_data_files = {f for f in required if f.content == DataFileContent.DATA}
            try:
                super()._validate_required_deletes(deleted_entries)
            finally:
                self._deleted_data_files = required

    return _RowLevel
