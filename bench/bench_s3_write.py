#!/usr/bin/env python3
"""Benchmark: the fast write path on S3 (DuckDB writes the files) against the Arrow path it replaces.

Usage (from the repository root)::

    .venv/bin/python bench/bench_s3_write.py                # 1M rows, 1% upsert, 5 rounds; updates results.md
    .venv/bin/python bench/bench_s3_write.py --quick        # 100k rows, 1 round; prints only

Two resident workspaces on one SeaweedFS (S3 on loopback, started by the test fixture's helper), each with a
SQLite catalog whose warehouse is in the bucket, and each with two pipelines on the same generated data:

- ``full``: ``full_refresh`` of ``--rows`` rows (every round replaces the table);
- ``keyed``: ``incremental`` on ``id``, first loaded with ``--rows`` rows, then each round upserts 1% of
  the keys, spread over the whole key range (a position-delete file on the fast path; copy-on-write of every
  file holding a key on the Arrow path).

The ``arrow`` workspace's worker processes run with ``RAT_WRITE_PATH=arrow`` (the escape hatch that turns
the fast path off), the ``fast`` workspace's without. Every run's log is checked for the path it took. After
the untimed first loads, rounds are interleaved (fast, arrow, fast, …); the time is a run's submit to
success; medians are reported, with the peak resident memory of the worker process during the run
(``VmHWM``, reset before each run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
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

from results_md import hardware, replace_section  # noqa: E402

SECTION_TITLE = "## S3 fast write path vs the Arrow path"
RESULTS = BENCH_DIR / "results.md"
NS = "w"
VARIANTS = ("fast", "arrow")
ENV = "RAT_WRITE_PATH"


def rows_sql(rows: int, step: int = 1, start: int = 1, tag: str = "a") -> str:
    return (f"SELECT i::BIGINT AS id, '{tag}' || i AS v, (i * 7) % 1000 AS n, i * 0.25 AS amount, "
            f"DATE '2024-01-01' + (i % 365)::INTEGER AS day FROM range({start}, {rows + 1}, {step}) r(i)")


@contextlib.contextmanager
def workspaces(work: Path) -> Iterator[dict[str, Any]]:
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace
    from tests.fixtures.seaweed import run_seaweed

    (work / "seaweed").mkdir(parents=True)
    with run_seaweed(work / "seaweed") as seaweed:
        out: dict[str, Any] = {}
        saved = os.environ.get(ENV)
        try:
            for key in VARIANTS:
                # worker processes take the environment they are started with
                if key == "arrow":
                    os.environ[ENV] = "arrow"
                else:
                    os.environ.pop(ENV, None)
                settings = Settings(data_dir=work / key, storage_url=f"s3://{seaweed.bucket}/{key}",
                                    warehouse=f"s3://{seaweed.bucket}/{key}-wh", s3=seaweed.s3_options(),
                                    concurrency=1)
                before = set(_python_children())
                out[key] = Workspace.open(settings, warm=True)
                out[key].executor.wait_ready(120)
                WORKERS[key] = sorted(set(_python_children()) - before)
        finally:
            if saved is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = saved
        try:
            yield out
        finally:
            for ws in out.values():
                ws.close()


def publish(ws: Any, name: str, sql: str, create: bool = False) -> None:
    if create:
        ws.create_pipeline(NS, "silver", name, type="sql", source=sql)
    else:
        ws.write_file(f"{NS}/pipelines/silver/{name}/pipeline.sql", sql)
    ws.publish_pipeline(NS, "silver", name)


def _python_children() -> list[int]:
    """The pids of this process's Python descendants (the worker processes; not SeaweedFS)."""
    out, todo = [], [os.getpid()]
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
        if pid != os.getpid():
            with contextlib.suppress(OSError):
                if b"python" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(pid)
    return out


def _reset_peaks(key: str) -> None:
    for pid in WORKERS.get(key, []):  # writing 5 resets the peak resident set size (Linux)
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_mib(key: str) -> float:
    peak = 0
    for pid in WORKERS.get(key, []):
        with contextlib.suppress(OSError, StopIteration, ValueError):
            line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
            peak = max(peak, int(line.split()[1]))
    return peak / 1024


