#!/usr/bin/env python3
"""Benchmark: query latency through the REST query service versus the same query on in-process DuckDB.

Usage (from the repository root)::

    .venv/bin/python bench/bench_rest.py                 # 50 timed requests per query; updates bench/results.md
    .venv/bin/python bench/bench_rest.py --requests 10 --rows 300000 --no-results   # quick look

What it does:

1. Starts a real ``jupyter server`` subprocess with the RAT extension on a temporary data dir, a known token
   and a free port (``--allow-root`` when running as root).
2. Over REST: creates namespace ``bench`` and the pipeline ``bench.bronze.big``
   (``SELECT range AS id, range % 97 AS k, random() AS x FROM range(N)``), publishes and runs it, so the
   table is an Iceberg table written by a RAT run.
3. Opens an in-process DuckDB the way the engine does (``rat_jupyter.core.engine.connect``: the Iceberg
   extension loaded offline) with the same ``"bench"."bronze"."big"`` view over ``iceberg_scan`` of the
   table's current metadata location, so both sides run the same SQL text over the same files.
4. For each query: warm-up requests, then ``--requests`` timed pairs, interleaved (REST then in-process, the
   order swapped every round). REST goes through one keep-alive ``http.client`` connection and includes
   HTTP, JSON, the read-only check, the catalog sync and the conversion of rows to JSON; in-process is
   ``execute(sql).fetchall()``.
5. Prints p50/p95 per side and the REST/in-process ratios, and replaces the section
   "## Query latency: REST vs in-process DuckDB" of ``bench/results.md`` (other sections are kept).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from results_md import hardware, replace_section

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results.md"
SECTION_TITLE = "## Query latency: REST vs in-process DuckDB"
API = "/rat/api/v1"
TABLE = "bench.bronze.big"
QUERIES = {
    "constant": "SELECT 42 AS answer",
    "small": f"SELECT id, k, x FROM {TABLE} WHERE id < 10 ORDER BY id",
    "aggregate": f"SELECT k, count(*) AS n, avg(x) AS avg_x FROM {TABLE} GROUP BY k ORDER BY k",
}
DESCRIPTIONS = {
    "constant": "no table: the fixed cost of each path",
    "small": "10 rows filtered out of the table",
    "aggregate": "GROUP BY over every row, 97 groups",
}


class Rest:
    """A keep-alive HTTP/1.1 client of the RAT API."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PUT"):
            data = b"{}"
        try:
            self.conn.request(method, API + path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # the server closed an idle connection: retry once
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conn.request(method, API + path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201, 202)) -> Any:
        status, out = self.call(method, path, body)
        if status not in expect:
            raise SystemExit(f"{method} {path} -> {status}: {out}")
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, data: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "jupyter", "server", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False", f"--RatApp.data_dir={data}",
           f"--ServerApp.root_dir={work}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(work / "server.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work)


def wait_ready(rest: Rest, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"jupyter server exited with {server.returncode}; see its log")
        try:
            status, _ = rest.call("GET", "/health/ready")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def build_table(rest: Rest, rows: int) -> dict[str, Any]:
    rest.ok("POST", "/namespaces", {"name": "bench"})
    source = ("-- @merge_strategy: full_refresh\n"
              f"SELECT range AS id, range % 97 AS k, random() AS x FROM range({rows})")
    rest.ok("POST", "/pipelines", {"namespace": "bench", "layer": "bronze", "name": "big", "source": source})
    rest.ok("POST", "/pipelines/bench/bronze/big/publish", {"message": "benchmark table"})
    started = time.perf_counter()
    run_id = rest.ok("POST", "/runs", {"namespace": "bench", "layer": "bronze", "pipeline": "big"})["run_id"]
    while (run := rest.ok("GET", f"/runs/{run_id}"))["status"] in ("pending", "running"):
        time.sleep(0.2)
    if run["status"] != "success":
        raise SystemExit(f"the pipeline run failed: {run.get('error')}")
    run["wall_s"] = time.perf_counter() - started
    return run


def in_process(data: Path) -> Any:
    """A DuckDB connection like the engine's, with the table's view over its current metadata file."""
    from rat_jupyter.core import engine
    from rat_jupyter.core.names import PipelineId
    from rat_jupyter.core.settings import Settings
    from rat_jupyter.stores.catalog import Catalog

    settings = Settings(data_dir=data)
    pid = PipelineId("bench", "bronze", "big")
    location = Catalog(settings).locations()[pid]
    conn = engine.connect(settings, extensions=engine.needed_extensions(settings))
    engine.register_table_view(conn, pid, location)
    return conn, location


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(rest: Rest, conn: Any, sql: str, requests: int, warmup: int) -> dict[str, list[float]]:
    def via_rest() -> int:
        status, out = rest.call("POST", "/query", {"sql": sql, "limit": 1000})
        if status != 200:
            raise SystemExit(f"query failed over REST: {status} {out}")
        return len(out["rows"])

    def via_duckdb() -> int:
        return len(conn.execute(sql).fetchall())

    counts = {via_rest(), via_duckdb()}
    if len(counts) != 1:
        raise SystemExit(f"REST and in-process DuckDB disagree on the row count of {sql!r}: {counts}")
    for _ in range(warmup):
        via_rest()
        via_duckdb()
    times: dict[str, list[float]] = {"rest": [], "duckdb": []}
    for i in range(requests):
        order = (("rest", via_rest), ("duckdb", via_duckdb))
        for name, fn in order if i % 2 == 0 else reversed(order):
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def machine_info() -> str:
    import duckdb
    import jupyter_server
    import pyarrow

    hw = hardware()
    mem = f", {hw['memory']}" if hw["memory"] else ""
    return (f"{hw['cpu']}, {hw['nproc']} CPUs{mem}; {hw['os']}; Python {platform.python_version()}; "
            f"duckdb {duckdb.__version__}, pyarrow {pyarrow.__version__}, jupyter_server {jupyter_server.__version__}")


