"""The data pages of the portal with real data: a published table seen in the Explorer and queried in the console,
the lineage graph, a landing upload by drag and drop, schedules with their next fire times, triggers (the webhook
token shown once), settings. Each test checks axe-core and the console too. Screenshots: tests/browser/artifacts/."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import Portal, Server, unique

MOD = "Control"


@dataclass
class Seed:
    ns: str
    zone: str
    upstream: str  # bronze pipeline name
    downstream: str  # silver pipeline reading it

    @property
    def table(self) -> str:
        return f"{self.ns}.bronze.{self.upstream}"


def _wait_run(server: Server, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = server.api("GET", f"runs/{run_id}")
        if run["status"] in ("success", "failed", "cancelled"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def seed(rat_server: Server) -> Seed:
    s = Seed(unique("pp"), "raw", "orders", "clean_orders")
    rat_server.api("POST", "namespaces", {"name": s.ns, "description": "portal pages"})
    rat_server.api("POST", "landing-zones", {"namespace": s.ns, "name": s.zone, "description": "raw drops"})
    rat_server.api("POST", "pipelines", {
        "namespace": s.ns, "layer": "bronze", "name": s.upstream,
        "source": "SELECT range AS id, 'item ' || range AS label, range * 2.5 AS amount FROM range(25)"})
    rat_server.api("POST", "pipelines", {
        "namespace": s.ns, "layer": "silver", "name": s.downstream,
        "source": "SELECT id, amount FROM {{ ref('bronze." + s.upstream + "') }} WHERE amount > 10"})
    for name, layer in ((s.upstream, "bronze"), (s.downstream, "silver")):
        rat_server.api("POST", f"pipelines/{s.ns}/{layer}/{name}/publish", {"message": "v1"})
        started = rat_server.api("POST", "runs", {"namespace": s.ns, "layer": layer, "pipeline": name})
        run = _wait_run(rat_server, started["run_id"])
        assert run["status"] == "success", run
    return s


def _expected_refusals(portal: Portal, status: int) -> None:
    """Drop the browser's own "Failed to load resource" lines for refusals the test provoked on purpose (the page
    shows the server's message; the browser logs every 4xx answer regardless)."""
    marker = f"the server responded with a status of {status}"
    portal.console_errors[:] = [e for e in portal.console_errors if marker not in e]


def _text(s: str) -> str:
    return " ".join(s.split())


def _check(portal: Portal, shot: str) -> None:
    portal.page.wait_for_load_state("networkidle")
    portal.shot(shot)
    violations = portal.axe()
    assert violations == [], violations
    portal.assert_no_console_errors()


def _run_in_editor(portal: Portal, sql: str) -> None:
    editor = portal.page.get_by_role("textbox", name="SQL query (Ctrl+Enter or Cmd+Enter runs it)")
    editor.click()
    portal.page.keyboard.press(f"{MOD}+A")
    portal.page.keyboard.press("Delete")
    portal.page.keyboard.insert_text(sql)
    portal.page.keyboard.press(f"{MOD}+Enter")


