#!/usr/bin/env python3
"""Benchmark: a RAT server's memory before, right after and well after a DAG, with idle workers recycled.

Usage (from the repository root)::

    .venv/bin/python bench/bench_idle_memory.py [--models 50] [--idle-seconds 5]

Starts one ``jupyter server`` with the RAT extension (``concurrency`` 2, ``worker_idle_seconds`` set low so
the run takes seconds, not minutes), runs the scale bench's DAG twice and prints the summed RSS and PSS of
the server and its workers: idle before any run, 1 s after the DAG, once the workers have been idle
longer than ``worker_idle_seconds`` (ADR 0032), and the wall time of the next DAG, which starts cold. Prints
only; nothing is written to ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dag as bd
import bench_dag_scale as scale
from common import MiB, tree_pss, tree_rss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--idle-seconds", type=int, default=5)
    args = ap.parse_args()
    work = (bd.BENCH_DIR / "_work" / "idle").resolve()
    work.mkdir(parents=True, exist_ok=True)
    parquet = bd.make_source_parquet(bd.BENCH_DIR / "_work", 1_000_000)
    server = scale.start_server(work / "rat", 2, extra=(f"--RatApp.worker_idle_seconds={args.idle_seconds}",))

    def memory(label: str) -> None:
        pid = server.proc.pid
        print(f"{label}: {tree_rss(pid) / MiB:.0f} MiB RSS, {tree_pss(pid) / MiB:.0f} MiB PSS", flush=True)

    try:
        memory("idle, before any run")
        dag = scale.RatDag(server, f"s{args.models}", scale.scale_models(args.models), parquet)
        for i in range(2):
            print(f"DAG of {args.models} models: {dag.run(i)['wall']:.2f} s", flush=True)
        time.sleep(1)
        memory("idle, 1 s after the DAG")
        time.sleep(args.idle_seconds + 3)
        memory(f"idle, {args.idle_seconds + 4} s after the DAG (workers idle longer than worker_idle_seconds)")
        print(f"next DAG, on cold workers: {dag.run(2)['wall']:.2f} s")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
