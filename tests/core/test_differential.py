"""Differential test: generated run sequences through the engine and through an independent oracle.

A seeded generator makes, for every strategy, sequences of batches with duplicate keys, NULL keys and
values, source-deleted keys, late rows with tied timestamps written in different time zones, watermark
filters, added/dropped/widened columns and the options of docs/strategies.md. Each batch is run through
the product (real worker processes, real Iceberg tables); the oracle below is a few lines of plain Python
written from docs/strategies.md only. After every run the table (and ``rows_written``, and whether the run
failed) must match the oracle exactly, and three readers must agree: pyiceberg, DuckDB ``iceberg_scan``
and the product's query service.

``RAT_DIFF_CASES`` (default 12) sets the number of cases, ``RAT_DIFF_SEED`` the seed, ``RAT_DIFF_RUNS``
the runs per case (default 3).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rat_jupyter.core import engine
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish

CASES = int(os.environ.get("RAT_DIFF_CASES", "12"))
SEED = int(os.environ.get("RAT_DIFF_SEED", "20260301"))
RUNS = int(os.environ.get("RAT_DIFF_RUNS", "3"))
STRATEGIES = ("full_refresh", "append_only", "incremental", "delete_insert", "snapshot", "scd2")
BASE = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
SQL_TYPES = {"id": "BIGINT", "k": "VARCHAR", "v": "VARCHAR", "ts": "TIMESTAMPTZ", "extra": "VARCHAR"}
VF, VT = "valid_from", "valid_to"
pytestmark = pytest.mark.both_profiles

Row = dict[str, Any]


# ------------------------------------------------------------------------------------------- generator

@dataclass
class Case:
    name: str
    strategy: str
    keys: tuple[str, ...] = ()
    watermark: bool = False
    null_keys: str = "reject"
    hard_deletes: str = "ignore"
    on_schema_change: str = "append_new_columns"
    batches: list[tuple[list[str], list[Row]]] = field(default_factory=list)  # (columns, rows) per run

    def header(self) -> str:
        lines = [f"-- @merge_strategy: {self.strategy}"]
        if self.keys:
            lines.append(f"-- @unique_key: {', '.join(self.keys)}")
        if self.strategy == "snapshot":
            lines.append("-- @partition_column: k")
        if self.watermark:
            lines.append("-- @watermark_column: ts")
        for key, default in (("null_keys", "reject"), ("hard_deletes", "ignore"),
                             ("on_schema_change", "append_new_columns")):
            if getattr(self, key) != default:
                lines.append(f"-- @{key}: {getattr(self, key)}")
        return "\n".join(lines) + "\n"


def generate(rng: random.Random, index: int) -> Case:
    strategy = STRATEGIES[index % len(STRATEGIES)]
    case = Case(name=f"c{index}", strategy=strategy)
    # the first two rounds of strategies cover every option (round 2 is all defaults), later ones draw them
    variant = index // len(STRATEGIES)
    if strategy in ("incremental", "delete_insert", "scd2"):
        composite = variant == 1 or (variant > 2 and rng.random() < 0.4)
        case.keys = ("id", "k") if composite else ("id",)
        case.null_keys = "allow" if variant == 1 or (variant > 2 and rng.random() < 0.6) else "reject"
        if variant == 0 or (variant > 2 and rng.random() < 0.3):
            case.hard_deletes = "invalidate" if strategy == "scd2" else "delete"
    watermarked = strategy in ("incremental", "delete_insert", "append_only")
    case.watermark = watermarked and (variant == 1 or (variant > 2 and rng.random() < 0.5))
    if strategy != "scd2" and (variant == 0 or (variant > 2 and rng.random() < 0.2)):
        case.on_schema_change = "sync_all_columns"
    columns = ["id", "k", "v", "n", "ts"]
    for run in range(RUNS):
        if run and rng.random() < 0.25 and "extra" not in columns:
            columns = [*columns, "extra"]  # a column added to the result
        cols = list(columns)
        if run and rng.random() < 0.2:
            cols.remove("v")  # a column dropped from the result (this run only)
        size = rng.choice((0, 1, 3, 5, 6)) if run else rng.choice((0, 3, 5, 6))
        rows = []
        for _ in range(size):
            row: Row = {
                "id": rng.choice((1, 2, 3, 4, None if rng.random() < 0.25 else 2)),
                "k": rng.choice(("a", "b", None)),
                "v": rng.choice(("p", "q", "r", None)),
                "n": rng.choice((1, 7, None, 2**40 if run else 3)),  # a BIGINT after the first run: widening
                "ts": None if rng.random() < 0.15 else BASE + timedelta(hours=rng.choice((0, 1, 1, 2))),
                "extra": rng.choice(("x", None)),
            }
            if case.null_keys == "reject" and rng.random() < 0.85:
                row["id"] = row["id"] or 1  # mostly valid keys, sometimes a NULL key that fails the run
            rows.append({c: row[c] for c in cols})
        if size and rng.random() < 0.4:
            rows.append(dict(rows[0]))  # an exact duplicate in the batch
        case.batches.append((cols, rows))
    return case


def literal(column: str, value: Any, rng: random.Random, first_run: bool) -> str:
    kind = "INTEGER" if column == "n" and first_run else ("BIGINT" if column == "n" else SQL_TYPES[column])
    if value is None:
        return f"CAST(NULL AS {kind})"
    if column == "ts":  # the same instant, written in a random zone
        zone = rng.choice((0, 2, -5, 9))
        local = value.astimezone(timezone(timedelta(hours=zone)))
        return f"TIMESTAMPTZ '{local.strftime('%Y-%m-%d %H:%M:%S')}{zone:+03d}'"
    if isinstance(value, str):
        return f"'{value}'::VARCHAR"
    return f"{value}::{kind}"


def sql_for(case: Case, run: int, rng: random.Random) -> str:
    cols, rows = case.batches[run]
    body = rows or [{c: None for c in cols}]
    values = ", ".join("(" + ", ".join(literal(c, r[c], rng, run == 0) for c in cols) + ")" for r in body)
    sql = f"SELECT * FROM (VALUES {values}) AS t({', '.join(cols)})"
    where = [] if rows else ["false"]
    if case.watermark:
        sql = f"SELECT * FROM ({sql}{' WHERE false' if not rows else ''}) s"
        where = ["{% if is_incremental() %}ts >= TIMESTAMPTZ '{{ watermark_value }}'{% else %}true{% endif %}"]
    tail = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{case.header()}-- run {run}\n{sql}{tail}\n"


# ---------------------------------------------------------------------------------------------- oracle

class Failed(Exception):
    pass


def sort_key(value: Any) -> tuple:
    return (0,) if value is None else (1, value)


class Oracle:
    """docs/strategies.md in plain Python. ``table`` is None before the table exists."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.table: list[Row] | None = None
        self.columns: list[str] = []

    def watermark(self) -> datetime | None:
        if not self.table or "ts" not in self.columns:
            return None
        values = [r["ts"] for r in self.table if r.get("ts") is not None]
        return max(values) if values else None

    def run(self, run: int, cols: list[str], rows: list[Row]) -> int:
        """Apply one run; returns rows_written or raises Failed (the table is then unchanged)."""
        c = self.case
        if c.watermark:
            mark = self.watermark()
            if self.table and mark is not None:  # is_incremental(): table has rows and a watermark
                rows = [r for r in rows if r["ts"] is not None and r["ts"] >= mark]
        keyed = c.strategy in ("incremental", "delete_insert", "scd2")
        if keyed and c.null_keys == "reject" and any(r[k] is None for r in rows for k in c.keys):
            raise Failed
        if c.strategy in ("incremental", "scd2"):
            rows = self.dedup(rows, cols)
        data_cols = list(cols)
        new_columns = self.evolve(data_cols)
        if c.strategy == "scd2":
            return self.scd2(run, rows, data_cols, new_columns)
        table = self.table or []
        if c.strategy == "full_refresh":
            table = list(rows)
        elif c.strategy == "append_only":
            table = table + rows
        elif c.strategy in ("incremental", "delete_insert"):
            if c.hard_deletes == "delete" or self.table is None:
                table = list(rows)
            else:
                keys = {tuple(r[k] for k in c.keys) for r in rows}
                table = [r for r in table if tuple(r.get(k) for k in c.keys) not in keys] + rows
        elif c.strategy == "snapshot":
            parts = {r["k"] for r in rows}
            table = rows if self.table is None else [r for r in table if r.get("k") not in parts] + rows
        self.table = [{col: r.get(col) for col in self.columns} for r in table]
        return len(rows)

    def dedup(self, rows: list[Row], cols: list[str]) -> list[Row]:
        best: dict[tuple, Row] = {}
        for r in rows:
            key = tuple(r[k] for k in self.case.keys)
            rank = ((sort_key(r["ts"]),) if self.case.watermark else ()) + tuple(sort_key(r[c]) for c in cols)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, r)
        return [r for _, r in best.values()]

    def evolve(self, cols: list[str]) -> list[str]:
        """Table columns after this run's result (§4); returns the columns the table did not have."""
        extra = [VF, VT] if self.case.strategy == "scd2" else []
        if self.table is None:
            self.columns = cols + extra
            return []
        added = [col for col in cols if col not in self.columns]
        self.columns = self.columns + added
        if self.case.on_schema_change == "sync_all_columns":
            self.columns = [col for col in self.columns if col in cols]
        return added

    def scd2(self, run: int, rows: list[Row], cols: list[str], new_columns: list[str]) -> int:
        keys = self.case.keys
        if self.table is None:
            self.table = [{**{c: r.get(c) for c in self.columns}, VF: run, VT: None} for r in rows]
            return len(rows)
        table = [dict(r) for r in self.table]
        open_by_key = {tuple(r[k] for k in keys): r for r in table if r[VT] is None}
        tracked = [c for c in cols if c not in keys]
        inserted = []
        for r in rows:
            key = tuple(r[k] for k in keys)
            old = open_by_key.get(key)
            changed = old is None or any(
                (r[c] is not None) if c in new_columns else (old.get(c) != r[c]) for c in tracked)
            if changed:
                if old is not None:
                    old[VT] = run
                inserted.append({**{c: r.get(c) for c in self.columns if c not in (VF, VT)}, VF: run, VT: None})
        if self.case.hard_deletes == "invalidate":
            present = {tuple(r[k] for k in keys) for r in rows}
            for key, old in open_by_key.items():
                if key not in present:
                    old[VT] = run
        self.table = [{c: r.get(c) for c in self.columns} for r in table + inserted]
        return len(inserted)


