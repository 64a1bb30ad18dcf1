#!/usr/bin/env python3
"""Benchmark: a Jupyter server with RAT and 1,000 registered schedules.

Measures the idle server's memory (RSS) and CPU, and the delay between a schedule's due time and the
start of its run. Usage (from the repository root)::

    .venv/bin/python bench/bench_scheduler.py            # 1000 schedules, 2 due minutes observed

Writes the section "## Scheduler: 1,000 schedules" of bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import PAGE, RatServer
from results_md import hardware, replace_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
SECTION = "## Scheduler: 1,000 schedules"


def seed(data_dir: Path, schedules: int, due: int) -> None:
    """Pipelines and schedules written through the core before the server starts (it rebuilds its jobs)."""
    sys.path.insert(0, str(ROOT))
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.core.workspace import Workspace
    from rat_jupyter.scheduler.service import SchedulerService

    ws = Workspace.open(Settings(data_dir=data_dir, concurrency=2), server=False)
    try:
        ws.create_namespace("bench")
        service = SchedulerService(ws)
        for i in range(schedules):
            name = f"p{i:04d}"
            ws.create_pipeline("bench", "bronze", name, source=f"SELECT {i} AS i")
            ws.publish_pipeline("bench", "bronze", name)
            # `due` schedules fire every minute; the rest once a day at spread-out times
            cron = "* * * * *" if i < due else f"{i % 60} {i % 24} * * *"
            service.create_schedule("bench", "bronze", name, cron)
    finally:
        ws.close()


def proc_stats(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) of a process and its children (the worker processes)."""
    rss, cpu = 0, 0.0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(c) for c in children]
    except FileNotFoundError:
        pass
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / tick
            rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return rss, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--due", type=int, default=5, help="schedules that fire every minute")
    ap.add_argument("--minutes", type=int, default=2, help="due minutes to observe")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rat-sched-bench-"))
    t0 = time.perf_counter()
    seed(work / "data", args.schedules, args.due)
    seed_s = time.perf_counter() - t0
    server = RatServer(work / "data", f"--ServerApp.root_dir={work}", cwd=work, log=work / "server.log")
    try:
        time.sleep(5)  # let the start-up sweep and worker warm-up finish
        _rss0, cpu0 = proc_stats(server.proc.pid)
        idle_s = 30.0
        started = time.monotonic()
        time.sleep(idle_s)
        rss1, cpu1 = proc_stats(server.proc.pid)
        idle_cpu_pct = 100 * (cpu1 - cpu0) / (time.monotonic() - started)
        # wait for `minutes` minute boundaries and collect the runs the due schedules started
        now = datetime.now(UTC)
        wait = 60 - now.second - now.microsecond / 1e6 + 60 * (args.minutes - 1) + 8
        time.sleep(wait)
        runs = server.rest.ok("GET", f"runs?limit={PAGE}&sort=-created_at")["runs"]
    finally:
        server.close()
    delays, created_delays = [], []
    for run in runs:
        if not run["trigger"].startswith("schedule:") or not run["started_at"]:
            continue
        created = datetime.fromisoformat(run["created_at"])
        slot = created.replace(second=0, microsecond=0)
        created_delays.append((created - slot).total_seconds() * 1000)
        delays.append((datetime.fromisoformat(run["started_at"]) - slot).total_seconds() * 1000)
    shutil.rmtree(work, ignore_errors=True)
    if not delays:
        print("no scheduled run was observed", file=sys.stderr)
        return 1
    delays.sort()
    p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
    hw = hardware()
    lines = [
        SECTION, "",
        f"Command: `.venv/bin/python bench/bench_scheduler.py --schedules {args.schedules} --due {args.due} "
        f"--minutes {args.minutes}`  ",
        f"Machine: {hw['cpu']}, {hw['nproc']} cores, {hw['memory']}, {hw['os']}, Python {platform.python_version()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}", "",
        f"A real `jupyter server` with the RAT extension; {args.schedules} cron schedules are registered "
        f"(one APScheduler job each, rebuilt from the state store at start); {args.due} of them fire every "
        "minute, the others once a day.", "",
        "| measure | value |", "|---|---|",
        f"| idle RSS, server + 2 workers | {rss1 / 2**20:.0f} MiB |",
        f"| idle CPU over {idle_s:.0f} s (server + workers) | {idle_cpu_pct:.2f} % of one core |",
        f"| scheduled runs observed | {len(delays)} |",
        f"| delay due time → run created (scheduler latency), median | {statistics.median(created_delays):.0f} ms |",
        f"| delay due time → run created, max | {max(created_delays):.0f} ms |",
        f"| delay due time → run started (includes waiting for one of the 2 workers), median | "
        f"{statistics.median(delays):.0f} ms |",
        f"| delay due time → run started, p95 | {p95:.0f} ms |",
        f"| delay due time → run started, max | {max(delays):.0f} ms |",
        f"| seeding {args.schedules} pipelines + schedules (untimed set-up) | {seed_s:.1f} s |", "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_results:
        replace_section(RESULTS, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
