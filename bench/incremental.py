#!/usr/bin/env python3
"""Benchmark: an incremental upsert of 1% of a large table — RAT server vs dbt-duckdb vs raw DuckDB MERGE.

Usage (from the repository root)::

    .venv/bin/python bench/incremental.py                 # 10M rows, updates bench/results.md
    ROWS=1000000 .venv/bin/python bench/incremental.py --no-results   # quicker, prints only

What it does, the same workload for every system:

1. Generates ``source.parquet`` (``ROWS`` rows, default 10M): ``id BIGINT`` (0..n-1, the unique key),
   ``customer_id INT``, ``amount DECIMAL(12,2)``, ``status VARCHAR``, ``note VARCHAR``, ``updated_at TIMESTAMP``.
   Before each incremental round the file is regenerated with 1% of the rows changed — keys spread evenly
   over the whole key range (``hash(id, round) % 100 = 0``), new amount/status/note and
   ``updated_at`` = the round's time — so every data file of the target holds some changed keys.
2. One incremental model on the three systems, reading that file and keeping only rows newer than the
   target's ``max(updated_at)`` (``is_incremental()``), upserted on ``id``:
   - **RAT**: one resident ``jupyter server`` (``concurrency`` 2); the pipeline
     (``merge_strategy: incremental``, ``unique_key: id``, ``watermark_column: updated_at``) reads the file
     from a landing zone; timed from ``POST /runs`` until ``GET /runs/{id}`` says ``success``.
   - **dbt-duckdb**: ``dbt run`` in a fresh process (``materialized='incremental'``, ``unique_key='id'``,
     the adapter's default ``delete+insert``) into a DuckDB file.
   - **raw DuckDB**: a fresh process that runs ``MERGE INTO … WHEN MATCHED THEN UPDATE SET * WHEN NOT
     MATCHED THEN INSERT *`` on a DuckDB file: the floor.
3. Initial loads (``--initial-rounds``, default 3, interleaved): a fresh target each time (RAT: a new
   pipeline; dbt: ``--full-refresh``; raw: ``CREATE OR REPLACE TABLE``).
4. Incremental rounds (``--rounds``, default 5, interleaved, the order rotating): medians; peak RSS of each
   system's processes sampled every 50 ms (RAT: the largest worker, and the whole server tree); storage of
   each target after the load and after the first 4 upserts (RAT: the table's folder — data, delete files
   and metadata; dbt and raw: the DuckDB file after a checkpoint).
5. Replaces the "## Incremental upsert" section of ``bench/results.md`` (unless ``--no-results``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import bench_dag as bd
from common import MiB, Peak, RatServer, run_sampled
from results_md import hardware, replace_section

SECTION_TITLE = "## Incremental upsert: 1% of a large table"
NS, LAYER, ZONE, FILE = "inc", "silver", "raw", "source.parquet"
BASE_TS = "2026-01-01 00:00:00"

SOURCE_SQL = """
SELECT i::BIGINT AS id,
       (hash(i) % 50000)::INT AS customer_id,
       ((hash(i * 7) % 100000) / 100.0)::DECIMAL(12, 2) AS amount,
       ['new', 'paid', 'shipped', 'returned', 'cancelled'][1 + (hash(i * 3) % 5)::BIGINT] AS status,
       'order ' || i AS note,
       TIMESTAMP '{base}' AS updated_at
FROM range({rows}) r(i)
"""

CHANGE_SQL = """
SELECT id, customer_id,
       CASE WHEN c THEN amount + 1 ELSE amount END::DECIMAL(12, 2) AS amount,
       CASE WHEN c THEN 'changed' ELSE status END AS status,
       CASE WHEN c THEN 'round {r}' ELSE note END AS note,
       CASE WHEN c THEN TIMESTAMP '{base}' + INTERVAL {r} HOUR ELSE updated_at END AS updated_at