# --------------------------------------------------------------------------------------------- compare

def canonical(rows: list[Row], columns: list[str], scd2: bool) -> list[tuple]:
    """Rows as sorted tuples; scd2 timestamps replaced by their rank (the oracle uses run numbers)."""
    if scd2:
        stamps = sorted({r[c] for r in rows for c in (VF, VT) if r[c] is not None})
        rank = {s: i for i, s in enumerate(stamps)}
        rows = [{**r, VF: rank[r[VF]], VT: None if r[VT] is None else rank[r[VT]]} for r in rows]
    out = []
    for r in rows:
        out.append(tuple((c, r.get(c).astimezone(UTC) if isinstance(r.get(c), datetime) else r.get(c))
                         for c in sorted(columns)))
    return sorted(out, key=repr)


def printable(value: Any) -> Any:
    if isinstance(value, datetime):
        return str(value.astimezone(UTC))
    return value


def readers_agree(ws: Workspace, ns: str, name: str, expected: list[Row]) -> None:
    table = ws.catalog.load(ws.pid(ns, "silver", name))
    cols = table.schema().column_names
    base = sorted((tuple(printable(r[c]) for c in cols) for r in expected), key=repr)
    conn = engine.connect(ws.settings, extensions=("avro", "iceberg"))
    try:
        select = ", ".join(engine.quote_ident(c) for c in cols)
        duck = conn.execute(f"SELECT {select} FROM iceberg_scan('{table.metadata_location}')").arrow()
        duck = duck.read_all() if hasattr(duck, "read_all") else duck
        duck_rows = sorted((tuple(printable(v) for v in r.values()) for r in duck.to_pylist()), key=repr)
    finally:
        conn.close()
    assert duck_rows == base, "DuckDB iceberg_scan disagrees with pyiceberg"
    served = ws.query(f'SELECT {select} FROM {ns}.silver."{name}"', limit=10000)
    query_rows = sorted((tuple(printable(r[c]) for c in cols) for r in served["rows"]), key=repr)
    assert query_rows == base, "the query service disagrees with pyiceberg"