PEAKS: dict[tuple[str, str], list[float]] = {}
WORKERS: dict[str, list[int]] = {}  # the worker processes each workspace started


def run(ws: Any, key: str, name: str, op: str = "") -> float:
    _reset_peaks(key)
    started = time.monotonic()
    (r,) = ws.run_selection(f"{NS}.silver.{name}", wait=True, timeout=600)
    elapsed = time.monotonic() - started
    if r.status != "success":
        raise SystemExit(f"{key} {name} failed: {r.error}")
    logs = " ".join(line["message"] for line in ws.run_logs(r.id)["logs"])
    arrow = "Arrow path" in logs
    if arrow != (key == "arrow"):
        raise SystemExit(f"{key} {name} took the {'Arrow' if arrow else 'fast'} path")
    PEAKS.setdefault((key, op or name), []).append(_peak_mib(key))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 round; results.md untouched")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.rounds = 100_000, 1
    full = "-- @merge_strategy: full_refresh\n" + rows_sql(args.rows)
    keyed = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
    times: dict[tuple[str, str], list[float]] = {(k, op): [] for k in VARIANTS for op in ("full", "upsert", "first")}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rat-bench-s3w-") as tmp, workspaces(Path(tmp)) as wss:
        for key, ws in wss.items():
            ws.create_namespace(NS)
            publish(ws, "full", full, create=True)
            publish(ws, "keyed", keyed + rows_sql(args.rows), create=True)
            run(ws, key, "full")  # untimed: creates the table
            times[(key, "first")].append(run(ws, key, "keyed", "first"))
            print(f"{key}: first keyed load {times[(key, 'first')][-1]:.2f}s", flush=True)
        for round_no in range(1, args.rounds + 1):
            for key, ws in wss.items():
                times[(key, "full")].append(run(ws, key, "full", "full"))
                publish(ws, "keyed", keyed + rows_sql(args.rows, step=100, start=round_no, tag=f"r{round_no}-"))
                times[(key, "upsert")].append(run(ws, key, "keyed", "upsert"))
                print(f"round {round_no} {key}: full_refresh {times[(key, 'full')][-1]:.2f}s, "
                      f"1% upsert {times[(key, 'upsert')][-1]:.2f}s", flush=True)
        for key, ws in wss.items():  # both paths end with the same table
            got = ws.query(f"SELECT count(*) AS c, sum(n) AS s FROM {NS}.silver.keyed")["rows"]
            print(f"{key}: keyed table {got}", flush=True)
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    hw = hardware()
    lines = [
        SECTION_TITLE, "",
        f"- command: `.venv/bin/python bench/bench_s3_write.py --rows {args.rows} --rounds {args.rounds}`",
        f"- machine: {hw['cpu']}, {hw['nproc']} CPUs, {hw['memory']}; {hw['os']}; SeaweedFS S3 on loopback, "
        "SQLite catalog, local worker pool (concurrency 1)",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load_before)}, after {'/'.join(f'{x:.2f}' for x in load_after)}",
        f"- {args.rows:,} rows of 5 columns; the upsert replaces 1% of the keys, spread over the key range; "
        f"{args.rounds} interleaved rounds, medians (first load: one run); a run's submit to success",
        f"- arrow = the same workspace with `{ENV}=arrow` (pyiceberg writes and reads the files)", "",
        "| run | fast path (s) | Arrow path (s) | Arrow / fast | worker peak, fast / Arrow (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for op, label in (("first", "first load, incremental"), ("full", "full_refresh"),
                      ("upsert", "1% upsert")):
        f, a = med[("fast", op)], med[("arrow", op)]
        pf, pa_ = statistics.median(PEAKS[("fast", op)]), statistics.median(PEAKS[("arrow", op)])
        lines.append(f"| {label} | {f:.2f} | {a:.2f} | {a / f:.2f}x | {pf:.0f} / {pa_:.0f} |")
    lines += ["", "Rounds (s): " + "; ".join(f"{k} {op} " + " / ".join(f"{x:.2f}" for x in v)
                                          for (k, op), v in times.items() if op != "first")]
    section = "\n".join(lines) + "\n"
    print("\n" + section)
    if not args.quick:
        replace_section(RESULTS, SECTION_TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