FROM (SELECT *, hash(id, {r}) % 100 = 0 AS c FROM read_parquet('{src}'))
"""

MODEL_FILTER = "updated_at > {watermark}"


def generate(work: Path, rows: int, target: Path, round_no: int = 0) -> None:
    """Write the source file for ``round_no`` (0: the initial table) atomically (a new inode: a pinned
    copy of the previous round is never changed)."""
    import duckdb

    base = work / f"base_{rows}.parquet"
    if not base.exists():
        duckdb.connect().execute(f"COPY ({SOURCE_SQL.format(base=BASE_TS, rows=rows)}) TO '{base}.tmp' "
                                 "(FORMAT parquet, COMPRESSION zstd)")
        os.replace(f"{base}.tmp", base)
    tmp = target.with_suffix(".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    if round_no == 0:
        duckdb.connect().execute(f"COPY (SELECT * FROM read_parquet('{base}')) TO '{tmp}' "
                                 "(FORMAT parquet, COMPRESSION zstd)")
    else:
        sql = CHANGE_SQL.format(r=round_no, base=BASE_TS, src=base)
        duckdb.connect().execute(f"COPY ({sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    os.replace(tmp, target)


def changed_rows(rows: int, round_no: int) -> int:
    import duckdb

    return int(duckdb.connect().execute(f"SELECT count(*) FROM range({rows}) r(id) WHERE hash(id::BIGINT, "
                                        f"{round_no}) % 100 = 0").fetchone()[0])


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def duckdb_count(db: Path) -> tuple[int, int]:
    """Rows of the target table in a DuckDB file, and how many of them an upsert changed."""
    import duckdb

    conn = duckdb.connect(str(db), read_only=True)
    try:
        n, changed = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'changed') FROM orders").fetchone()
        return int(n), int(changed)
    finally:
        conn.close()


def duckdb_size(db: Path) -> int:
    import duckdb

    conn = duckdb.connect(str(db))
    conn.execute("CHECKPOINT")
    conn.close()
    return db.stat().st_size + (db.with_suffix(".duckdb.wal").stat().st_size
                                if db.with_suffix(".duckdb.wal").exists() else 0)


def run_process(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    return run_sampled(cmd, log, env, cwd=bd.REPO_ROOT, timeout=bd.RUN_TIMEOUT_S)


# --------------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------------

class Dbt:
    key = "dbt"

    def __init__(self, work: Path, source: Path) -> None:
        self.dbt = bd.ensure_dbt_venv()
        self.dir = work / "dbt_project"
        self.db = work / "dbt.duckdb"
        bd.rm(self.db)
        src = str(source).replace("'", "''")
        bd.write_if_changed(self.dir / "models" / "orders.sql", (
            "{{ config(materialized='incremental', unique_key='id') }}\n"
            f"SELECT * FROM read_parquet('{src}')\n"
            "{% if is_incremental() %}\n"
            "WHERE " + MODEL_FILTER.format(watermark="(SELECT max(updated_at) FROM {{ this }})") + "\n"
            "{% endif %}\n"))
        bd.write_if_changed(self.dir / "dbt_project.yml", "name: bench_inc\nversion: '1.0'\nconfig-version: 2\n"
                                                          "profile: bench_inc\nmodel-paths: ['models']\n")
        bd.write_if_changed(self.dir / "profiles.yml", (
            "bench_inc:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n"
            f"      path: '{str(self.db).replace(chr(39), chr(39) * 2)}'\n      threads: 2\n"))
        self.env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false",
                    "DO_NOT_TRACK": "1"}
        self.base = [str(self.dbt), "--no-use-colors"]
        self.common = ["--project-dir", str(self.dir), "--profiles-dir", str(self.dir)]
        bd.run_timed([*self.base, "parse", *self.common], self.dir / "logs_bench" / "parse.log", self.env)

    def version(self) -> str:
        return bd.Dbt.version(self)  # type: ignore[arg-type]

    def run(self, label: str, full: bool) -> dict[str, Any]:
        cmd = [*self.base, "run", *self.common, *(["--full-refresh"] if full else [])]
        wall, peak = run_process(cmd, self.dir / "logs_bench" / f"{label}.log", self.env)
        results = json.loads((self.dir / "target" / "run_results.json").read_text())
        if [r["status"] for r in results["results"]] != ["success"]:
            raise bd.BenchError(f"dbt: {results['results']}")
        return {"wall": wall, "peak": peak}

    def count(self) -> tuple[int, int]:
        return duckdb_count(self.db)

    def storage(self) -> int:
        return duckdb_size(self.db)


RAW_CHILD = """
import sys, duckdb
db, src, full = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
conn = duckdb.connect(db)
if full:
    conn.execute(f"CREATE OR REPLACE TABLE orders AS SELECT * FROM read_parquet('{src}')")