def test_strategies_match_the_oracle_on_generated_sequences(workspace: Workspace, ns: str) -> None:
    rng = random.Random(SEED)
    cases = [generate(rng, i) for i in range(CASES)]
    oracles = {c.name: Oracle(c) for c in cases}
    comparisons = 0
    for run in range(RUNS):
        for case in cases:
            sql = sql_for(case, run, rng)
            if run == 0:
                make_pipeline(workspace, ns, "silver", case.name, sql)
            else:
                republish(workspace, ns, "silver", case.name, sql)
        results = {r.name: r for r in workspace.run_selection(f"{ns}.silver.*", wait=True, timeout=600)}
        for case in cases:
            oracle = oracles[case.name]
            cols, rows = case.batches[run]
            before = (None if oracle.table is None else list(oracle.table), list(oracle.columns))
            where = f"{case.name} run {run} ({case.header().strip()}; batch {rows})"
            result = results[case.name]
            try:
                written = oracle.run(run, cols, rows)
            except Failed:
                assert result.status == "failed", f"{where}: the product accepted what the oracle rejects"
                assert "null_keys" in result.error, result.error
                oracle.table, oracle.columns = before
            else:
                assert result.status == "success", f"{where}: {result.error}"
                assert result.rows_written == written, f"{where}: rows_written"
            table = workspace.catalog.load(workspace.pid(ns, "silver", case.name))
            if oracle.table is None:
                assert table is None, f"{where}: a failed first run left a table"
                continue
            got = table.scan().to_arrow().to_pylist() if table.metadata.current_snapshot_id else []
            assert set(table.schema().column_names) == set(oracle.columns), f"{where}: columns"
            scd2 = case.strategy == "scd2"
            assert canonical(got, oracle.columns, scd2) == canonical(oracle.table, oracle.columns, scd2), where
            if got:
                readers_agree(workspace, ns, case.name, got)
            comparisons += 1
    print(f"differential: {CASES} cases x {RUNS} runs, {comparisons} exact table comparisons (seed {SEED})")
    assert comparisons >= CASES  # every case compared at least once
