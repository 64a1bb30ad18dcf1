#!/usr/bin/env python3
"""Benchmark: the DAG at 50, 200 and 500 models on a resident RAT server (REST), dbt-duckdb and raw DuckDB;
one pipeline's submit-to-success latency, fresh and after 1,000 runs; the server's memory.

Usage (from the repository root)::

    .venv/bin/python bench/bench_dag_scale.py                       # full run, updates bench/results.md
    .venv/bin/python bench/bench_dag_scale.py --quick               # smoke run: 100k rows, 20/40 models, prints only

What it does:

1. Generates the source Parquet (``bench_dag.make_source_parquet``, 1M rows by default) and, for every size,
   one DAG from one description: the hand-written models of ``bench_dag.py`` (up to 90) and, beyond them,
   generated gold models (filtered aggregates of the full-size fact table and of smaller aggregates, some
   chained on each other). Every variant gets the same SQL text; only references differ.
2. Starts one ``jupyter server`` with the RAT extension (``concurrency`` 2) and measures its idle memory
   (server + worker processes) before anything runs. Over REST it creates one namespace per size, uploads
   the Parquet file to a landing zone and creates and publishes every pipeline (untimed).
3. Rounds, interleaved so that load from other users of the machine hits every system alike: for each round,
   for each size, dbt-duckdb (``dbt run`` in a fresh process, empty target), RAT (``POST /runs
   {"select": "<ns>.*"}`` on the resident server, timed from the POST to the moment every run of the batch
   is ``success``; the tables exist from the warm-up round, so every timed run replaces them, as a nightly
   run does) and raw DuckDB (the same ``CREATE TABLE AS`` statements in DAG order on one connection in a
   fresh process: the floor). Peak memory of each system's process tree is sampled every 50 ms.
4. One small pipeline: submit-to-success latency (``POST /runs`` to ``GET /runs/{id}`` showing ``success``,
   polled every 2 ms) over 50 runs, then 1,000 more runs, then 50 measured again.
5. Prints tables and replaces the "## Pipeline DAG at scale" section of ``bench/results.md``.

Memory is reported as the sum over the process tree (the server and its workers; dbt and its threads are
one process; raw DuckDB one process) of RSS (resident pages, shared libraries counted once per process), of
PSS (shared pages split among the processes sharing them: what the tree holds) and, for the idle server,
also of USS (pages only that process holds: what would be freed if it exited).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_dag as bd
import common
from common import MiB, Peak, RatServer, Rest, cpu_seconds, tree, tree_rss, tree_uss
from results_md import replace_section

SECTION_TITLE = "## Pipeline DAG at scale, one pipeline, memory: RAT server vs dbt-duckdb vs raw DuckDB"
SIZES = (50, 200, 500)
LABELS = {**bd.LABELS, "rat0": "RAT before"}


# --------------------------------------------------------------------------------------------------
# The DAG beyond the hand-written models
# --------------------------------------------------------------------------------------------------


def scale_models(n: int) -> list[bd.Model]:
    """The first ``n`` models: ``bench_dag``'s description, then generated gold models.

    The generated ones cycle through four shapes so the mix of work stays like the hand-written part: a
    filtered aggregate over the full-size ``order_facts`` (1M rows), one over ``customer_revenue`` (~50k),
    one over ``category_month_revenue`` (small), and a filter over the previous generated model (chains of
    two, so not every generated model hangs off a hand-written one).
    """
    base = bd._all_candidates()
    if n <= len(base):
        return bd.build_models(n)
    models = list(base)
    i = 0
    while len(models) < n:
        shape = i % 4
        name = f"slice_{i:04d}"
        k, m = i % 17, 17
        if shape == 0:
            sql = f"""
                SELECT order_date, count(*) AS n_orders, sum(amount) AS revenue
                FROM $ref(order_facts)
                WHERE order_id % {m} = {k}
                GROUP BY order_date
            """
        elif shape == 1:
            sql = f"""
                SELECT segment, home_region, count(*) AS n_customers, sum(revenue) AS revenue
                FROM $ref(customer_revenue)
                WHERE customer_id % {m} = {k}
                GROUP BY segment, home_region
            """
        elif shape == 2:
            sql = f"""
                SELECT category, order_month, revenue, n_orders
                FROM $ref(category_month_revenue)
                WHERE n_orders % {m} <> {k}
            """
        else:
            sql = f"""
                SELECT category, order_month, revenue * 1.{k:02d} AS revenue, n_orders
                FROM $ref(slice_{i - 1:04d})
            """
        models.append(bd.Model(name, "gold", sql))
        i += 1
    return models


def settle_io() -> None:
    """Write out every dirty page before a timed run (untimed).

    Without it, each system paid for the one before it: dbt-duckdb leaves a large database file for the
    kernel to write back, and the file creations and renames of the next system's run (RAT's data and
    metadata files, raw DuckDB's tables) wait behind that writeback in the file system's journal. Measured
    on 500 models: RAT 9.6-10.1 s right after dbt, 7.5 s after a quiet start; raw DuckDB 6.4-7.1 s after RAT,
    5.9 s.
    """
    os.sync()


def run_sampled(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """Run ``cmd`` to completion: wall seconds, peak summed RSS and peak summed PSS of its process tree."""
    wall, peak = common.run_peaks(cmd, log, env, cwd=bd.REPO_ROOT, timeout=bd.RUN_TIMEOUT_S)
    return wall, peak.tree, peak.pss


# --------------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------------


class Dbt(bd.Dbt):
    def run(self, round_no: int) -> dict[str, object]:
        cmd = [*self.base, "run", *self.common]
        wall, peak, pss = run_sampled(cmd, self.dir / "logs_bench" / f"round_{round_no}.log", self.env)
        results = json.loads((self.dir / "target" / "run_results.json").read_text())
        bad = [r["unique_id"] for r in results["results"] if r["status"] != "success"]
        if bad or len(results["results"]) != len(self.models):
            raise bd.BenchError(f"dbt: {len(results['results'])}/{len(self.models)} models; failed: {bad[:5]}")
        counts = bd.duckdb_counts(self.db, [m.name for m in self.models])
        return {"wall": wall, "peak": peak, "pss": pss, "counts": counts}


class Raw(bd.RawDuckDB):
    def run(self, round_no: int) -> dict[str, object]:
        cmd = [bd.project_python(), str(Path(bd.__file__).resolve()), "--duckdb-run-once", str(self.dir)]
        wall, peak, pss = run_sampled(cmd, self.dir / "logs" / f"round_{round_no}.log")
        counts = bd.duckdb_counts(self.db, [m.name for m in self.models])
        return {"wall": wall, "peak": peak, "pss": pss, "counts": counts}


def start_server(work: Path, concurrency: int, code: Path | None = None, extra: tuple[str, ...] = ()) -> RatServer:
    """One resident ``jupyter server`` with the RAT extension on a fresh data dir, idle (workers warmed up).
    ``code``: a checkout of another version of rat-jupyter to serve instead of this one (``--baseline``)."""
    bd.rm(work / "data")
    (work / "data").mkdir(parents=True)
    env = bd.rat_env()
    if code is not None:  # first on the path: its rat_jupyter shadows the installed one, in workers too
        env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
    server = RatServer(work / "data", f"--RatApp.concurrency={concurrency}", f"--ServerApp.root_dir={work}",
                       *extra, cwd=work, log=work / "server.log", env=env, python=bd.project_python())
    server.settle(concurrency)
    return server


def idle_memory(server: RatServer, prefix: str) -> dict[str, Any]:
    """The idle server's summed RSS and USS (MiB), its process count and each process's RSS, keys prefixed."""
    procs = tree(server.proc.pid)
    each = ", ".join(f"{'server' if p.pid == server.proc.pid else 'worker'} {p.memory_info().rss / MiB:.0f}"
                     for p in procs)
    return {f"{prefix}rss": tree_rss(server.proc.pid) / MiB, f"{prefix}uss": tree_uss(server.proc.pid) / MiB,
            f"{prefix}procs": len(procs), f"{prefix}each": each}


class RatDag:
    def __init__(self, server: RatServer, ns: str, models: list[bd.Model], parquet: Path) -> None:
        self.server = server
        self.rest = server.rest
        self.ns = ns
        self.models = models
        layers = {m.name: m.layer for m in models}
        self.rest.ok("POST", "/namespaces", {"name": ns})
        self.rest.ok("POST", "/landing-zones", {"namespace": ns, "name": bd.LANDING_ZONE})
        # Through the files API, which keeps the name (a landing-zone upload prefixes it with the time).
        self.rest.upload("/files/upload", bd.LANDING_FILE, parquet.read_bytes(),
                         {"path": f"{ns}/landing/{bd.LANDING_ZONE}/{bd.LANDING_FILE}"})
        for m in models:
            self.rest.ok("POST", "/pipelines", {"namespace": ns, "layer": m.layer, "name": m.name, "type": "sql",
                                                "source": bd.render(m, "rat", parquet, layers)})
            self.rest.ok("POST", f"/pipelines/{ns}/{m.layer}/{m.name}/publish", {"message": "bench"})

    def run(self, round_no: int) -> dict[str, object]:
        n = len(self.models)
        cpu0 = cpu_seconds(self.server.proc.pid)
        with Peak(self.server.proc.pid) as sampler:
            t0 = time.perf_counter()
            out = self.rest.ok("POST", "/runs", {"select": f"{self.ns}.*", "trigger": "bench"})
            batch = out["runs"][0].get("batch_id")
            polls = 0
            while True:
                done = self.rest.ok("GET", f"/runs?batch_id={batch}&status=success&limit=1")["total"]
                if done == n:
                    break
                polls += 1
                if polls % 20 == 0:
                    for bad in ("failed", "cancelled", "skipped"):
                        ended = self.rest.ok("GET", f"/runs?batch_id={batch}&status={bad}&limit=3")
                        if ended["total"]:
                            why = "; ".join(f"{r['layer']}.{r['name']}: {r.get('error')}" for r in ended["runs"])
                            raise bd.BenchError(f"RAT: {ended['total']} runs of the batch ended {bad}: {why}")
                time.sleep(0.02)
            wall = time.perf_counter() - t0
        counts = {r["name"]: int(r["rows_written"] or 0) for r in self.rest.all_runs(f"batch_id={batch}")}
        each = sorted(sampler.each.items(), key=lambda kv: kv[0] != self.server.proc.pid)
        cpu1 = cpu_seconds(self.server.proc.pid)
        server_cpu = cpu1.get(self.server.proc.pid, 0) - cpu0.get(self.server.proc.pid, 0)
        worker_cpu = sum(v - cpu0.get(k, 0) for k, v in cpu1.items() if k != self.server.proc.pid)
        return {"wall": wall, "peak": sampler.tree, "pss": sampler.pss, "counts": counts,
                "each": " + ".join(f"{rss / MiB:.0f}" for _, rss in each)
                + f"; CPU s server {server_cpu:.2f}, workers {worker_cpu:.2f}"}


def one_pipeline(rest: Rest, measured: int, history: int) -> dict[str, Any]:
    """Submit-to-success of one small pipeline: ``measured`` runs, ``history`` more, ``measured`` again; then
    ``measured`` pairs, interleaved, of it and of a twin with no history (same SQL, a new table)."""
    ns, layer, name = "one", "bronze", "small"
    twin = f"{name}_twin"
    rest.ok("POST", "/namespaces", {"name": ns})
    source = ("-- @merge_strategy: full_refresh\n"
              "SELECT range AS id, range % 7 AS k, 'x' || range AS label FROM range(1000)")
    for pipeline in (name, twin):
        rest.ok("POST", "/pipelines", {"namespace": ns, "layer": layer, "name": pipeline, "type": "sql",
                                       "source": source})
        rest.ok("POST", f"/pipelines/{ns}/{layer}/{pipeline}/publish", {"message": "bench"})

    def once(pipeline: str = name) -> tuple[float, float]:
        t0 = time.perf_counter()
        run_id = rest.ok("POST", "/runs", {"namespace": ns, "layer": layer, "pipeline": pipeline})["run_id"]
        while (run := rest.ok("GET", f"/runs/{run_id}"))["status"] in ("pending", "running"):
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        if run["status"] != "success":
            raise bd.BenchError(f"one pipeline: run ended {run['status']}: {run.get('error')}")
        server = (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["created_at"]))
        return wall * 1000, server.total_seconds() * 1000

    for _ in range(5):  # warm-up: the first run creates the table
        once()
    fresh = [once() for _ in range(measured)]
    t0 = time.perf_counter()
    for _ in range(history // 2):
        once()
    # Halfway as well as at the end: a table whose history is bounded is as fast at both (the snapshot bound,
    # `common.history`, is reached within the first hundred runs); one whose history grows is not.
    mid = [once() for _ in range(measured)]
    for _ in range(history - history // 2):
        once()
    history_s = time.perf_counter() - t0
    late = [once() for _ in range(measured)]
    # "Fresh" above ran minutes before "late", and a shared machine drifts by more than the bound in that
    # time. The pairs compare the two at the same moment, alternating which goes first: only the history
    # differs between them.
    for _ in range(5):
        once(twin)
    aged: list[tuple[float, float]] = []
    young: list[tuple[float, float]] = []
    for i in range(measured):
        if i % 2:
            aged.append(once())
            young.append(once(twin))
        else:
            young.append(once(twin))
            aged.append(once())
    return {"fresh": fresh, "mid": mid, "late": late, "aged": aged, "young": young, "history": history,
            "history_s": history_s, "mid_after": 5 + measured + history // 2,
            "total_runs": 5 + 3 * measured + history}


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def summary(results: dict[int, dict[str, list[dict[str, Any]]]], n: int) -> dict[str, dict[str, float]]:
    """Per system at ``n`` models: median wall seconds, peak summed RSS and PSS (MiB) over the rounds, and
    for RAT the overhead per model over raw DuckDB (ms). The report's table and its aims both read this."""
    r = {k: v for k, v in results[n].items() if v}
    out = {"wall": {k: med([x["wall"] for x in r[k]]) for k in r},
           "peak": {k: max(x["peak"] for x in r[k]) / MiB for k in r},
           "pss": {k: max(x["pss"] for x in r[k]) / MiB for k in r}}
    out["over"] = {k: (out["wall"][k] - out["wall"]["duckdb"]) / n * 1000 for k in ("rat", "rat0") if k in r}
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def report(args: argparse.Namespace, command: str, machine: dict[str, str], versions: str,
           results: dict[int, dict[str, list[dict[str, Any]]]], shapes: dict[int, dict[str, Any]],
           idle: dict[str, float], one: dict[str, Any] | None, partial: bool = False) -> str:
    lines = [
        SECTION_TITLE, "",
        f"Produced by `{command}` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" (partial: written after round {args.rounds}; the run did not finish)." if partial else "."), "",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']}, {machine['os']}; "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}; 1-minute load average at start {machine['load']}. "
        "The machine is shared with other engineers' work, so rounds are interleaved (every size and system "
        "once per round) and medians reported: load that comes and goes hits every system alike.",
        f"- Versions: {versions}.",
        f"- Workload: {args.rows:,} source rows (Parquet); DAGs of "
        + ", ".join(f"{n} models (depth {shapes[n]['depth']}, {shapes[n]['edges']} refs)" for n in args.sizes)
        + "; every model a table, the same SQL for every system.",
        f"- Method: {args.rounds} timed rounds after {args.warmup} warm-up round(s) of the RAT servers. "
        f"dbt-duckdb: `dbt run` in a fresh process, threads={args.threads}, empty target. "
        "RAT: one resident `jupyter server` "
        f"(concurrency={args.threads}), `POST /runs {{\"select\": \"<ns>.*\"}}` timed until every run of the "
        "batch is `success` (polled every 20 ms); the tables exist from the warm-up, so each run replaces them. "
        "Raw DuckDB: the same `CREATE TABLE AS` statements in DAG order on one connection, fresh process (the "
        "floor). Row counts of every model checked equal across the systems in every round. Before each "
        "system's timed run, the page cache's dirty pages are written out (`sync`, untimed), so no system's "
        "run pays for the previous one's writeback.",
        "- Memory: peak of the summed RSS and of the summed PSS of each system's process tree, sampled every "
        "50 ms (RAT: the server and its worker processes). Summed RSS counts a shared library's pages once "
        "per process that maps it; PSS splits shared pages among the processes that share them, so its sum is "
        "what the tree holds (for one process, PSS and RSS differ only by what it shares with others).",
        "",
    ]
    before = bool(results[args.sizes[0]]["rat0"])
    if before:
        lines.insert(-1, f"- RAT before: the same rounds on a second server running `{args.baseline_label}` (the code "
                         "before this change), interleaved with the others.")
    lines += [
        "| models | RAT (s) | " + ("RAT before (s) | " if before else "") + "dbt-duckdb (s) | raw DuckDB (s) | "
        "RAT / dbt | RAT / raw | " + ("RAT before / raw | " if before else "") + "RAT overhead per model (ms) | "
        + ("before (ms) | " if before else "") + "peak RSS RAT (MiB) | " + ("before (MiB) | " if before else "")
        + "peak RSS dbt (MiB) | peak RSS raw (MiB) | peak PSS RAT (MiB) | peak PSS dbt (MiB) | peak PSS raw (MiB) |",
        "| ---: " * (13 + 4 * before) + "|",
    ]
    for n in args.sizes:
        sums = summary(results, n)
        w, p, pss, over = sums["wall"], sums["peak"], sums["pss"], sums["over"]
        cells = [f"{n}", f"{w['rat']:.2f}"] + ([f"{w['rat0']:.2f}"] if before else []) + [
            f"{w['dbt']:.2f}", f"{w['duckdb']:.2f}", f"{w['rat'] / w['dbt']:.2f}", f"{w['rat'] / w['duckdb']:.2f}"]
        cells += ([f"{w['rat0'] / w['duckdb']:.2f}"] if before else []) + [f"{over['rat']:.1f}"]
        cells += ([f"{over['rat0']:.1f}"] if before else []) + [f"{p['rat']:.0f}"]
        cells += ([f"{p['rat0']:.0f}"] if before else []) + [f"{p['dbt']:.0f}", f"{p['duckdb']:.0f}"]
        cells += [f"{pss['rat']:.0f}", f"{pss['dbt']:.0f}", f"{pss['duckdb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    keys = ("rat", "rat0", "dbt", "duckdb") if before else ("rat", "dbt", "duckdb")
    lines += ["", "Every round (seconds; " + " / ".join(LABELS[k] for k in keys) + "):", ""]
    lines.append("| round | " + " | ".join(f"{n} models" for n in args.sizes) + " |")
    lines.append("| ---: | " + " | ".join("---" for _ in args.sizes) + " |")
    for i in range(args.rounds):
        cells = [" / ".join(f"{results[n][k][i]['wall']:.2f}" for k in keys) for n in args.sizes]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    lines += ["", "### Idle server", "",
              f"Server + {args.threads} idle workers, after start-up and before any run: **{idle['rss']:.0f} MiB RSS** "
              f"summed over {idle['procs']} processes ({idle['each']} MiB; {idle['uss']:.0f} MiB USS); "
              + (f"after the benchmark, idle again: {idle['rss_after']:.0f} MiB RSS ({idle['uss_after']:.0f} MiB USS)."
                 if "rss_after" in idle else "")
              + (f" The server before this change, idle before any run: {idle['base_rss']:.0f} MiB RSS "
                 f"({idle['base_each']} MiB; {idle['base_uss']:.0f} MiB USS)." if "base_rss" in idle else ""), ""]
    if one is not None:
        f_wall = [x[0] for x in one["fresh"]]
        m_wall = [x[0] for x in one["mid"]]
        l_wall = [x[0] for x in one["late"]]
        f_srv = [x[1] for x in one["fresh"]]
        m_srv = [x[1] for x in one["mid"]]
        l_srv = [x[1] for x in one["late"]]
        lines += [
            "### One pipeline: submit to success", "",
            f"A 1,000-row `full_refresh` SQL pipeline on the same server: `POST /runs`, then `GET /runs/{{id}}` every "
            f"2 ms until `success` (client wall clock), and the run's own `created_at` → `finished_at` (server). "
            f"{len(one['fresh'])} runs measured, then {one['history']:,} more ({one['history_s']:.0f} s, with "
            f"{len(one['mid'])} measured halfway), then {len(one['late'])} measured again ({one['total_runs']:,} "
            "runs of the pipeline in all).", "",
            "| | p50 client (ms) | p90 client (ms) | p50 server (ms) |",
            "| --- | ---: | ---: | ---: |",
            f"| fresh | {med(f_wall):.1f} | {pct(f_wall, 0.9):.1f} | {med(f_srv):.1f} |",
            f"| after {one['mid_after']:,} runs | {med(m_wall):.1f} | {pct(m_wall, 0.9):.1f} | {med(m_srv):.1f} |",
            f"| after {one['total_runs'] - len(one['late']):,} runs | {med(l_wall):.1f} | {pct(l_wall, 0.9):.1f} | "
            f"{med(l_srv):.1f} |"]
        if one.get("aged"):
            a_wall, y_wall = [x[0] for x in one["aged"]], [x[0] for x in one["young"]]
            a_srv, y_srv = [x[1] for x in one["aged"]], [x[1] for x in one["young"]]
            lines += [
                f"| then, interleaved: this pipeline, {one['total_runs']:,} runs old | {med(a_wall):.1f} | "
                f"{pct(a_wall, 0.9):.1f} | {med(a_srv):.1f} |",
                f"| then, interleaved: its twin (same SQL, a new table, 5 to {5 + len(one['young']) - 1} runs old) | "
                f"{med(y_wall):.1f} | {pct(y_wall, 0.9):.1f} | "
                f"{med(y_srv):.1f} |", "",
                f"The last two rows are {len(one['aged'])} pairs, one run of each, alternating which goes first: they "
                "compare history against no history at the same moment, which the rows above (minutes apart on a "
                "shared machine) cannot."]
        lines.append("")
    return "\n".join(lines + aims(args, results, idle, one))


UNCHANGED = 0.05  # the one pipeline counts as unchanged after its history when its p50 moved less than this


def aims(args: argparse.Namespace, results: dict[int, dict[str, list[dict[str, Any]]]], idle: dict[str, float],
         one: dict[str, Any] | None) -> list[str]:
    """The issue's aims, each with this run's figures and whether they are met (none for sizes not run)."""
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    sums = {n: summary(results, n) for n in args.sizes}
    wall = {n: sums[n]["wall"] for n in args.sizes}
    lines = ["### Aims", "", "From the figures above (medians; memory: peaks over the rounds).", ""]
    ratios = {n: wall[n]["rat"] / wall[n]["duckdb"] for n in args.sizes}
    lines.append("- Whole DAG ≤ 1.25x raw DuckDB: " + "; ".join(
        f"{n} models {ratios[n]:.2f}x {verdict(ratios[n] <= 1.25)}" for n in args.sizes) + ".")
    overhead = {n: sums[n]["over"]["rat"] for n in args.sizes}
    lines.append("- Per-model overhead over raw DuckDB ≤ 8 ms: " + "; ".join(
        f"{n} models {overhead[n]:.1f} ms {verdict(overhead[n] <= 8)}" for n in args.sizes) + ".")
    vs_dbt = [(n, aim) for n, aim in ((50, 0.45), (500, 0.6)) if n in wall and "dbt" in wall[n]]
    if vs_dbt:
        lines.append("- RAT / dbt-duckdb ≤ 0.45x at 50 models and ≤ 0.6x at 500: " + "; ".join(
            f"{n} models {wall[n]['rat'] / wall[n]['dbt']:.2f}x "
            f"{verdict(wall[n]['rat'] / wall[n]['dbt'] <= aim)}" for n, aim in vs_dbt) + ".")
    if one is not None:
        fresh, late = med([x[0] for x in one["fresh"]]), med([x[0] for x in one["late"]])
        drift = late / fresh - 1
        text = (f"- One pipeline, submit to success p50 ≤ 40 ms: {fresh:.1f} ms fresh {verdict(fresh <= 40)}; "
                f"unchanged after {one['total_runs'] - len(one['late']):,} runs (p50 within ±{UNCHANGED:.0%}): ")
        if one.get("aged"):
            aged, young = med([x[0] for x in one["aged"]]), med([x[0] for x in one["young"]])
            change = aged / young - 1
            text += (f"{aged:.1f} ms against its twin's {young:.1f} ms at the same moment, {change:+.1%} "
                     f"{verdict(abs(change) < UNCHANGED)} (fresh → late, minutes apart: {drift:+.1%}).")
        else:
            text += f"{late:.1f} ms, {drift:+.1%} {verdict(abs(drift) < UNCHANGED)}."
        lines.append(text)
    lines.append(f"- Idle server with its workers ≤ 350 MiB: {idle['rss']:.0f} MiB RSS {verdict(idle['rss'] <= 350)}.")
    if 50 in results and results[50]["rat"]:
        rss, pss = sums[50]["peak"]["rat"], sums[50]["pss"]["rat"]
        lines.append(f"- Peak during the 50-model DAG ≤ 600 MiB: summed RSS {rss:.0f} MiB, summed PSS {pss:.0f} MiB "
                     f"{verdict(pss <= 600)}.")
    return [*lines, ""]


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
                    help="DAG sizes (default 50,200,500)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    ap.add_argument("--rows", type=int, default=None, help="source rows (default 1,000,000)")
    ap.add_argument("--threads", type=int, default=2, help="dbt threads and RAT concurrency (default 2)")
    ap.add_argument("--one-runs", type=int, default=1000, help="runs of the one pipeline between the measurements")
    ap.add_argument("--one-measured", type=int, default=50,
                    help="runs measured before, halfway and after; as many pairs with a fresh twin at the end")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of an earlier rat-jupyter: served by a second server, run in the same rounds")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more option for the RAT server, e.g. --server-arg=--RatApp.duckdb_threads=1 "
                         "(repeatable; the baseline server gets the same)")
    ap.add_argument("--skip-dbt", action="store_true", help="leave dbt-duckdb out (profiling; no ratios to dbt)")
    ap.add_argument("--skip-one", action="store_true", help="leave out the one-pipeline latency")
    ap.add_argument("--quick", action="store_true", help="smoke run: 100k rows, 20 and 40 models, 1 round; prints only")
    ap.add_argument("--work-dir", type=Path, default=bd.BENCH_DIR / "_work" / "scale")
    ap.add_argument("--results-file", type=Path, default=bd.DEFAULT_RESULTS)
    ap.add_argument("--no-results", action="store_true", help="print only; do not update the results file")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or [20, 40]
        args.rounds = args.rounds or 1
        args.rows = args.rows or 100_000
        args.one_runs = min(args.one_runs, 50)
        args.one_measured = min(args.one_measured, 10)
        args.no_results = True
    args.sizes = args.sizes or list(SIZES)
    args.baseline_label = ""
    if args.baseline is not None:
        described = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=args.baseline, capture_output=True,
                                   text=True, check=False).stdout.strip()
        args.baseline_label = described[:60] or args.baseline.name
    args.rounds = args.rounds or 3
    args.rows = args.rows or 1_000_000
    return args