def fmt(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def report(args: argparse.Namespace, results: dict[str, dict[str, list[float]]], run: dict[str, Any]) -> str:
    lines = [
        SECTION_TITLE, "",
        "Latency of one query through `POST /rat/api/v1/query` of a real `jupyter server` (HTTP keep-alive, token "
        "auth, read-only check, catalog sync, rows as JSON) against the same SQL on an in-process DuckDB "
        "connection built like the engine's (`engine.connect`, Iceberg extension) with the same "
        "`bench.bronze.big` view over `iceberg_scan` of the table's current metadata file "
        "(`execute(sql).fetchall()`). Both read the same Iceberg table, written by a RAT pipeline run.",
        "",
        f"- command: `.venv/bin/python bench/bench_rest.py"
        f"{'' if args.requests == 50 else f' --requests {args.requests}'}"
        f"{'' if args.warmup == 5 else f' --warmup {args.warmup}'}"
        f"{'' if args.rows == 3_000_000 else f' --rows {args.rows}'}`",
        f"- machine: {machine_info()}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- table: `{TABLE}`, {args.rows:,} rows (`SELECT range AS id, range % 97 AS k, random() AS x FROM "
        f"range({args.rows})`), written in {run['wall_s']:.1f} s by a RAT run",
        f"- {args.requests} timed requests per query and side after {args.warmup} warm-up requests, interleaved "
        "(the order swaps every round); milliseconds, client side",
        "",
        "| query | what | REST p50 | REST p95 | DuckDB p50 | DuckDB p95 | ratio p50 | ratio p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, times in results.items():
        r50, r95 = percentile(times["rest"], 0.5), percentile(times["rest"], 0.95)
        d50, d95 = percentile(times["duckdb"], 0.5), percentile(times["duckdb"], 0.95)
        lines.append(f"| {name} | {DESCRIPTIONS[name]} | {fmt(r50)} | {fmt(r95)} | {fmt(d50)} | {fmt(d95)} | "
                     f"{r50 / d50:.2f}x | {r95 / d95:.2f}x |")
    lines += ["", "Queries:", ""]
    lines += [f"- {name}: `{sql}`" for name, sql in QUERIES.items()]
    added = [percentile(t["rest"], 0.5) - percentile(t["duckdb"], 0.5) for t in results.values()]
    lines += ["", f"Added by the REST path at p50 (REST minus in-process): "
                  f"{', '.join(f'{n} {fmt(a)} ms' for n, a in zip(results, added, strict=True))}; "
                  f"median {fmt(statistics.median(added))} ms."]
    return "\n".join(lines) + "\n"


def update_results(path: Path, section: str) -> None:
    replace_section(path, SECTION_TITLE, section)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=50, help="timed requests per query and side")
    ap.add_argument("--warmup", type=int, default=5, help="untimed requests per query and side first")
    ap.add_argument("--rows", type=int, default=3_000_000, help="rows of the benchmark table")
    ap.add_argument("--results-file", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--no-results", action="store_true", help="print only; do not touch the results file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary server directory (and its log)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rat-rest-bench-"))
    data = work / "data"
    port, token = free_port(), secrets.token_hex(16)
    server = start_server(work, data, port, token)
    rest = Rest(port, token)
    try:
        wait_ready(rest, server)
        print(f"server ready on port {port}; building {TABLE} ({args.rows:,} rows) ...", flush=True)
        run = build_table(rest, args.rows)
        conn, location = in_process(data)
        print(f"table written in {run['wall_s']:.1f} s; metadata {Path(location).name}", flush=True)
        results = {}
        for name, sql in QUERIES.items():
            results[name] = measure(rest, conn, sql, args.requests, args.warmup)
            t = results[name]
            print(f"{name:>10}: REST p50 {fmt(percentile(t['rest'], .5))} ms p95 {fmt(percentile(t['rest'], .95))} ms"
                  f" | DuckDB p50 {fmt(percentile(t['duckdb'], .5))} ms p95 {fmt(percentile(t['duckdb'], .95))} ms"
                  f" | ratio p50 {percentile(t['rest'], .5) / percentile(t['duckdb'], .5):.2f}x", flush=True)
        conn.close()
    finally:
        rest.conn.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    section = report(args, results, run)
    if args.no_results:
        print("\n" + section)
    else:
        update_results(args.results_file, section)
        print(f"\nupdated {os.path.relpath(args.results_file)} ({SECTION_TITLE[3:]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
