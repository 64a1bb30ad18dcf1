#!/usr/bin/env python3
"""Benchmark: the scale profile against the embedded default, on one machine.

Usage (from the repository root)::

    .venv/bin/python bench/bench_scale.py                 # 50 models, 200k rows, 3 rounds; updates results.md
    .venv/bin/python bench/bench_scale.py --quick         # 10 models, 20k rows, 1 round; prints only

Three resident workspaces, each with the DAG of ``bench_dag.py`` (``--models`` models, one landing Parquet
file of ``--rows`` synthetic orders):

- **embedded**: local files, SQLite catalog and state, the local worker pool (``concurrency`` 2);
- **scale, local pool**: SeaweedFS S3 for files and tables, a PostgreSQL ``SqlCatalog``, PostgreSQL state,
  the same local worker pool;
- **scale, Dask**: the same stack, runs on a Dask ``LocalCluster`` (two worker processes, one ``rat`` slot each)
  through the ``DaskExecutor``.

PostgreSQL and SeaweedFS are started on loopback by the test fixtures' helpers and stopped at the end. After an
untimed warm-up run of the whole DAG in each, rounds are interleaved (embedded, local pool, Dask, embedded, …)
so that load from other users of the machine hits every profile alike. Measured: the whole DAG (submit of
``<ns>.*`` until every run is ``success``), and one small pipeline's submit-to-success latency (median of 10).
Medians are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import bench_dag  # noqa: E402
from results_md import hardware, replace_section  # noqa: E402

SECTION_TITLE = "## Scale profile vs embedded default"
DASK = "rat_jupyter.core.dask_executor:DaskExecutor"
LABELS = {"embedded": "embedded (files + SQLite)", "local": "scale, local pool (S3 + PostgreSQL)",
          "dask": "scale, Dask (S3 + PostgreSQL)"}


@contextlib.contextmanager
def platform_services(work: Path) -> Iterator[tuple[Any, Any, Any]]:
    """PostgreSQL, SeaweedFS and a Dask LocalCluster on loopback, for the duration of the benchmark."""
    import distributed

    from tests.fixtures.postgres import run_postgres
    from tests.fixtures.seaweed import run_seaweed

    (work / "seaweed").mkdir(parents=True, exist_ok=True)
    with run_postgres() as postgres, run_seaweed(work / "seaweed") as seaweed, distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, resources={"rat": 1}, host="127.0.0.1",
            dashboard_address=None) as cluster:
        yield postgres, seaweed, cluster


def open_profiles(work: Path, postgres: Any, seaweed: Any, cluster: Any) -> dict[str, Any]:
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace

    out = {"embedded": Workspace.open(Settings(data_dir=work / "embedded", concurrency=2), warm=True)}
    for key, extra in (("local", {}), ("dask", {"executor_class": DASK,
                                                  "dask_scheduler_address": cluster.scheduler_address})):
        catalog = postgres.create_database(f"cat_{key}").replace("postgresql://", "postgresql+psycopg://", 1)
        settings = Settings(data_dir=work / key, storage_url=f"s3://{seaweed.bucket}/{key}",
                            warehouse=f"s3://{seaweed.bucket}/{key}-wh", catalog_uri=catalog,
                            state_url=postgres.create_database(f"state_{key}"), s3=seaweed.s3_options(),
                            concurrency=2, **extra)
        out[key] = Workspace.open(settings, warm=True)
    for ws in out.values():
        ws.executor.wait_ready(120)
    return out


def seed(ws: Any, models: list[Any], parquet: Path) -> None:
    ns = bench_dag.NAMESPACE
    layers = {m.name: m.layer for m in models}
    ws.create_namespace(ns)
    ws.create_landing_zone(ns, bench_dag.LANDING_ZONE)
    ws.write_file(f"{ns}/landing/{bench_dag.LANDING_ZONE}/{bench_dag.LANDING_FILE}", parquet.read_bytes())
    for m in models:
        ws.create_pipeline(ns, m.layer, m.name, type="sql", source=bench_dag.render(m, "rat", parquet, layers))
        ws.publish_pipeline(ns, m.layer, m.name)
    ws.create_namespace("lat")
    ws.create_pipeline("lat", "bronze", "one", type="sql", source="SELECT 1 AS v")
    ws.publish_pipeline("lat", "bronze", "one")


def run_dag(ws: Any, count: int) -> float:
    started = time.monotonic()
    runs = ws.run_selection(f"{bench_dag.NAMESPACE}.*", wait=True, timeout=bench_dag.RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    bad = [(r.name, r.status, r.error) for r in runs if r.status != "success"]
    if len(runs) != count or bad:
        raise SystemExit(f"DAG run failed: {len(runs)} runs for {count} models; {bad[:3]}")
    return elapsed


def latency(ws: Any) -> float:
    started = time.monotonic()
    (run,) = ws.run_selection("lat.bronze.one", wait=True, timeout=120)
    if run.status != "success":
        raise SystemExit(f"latency run failed: {run.error}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="10 models, 20k rows, 1 round; results.md untouched")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.rows, args.rounds, args.latency_runs = 10, 20_000, 1, 3
    models = bench_dag.build_models(args.models)
    dag: dict[str, list[float]] = {k: [] for k in LABELS}
    lat: dict[str, list[float]] = {k: [] for k in LABELS}
    with tempfile.TemporaryDirectory(prefix="rat-bench-scale-") as tmp:
        work = Path(tmp)
        parquet = bench_dag.make_source_parquet(bench_dag.DEFAULT_WORK_DIR, args.rows)
        with platform_services(work) as (postgres, seaweed, cluster):
            profiles = open_profiles(work, postgres, seaweed, cluster)
            try:
                for key, ws in profiles.items():
                    seed(ws, models, parquet)
                    print(f"{key}: warm-up DAG {run_dag(ws, len(models)):.2f}s", flush=True)
                for round_no in range(1, args.rounds + 1):
                    for key, ws in profiles.items():
                        dag[key].append(run_dag(ws, len(models)))
                        print(f"round {round_no} {key}: DAG {dag[key][-1]:.2f}s", flush=True)
                for _ in range(args.latency_runs):
                    for key, ws in profiles.items():
                        lat[key].append(latency(ws))
            finally:
                for ws in profiles.values():
                    ws.close()
    med = {k: statistics.median(v) for k, v in dag.items()}
    lmed = {k: statistics.median(v) for k, v in lat.items()}
    hw = hardware()
    lines = [
        SECTION_TITLE, "",
        f"- command: `.venv/bin/python bench/bench_scale.py --models {args.models} --rows {args.rows} "
        f"--rounds {args.rounds}`",
        f"- machine: {hw['cpu']}, {hw['nproc']} CPUs, {hw['memory']}; {hw['os']}; everything on loopback",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- DAG: {args.models} models from `bench_dag.py`, {args.rows:,} source rows; {args.rounds} interleaved "
        f"rounds after a warm-up, medians; latency: one `SELECT 1` pipeline, median of {args.latency_runs}",
        "- DuckDB writes the data files on every profile (ADR 0007; S3 through httpfs)", "",
        "| profile | whole DAG (s) | vs embedded | one pipeline, submit to success (s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in LABELS.items():
        lines.append(f"| {label} | {med[key]:.2f} | {med[key] / med['embedded']:.2f}x | {lmed[key]:.2f} |")
    section = "\n".join(lines) + "\n"
    print("\n" + section)
    if not args.quick:
        replace_section(bench_dag.DEFAULT_RESULTS, SECTION_TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
