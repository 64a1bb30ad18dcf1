#!/usr/bin/env python3
"""Benchmark: the portal in a real browser (Debian's Chromium through Python Playwright).

Usage (from the repository root, after ``make setup``, which builds the portal)::

    .venv/bin/python bench/bench_portal.py              # 5 rounds; prints a Markdown table
    .venv/bin/python bench/bench_portal.py --rounds 3 --lines 20000

What it does:

1. Starts a real ``jupyter server`` subprocess with the RAT extension under ``base_url=/user/alice/`` on a
   temporary data dir, logs the browser in once with the token (the login cookie does the rest).
2. Through the API: a namespace, a SQL pipeline (for the pipeline page) and a Python pipeline whose run logs
   ``--lines`` lines with ``log()``; both are published and run.
3. In a fresh browser context per round (cold cache, real network to the server):
   - first paint of ``/rat/`` and of the pipeline page (``first-contentful-paint`` from the Paint Timing API)
     and the time until the page's heading is rendered with data (``main h1`` plus the page's first data);
   - the run page of the big run: time from navigation until the log viewer says it holds every line
     (the log arrives over server-sent events), the number of log rows in the DOM (virtualized: a window,
     not 10k), and the time to scroll to the end.
4. Prints median and max per measure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import RatServer, Rest, data_dir_env  # noqa: E402
from bench.results_md import hardware, replace_section  # noqa: E402

CHROMIUM = os.environ.get("RAT_CHROMIUM", "/usr/bin/chromium")
BASE = "/user/alice/"


def run(api: Rest, ns: str, layer: str, name: str) -> str:
    run_id = api.ok("POST", "runs", {"namespace": ns, "layer": layer, "pipeline": name})["run_id"]
    api.wait_run(run_id, poll=0.3, timeout=300)
    return str(run_id)


def start_server(data: Path) -> RatServer:
    return RatServer(data, f"--ServerApp.root_dir={data}", base_url=BASE, cwd=data, log=data / "server.log",
                     env=data_dir_env(data))


def fcp(page: Any) -> float:
    return float(page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("results.md"),
                        help="results file whose '## Portal in the browser' section is replaced")
    args = parser.parse_args()
    if not (ROOT / "rat_jupyter" / "portal_static" / "index.html").is_file():
        sys.exit("the portal is not built: run make setup (or npm ci && npm run build)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="rat-bench-portal-") as tmp:
        server = start_server(Path(tmp))
        root, token, rest = server.root, server.token, server.rest
        api = rest.ok
        try:
            api("POST", "namespaces", {"name": "bench"})
            api("POST", "pipelines", {"namespace": "bench", "layer": "silver", "name": "orders",
                                      "source": "SELECT range AS id, range % 7 AS k FROM range(1000)"})
            api("POST", "pipelines/bench/silver/orders/publish", {"message": "bench"})
            run(rest, "bench", "silver", "orders")
            code = (f"for i in range({args.lines}):\n"
                    "    log(f'line {i} of the benchmark log', 'error' if i % 500 == 0 else 'info')\n"
                    "result = pa.table({'n': [1]})\n")
            api("POST", "pipelines", {"namespace": "bench", "layer": "bronze", "name": "chatty", "type": "python",
                                      "source": code})
            api("POST", "pipelines/bench/bronze/chatty/publish", {"message": "bench"})
            big_run = run(rest, "bench", "bronze", "chatty")
            total_lines = len(api("GET", f"runs/{big_run}/logs")["logs"])

            results: dict[str, list[float]] = {}
            rows_in_dom: list[int] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
                login = browser.new_context()
                page = login.new_page()
                page.goto(f"{root}rat/?token={token}")
                page.wait_for_selector("nav[aria-label='RAT']")
                state = login.storage_state()
                login.close()
                for _ in range(args.rounds):
                    ctx = browser.new_context(storage_state=state, viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{root}rat/")
                    page.get_by_test_id("count-namespaces").filter(has_text="1").wait_for()
                    results.setdefault("home: data rendered (ms)", []).append((time.perf_counter() - t0) * 1000)
                    results.setdefault("home: first contentful paint (ms)", []).append(fcp(page))
                    page.close()

                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{root}rat/pipelines/bench/silver/orders?tab=code")
                    page.locator(".cm-content").filter(has_text="range(1000)").wait_for()
                    results.setdefault("pipeline page: editor with code (ms)", []).append(
                        (time.perf_counter() - t0) * 1000)
                    results.setdefault("pipeline page: first contentful paint (ms)", []).append(fcp(page))
                    page.close()

                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{root}rat/runs/{big_run}")
                    page.get_by_test_id("log-count").filter(has_text=f"{total_lines} lines").wait_for(timeout=120_000)
                    results.setdefault(f"run page: {total_lines:,} SSE log lines rendered (ms)", []).append(
                        (time.perf_counter() - t0) * 1000)
                    rows_in_dom.append(page.locator(".rat-log-line").count())
                    log = page.get_by_role("log", name="Run log")
                    t0 = time.perf_counter()
                    log.evaluate("el => { el.scrollTop = 0; }")
                    page.wait_for_function("() => document.querySelector('.rat-log-line[data-seq=\"1\"]') !== null")
                    log.evaluate("el => { el.scrollTop = el.scrollHeight; }")
                    page.wait_for_function(
                        f"() => document.querySelector('.rat-log-line[data-seq=\"{total_lines}\"]') !== null")
                    results.setdefault("run page: scroll top to end (ms)", []).append(
                        (time.perf_counter() - t0) * 1000)
                    ctx.close()
                browser.close()
        finally:
            server.close()

    hw = hardware()
    lines = [
        "## Portal in the browser",
        "",
        f"- command: `.venv/bin/python bench/bench_portal.py --rounds {args.rounds} --lines {args.lines}`",
        f"- machine: {hw['cpu']}, {hw['nproc']} CPUs, {hw['memory']}; {hw['os']}; Debian Chromium driven by Playwright",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- a real `jupyter server` under `base_url=/user/alice/`; a fresh browser context (cold cache) per round; "
        f"log rows in the DOM for {total_lines:,} lines: {max(rows_in_dom)} (virtualized)",
        "",
        "| measure | median | max |",
        "|---|---:|---:|",
        *(f"| {name} | {statistics.median(values):.0f} | {max(values):.0f} |" for name, values in results.items()),
    ]
    print("\n".join(lines))
    if args.results is not None:
        replace_section(args.results, "## Portal in the browser", "\n".join(lines))


if __name__ == "__main__":
    main()
