#!/usr/bin/env python3
"""Benchmark: what a worker's memo of loaded tables holds once every table has a full history, and what a load costs.

Usage (from the repository root)::

    .venv/bin/python bench/bench_history_memo.py [--tables 300] [--snapshots 50] [--baseline <checkout>]

Builds ``--tables`` full-refresh tables in an embedded workspace (one RAT run each, then Iceberg appends
until each holds ``--snapshots`` snapshots: RAT's default history bound is 50), then, in a fresh process
(as a worker), loads every table twice through the runner's memo (``runner._Tables``, ADR 0028), the way a
worker's pass over a DAG does: the Python memory the memo holds after the passes (tracemalloc) and the mean
time of a load in each pass (the first parses every table's metadata file; the second is what the bound
decides: a hit, or a parse again when the tables do not all fit). ``--baseline``: the same load in a
checkout of another version, on a copy of the same tables. Prints only; nothing is written to
``bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

def measure(data_dir: Path, tables: int) -> None:
    """The worker's side, in a fresh process (``--load``): every table loaded twice through the memo."""
    import gc
    import time
    import tracemalloc

    from rat_jupyter.core import runner
    from rat_jupyter.core.names import PipelineId
    from rat_jupyter.core.settings import Settings

    catalog = runner._Context.catalog(Settings(data_dir=data_dir, concurrency=2))
    pids = [PipelineId("hist", "silver", f"t{i:04d}") for i in range(tables)]
    runner._Tables.load(catalog, pids[0])  # the catalog's connection and pyiceberg's first-use imports
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for rnd in (1, 2):
        t0 = time.perf_counter()
        for pid in pids:
            assert runner._Tables.load(catalog, pid) is not None
        print(f"  pass {rnd}: {(time.perf_counter() - t0) * 1000 / tables:.2f} ms a table", flush=True)
    gc.collect()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    print(f"  held after the passes: {held / 2**20:.1f} MiB ({held / tables / 1024:.0f} KiB a table)")


def build(data_dir: Path, tables: int, snapshots: int) -> None:
    import pyarrow as pa

    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace

    warnings.simplefilter("ignore")  # pyiceberg warns about appends to tables without a sort order
    ws = Workspace.open(Settings(data_dir=data_dir, concurrency=2))
    ws.create_namespace("hist")
    columns = ", ".join(f"range + {i} AS c{i}" for i in range(6))
    for i in range(tables):
        ws.create_pipeline("hist", "silver", f"t{i:04d}", type="sql",
                           source=f"-- @merge_strategy: full_refresh\nSELECT {columns} FROM range(100)")
        ws.publish_pipeline("hist", "silver", f"t{i:04d}")
    runs = ws.run_selection("hist.*", wait=True, timeout=3600)
    failed = [r.error for r in runs if r.status != "success"]
    if failed:
        raise SystemExit(f"{len(failed)} runs failed: {failed[:3]}")
    data = pa.table({f"c{i}": pa.array(range(100), pa.int64()) for i in range(6)})
    for i in range(tables):
        table = ws.catalog.load(ws.pid("hist", "silver", f"t{i:04d}"))
        for _ in range(snapshots - 1):
            table.append(data)
    ws.close()


def load(data_dir: Path, tables: int, code: Path) -> None:
    """:func:`measure` in a fresh process whose ``rat_jupyter`` is ``code``'s (this checkout or the baseline)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH")) if p)}
    subprocess.run([sys.executable, __file__, "--load", str(data_dir), "--tables", str(tables)], env=env,
                   cwd=code, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=300)
    ap.add_argument("--snapshots", type=int, default=50)
    ap.add_argument("--baseline", type=Path, default=None, help="a checkout of another rat-jupyter to compare")
    ap.add_argument("--load", type=Path, default=None, help=argparse.SUPPRESS)  # the fresh process's side
    args = ap.parse_args()
    if args.load is not None:
        measure(args.load, args.tables)
        return 0
    work = (BENCH_DIR / "_work" / "history").resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    build(work / "data", args.tables, args.snapshots)
    print(f"{args.tables} tables of {args.snapshots} snapshots, loaded twice through runner._Tables:")
    print("this checkout")
    if args.baseline is not None:
        shutil.copytree(work / "data", work / "data_base")  # the same tables, no state shared
    load(work / "data", args.tables, REPO_ROOT)
    if args.baseline is not None:
        print(f"baseline {args.baseline}")
        load(work / "data_base", args.tables, args.baseline.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
