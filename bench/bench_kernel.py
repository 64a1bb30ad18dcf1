#!/usr/bin/env python3
"""Benchmark: the cost of one notebook SQL cell — RAT (kernel and magics) vs JupySQL vs raw DuckDB.

Usage (from the repository root)::

    .venv/bin/python bench/bench_kernel.py              # full run, updates bench/results.md
    .venv/bin/python bench/bench_kernel.py --quick      # smoke run: 100k rows, few rounds, prints only

What it does:

1. Makes a RAT data dir with one Iceberg table, ``bench.bronze.big`` (``--rows`` rows: an id, a string, a
   double and a timestamp), written by a RAT pipeline run. It is kept in ``--work-dir`` and reused.
2. Starts four kernels and drives them with nbclient, one cell at a time, the way a notebook front end does:

   - **raw DuckDB**: an IPython kernel with a plain ``duckdb`` connection (iceberg extension loaded);
     cells ``df = con.sql("SELECT ... iceberg_scan('<metadata location>')").df()`` then ``df``.
   - **JupySQL**: an IPython kernel with JupySQL 0.11.1 (installed into the venv here if missing) on a
     native DuckDB connection, ``SqlMagic.autopandas = True``; cells ``%%sql`` + the same SQL.
   - **RAT ``%%rat sql``**: an IPython kernel with ``%load_ext rat_jupyter.kernel``; cells
     ``%%rat sql --out df`` + ``SELECT * FROM {{ ref('bronze.big') }}`` (a pandas ``df`` is kept).
   - **RAT SQL kernel**: the ``rat_sql`` kernel; cells are the SQL (the result is kept as Arrow ``_``).

   Every variant shows the first 10 rows (pandas' default for long frames; JupySQL's and RAT's display
   limit set to 10). IPython's output cache is off (``--InteractiveShell.cache_size=0``) so no kernel
   keeps old results alive between cells.
3. Times three cells per kernel — an empty one (``pass`` / ``-- empty``), ``SELECT 42`` and the whole
   table — as wall-clock time of nbclient's ``execute_cell`` (request sent to reply and idle received).
   Rounds are interleaved (each round runs every cell once in every kernel, the kernel order rotating)
   after untimed warm-up rounds; medians are reported.
4. Checks each big result had every row, prints a table and replaces the
   "## Notebook cells: RAT vs JupySQL vs raw DuckDB" section of ``bench/results.md``.

The module imports only the standard library at the top level; RAT, nbclient and DuckDB are imported
where used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from results_md import hardware, replace_section

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORK_DIR = BENCH_DIR / "_work" / "kernel"
DEFAULT_RESULTS = BENCH_DIR / "results.md"
SECTION_TITLE = "## Notebook cells: RAT vs JupySQL vs raw DuckDB"
JUPYSQL = "jupysql==0.11.1"
NAMESPACE = "bench"
LAYER, NAME = "bronze", "big"
DISPLAY_ROWS = 10

BIG_SQL = """\
-- @merge_strategy: full_refresh
SELECT i AS id,
       'customer_' || (i % 1000) AS customer,
       CAST((i % 997) * 1.25 AS DOUBLE) AS amount,
       TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i % 86400) AS ts
