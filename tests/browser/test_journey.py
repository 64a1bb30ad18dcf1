"""The main journeys through the portal in a real browser, under base_url=/user/alice/:

- create a namespace and a pipeline, write SQL with ``ref()`` picked from the completion list, preview the
  unsaved text (Mod-Shift-Enter), publish with a message, run it and watch the live log reach ``success``;
- errors: invalid SQL shows the server's message at its line; a failing quality test shows the failed run, its
  structured result, and the table on ``main`` is unchanged.

No console error is allowed during a journey, and every page visited has no serious/critical axe violation.
Screenshots: tests/browser/artifacts/journey-*.png and errors-*.png.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .conftest import Portal, Server, unique

SOURCE_SQL = "SELECT * FROM (VALUES (1, 'ann'), (2, 'bob'), (3, 'cid')) AS t(id, name)"


def wait_run(server: Server, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = server.api("GET", f"runs/{run_id}")
        if run["status"] not in ("pending", "running"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.3)


def make_table(server: Server, ns: str, layer: str, name: str, sql: str, tests: dict[str, str] | None = None) -> None:
    """A published pipeline whose table exists on main (setup through the API; the UI is tested elsewhere)."""
    server.api("POST", "pipelines", {"namespace": ns, "layer": layer, "name": name, "source": sql})
    for test, body in (tests or {}).items():
        server.api("POST", f"pipelines/{ns}/{layer}/{name}/tests", {"name": test, "sql": body})
    server.api("POST", f"pipelines/{ns}/{layer}/{name}/publish", {"message": "setup"})
    started = server.api("POST", "runs", {"namespace": ns, "layer": layer, "pipeline": name})
    assert wait_run(server, started["run_id"])["status"] == "success"


def editor(portal: Portal, file: str = "pipeline.sql") -> Any:
    box = portal.page.get_by_role("textbox", name=f"Code of {file}")
    box.wait_for()
    return box


def replace_text(portal: Portal, file: str, text: str) -> None:
    editor(portal, file).click()
    portal.page.keyboard.press("Control+a")
    portal.page.keyboard.press("Delete")
    portal.page.keyboard.insert_text(text)


def check_axe(portal: Portal) -> None:
    violations = portal.axe()
    assert violations == [], violations


def test_create_write_preview_publish_run(portal: Portal, rat_server: Server) -> None:
    page = portal.page
    ns = unique("jr")
    # 1. a namespace from the Pipelines page
    portal.goto("pipelines")
    page.get_by_role("button", name="New namespace").click()
    dialog = page.get_by_role("dialog", name="New namespace")
    dialog.get_by_label("Name").fill(ns)
    dialog.get_by_role("button", name="Create namespace").click()
    page.get_by_label("Namespace").first.locator(f"option[value='{ns}']").wait_for(state="attached")
    assert rat_server.api("GET", f"namespaces/{ns}")["name"] == ns

    make_table(rat_server, ns, "bronze", "people", SOURCE_SQL)

    # 2. a pipeline from the create dialog, which lands on its Code tab
    page.get_by_role("button", name="New pipeline").click()
    dialog = page.get_by_role("dialog", name="New pipeline")
    dialog.get_by_label("Namespace", exact=True).select_option(ns)
    dialog.get_by_label("Pipeline name").fill("people_clean")
    dialog.get_by_label("Layer").select_option("silver")
    portal.shot("journey-1-create-dialog")
    dialog.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(re.compile(rf".*/user/alice/rat/pipelines/{ns}/silver/people_clean\?tab=code$"))

    # 3. SQL with ref() chosen from the completion list
    start = "-- @merge_strategy: full_refresh\nSELECT id, upper(name) AS name\nFROM {{ ref("
    replace_text(portal, "pipeline.sql", start)
    page.keyboard.type("'bronze.peo")
    option = page.locator(".cm-tooltip-autocomplete li", has_text="bronze.people").first
    option.wait_for()
    portal.shot("journey-2-ref-completion")
    page.keyboard.press("Enter")
    line = page.locator(".cm-line").nth(2).inner_text()
    assert "ref('bronze.people'" in line, line
    page.keyboard.press("End")
    rest = " }}" if line.endswith(")") else ") }}" if line.endswith("'") else "') }}"
    page.keyboard.insert_text(rest + "\nWHERE id > 1")
    assert "{{ ref('bronze.people') }}" in page.locator(".cm-content").inner_text()

    # 4. preview of the unsaved text
    page.keyboard.press("Control+Shift+Enter")
    page.get_by_test_id("preview-count").filter(has_text="showing 2 of 2 rows").wait_for()
    grid = page.get_by_role("grid", name="Preview rows")
    assert "BOB" in grid.inner_text() and "CID" in grid.inner_text() and "ANN" not in grid.inner_text()
    portal.shot("journey-3-preview")
    check_axe(portal)

    # 5. publish with a message (saves first)
    page.get_by_role("button", name="Publish…").click()
    dialog = page.get_by_role("dialog", name="Publish")
    dialog.get_by_label("Message").fill("first version from the portal")
    dialog.get_by_role("button", name=re.compile("publish", re.I)).click()
    page.get_by_test_id("editor-status").filter(has_text="published v").wait_for()
    versions = rat_server.api("GET", f"pipelines/{ns}/silver/people_clean/versions")["versions"]
    assert versions[0]["message"] == "first version from the portal"

    # 6. run it and watch the live log reach success
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r".*/user/alice/rat/runs/[0-9a-f]+$"))
    page.get_by_test_id("run-status").filter(has_text="success").wait_for(timeout=90_000)
    page.get_by_test_id("stream-state").filter(has_text="complete").wait_for()
    log = page.get_by_role("log", name="Run log")
    assert "people_clean" in log.inner_text()
    assert page.get_by_role("img", name=re.compile("phases:")).is_visible()
    portal.shot("journey-4-run-success")
    check_axe(portal)
    run_id = page.url.rsplit("/", 1)[-1]
    assert rat_server.api("GET", f"runs/{run_id}")["rows_written"] == 2

    # 7. the run is in the Runs list, with its duration and end time
    portal.goto("runs")
    row = page.get_by_role("row").filter(has_text=run_id[:8])
    row.wait_for()
    assert "success" in row.inner_text().lower()
    portal.assert_no_console_errors()


def test_invalid_sql_shows_message_at_its_line(portal: Portal, rat_server: Server) -> None:
    page = portal.page
    ns = unique("err")
    rat_server.api("POST", "namespaces", {"name": ns})
    make_table(rat_server, ns, "bronze", "src", SOURCE_SQL)
    portal.goto(f"pipelines/{ns}/bronze/src?tab=code")

    # a SQL error from the preview: DuckDB's "LINE 2:" lands on line 2
    replace_text(portal, "pipeline.sql", "SELECT 1 AS a\nFROM no_such_table_x")
    page.keyboard.press("Control+Shift+Enter")
    problems = page.get_by_role("list", name="Problems")
    problems.filter(has_text="no_such_table_x").wait_for()
    assert problems.inner_text().startswith("line 2:"), problems.inner_text()
    page.locator(".cm-line").nth(1).locator(".cm-lintRange-error").wait_for()
    assert page.locator(".cm-line").nth(0).locator(".cm-lintRange-error").count() == 0
    portal.shot("errors-1-preview-line")

    # a template error on save (Mod-S): the server refuses the file and names the line
    replace_text(portal, "pipeline.sql", "SELECT 1 AS a\n\n{% if %}\n")
    page.keyboard.press("Control+s")
    problems.filter(has_text="Jinja").wait_for()
    assert problems.inner_text().startswith("line 3:"), problems.inner_text()
    page.get_by_role("alert").filter(has_text="Jinja syntax error").wait_for()
    page.locator(".cm-line").nth(2).locator(".cm-lintRange-error").wait_for()
    portal.shot("errors-2-save-line")
    check_axe(portal)
    # the refused save is the only failed request
    refused = "status of 400 (Bad Request) (" + rat_server.portal(f"api/v1/files/{ns}/")
    portal.assert_no_console_errors(expected=(refused,))


def test_failing_quality_test_shows_failed_run_and_main_unchanged(portal: Portal, rat_server: Server) -> None:
    page = portal.page
    ns = unique("qt")
    rat_server.api("POST", "namespaces", {"name": ns})
    make_table(rat_server, ns, "silver", "people", SOURCE_SQL)
    before = rat_server.api("GET", f"tables/{ns}/silver/people")

    # new code that would change the table, and an error-severity test that fails on it
    portal.goto(f"pipelines/{ns}/silver/people?tab=quality")
    page.get_by_role("button", name="New test").click()
    page.get_by_label("Test name").fill("no_zero_ids")
    replace_text_box = page.get_by_role("textbox", name="Test SQL")
    replace_text_box.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text("SELECT * FROM {{ this }} WHERE id = 0")
    page.get_by_role("button", name="Save test").click()
    page.get_by_role("cell", name="no_zero_ids", exact=True).wait_for()

    page.get_by_role("tab", name="Code").click()
    replace_text(portal, "pipeline.sql", "SELECT id - 1 AS id, name FROM (" + SOURCE_SQL + ") AS s")
    page.get_by_role("button", name="Publish…").click()
    page.get_by_role("dialog", name="Publish").get_by_role("button", name=re.compile("publish", re.I)).click()
    page.get_by_test_id("editor-status").filter(has_text="published v2").wait_for()

    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f]+$"))
    page.get_by_test_id("run-status").filter(has_text="failed").wait_for(timeout=90_000)
    result = page.get_by_test_id("quality-no_zero_ids")
    result.wait_for()
    assert "fail" in result.inner_text().lower() and "error" in result.inner_text().lower()
    page.get_by_role("alert").filter(has_text="Run failed").wait_for()
    portal.shot("errors-3-quality-failed-run")
    check_axe(portal)

    after = rat_server.api("GET", f"tables/{ns}/silver/people")
    assert after["snapshot_id"] == before["snapshot_id"]
    assert after["row_count"] == before["row_count"] == 3
    rows = rat_server.api("POST", "query", {"sql": f"SELECT min(id) AS m FROM {ns}.silver.people"})["rows"]
    assert rows == [{"m": 1}]
    portal.assert_no_console_errors()