def command_of(raw_argv: list[str]) -> str:
    command = " ".join([".venv/bin/python", "bench/bench_dag_scale.py", *raw_argv])
    return f"make bench` (`{command}" if os.environ.get("MAKELEVEL") and not raw_argv else command


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out (finally)
    raw_argv = sys.argv[1:] if argv is None else argv
    args = parse_args(raw_argv)
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    parquet = bd.make_source_parquet(bd.BENCH_DIR / "_work", args.rows)
    machine = bd.machine_info()
    machine["load"] = f"{os.getloadavg()[0]:.2f}"
    models = {n: scale_models(n) for n in args.sizes}
    shapes = {n: bd.dag_shape(models[n]) for n in args.sizes}
    for n in args.sizes:
        print(f"DAG {n}: depth {shapes[n]['depth']}, {shapes[n]['edges']} refs, widths {shapes[n]['widths']}")

    server = start_server(work / "rat", args.threads, extra=tuple(args.server_arg))
    base = None
    results: dict[int, dict[str, list[dict[str, Any]]]] = {
        n: {"rat": [], "dbt": [], "duckdb": [], "rat0": []} for n in args.sizes}
    try:
        idle: dict[str, Any] = idle_memory(server, "")
        print(f"idle server: {idle['rss']:.0f} MiB RSS, {idle['uss']:.0f} MiB USS over {idle['procs']} processes "
              f"(RSS each: {idle['each']})")
        if args.baseline is not None:
            base = start_server(work / "rat_base", args.threads, args.baseline.resolve(), tuple(args.server_arg))
            idle.update(idle_memory(base, "base_"))
            print(f"idle baseline server: {idle['base_rss']:.0f} MiB RSS, {idle['base_uss']:.0f} MiB USS "
                  f"(RSS each: {idle['base_each']})")
        systems: dict[int, dict[str, Any]] = {}
        for n in args.sizes:
            t0 = time.perf_counter()
            systems[n] = {
                "rat": RatDag(server, f"s{n}", models[n], parquet),
                "duckdb": Raw(work / f"m{n}", models[n], parquet),
            }
            if not args.skip_dbt:
                systems[n]["dbt"] = Dbt(work / f"m{n}", models[n], parquet, args.threads)
            if base is not None:
                systems[n]["rat0"] = RatDag(base, f"s{n}", models[n], parquet)
            print(f"set up {n} models in {time.perf_counter() - t0:.0f}s", flush=True)
        dbt_version = "" if args.skip_dbt else systems[args.sizes[0]]["dbt"].version() + "; "
        versions = f"{dbt_version}rat-jupyter {bd.git_describe()}"
        for i in range(args.warmup + args.rounds):
            warm = i < args.warmup
            for n in args.sizes:
                counts: dict[str, Any] = {}
                # dbt and raw DuckDB run cold every round anyway (fresh process, empty target): only the RAT
                # servers need the warm-up (their tables are created, their workers import).
                for key in [k for k in ("dbt", "rat0", "rat", "duckdb") if k in systems[n]
                            and (not warm or k.startswith("rat"))]:
                    system = systems[n][key]
                    if key not in ("rat", "rat0"):
                        system.prepare()
                    settle_io()
                    res = system.run(i + 1)
                    counts[key] = res["counts"]
                    print(f"{'warm-up' if warm else f'round {i - args.warmup + 1}'} {n:4d} models  "
                          f"{LABELS[key]:<11} {res['wall']:7.2f}s  peak {res['peak'] / MiB:5.0f} MiB RSS, "
                          f"{res['pss'] / MiB:5.0f} MiB PSS"
                          + (f" (server + workers: {res['each']})" if "each" in res else ""), flush=True)
                    if not warm:
                        results[n][key].append(res)
                for key in [k for k in ("dbt", "rat", "rat0") if k in counts and "duckdb" in counts]:
                    bd.check_counts(i + 1, counts["duckdb"], "rat" if key == "rat0" else key, counts[key])
            if not warm and not args.no_results and not args.skip_dbt:  # a partial section survives an abort
                done = argparse.Namespace(**{**vars(args), "rounds": i - args.warmup + 1})
                replace_section(args.results_file, SECTION_TITLE,
                                report(done, command_of(raw_argv), machine, versions, results, shapes, idle,
                                       None, partial=True))
        one = None if args.skip_one else one_pipeline(server.rest, args.one_measured, args.one_runs)
        if one is not None:
            print("one pipeline, p50 client / server (ms): " + ", ".join(
                f"{label} {med([x[0] for x in one[key]]):.1f} / {med([x[1] for x in one[key]]):.1f}"
                for key, label in (("fresh", "fresh"), ("mid", f"after {one['mid_after']:,} runs"),
                                   ("late", f"after {one['total_runs'] - len(one['late']):,} runs"),
                                   ("aged", "interleaved: it"), ("young", "its twin"))), flush=True)
        time.sleep(2.0)
        idle["rss_after"] = tree_rss(server.proc.pid) / MiB
        idle["uss_after"] = tree_uss(server.proc.pid) / MiB
    except bd.BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        server.close()
        if base is not None:
            base.close()
    command = command_of(raw_argv)
    if args.skip_dbt:
        print("(dbt-duckdb skipped: no report)")
        return 0
    section = report(args, command, machine, versions, results, shapes, idle, one)
    print("\n" + section)
    if not args.no_results:
        replace_section(args.results_file, SECTION_TITLE, section)
        print(f"updated {args.results_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