else:
    conn.execute(f"MERGE INTO orders USING (SELECT * FROM read_parquet('{src}') WHERE {flt}) s "
                 "ON orders.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
conn.close()
"""


class Raw:
    key = "duckdb"

    def __init__(self, work: Path, source: Path) -> None:
        self.db = work / "raw.duckdb"
        bd.rm(self.db)
        self.source = source
        self.script = work / "raw_child.py"
        flt = MODEL_FILTER.format(watermark="(SELECT max(updated_at) FROM orders)")
        self.script.write_text(RAW_CHILD.replace("{flt}", flt))
        self.logs = work / "raw_logs"

    def run(self, label: str, full: bool) -> dict[str, Any]:
        cmd = [bd.project_python(), str(self.script), str(self.db), str(self.source), "1" if full else "0"]
        wall, peak = run_process(cmd, self.logs / f"{label}.log")
        return {"wall": wall, "peak": peak}

    def count(self) -> tuple[int, int]:
        return duckdb_count(self.db)

    def storage(self) -> int:
        return duckdb_size(self.db)


class Rat:
    key = "rat"

    def __init__(self, work: Path) -> None:
        self.work = work / "rat"
        bd.rm(self.work / "data")
        (self.work / "data").mkdir(parents=True)
        self.server = RatServer(self.work / "data", "--RatApp.concurrency=2", f"--ServerApp.root_dir={self.work}",
                                cwd=self.work, log=self.work / "server.log", env=bd.rat_env(),
                                python=bd.project_python())
        self.server.settle(2)
        self.rest = self.server.rest
        self.rest.ok("POST", "/namespaces", {"name": NS})
        self.rest.ok("POST", "/landing-zones", {"namespace": NS, "name": ZONE})
        self.source = self.work / "data" / "storage" / NS / "landing" / ZONE / FILE
        self.pipelines: list[str] = []

    def pipeline(self, name: str) -> None:
        wm = MODEL_FILTER.format(watermark="TIMESTAMP '{{ watermark_value }}'")
        sql = ("-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: updated_at\n"
               f"SELECT * FROM read_parquet('{{{{ landing_zone(\"{ZONE}\", \"{FILE}\") }}}}')\n"
               "{% if is_incremental() %}\n"
               f"WHERE {wm}\n"
               "{% endif %}\n")
        self.rest.ok("POST", "/pipelines", {"namespace": NS, "layer": LAYER, "name": name, "type": "sql",
                                            "source": sql})
        self.rest.ok("POST", f"/pipelines/{NS}/{LAYER}/{name}/publish", {"message": "bench"})
        self.pipelines.append(name)

    def run(self, name: str) -> dict[str, Any]:
        with Peak(self.server.proc.pid) as peak:
            t0 = time.perf_counter()
            run_id = self.rest.ok("POST", "/runs", {"namespace": NS, "layer": LAYER, "pipeline": name})["run_id"]
            self.rest.wait_run(run_id, poll=0.005)
            wall = time.perf_counter() - t0
        return {"wall": wall, "peak": peak.one, "tree": peak.tree}

    def table_dir(self, name: str) -> Path:
        found = list((self.work / "data").glob(f"**/{NS}.{LAYER}/{name}"))
        if not found:
            raise bd.BenchError(f"no table folder for {name}")
        return found[0]

    def storage(self, name: str) -> int:
        return folder_size(self.table_dir(name))

    def count(self, name: str) -> tuple[int, int]:
        out = self.rest.ok("POST", "/query", {"namespace": NS, "sql": f"SELECT count(*) AS n, count(*) FILTER "
                                                                     f"(WHERE status = 'changed') AS c FROM "
                                                                     f"{LAYER}.{name}"})
        row = out["rows"][0]
        return int(row["n"]), int(row["c"])

    def close(self) -> None:
        self.server.close()


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt_bytes(n: float) -> str:
    return f"{n / MiB:,.1f} MiB"


def report(args: argparse.Namespace, command: str, versions: str, initial: dict[str, list[dict[str, Any]]],
           upserts: dict[str, list[dict[str, Any]]], storage: dict[str, tuple[int, int]], changed: int) -> str:
    hw = hardware()
    names = {"rat": "RAT (resident server, REST)", "dbt": "dbt-duckdb (`dbt run`, fresh process)",
             "duckdb": "raw DuckDB (`MERGE`, fresh process)"}
    lines = [SECTION_TITLE, "",
             f"`{command}` — {hw['cpu']}, {hw['nproc']} cores, {hw['memory']}, {hw['os']}; {versions}.", "",
             f"{args.rows:,} rows; each upsert round changes {changed:,} rows (1%, keys spread over the whole "
             "key range) in the source file and the model keeps rows newer than the target's "
             "`max(updated_at)`, upserted on `id`. Medians of interleaved rounds "
             f"({args.initial_rounds} initial loads, {args.rounds} upserts). RAT: `POST /runs` until "
             "`GET /runs/{id}` says success; peak RSS of the worker that ran it (the whole server with its "
             "idle workers in brackets). dbt and raw DuckDB: the process's wall time and peak RSS. Storage: "
             "RAT's table folder (data, delete files, metadata), the DuckDB file after a checkpoint for the "
             "others.", "",
             "| system | initial load | peak RSS (load) | upsert 1% | upsert / dbt | peak RSS (upsert) "
             "| storage after load | after 4 upserts | growth per upsert |",
             "|---|---|---|---|---|---|---|---|---|"]
    dbt_up = med([r["wall"] for r in upserts["dbt"]])
    for key in ("rat", "dbt", "duckdb"):
        ini = med([r["wall"] for r in initial[key]])
        up = med([r["wall"] for r in upserts[key]])
        peak = max(r["peak"] for r in upserts[key])
        tree = f" ({fmt_bytes(max(r['tree'] for r in upserts[key]))})" if key == "rat" else ""
        before, after = storage[key]
        ini_peak = fmt_bytes(max(r["peak"] for r in initial[key]))
        lines.append(f"| {names[key]} | {ini:.2f} s | {ini_peak} | {up:.2f} s | {up / dbt_up:.2f} "
                     f"| {fmt_bytes(peak)}{tree} "
                     f"| {fmt_bytes(before)} | {fmt_bytes(after)} | {fmt_bytes((after - before) / 4)} |")
    rat_ini, dbt_ini = med([r["wall"] for r in initial["rat"]]), med([r["wall"] for r in initial["dbt"]])
    rat_up = med([r["wall"] for r in upserts["rat"]])
    lines += ["", f"Ratios: RAT upsert / dbt **{rat_up / dbt_up:.2f}** (aim ≤ 0.4), RAT initial load / dbt "
                  f"**{rat_ini / dbt_ini:.2f}** (aim ≤ 1.0), RAT upsert / raw DuckDB "
                  f"{rat_up / med([r['wall'] for r in upserts['duckdb']]):.2f}. Every upsert round, per system: "
                  + "; ".join(f"{k} " + ", ".join(f"{r['wall']:.2f}" for r in upserts[k])
                              for k in ("rat", "dbt", "duckdb")) + " s."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", "10000000")))
    p.add_argument("--rounds", type=int, default=5, help="upsert rounds (at least 4)")
    p.add_argument("--initial-rounds", type=int, default=3)
    p.add_argument("--no-results", action="store_true")
    p.add_argument("--results-file", type=Path, default=bd.DEFAULT_RESULTS)
    p.add_argument("--work-dir", type=Path, default=bd.DEFAULT_WORK_DIR / "incremental")
    args = p.parse_args(argv)
    args.rounds = max(4, args.rounds)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw_argv = sys.argv[1:] if argv is None else argv
    rows_env = f"ROWS={args.rows} " if "ROWS" in os.environ else ""
    command = f"{rows_env}.venv/bin/python bench/incremental.py {shlex.join(raw_argv)}".strip()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    rat = Rat(work)
    try:
        source = rat.source
        generate(work, args.rows, source, 0)
        dbt, raw = Dbt(work, source), Raw(work, source)
        versions = f"{dbt.version()}, duckdb {__import__('duckdb').__version__}"
        initial: dict[str, list[dict[str, Any]]] = {"rat": [], "dbt": [], "duckdb": []}
        for r in range(args.initial_rounds):
            name = f"orders_{r}"
            rat.pipeline(name)
            order = ["rat", "dbt", "duckdb"][r % 3:] + ["rat", "dbt", "duckdb"][:r % 3]
            for key in order:
                out = rat.run(name) if key == "rat" else (dbt if key == "dbt" else raw).run(f"init_{r}", True)
                initial[key].append(out)
                print(f"initial {r} {key}: {out['wall']:.2f} s, peak {out['peak'] / MiB:.0f} MiB", flush=True)
        target = f"orders_{args.initial_rounds - 1}"
        expected = (args.rows, 0)
        for got in (rat.count(target), dbt.count(), raw.count()):
            if tuple(got) != expected:
                raise bd.BenchError(f"after the initial load: {got} != {expected}")
        before = {"rat": rat.storage(target), "dbt": dbt.storage(), "duckdb": raw.storage()}
        storage: dict[str, tuple[int, int]] = {}
        upserts: dict[str, list[dict[str, Any]]] = {"rat": [], "dbt": [], "duckdb": []}
        changed = 0
        for r in range(1, args.rounds + 1):
            generate(work, args.rows, source, r)
            changed = changed_rows(args.rows, r)
            order = ["rat", "dbt", "duckdb"][r % 3:] + ["rat", "dbt", "duckdb"][:r % 3]
            for key in order:
                out = rat.run(target) if key == "rat" else (dbt if key == "dbt" else raw).run(f"upsert_{r}", False)
                upserts[key].append(out)
                print(f"upsert {r} {key}: {out['wall']:.2f} s, peak {out['peak'] / MiB:.0f} MiB", flush=True)
            counts = {"rat": rat.count(target), "dbt": dbt.count(), "duckdb": raw.count()}
            if len({tuple(c) for c in counts.values()}) != 1 or counts["rat"][0] != args.rows:
                raise bd.BenchError(f"round {r}: the systems disagree: {counts}")
            if r == 4:
                storage = {"rat": (before["rat"], rat.storage(target)),
                           "dbt": (before["dbt"], dbt.storage()), "duckdb": (before["duckdb"], raw.storage())}
        section = report(args, command, versions, initial, upserts, storage, changed)
        print(section)
        if not args.no_results:
            replace_section(args.results_file, SECTION_TITLE, section)
            print(f"updated {args.results_file}")
    finally:
        rat.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
