"""``examples/notebook-walkthrough.ipynb``, executed by nbclient against a real Jupyter server, and the job magics
as clients of that server.

The walkthrough runs twice: in a kernel the server started (client mode: the server executes its runs, they
are in ``GET /runs``, its schedules in ``GET /schedules``) and in a kernel with no server (local mode). Both
give the same outputs once run ids, times and durations are blanked — the magics behave the same in both
modes. The client-mode tests also check that what a cell does is what the REST API sees (and the reverse),
and that a magic's error is the server's own message.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from rat_jupyter.kernel.frontdoor import LOCAL_NOTICE
from rat_jupyter.kernel.install import install_kernelspec
from tests.handlers.conftest import Api, api, create_pipeline, rat_data_dir, wait_run  # noqa: F401
from tests.kernel.conftest import text_of
from tests.kernel.test_client_mode import BUSY_PY, newest_run, server_kernel

pytestmark = pytest.mark.timeout(300)

WALKTHROUGH = Path(__file__).parents[2] / "examples" / "notebook-walkthrough.ipynb"
GENERATED = "shop.silver.customers.ipynb"


@pytest.fixture
def jp_server_config(rat_data_dir: Path) -> dict[str, Any]:  # noqa: F811 - the imported fixture, configured here
    return {"ServerApp": {"jpserver_extensions": {"rat_jupyter": True}},
            "RatApp": {"data_dir": str(rat_data_dir), "concurrency": 1, "cancel_grace_seconds": 0.5}}


def load_walkthrough() -> nbformat.NotebookNode:
    nb = nbformat.read(WALKTHROUGH, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the example without outputs"
    return nb


def by_name(nb: nbformat.NotebookNode) -> dict[str, list[dict[str, Any]]]:
    return {c.metadata["name"]: c.outputs for c in nb.cells if c.cell_type == "code"}


def blanked(text: str) -> str:
    """Output text without what differs between two executions: ids, times, durations, snapshot ids,
    the mode notice, and the padding that follows the width of those values in text tables."""
    text = text.replace(LOCAL_NOTICE + "\n", "")
    # a client says so when its server is slow to claim a run (a loaded machine); local mode never waits
    text = re.sub(r"(?m)^waiting for .* to start the run\(s\): is the RAT server still running\?\n", "", text)
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "<time>", text)
    text = re.sub(r"snapshot \d+", "snapshot <n>", text)
    text = re.sub(r"\b\d[\d,]*(\.\d+)? ?(ms|s|min)\b", "<duration>", text)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"-{2,}", "--", text)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[dict[str, Any]]], Path]:
    """The walkthrough in local mode: a plain kernel, its own data directory, no server in its environment."""
    import os

    data = tmp_path_factory.mktemp("walkthrough-local")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env["RAT_DATA_DIR"] = str(data / ".rat")
    nb = load_walkthrough()
    NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=60,
                   resources={"metadata": {"path": str(data)}}).execute(env=env)
    return by_name(nb), data


async def test_walkthrough_against_a_real_server_and_in_local_mode(
        jp_serverapp: Any, jp_fetch: Any, api: Api,  # noqa: F811
        local_run: tuple[dict[str, list[dict[str, Any]]], Path]) -> None:
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel(kernel_name="python3", path="")  # cwd: the server's root dir
    nb = load_walkthrough()
    try:
        await NotebookClient(nb, km=manager.get_kernel(kernel_id), timeout=120, startup_timeout=60).async_execute()
    finally:
        await manager.shutdown_kernel(kernel_id, now=True)
    client = by_name(nb)
    for name, outputs in client.items():  # only the cells tagged raises-exception raised
        cell = next(c for c in nb.cells if c.get("metadata", {}).get("name") == name)
        raised = any(o["output_type"] == "error" for o in outputs)
        assert raised == ("raises-exception" in cell.metadata.get("tags", [])), (name, text_of(outputs))

    # What the notebook did, seen through the server's REST API.
    status, body = await api("GET", "runs", namespace="shop")
    assert status == 200
    runs = body["runs"]
    assert sorted(r["name"] for r in runs) == ["customers", "orders"]
    assert {(r["trigger"], r["status"]) for r in runs} == {("notebook", "success")}
    for run in runs:  # executed by the server, not the kernel
        assert ws.get_run(run["id"])["server_id"] == ws.runs.server_id
    versions = (await api("GET", "pipelines/shop/silver/customers/versions"))[1]
    assert [v["message"] for v in versions["versions"]] == ["customers with a quality test"]
    tests = (await api("GET", "pipelines/shop/silver/customers/tests"))[1]
    assert [t["name"] for t in tests["tests"]] == ["positive_total"]
    assert (await api("GET", "schedules", namespace="shop"))[1]["total"] == 0  # created, then deleted
    # The notebook it wrote opens through Jupyter's contents API, as the file browser would open it.
    model = json.loads((await jp_fetch("api", "contents", GENERATED)).body)
    assert model["type"] == "notebook"
    generated = nbformat.from_dict(model["content"])
    assert generated.metadata.kernelspec.name == "rat_sql"
    assert generated.cells[2].source.startswith("-- @merge_strategy: full_refresh\nSELECT customer")

    # What the notebook shows.
    text = {name: text_of(out) for name, out in client.items()}
    assert "Created sql pipeline shop.bronze.orders (draft) with merge_strategy: full_refresh" in text["orders"]
    assert "Published shop.bronze.orders as version 1: first version" in text["orders"]
    assert "+++ draft/tests/quality/positive_total.sql" in text["publish"]
    assert text["publish_again"].strip() == "Nothing to publish: shop.silver.customers: the draft is version 1"
    assert "[('orders', 'success'), ('customers', 'success')]" in text["run"]
    assert "Quality test 'positive_total' [error]: pass" in text["run"]
    assert "2 run(s) of shop, newest first" in text["runs"]
    assert "shop.silver.customers (notebook)" in text["logs"] and "status: success after" in text["logs"]
    assert "ada" in text["query"] and "3 rows, 3 columns" in client["query"][0]["data"]["text/html"]
    assert "(Europe/Paris)" in text["schedule_create"]
    assert "hour 25 is out of range (0-23)" in text["schedule_bad"]
    assert "did you mean 'shop.silver.customers'?" in text["typo"]
    assert f"Wrote {GENERATED}: 5 cells" in text["notebook"]

    # Local mode: the same outputs, but for ids, times and the mode notice.
    local, local_dir = local_run
    assert LOCAL_NOTICE in text_of(local["namespace"]) and LOCAL_NOTICE not in text["namespace"]
    assert (local_dir / GENERATED).exists()
    differences = {name: (blanked(text[name]), blanked(text_of(local[name])))
                   for name in client if blanked(text[name]) != blanked(text_of(local[name]))}
    assert differences == {}


async def test_job_magics_are_clients_of_the_server(jp_serverapp: Any, api: Api) -> None:  # noqa: F811
    async with server_kernel(jp_serverapp) as kernel:
        await create_pipeline(api, "nb", "bronze", "busy", BUSY_PY.format(seconds=20), type="python")
        content, text = await kernel.run("%config RatMagics.namespace = 'nb'\n%rat namespace")
        assert content["status"] == "ok" and "1 namespace(s)" in text, text

        # A run started through REST: the magics list it, follow it and cancel it; REST sees the cancel.
        status, body = await api("POST", "runs", {"namespace": "nb", "layer": "bronze", "pipeline": "busy"})
        assert status == 202, body
        run_id = body["run_id"]
        ws = jp_serverapp.web_app.settings["rat_workspace"]
        deadline = time.monotonic() + 60
        while not any(e["message"] == "first" for e in ws.run_logs(run_id)["logs"]):  # its code is running
            assert time.monotonic() < deadline, ws.get_run(run_id)
            await asyncio.sleep(0.1)
        content, text = await kernel.run("%rat runs nb --status running")
        assert content["status"] == "ok" and run_id in text and "manual" in text, text
        content, text = await kernel.run(f"%rat cancel {run_id[:10]}")
        assert content["status"] == "ok" and f"Cancel requested for run {run_id} (nb.bronze.busy, was running" in text
        assert (await wait_run(api, run_id))["status"] == "cancelled"
        content, text = await kernel.run(f"%rat logs {run_id} --follow --timeout 30")
        assert "info  first" in text and text.rstrip().splitlines()[-1].startswith("status: cancelled"), text

        # A run the notebook starts is in GET /runs (trigger notebook) while the cell follows it.
        await create_pipeline(api, "nb", "bronze", "quick", "SELECT 1 AS id")
        seen = {r["id"] for r in (await api("GET", "runs", namespace="nb"))[1]["runs"]}
        cell = asyncio.ensure_future(kernel.run("%rat run nb.bronze.quick"))
        run = await newest_run(api, "nb", "quick", seen)
        assert run["trigger"] == "notebook"
        content, text = await cell
        assert content["status"] == "ok" and (await wait_run(api, run["id"]))["status"] == "success", text

        # A schedule made in the notebook is the server's; a change through REST shows in the notebook.
        content, text = await kernel.run("%rat schedule create bronze.quick '*/5 * * * *'")
        assert content["status"] == "ok", text
        (schedule,) = (await api("GET", "schedules", namespace="nb"))[1]["schedules"]
        assert schedule["id"] in text and schedule["cron"] == "*/5 * * * *" and schedule["enabled"] is True
        status, _ = await api("PUT", f"schedules/{schedule['id']}", {"enabled": False})
        assert status == 200
        content, text = await kernel.run("%rat schedule list nb")
        assert "disabled" in text and "*/5 * * * *" in text, text
        content, text = await kernel.run("%rat schedule delete bronze.quick")
        assert content["status"] == "ok" and (await api("GET", "schedules"))[1]["total"] == 0, text

        # A pipeline saved from a cell is the server's draft; %rat publish makes the version REST lists.
        content, text = await kernel.run("%%rat pipeline bronze.quick\nSELECT 2 AS id")
        assert content["status"] == "ok" and "Updated nb.bronze.quick: pipeline.sql (draft)" in text, text
        status, info = await api("GET", "pipelines/nb/bronze/quick")
        assert info["draft_dirty"] is True
        content, text = await kernel.run("%rat publish bronze.quick -m 'two'")
        assert "-SELECT 1 AS id" in text and "+SELECT 2 AS id" in text and "as version 2: two" in text, text
        versions = (await api("GET", "pipelines/nb/bronze/quick/versions"))[1]["versions"]
        assert sorted(v["version"] for v in versions) == [1, 2]
        assert {v["version"]: v["message"] for v in versions}[2] == "two"

        # Errors are the server's own messages (the ones its REST API answers with).
        status, body = await api("POST", "schedules", {"namespace": "nb", "layer": "bronze", "pipeline": "quick",
                                                       "cron": "61 * * * *"})
        assert status == 400
        content, text = await kernel.run("%rat schedule create bronze.quick '61 * * * *'")
        assert content["status"] == "error" and content["evalue"].startswith(body["message"]), (body, content)
        bad_sql = "SELECT {{ ref( }}"
        status, body = await api("POST", "pipelines", {"namespace": "nb", "layer": "silver", "name": "bad",
                                                       "type": "sql", "source": bad_sql})
        assert status == 400
        content, text = await kernel.run(f"%%rat pipeline nb.silver.bad\n{bad_sql}")
        assert content["status"] == "error" and content["evalue"] == body["message"], (body, content)
        content, text = await kernel.run("%rat runs nb.bronze.quik")
        assert content["evalue"] == "pipeline nb.bronze.quik does not exist; did you mean 'nb.bronze.quick'?"


async def test_the_server_serves_the_kernel_icon(jp_serverapp: Any, jp_fetch: Any) -> None:
    """JupyterLab's launcher takes the card's icon from the kernelspec resources the server lists."""
    install_kernelspec(user=True)  # into this test's Jupyter data dir, which the server's kernelspecs search
    resp = await jp_fetch("api", "kernelspecs")
    spec = json.loads(resp.body)["kernelspecs"]["rat_sql"]
    assert spec["spec"]["display_name"] == "RAT SQL"
    assert set(spec["resources"]) >= {"logo-svg", "logo-32x32", "logo-64x64"}
    assert spec["resources"]["logo-svg"].endswith("/kernelspecs/rat_sql/logo-svg.svg")
    svg = await jp_fetch("kernelspecs", "rat_sql", "logo-svg.svg")
    assert svg.headers["Content-Type"].startswith("image/svg+xml") and b"<title>RAT SQL</title>" in svg.body
