"""Query and template bombs against the query service and the template sandbox: how fast each is refused or
stopped, and how far the process's resident memory grows (the limit to hold: DuckDB's memory limit plus the
memory guard's margin). Writes the "## Query limits" section of bench/results.md.

    .venv/bin/python bench/bench_limits.py [--memory-limit 1GB]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results_md import hardware, replace_section
from rat_jupyter.core.errors import RatError
from rat_jupyter.core.query import MEMORY_MARGIN_BYTES, QueryService, parse_bytes
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.templating import RenderContext, render

QUERIES = {
    "list_sort(range(300000000))": "SELECT len(list_sort(range(300000000)))",
    "repeat('x', 1500000000)": "SELECT length(repeat('x', 1500000000))",
    "list() over 400M joined rows": "SELECT len(list(x)) FROM range(10000000) t(x), range(40) u(y)",
    "string_agg of 1000 x 9 MB": "SELECT length(string_agg(repeat('x', 9000000), ',')) FROM range(1000)",
    "count over 10^13 joined rows": "SELECT count(*) FROM range(10000000) a, range(1000000) b",
}
TEMPLATES = {
    "{{ 7**(10**7) }}": "{{ 7**(10**7) }}",
    "{{ (10**5000)|string }}": "{{ (10**5000)|string }}",
    "{{ 'x' * 10**9 }}": "{{ 'x' * 10**9 }}",
    "nested loop 10^10": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "200 MB template": "SELECT 1 -- " + "y" * (200 * 1024 * 1024),
}


class _Sampler:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def __enter__(self) -> _Sampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _NoCatalog:
    def locations(self) -> dict[Any, str]:
        return {}


def _measure(fn: Any) -> tuple[str, float, int]:
    baseline = _Sampler.rss()
    with _Sampler() as sampler:
        start = time.perf_counter()
        try:
            fn()
            outcome = "200"
        except RatError as exc:
            outcome = f"{exc.status} {exc.code}"
        elapsed = time.perf_counter() - start
    return outcome, elapsed, sampler.peak - baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("results.md"))
    args = parser.parse_args()
    limit = parse_bytes(args.memory_limit)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), query_memory_limit=args.memory_limit,
                        query_timeout_seconds=args.timeout)
    service = QueryService(settings, _NoCatalog())
    service.execute("SELECT 1")
    rows = []
    for label, sql in QUERIES.items():
        outcome, elapsed, growth = _measure(lambda sql=sql: service.execute(sql))
        rows.append(("query", label, outcome, elapsed, growth))
        print(rows[-1], flush=True)
    for label, source in TEMPLATES.items():
        outcome, elapsed, growth = _measure(lambda source=source: render(source, RenderContext(namespace="ns")))
        rows.append(("template", label, outcome, elapsed, growth))
        print(rows[-1], flush=True)
    hw = hardware()
    load = os.getloadavg()[0]
    ceiling = (limit + MEMORY_MARGIN_BYTES) / 1024**2
    lines = [
        "## Query limits",
        "",
        f"Produced by `.venv/bin/python bench/bench_limits.py --memory-limit {args.memory_limit}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine: {hw['nproc']} CPUs ({hw['cpu']}), {hw['memory']}, {hw['os']}; Python "
        f"{platform.python_version()}; 1-minute load average at the end {load:.1f}.",
        f"- Query service memory limit {args.memory_limit}, statement timeout {args.timeout:g} s. The bound to "
        f"hold is the limit plus the memory guard's margin ({MEMORY_MARGIN_BYTES // 1024**2} MiB): growth "
        f"of at most {ceiling:.0f} MiB over the process's resident memory before the query.",
        "- Growth: peak resident memory of the process (sampled every 2 ms) minus its resident memory "
        "before the call. Templates are rendered in the same process (the server's parse pass).",
        "",
        "| kind | bomb | answer | time (s) | growth (MiB) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for kind, label, outcome, elapsed, growth in rows:
        cell = label.replace("|", "\\|")  # a pipe would end the table cell
        lines.append(f"| {kind} | `{cell}` | {outcome} | {elapsed:.2f} | {growth / 1024**2:.0f} |")
    worst = max(g for k, *_, g in rows if k == "query") / 1024**2
    lines += ["", f"Largest query growth {worst:.0f} MiB against the {ceiling:.0f} MiB bound.", ""]
    replace_section(args.results, "## Query limits", "\n".join(lines))
    service.close()


if __name__ == "__main__":
    main()