def test_table_in_explorer_then_queried_in_the_console(portal: Portal, seed: Seed) -> None:
    page = portal.page
    portal.goto(f"explorer?namespace={seed.ns}")
    page.get_by_role("link", name=seed.table).click()
    page.wait_for_url(f"**/rat/explorer/{seed.ns}/bronze/{seed.upstream}")
    page.get_by_role("heading", name=seed.table).wait_for()
    for column in ("id", "label", "amount"):
        page.get_by_role("textbox", name=f"Description of column {column}").wait_for()
    # descriptions are stored through the API and shown again after a reload
    page.get_by_role("textbox", name="Description", exact=True).fill("Orders as they land <b>raw</b>")
    page.get_by_role("button", name="Save description").click()
    page.get_by_role("status").filter(has_text="Saved").wait_for()
    page.get_by_role("textbox", name="Description of column amount").fill("amount in EUR")
    page.get_by_role("button", name="Save column descriptions").click()
    page.get_by_role("status").filter(has_text="Saved").nth(1).wait_for()
    detail = portal.server.api("GET", f"tables/{seed.ns}/bronze/{seed.upstream}")
    assert detail["description"] == "Orders as they land <b>raw</b>"
    assert {c["name"]: c["description"] for c in detail["columns"]}["amount"] == "amount in EUR"
    page.reload()
    assert page.get_by_role("textbox", name="Description", exact=True).input_value() == "Orders as they land <b>raw</b>"
    assert page.locator("b", has_text="raw").count() == 0  # user text is never HTML
    _check(portal, "explorer-table")

    page.get_by_role("tab", name="Preview").click()
    page.get_by_role("grid", name="Preview rows").get_by_role("gridcell", name="item 3", exact=True).wait_for()
    page.get_by_role("tab", name="History").click()
    page.get_by_role("grid", name="Snapshots").get_by_role("gridcell", name="append").first.wait_for()

    page.locator("main").get_by_role("link", name="Query", exact=True).click()
    page.wait_for_url("**/rat/query?sql=*")
    page.get_by_role("button", name=f"Show columns of {seed.table}").click()
    page.get_by_role("button", name="amount decimal(21,1)").wait_for()
    # completion knows the tables: typing the namespace offers its layers, then tables
    editor = page.get_by_role("textbox", name="SQL query (Ctrl+Enter or Cmd+Enter runs it)")
    editor.click()
    page.keyboard.press(f"{MOD}+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(f"SELECT * FROM {seed.ns}.bro")
    page.keyboard.press(f"{MOD}+Space")
    page.locator(".cm-tooltip-autocomplete").get_by_text("bronze", exact=True).wait_for()
    page.keyboard.press("Escape")
    _run_in_editor(portal, f"SELECT id, label, amount, id * 1000 AS big FROM {seed.table} ORDER BY id")
    grid = page.get_by_role("grid", name="Query results")
    grid.get_by_role("gridcell", name="item 24", exact=True).wait_for()
    assert page.get_by_test_id("query-summary").inner_text().startswith("25 rows")
    # cells are typed: numbers right-aligned class, text class
    assert "rat-type-number" in (grid.get_by_role("gridcell", name="24000", exact=True).get_attribute("class") or "")
    assert "rat-type-number" in (grid.get_by_role("gridcell", name="60", exact=True).get_attribute("class") or "")
    assert "rat-type-string" in (grid.get_by_role("gridcell", name="item 24").get_attribute("class") or "")
    _check(portal, "query-results")

    # truncated results say so, with the server's count of the whole result ("N of M")
    page.get_by_role("combobox", name="Row limit").select_option("100")
    _run_in_editor(portal, "SELECT * FROM range(150)")
    page.get_by_test_id("query-summary").filter(has_text="truncated").wait_for()
    assert "showing 100 of 150 rows (truncated at the limit)" in page.get_by_test_id("query-summary").inner_text()

    # CSV export downloads what the grid shows
    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    path = info.value.path()
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    assert text.startswith("range\r\n0\r\n1\r\n")
    assert text.count("\r\n") == 101


def test_query_error_shows_the_servers_message(portal: Portal, seed: Seed) -> None:
    portal.goto("query")
    _run_in_editor(portal, f"SELECT nope FROM {seed.table}")
    alert = portal.page.get_by_role("alert")
    alert.wait_for()
    try:
        portal.server.api("POST", "query", {"sql": f"SELECT nope FROM {seed.table}"})
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    else:  # pragma: no cover - the query is invalid
        raise AssertionError("the query should fail")
    assert _text(body["message"]) in _text(alert.inner_text())
    assert body["code"] in alert.inner_text()
    _run_in_editor(portal, "COPY (SELECT 1) TO 'x.csv'")
    portal.page.get_by_role("alert").filter(has_text="QUERY_ERROR").wait_for()
    _expected_refusals(portal, 400)
    _check(portal, "query-error")


def test_lineage_shows_the_pipelines_and_opens_a_pipeline(portal: Portal, seed: Seed) -> None:
    page = portal.page
    portal.goto(f"lineage?namespace={seed.ns}")
    status = page.get_by_test_id("lineage-status")
    status.filter(has_text="nodes").wait_for()
    # landing zone, 2 pipelines, 2 tables
    assert status.get_attribute("data-nodes") == "5"
    for name in (seed.upstream, seed.downstream, seed.zone):
        page.locator(".react-flow__node").filter(has_text=name).first.wait_for()
    node = page.locator(".react-flow__node", has=page.locator(".rat-lin-pipeline")).filter(has_text=seed.downstream)
    assert "success" in (node.text_content() or "")
    assert "tests 0" in (node.text_content() or "")
    _check(portal, "lineage")

    # focus on the silver pipeline at depth 1: its input table and its output table, and "expand" for more
    page.goto(portal.server.portal(f"lineage?focus=pipeline:{seed.ns}.silver.{seed.downstream}&depth=1"))
    status.filter(has_text="3 nodes").wait_for()
    page.get_by_role("button", name=f"Show 1 more neighbour of {seed.ns}.bronze.{seed.upstream}").click()
    status.filter(has_text="4 nodes").wait_for()

    # a click on a pipeline node opens its page
    node.locator(".rat-lin-kind").click()
    page.wait_for_url(f"**/rat/pipelines/{seed.ns}/silver/{seed.downstream}")
    portal.assert_no_console_errors()


def test_landing_upload_by_drag_and_drop(portal: Portal, seed: Seed) -> None:
    page = portal.page
    portal.goto(f"landing/{seed.ns}/{seed.zone}")
    page.get_by_role("heading", name=f"{seed.ns}.{seed.zone}").wait_for()
    payload = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(20_000))
    transfer = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
            dt.items.add(new File([text], 'drop me.csv', { type: 'text/csv' })); return dt; }""", payload)
    zone = page.get_by_test_id("dropzone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    page.get_by_role("list", name="Uploads").get_by_text("uploaded").wait_for()
    progress = page.get_by_role("progressbar", name="Upload of drop me.csv")
    assert progress.evaluate("e => [e.value, e.max]") == [len(payload), len(payload)]
    grid = page.get_by_role("grid", name=f"Files in {seed.ns}.{seed.zone}")
    grid.get_by_role("gridcell", name="drop me.csv", exact=True).wait_for()
    files = portal.server.api("GET", f"landing-zones/{seed.ns}/{seed.zone}/files")["files"]
    assert [f["filename"] for f in files] == ["drop me.csv"]
    assert files[0]["size_bytes"] == len(payload)

    # an upload the server refuses shows its message
    bad = page.evaluate_handle(
        """() => { const dt = new DataTransfer(); dt.items.add(new File(['x'], '_hidden.csv')); return dt; }""")
    zone.dispatch_event("drop", {"dataTransfer": bad})
    page.get_by_role("alert").filter(has_text="Upload of _hidden.csv failed").wait_for()
    assert "INVALID_ARGUMENT" in page.get_by_role("alert").filter(has_text="_hidden.csv").inner_text()
    _expected_refusals(portal, 400)

    # samples: added with the file picker (the keyboard path), listed, deleted
    page.get_by_label("Sample file to add").set_input_files(
        files=[{"name": "sample.csv", "mimeType": "text/csv", "buffer": b"id,name\n1,a\n"}])
    page.get_by_role("link", name="sample.csv").wait_for()
    samples = portal.server.api("GET", f"landing-zones/{seed.ns}/{seed.zone}/samples")["samples"]
    assert [s["path"].rsplit("/", 1)[-1] for s in samples] == ["sample.csv"]
    page.get_by_role("button", name="Delete sample sample.csv").click()
    page.get_by_role("link", name="sample.csv").wait_for(state="detached")

    page.get_by_role("spinbutton", name="Keep processed files (days)").fill("12")
    page.get_by_role("checkbox", name="Purge processed files older than that automatically").check()
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("status").filter(has_text="Saved").wait_for()
    assert portal.server.api("GET", f"landing-zones/{seed.ns}/{seed.zone}/lifecycle") == {
        "processed_max_age_days": 12, "auto_purge": True}
    _check(portal, "landing-zone")


def test_landing_zones_created_and_deleted_in_the_page(portal: Portal, seed: Seed) -> None:
    page = portal.page
    portal.goto("landing")
    page.get_by_role("button", name="New zone").click()
    dialog = page.get_by_role("dialog", name="New landing zone")
    dialog.get_by_role("combobox", name="Namespace").select_option(seed.ns)
    dialog.get_by_role("textbox", name="Name").fill("Bad-Name")
    dialog.get_by_role("button", name="Create zone").click()
    dialog.get_by_role("alert").wait_for()
    assert "INVALID_ARGUMENT" in dialog.get_by_role("alert").inner_text()
    _expected_refusals(portal, 400)
    dialog.get_by_role("textbox", name="Name").fill("scratch")
    dialog.get_by_role("button", name="Create zone").click()
    page.wait_for_url(f"**/rat/landing/{seed.ns}/scratch")
    portal.goto("landing")
    page.get_by_role("button", name=f"Delete zone {seed.ns}.scratch").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete zone and files").click()
    page.get_by_role("link", name=f"{seed.ns}.scratch").wait_for(state="detached")
    zones = portal.server.api("GET", "landing-zones")["zones"]
    assert f"{seed.ns}.scratch" not in {f"{z['namespace']}.{z['name']}" for z in zones}
    _check(portal, "landing")


def test_create_a_schedule_and_see_its_next_fire_times(portal: Portal, seed: Seed) -> None:
    page = portal.page
    portal.goto("schedules")
    page.get_by_role("note").filter(has_text="nothing fires while no server").wait_for()
    form = page.get_by_role("form", name="New schedule")
    form.get_by_role("combobox", name="Pipeline").select_option(f"{seed.ns}.bronze.{seed.upstream}")
    form.get_by_role("button", name="Weekdays at 06:00").click()
    form.get_by_role("combobox", name="Time zone").fill("Europe/Paris")
    times = form.get_by_test_id("fire-times").locator("time")
    times.nth(4).wait_for()
    shown = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times.evaluate_all(
        "els => els.map(e => e.getAttribute('datetime'))")]
    assert len(shown) == 5 and shown == sorted(shown)
    assert all(t.astimezone(ZoneInfo("Europe/Paris")).weekday() < 5 for t in shown)
    assert all(t.astimezone(ZoneInfo("Europe/Paris")).hour == 6 for t in shown)
    form.get_by_role("textbox", name="Cron (minute hour day month weekday)").fill("61 * * * *")
    form.get_by_test_id("cron-problem").filter(has_text="minute 61 is out of range (0-59)").wait_for()
    form.get_by_role("button", name="Weekdays at 06:00").click()
    form.get_by_role("button", name="Create schedule").click()
    form.get_by_role("status").filter(has_text="Created").wait_for()
    mine = [s for s in portal.server.api("GET", "schedules")["schedules"] if s["namespace"] == seed.ns]
    assert len(mine) == 1 and mine[0]["cron"] == "0 6 * * mon-fri" and mine[0]["timezone"] == "Europe/Paris"
    # the browser's first fire time is the server's next_run_at
    assert datetime.fromisoformat(mine[0]["next_run_at"]) == shown[0]
    table = page.get_by_role("table", name="Cron schedules")
    name = f"{seed.ns}.bronze.{seed.upstream}"
    table.get_by_role("button", name=f"Show the next five fire times of {name}").click()
    assert table.get_by_test_id("fire-times").locator("time").count() == 5
    table.get_by_role("checkbox", name=f"Schedule of {name} enabled").uncheck()
    page.get_by_role("cell", name="disabled").wait_for()
    assert portal.server.api("GET", f"schedules/{mine[0]['id']}")["enabled"] is False
    # a refusal by the server is shown with its message
    form.get_by_role("combobox", name="Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Create schedule").click()
    form.get_by_role("alert").filter(has_text="unknown time zone 'Mars/Olympus'").wait_for()
    _expected_refusals(portal, 400)
    _check(portal, "schedules")
    portal.server.api("DELETE", f"schedules/{mine[0]['id']}")


def test_triggers_of_every_type_and_the_webhook_token_shown_once(portal: Portal, seed: Seed) -> None:
    page = portal.page
    target = f"{seed.ns}.silver.{seed.downstream}"
    portal.goto(f"schedules?pipeline={target}")
    form = page.get_by_role("form", name=f"New trigger for {target}")
    kind = form.get_by_role("combobox", name="Type")

    kind.select_option("cron")
    form.get_by_role("button", name="Hourly").click()
    form.get_by_role("button", name="Create trigger").click()
    kind.select_option("cron_dependency")
    form.get_by_role("checkbox", name=f"{seed.ns}.bronze.{seed.upstream}").check()
    form.get_by_role("button", name="Create trigger").click()
    kind.select_option("pipeline_success")
    form.get_by_role("combobox", name="Upstream pipeline").select_option(f"{seed.ns}.bronze.{seed.upstream}")
    form.get_by_role("button", name="Create trigger").click()
    kind.select_option("landing_zone_upload")
    form.get_by_role("combobox", name="Landing zone").select_option(f"{seed.ns}.{seed.zone}")
    form.get_by_role("spinbutton", name="Cooldown (seconds between two firings)").fill("60")
    form.get_by_role("button", name="Create trigger").click()
    kind.select_option("file_pattern")
    form.get_by_role("combobox", name="Landing zone").select_option(f"{seed.ns}.{seed.zone}")
    form.get_by_role("textbox", name="File name pattern (glob on the original name)").fill("orders_*.csv")
    form.get_by_role("button", name="Create trigger").click()
    table = page.get_by_role("table", name=f"Triggers of {target}")
    table.get_by_role("cell", name="file_pattern", exact=True).wait_for()

    kind.select_option("webhook")
    form.get_by_role("button", name="Create trigger").click()
    dialog = page.get_by_role("dialog", name="Webhook token")
    token = dialog.get_by_test_id("webhook-token").inner_text().strip()
    assert len(token) == 64
    _check(portal, "webhook-token")
    dialog.get_by_role("button", name="I have stored it").click()
    assert page.get_by_text(token).count() == 0

    triggers = portal.server.api("GET", f"pipelines/{seed.ns}/silver/{seed.downstream}/triggers")["triggers"]
    assert sorted(t["type"] for t in triggers) == sorted(
        ["cron", "cron_dependency", "pipeline_success", "landing_zone_upload", "file_pattern", "webhook"])
    by_type = {t["type"]: t for t in triggers}
    assert by_type["file_pattern"]["config"]["pattern"] == "orders_*.csv"
    assert by_type["landing_zone_upload"]["cooldown_seconds"] == 60
    assert by_type["cron_dependency"]["config"]["dependencies"] == [f"{seed.ns}.bronze.{seed.upstream}"]
    assert all("webhook_token" not in t for t in triggers)
    # the token shown works (outside Jupyter's authentication)
    req = urllib.request.Request(f"{portal.server.root}rat/api/v1/webhooks", data=b"", method="POST",
                                 headers={"X-Webhook-Token": token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201
        _wait_run(portal.server, json.loads(resp.read())["run_id"])
    for t in triggers:
        table.get_by_role("button", name=f"Delete trigger {t['type']}", exact=True).click()
    table.get_by_role("cell", name="No triggers").wait_for()
    portal.assert_no_console_errors()


def test_settings_show_backends_edit_retention_and_run_the_reaper(portal: Portal) -> None:
    page = portal.page
    portal.goto("settings")
    backends = page.get_by_role("table", name="Backends")
    backends.get_by_role("cell", name="local", exact=True).wait_for()
    page.get_by_role("table", name="Readiness checks").get_by_role("cell", name="ok").first.wait_for()
    field = page.get_by_role("spinbutton", name="runs_max_per_pipeline")
    before = portal.server.api("GET", "admin/retention/config")["runs_max_per_pipeline"]
    field.fill(str(before + 7))
    page.get_by_role("button", name="Save retention").click()
    page.get_by_role("status").filter(has_text="Saved").wait_for()
    assert portal.server.api("GET", "admin/retention/config")["runs_max_per_pipeline"] == before + 7
    field.fill("0")
    page.get_by_role("button", name="Save retention").click()
    alert = page.get_by_role("alert").filter(has_text="Could not save the retention settings")
    alert.wait_for()
    assert "INVALID_ARGUMENT" in alert.inner_text()
    _expected_refusals(portal, 400)
    page.get_by_role("button", name="Run now").click()
    page.get_by_role("table", name="This run").wait_for()
    _check(portal, "settings")
    portal.server.api("PUT", "admin/retention/config", {"runs_max_per_pipeline": before})


@pytest.mark.parametrize("path", ["query", "explorer", "lineage", "landing", "schedules", "settings"])
def test_pages_are_accessible_in_the_light_theme(portal: Portal, seed: Seed, path: str) -> None:
    page = portal.page
    page.add_init_script("localStorage.setItem('rat.theme', 'light')")
    portal.goto(path if path != "lineage" else f"lineage?namespace={seed.ns}")
    page.wait_for_selector("main h1")
    if path == "lineage":
        page.get_by_test_id("lineage-status").filter(has_text="nodes").wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    _check(portal, f"light-{path}")
