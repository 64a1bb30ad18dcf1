"""A run's log in the browser: 10k lines over server-sent events, virtualized (a window of rows in the DOM),
level filter, "errors only", search; resuming after a dropped stream; cancel of a running run.
Screenshots: tests/browser/artifacts/runlog-*.png."""

from __future__ import annotations

import json
import time
from typing import Any

from .conftest import Portal, Server, unique
from .test_journey import wait_run

CHATTY = """import time
for i in range({n}):
    log(f"step {{i}} of the long job", "error" if i % 1000 == 999 else "info")
time.sleep({sleep})
result = pa.table({{"n": [1]}})
"""


def python_pipeline(server: Server, ns: str, name: str, n: int, sleep: float) -> None:
    server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": name, "type": "python",
                                     "source": CHATTY.format(n=n, sleep=sleep)})
    server.api("POST", f"pipelines/{ns}/bronze/{name}/publish", {"message": "log test"})


def test_ten_thousand_lines_virtualized_and_filtered(portal: Portal, rat_server: Server) -> None:
    ns = unique("log")
    rat_server.api("POST", "namespaces", {"name": ns})
    python_pipeline(rat_server, ns, "chatty", 10_000, 0)
    run_id = rat_server.api("POST", "runs", {"namespace": ns, "layer": "bronze", "pipeline": "chatty"})["run_id"]
    assert wait_run(rat_server, run_id)["status"] == "success"
    total = len(rat_server.api("GET", f"runs/{run_id}/logs")["logs"])
    assert total > 10_000

    page = portal.page
    started = time.perf_counter()
    portal.goto(f"runs/{run_id}")
    page.get_by_test_id("log-count").filter(has_text=f"{total} lines").wait_for(timeout=60_000)
    print(f"\n{total} log lines over SSE rendered in {(time.perf_counter() - started) * 1000:.0f} ms")
    assert page.locator(".rat-log-line").count() < 200  # a window, not 10k rows
    log = page.get_by_role("log", name="Run log")
    log.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.locator(f".rat-log-line[data-seq='{total}']").wait_for()

    page.get_by_label("errors only").check()
    page.get_by_test_id("log-count").filter(has_text=f"showing 10 of {total} lines").wait_for()
    page.get_by_label("errors only").uncheck()
    page.get_by_label("Search log").fill("step 4242 ")
    page.get_by_test_id("log-count").filter(has_text=f"showing 1 of {total} lines").wait_for()
    assert page.locator(".rat-log-line mark").first.text_content() == "step 4242"
    page.get_by_label("Search log").fill("")
    page.get_by_label("Level").select_option("warn")
    page.get_by_test_id("log-count").filter(has_text=f"showing 10 of {total} lines").wait_for()
    portal.shot("runlog-1-10k-filtered")
    assert portal.axe() == []
    portal.assert_no_console_errors()


def test_cancel_a_running_run(portal: Portal, rat_server: Server) -> None:
    ns = unique("cx")
    rat_server.api("POST", "namespaces", {"name": ns})
    python_pipeline(rat_server, ns, "slow", 5, 60)
    run_id = rat_server.api("POST", "runs", {"namespace": ns, "layer": "bronze", "pipeline": "slow"})["run_id"]
    page = portal.page
    portal.goto(f"runs/{run_id}")
    page.get_by_test_id("log-count").filter(has_text="lines").wait_for()
    page.locator(".rat-log-line", has_text="step 4 of the long job").wait_for(timeout=60_000)
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_test_id("run-status").filter(has_text="cancelled").wait_for(timeout=60_000)
    assert rat_server.api("GET", f"runs/{run_id}")["status"] == "cancelled"
    assert page.get_by_role("button", name="Cancel run").count() == 0
    portal.shot("runlog-2-cancelled")
    portal.assert_no_console_errors()


def test_log_stream_resumes_after_a_dropped_connection(portal: Portal, rat_server: Server) -> None:
    """The first log stream breaks after 3 events (a proxy dropping the connection, simulated by answering the
    first stream request with those events only): the viewer reconnects with ?after=3 and ends with every line
    exactly once."""
    ns = unique("rc")
    rat_server.api("POST", "namespaces", {"name": ns})
    python_pipeline(rat_server, ns, "ticker", 30, 0)
    run_id = rat_server.api("POST", "runs", {"namespace": ns, "layer": "bronze", "pipeline": "ticker"})["run_id"]
    assert wait_run(rat_server, run_id)["status"] == "success"
    lines = rat_server.api("GET", f"runs/{run_id}/logs")["logs"]
    page = portal.page
    streams: list[str] = []

    def handle(route: Any) -> None:
        if "text/event-stream" not in (route.request.headers.get("accept") or ""):
            route.continue_()
            return
        streams.append(route.request.url)
        if len(streams) > 1:
            route.continue_()
            return
        body = "".join(f"id: {ln['seq']}\nevent: log\ndata: {json.dumps(ln)}\n\n" for ln in lines[:3])
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route(f"**/runs/{run_id}/logs*", handle)
    portal.goto(f"runs/{run_id}")
    page.get_by_test_id("stream-state").filter(has_text="complete").wait_for(timeout=60_000)
    page.get_by_test_id("log-count").filter(has_text=f"{len(lines)} lines").wait_for()
    assert page.get_by_test_id("log-count").inner_text() == f"{len(lines)} lines"  # none lost, none twice
    assert len(streams) == 2, streams
    assert streams[1].endswith(f"logs?after={lines[2]['seq']}"), streams
    portal.shot("runlog-3-resumed")
    portal.assert_no_console_errors()