FROM range({rows}) AS t(i)
"""

CASES = ("empty", "select42", "big")
CASE_LABELS = {"empty": "empty cell", "select42": "`SELECT 42`", "big": "{rows} rows"}
VARIANTS = ("raw", "jupysql", "magic", "kernel")
LABELS = {"raw": "raw DuckDB `.df()`", "jupysql": "JupySQL `%%sql`", "magic": "RAT `%%rat sql`",
          "kernel": "RAT SQL kernel"}


# --------------------------------------------------------------------------------------------------
# Data: one Iceberg table written by a RAT pipeline
# --------------------------------------------------------------------------------------------------
def prepare_table(data_dir: Path, rows: int) -> str:
    """Create (or reuse) ``bench.bronze.big`` with ``rows`` rows; return its metadata location."""
    from rat_jupyter.core import engine
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace

    settings = Settings(data_dir=data_dir, concurrency=1)
    with Workspace.open(settings, server=True) as ws:  # no server runs yet: this script executes its own run
        pid = ws.pid(NAMESPACE, LAYER, NAME)
        table = ws.catalog.load(pid)
        snap = table.metadata.snapshot_by_name("main") if table is not None else None
        have = int(snap.summary["total-records"]) if snap is not None and snap.summary else -1
        if have != rows:
            print(f"writing {pid} with {rows:,} rows through a RAT pipeline run ...", flush=True)
            ws.ensure_namespace(NAMESPACE)
            source = BIG_SQL.format(rows=rows)
            if ws.state.find_pipeline(NAMESPACE, LAYER, NAME):
                ws.write_file(f"{pid.prefix}pipeline.sql", source)
            else:
                ws.create_pipeline(NAMESPACE, LAYER, NAME, source=source)
            ws.publish_pipeline(NAMESPACE, LAYER, NAME)
            (run,) = ws.run_selection(str(pid), trigger="manual", wait=True, timeout=600)
            if run.status != "success":
                raise SystemExit(f"the pipeline run failed: {run.error}")
            table = ws.catalog.load(pid)
        location = table.metadata_location
    engine.connect(settings).close()  # installs the DuckDB extensions into the data dir for the raw variants
    return location


def ensure_jupysql() -> str:
    """JupySQL is a benchmark-only dependency: install the pinned version into this venv if it is missing."""
    try:
        version = importlib.metadata.version("jupysql")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    if version != JUPYSQL.split("==")[1]:
        print(f"installing {JUPYSQL} into the project venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", JUPYSQL], check=True)
        version = importlib.metadata.version("jupysql")
    return version


def install_kernelspec(work: Path) -> Path:
    """The rat_sql kernelspec in a private prefix, found through JUPYTER_PATH (works with an editable install)."""
    prefix = work / "jupyter"
    subprocess.run([sys.executable, "-m", "rat_jupyter.kernel", "install", "--prefix", str(prefix)], check=True,
                   capture_output=True)
    return prefix / "share" / "jupyter"


# --------------------------------------------------------------------------------------------------
# Kernels and cells
# --------------------------------------------------------------------------------------------------
@dataclass
class Variant:
    key: str
    kernel_name: str
    setup: list[str]
    cells: dict[str, str]
    client: Any = None
    nb: Any = None
    times: dict[str, list[float]] = field(default_factory=dict)


def variants(location: str, ext_dir: Path) -> list[Variant]:
    scan = f"SELECT * FROM iceberg_scan('{location}')"
    connect = (
        "import duckdb\n"
        f"con = duckdb.connect(config={{'extension_directory': {str(ext_dir)!r}, "
        "'autoinstall_known_extensions': False, 'autoload_known_extensions': False})\n"
        "con.execute('LOAD avro')\ncon.execute('LOAD iceberg')\n"
    )
    return [
        Variant("raw", "python3", [connect], {
            "empty": "pass",
            "select42": "df = con.sql('SELECT 42').df()\ndf",
            "big": f"df = con.sql({scan!r}).df()\ndf",
        }),
        Variant("jupysql", "python3", [
            connect + "%load_ext sql\n%config SqlMagic.autopandas = True\n%config SqlMagic.displaycon = False\n"
                      f"%config SqlMagic.feedback = 0\n%config SqlMagic.displaylimit = {DISPLAY_ROWS}\n"
                      "%sql con --alias duck",
        ], {
            "empty": "pass",
            "select42": "%%sql\nSELECT 42",
            "big": f"%%sql\n{scan}",
        }),
        Variant("magic", "python3", [
            f"%load_ext rat_jupyter.kernel\n%config RatMagics.display_limit = {DISPLAY_ROWS}\n"
            f"%config RatMagics.namespace = '{NAMESPACE}'",
            "%rat sql SELECT 1",
        ], {
            "empty": "pass",
            "select42": "%%rat sql --out df\nSELECT 42",
            "big": f"%%rat sql --out df\nSELECT * FROM {{{{ ref('{LAYER}.{NAME}') }}}}",
        }),
        Variant("kernel", "rat_sql", [f"%limit {DISPLAY_ROWS}\n%namespace {NAMESPACE}", "SELECT 1"], {
            "empty": "-- empty",
            "select42": "SELECT 42",
            "big": f"SELECT * FROM {{{{ ref('{LAYER}.{NAME}') }}}}",
        }),
    ]


def start(stack: contextlib.ExitStack, variant: Variant, env: dict[str, str]) -> None:
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    variant.nb = new_notebook(cells=[new_code_cell(s) for s in [*variant.setup, *variant.cells.values()]])
    extra = ["--InteractiveShell.cache_size=0"] if variant.kernel_name == "python3" else []
    variant.client = NotebookClient(variant.nb, kernel_name=variant.kernel_name, timeout=600, startup_timeout=120,
                                    extra_arguments=extra)
    stack.enter_context(variant.client.setup_kernel(env=env))
    for i in range(len(variant.setup)):
        variant.client.execute_cell(variant.nb.cells[i], i)


def run_cell(variant: Variant, case: str) -> float:
    index = len(variant.setup) + list(variant.cells).index(case)
    cell = variant.nb.cells[index]
    start_t = time.perf_counter()
    variant.client.execute_cell(cell, index)
    return (time.perf_counter() - start_t) * 1000


def shown_rows(variant: Variant) -> int | None:
    """The row count the big cell's display reports (pandas' ``[N rows x M columns]`` or RAT's caption)."""
    index = len(variant.setup) + list(variant.cells).index("big")
    text = "".join(o.get("data", {}).get("text/plain", "") for o in variant.nb.cells[index].outputs)
    m = re.search(r"\[([\d,]+) rows x \d+ columns\]", text) or re.search(r"([\d,]+) rows, \d+ columns", text)
    return int(m.group(1).replace(",", "")) if m else None


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
def machine_info() -> str:
    hw = hardware()
    mem = f", {hw['memory']}" if hw["memory"] else ""
    versions = []
    for pkg in ("duckdb", "pyarrow", "pandas", "ipykernel", "nbclient", "jupysql"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
    return (f"{hw['cpu']}, {hw['nproc']} CPUs{mem}; {hw['os']}; "
            f"Python {platform.python_version()}; " + ", ".join(versions))


def fmt(ms: float | None) -> str:
    return "—" if ms is None else (f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}")


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def report(medians: dict[str, dict[str, float]], args: argparse.Namespace, command: str, rounds: dict[str, int],
           checked: dict[str, int | None]) -> str:
    rows_label = f"{args.rows:,}"
    lines = [
        SECTION_TITLE, "",
        "Wall-clock time of one notebook cell, driven by nbclient like a front end does (request sent → reply "
        "and idle received), median of interleaved rounds after warm-up. See `bench/bench_kernel.py` for the "
        "exact cells.", "",
        f"- command: `{command}`",
        f"- machine: {machine_info()}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- rounds: {rounds['small']} for the empty cell and `SELECT 42`, {rounds['big']} for {rows_label} rows "
        f"(plus {args.warmup} untimed warm-up rounds)",
        f"- table: `{NAMESPACE}.{LAYER}.{NAME}`, {rows_label} rows, 4 columns (BIGINT, VARCHAR, DOUBLE, "
        "TIMESTAMP), an Iceberg table written by a RAT pipeline run; every variant reads that same table",
        f"- every variant displays the first {DISPLAY_ROWS} rows; raw DuckDB, JupySQL (`autopandas`) and "
        "`%%rat sql --out df` also convert the whole result to a pandas DataFrame; the RAT SQL kernel keeps it "
        "as an Arrow table (`_` in the next cell) and converts only the displayed rows",
        "", "Median milliseconds per cell:", "",
        "| cell | " + " | ".join(LABELS[v] for v in VARIANTS) + " |",
        "| --- | " + " | ".join("---:" for _ in VARIANTS) + " |",
    ]
    for case in CASES:
        label = CASE_LABELS[case].format(rows=rows_label)
        lines.append(f"| {label} | " + " | ".join(fmt(medians[v].get(case)) for v in VARIANTS) + " |")
    lines += ["", "Ratios (below 1.00x means RAT is faster):", "",
              "| cell | `%%rat sql` / raw | `%%rat sql` / JupySQL | RAT kernel / raw | RAT kernel / JupySQL |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for case in CASES:
        label = CASE_LABELS[case].format(rows=rows_label)
        m = {v: medians[v].get(case) for v in VARIANTS}
        lines.append(f"| {label} | {ratio(m['magic'], m['raw'])} | {ratio(m['magic'], m['jupysql'])} | "
                     f"{ratio(m['kernel'], m['raw'])} | {ratio(m['kernel'], m['jupysql'])} |")
    shown = ", ".join(f"{LABELS[v]} {n:,}" if n is not None else f"{LABELS[v]} ?" for v, n in checked.items())
    lines += ["", f"Rows reported by each big cell's display: {shown}.", ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    replace_section(path, SECTION_TITLE, section)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=None, help="rows in the big table (default 1,000,000)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds of the small cells (default 40)")
    p.add_argument("--big-rounds", type=int, default=None, help="timed rounds of the big cell (default 15)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 3)")
    p.add_argument("--skip-jupysql", action="store_true", help="leave JupySQL out (no install)")
    p.add_argument("--quick", action="store_true", help="smoke run: 100k rows, 5/3 rounds; implies --no-results")
    p.add_argument("--no-results", action="store_true", help="print only, do not touch the results file")
    p.add_argument("--results-file", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = p.parse_args(argv)
    quick = args.quick
    args.rows = args.rows or (100_000 if quick else 1_000_000)
    args.rounds = args.rounds or (5 if quick else 40)
    args.big_rounds = args.big_rounds or (3 if quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 3)
    args.no_results = args.no_results or quick
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / f"rat-{args.rows}"
    location = prepare_table(data_dir, args.rows)
    if not args.skip_jupysql:
        ensure_jupysql()
    os.environ["JUPYTER_PATH"] = str(install_kernelspec(work))
    env = {**os.environ, "RAT_DATA_DIR": str(data_dir), "PLOOMBER_STATS_ENABLED": "false",
           "PLOOMBER_VERSION_CHECK_DISABLED": "true"}
    env.pop("RAT_NAMESPACE", None)
    chosen = [v for v in variants(location, data_dir / "duckdb_extensions")
              if not (args.skip_jupysql and v.key == "jupysql")]
    rounds = {"small": args.rounds, "big": args.big_rounds}
    with contextlib.ExitStack() as stack:
        for v in chosen:
            print(f"starting {LABELS[v.key]} ...", flush=True)
            start(stack, v, env)
            v.times = {c: [] for c in CASES}
        total = max(args.rounds, args.big_rounds) + args.warmup
        for r in range(total):
            timed = r >= args.warmup
            order = chosen[r % len(chosen):] + chosen[:r % len(chosen)]
            for case in CASES:
                limit = args.big_rounds if case == "big" else args.rounds
                if r - args.warmup >= limit:
                    continue
                for v in order:
                    ms = run_cell(v, case)
                    if timed:
                        v.times[case].append(ms)
            print(f"round {r + 1}/{total}{'' if timed else ' (warm-up)'}", flush=True)
        checked = {v.key: shown_rows(v) for v in chosen}
    medians = {v: {} for v in VARIANTS}
    for v in chosen:
        medians[v.key] = {c: statistics.median(t) for c, t in v.times.items() if t}
    bad = {k: n for k, n in checked.items() if n != args.rows}
    if bad:
        print(f"warning: a big cell did not report {args.rows:,} rows: {bad}", file=sys.stderr)
    command = ".venv/bin/python bench/bench_kernel.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                          " " + " ".join(argv if argv is not None else sys.argv[1:]))
    section = report(medians, args, command, rounds, checked)
    print()
    print(section)
    if not args.no_results:
        write_section(args.results_file, section)
        where = args.results_file.resolve()
        print(f"updated {where.relative_to(REPO_ROOT) if where.is_relative_to(REPO_ROOT) else where}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
