"""RAT inside a real JupyterLab (under /user/alice/): the commands, the RAT drive, the sidebar, the panels and
the notebook integration, end to end through the browser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Lab, LabServer, unique

PUBLIC_COMMANDS = [
    "rat:open-sidebar", "rat:new-pipeline", "rat:run-pipeline", "rat:preview-pipeline", "rat:publish-pipeline",
    "rat:open-runs", "rat:open-run", "rat:open-query", "rat:open-lineage", "rat:open-explorer",
    "rat:open-landing", "rat:open-schedules",
]


@pytest.fixture(scope="module")
def shop(lab_server: LabServer) -> dict[str, Any]:
    """A namespace with a bronze pipeline that reads nothing and a silver one that reads it."""
    ns = unique("lab")
    lab_server.api("POST", "namespaces", {"name": ns})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "orders",
                                         "source": "SELECT 1 AS id, 'a' AS item UNION ALL SELECT 2, 'b'"})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "silver", "name": "orders_clean",
                                         "source": "SELECT id, upper(item) AS item FROM {{ ref('bronze.orders') }}"})
    return {"ns": ns}


def test_every_command_id_exists_in_palette_and_menu(lab: Lab, shop: dict[str, Any]) -> None:
    lab.open()
    missing = lab.page.evaluate("(ids) => ids.filter(id => !window.jupyterapp.commands.hasCommand(id))",
                                PUBLIC_COMMANDS)
    assert missing == []
    lab.page.click("text=RAT >> xpath=ancestor-or-self::li[contains(@class,'lm-MenuBar-item')]")
    lab.page.wait_for_selector("#rat-menu")
    labels = lab.page.locator("#rat-menu .lm-Menu-itemLabel").all_inner_texts()
    assert "Run RAT Pipeline" in labels and "RAT Runs" in labels
    lab.page.keyboard.press("Escape")
    lab.page.wait_for_selector(f"#rat-sidebar [data-key='{shop['ns']}']")
    lab.shot("lab-sidebar-light")
    lab.assert_no_console_errors()


def _editor_text(lab: Lab) -> str:
    return str(lab.page.evaluate("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        return w && w.context ? w.context.model.toString() : '';
    }"""))


def _replace_editor_text(lab: Lab, text: str) -> None:
    """Type into the CodeMirror editor in view (as a user would: select all, type)."""
    editor = lab.page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-FileEditor .cm-content").first
    editor.click()
    lab.page.keyboard.press("Control+A")
    lab.page.keyboard.type(text)
    lab.page.wait_for_function("(t) => { const w = window.jupyterapp.shell.currentWidget;"
                               " return w && w.context && w.context.model.toString() === t; }", arg=text)


def test_drive_edit_save_run_logs_query_lineage(lab: Lab, lab_server: LabServer, shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    lab.open()
    # the storage browser lists the namespace as a folder of the RAT drive
    lab.command("rat:open-files")
    lab.page.wait_for_selector(f"#rat-files .jp-DirListing-item[title*='{ns}'], #rat-files >> text={ns}")

    # open from the drive (through the sidebar), with SQL highlighting, edit and save through the API
    lab.open_pipeline(ns, "bronze", "orders")
    assert "SELECT 1 AS id" in _editor_text(lab)
    # the editor picked SQL (its highlighting) from the file: Jinja SQL, once loaded
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.model.mimeType === 'text/x-rat-jinja-sql'")
    new_sql = "SELECT 1 AS id, 'a' AS item UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c'"
    _replace_editor_text(lab, new_sql)
    lab.page.keyboard.press("Control+S")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    stored = lab_server.api("GET", f"files/{ns}/pipelines/bronze/orders/pipeline.sql")
    assert stored["content"] == new_sql

    # run from the editor's toolbar: the run panel follows it to success, with its log
    lab.page.click(".jp-MainAreaWidget:not(.lm-mod-hidden) .rat-lab-tb-run-pipeline")
    lab.page.wait_for_selector(".rat-lab-panel .rat-status-success", timeout=90_000)
    lab.page.wait_for_selector(".rat-lab-panel [role='log'] >> text=/rows|wrote|success|committed/i")
    run_id = lab.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.path").split("/")[-1]
    assert lab_server.api("GET", f"runs/{run_id}")["status"] == "success"
    lab.shot("lab-run-light")
    lab.set_theme("JupyterLab Dark")
    lab.shot("lab-run-dark")
    lab.set_theme("JupyterLab Light")

    # the runs list shows it too
    lab.command("rat:open-runs")
    lab.page.wait_for_selector(f".rat-lab-panel a >> text={run_id[:8]} >> visible=true")

    # query its table in the console
    lab.command("rat:open-query", {"sql": f"SELECT count(*) AS n FROM {ns}.bronze.orders"})
    lab.page.click(".rat-lab-panel:visible button:has-text('Run')")
    lab.page.wait_for_selector(".rat-lab-panel:visible [data-testid='query-summary'] >> text=/1 row/")
    assert lab.page.locator(".rat-lab-panel:visible [role='grid'] >> text='3'").count() >= 1

    # lineage: a click on the pipeline node opens its file in the drive
    lab.command("rat:open-lineage")
    node = lab.page.locator(f".rat-lab-panel:visible .rat-lin-name[href='/pipelines/{ns}/silver/orders_clean']")
    node.wait_for(timeout=30_000)
    lab.shot("lab-lineage-light")
    node.click()
    lab.page.wait_for_function(
        "(p) => { const w = window.jupyterapp.shell.currentWidget; return w && w.context && w.context.path === p; }",
        arg=f"RAT:{ns}/pipelines/silver/orders_clean/pipeline.sql")
    lab.assert_no_console_errors()


def test_invalid_sql_errors_show_the_server_message(lab: Lab, lab_server: LabServer, shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "broken",
                                         "source": "SELECT 1 AS id"})
    lab.open()
    lab.page.click("#rat-sidebar button[aria-label='Refresh']")
    lab.open_pipeline(ns, "bronze", "broken")
    # an invalid template: the save is refused with the server's message
    _replace_editor_text(lab, "SELECT 1 AS id,\n{{ ref('bronze.orders' }} AS x")
    lab.page.keyboard.press("Control+S")
    dialog = lab.page.locator(".jp-Dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "Could not save" in text and "pipeline.sql" in text and "line 2" in text, text
    lab.shot("lab-save-error-light")
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    dialog.wait_for(state="detached")
    # the cursor is on the line the server named
    assert lab.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.editor.getCursorPosition().line") == 1
    stored = lab_server.api("GET", f"files/{ns}/pipelines/bronze/broken/pipeline.sql")
    assert stored["content"] == "SELECT 1 AS id"
    # invalid SQL: the preview fails with DuckDB's message
    _replace_editor_text(lab, "SELEC 1 AS id")
    lab.command("rat:preview-pipeline", wait=False)
    dialog.wait_for()
    text = dialog.inner_text()
    assert "Preview of" in text and "syntax error" in text.lower(), text
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    # JupyterLab rethrows a refused save after its dialog (an uncaught rejection of its own save command)
    lab.assert_no_console_errors(expected=("400 (Bad Request)", "uncaught: Could not save"))


def test_save_rat_sql_cell_as_pipeline_and_run_it(lab: Lab, lab_server: LabServer, shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "rat_sql", "display_name": "RAT SQL", "language": "sql"}},
          "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "%%rat sql\nSELECT 10 AS id, 'from a cell' AS origin"}]}
    lab.open()
    lab.page.evaluate("(nb) => window.jupyterapp.serviceManager.contents.save('cell.ipynb', "
                      "{type: 'notebook', format: 'json', content: nb})", nb)
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:open', {path: 'cell.ipynb'})")
    lab.page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    lab.page.click(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    lab.command("rat:save-cell-as-pipeline", wait=False)
    lab.page.wait_for_selector(".jp-Dialog .rat-lab-form")
    lab.page.select_option(".jp-Dialog select[name='namespace']", ns)
    lab.page.select_option(".jp-Dialog select[name='layer']", "gold")
    lab.page.fill(".jp-Dialog input[name='name']", "from_cell")
    lab.page.click(".jp-Dialog .jp-mod-accept")
    stored = None
    for _ in range(50):
        try:
            stored = lab_server.api("GET", f"files/{ns}/pipelines/gold/from_cell/pipeline.sql")
            break
        except OSError:
            lab.page.wait_for_timeout(200)
    assert stored is not None and stored["content"] == "SELECT 10 AS id, 'from a cell' AS origin"
    # the notification's Run starts it; the run panel reaches success
    lab.page.click(".Toastify button:has-text('Run'), .jp-toast-button:has-text('Run')")
    lab.page.wait_for_selector(".rat-lab-panel .rat-status-success", timeout=90_000)
    rows = lab_server.api("POST", "query", {"sql": f"SELECT origin FROM {ns}.gold.from_cell"})["rows"]
    assert rows == [{"origin": "from a cell"}]
    lab.assert_no_console_errors(expected=("404 (Not Found)",))


def test_panels_restore_after_reload_and_dark_sidebar(lab: Lab, shop: dict[str, Any]) -> None:
    lab.open(theme="JupyterLab Dark")
    lab.command("rat:open-schedules")
    lab.page.wait_for_selector(".rat-lab-panel:visible")
    url = lab.page.url.split("?")[0]
    lab.shot("lab-sidebar-dark")
    # Lab saves the layout a moment later (debounced): reload once the panel is in it
    for _ in range(100):
        if "rat-panels:/schedules" in json.dumps(lab.saved_workspace()):
            break
        lab.page.wait_for_timeout(200)
    else:
        pytest.fail("JupyterLab did not save the RAT panel in its layout")
    lab.page.goto(url + f"?token={lab.server.token}")
    lab.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('rat:open-runs')")
    lab.page.evaluate("() => { window.jupyterapp.restored.then(() => { window.__labRestored = true; }); }")
    lab.page.wait_for_function("() => window.__labRestored === true", timeout=90_000)
    lab.page.wait_for_selector(".lm-TabBar-tabLabel >> text='RAT Schedules'")
    bg = lab.page.evaluate("() => getComputedStyle(document.querySelector('#rat-sidebar')).backgroundColor")
    assert bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), bg
    lab.set_theme("JupyterLab Light")
    lab.assert_no_console_errors()


def test_publish_from_toolbar_then_diff_with_published(lab: Lab, lab_server: LabServer,
                                                       shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "gold", "name": "totals",
                                         "source": "SELECT 1 AS id"})
    lab.open()
    lab.page.click("#rat-sidebar button[aria-label='Refresh']")
    lab.open_pipeline(ns, "gold", "totals")
    lab.page.click(".jp-MainAreaWidget:not(.lm-mod-hidden) .rat-lab-tb-publish-pipeline")
    lab.page.fill(".jp-Dialog input[name='message']", "first cut")
    lab.page.click(".jp-Dialog .jp-mod-accept")
    lab.page.wait_for_selector(".jp-toast-message >> text=/Published .*version 1/", state="attached")
    versions = lab_server.api("GET", f"pipelines/{ns}/gold/totals/versions")["versions"]
    assert [v["message"] for v in versions] == ["first cut"]
    _replace_editor_text(lab, "SELECT 1 AS id, 2 AS two")
    lab.page.click(".jp-MainAreaWidget:not(.lm-mod-hidden) .rat-lab-tb-diff-pipeline")
    diff = lab.page.locator(".rat-lab-diff")
    diff.wait_for()
    assert diff.locator(".rat-lab-diff-del").inner_text().endswith("- SELECT 1 AS id")
    assert diff.locator(".rat-lab-diff-add").inner_text().endswith("+ SELECT 1 AS id, 2 AS two")
    lab.shot("lab-diff-light")
    lab.assert_no_console_errors()


def test_context_menu_of_the_storage_browser_runs_the_pipeline(lab: Lab, lab_server: LabServer,
                                                               shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    lab.open()
    lab.command("rat:open-files")
    listing = "#rat-files .jp-DirListing-content"
    for folder in (ns, "pipelines", "bronze", "orders"):
        lab.page.dblclick(f"{listing} .jp-DirListing-item[title^='Name: {folder}'], "
                          f"{listing} .jp-DirListing-item:has(.jp-DirListing-itemText:text-is('{folder}'))")
        lab.page.wait_for_timeout(300)
    item = lab.page.locator(f"{listing} .jp-DirListing-item:has-text('pipeline.sql')")
    item.click(button="right")
    lab.page.click(".lm-Menu-itemLabel:text-is('Run RAT Pipeline')")
    lab.page.wait_for_selector(".rat-lab-panel .rat-status-success", timeout=90_000)
    runs = lab_server.api("GET", f"runs?namespace={ns}&pipeline=orders")["runs"]
    assert any(r["trigger"] == "jupyterlab" and r["status"] == "success" for r in runs)
    lab.assert_no_console_errors()


def test_open_pipeline_in_notebook_for_sql_and_python_pipelines(lab: Lab, lab_server: LabServer) -> None:
    """The Notebook action writes the server's notebook on the pipeline: a RAT SQL notebook holding the SQL and
    its quality test (with the ``-- @this:`` line that lets the test's ``{{ this }}`` run in a cell), and a
    Python notebook of ``%rat`` magics for a Python pipeline, which has no ``pipeline.sql``."""
    ns = unique("labnb")
    lab_server.api("POST", "namespaces", {"name": ns})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "sql_one",
                                         "source": "SELECT 1 AS id"})
    lab_server.api("POST", f"pipelines/{ns}/bronze/sql_one/tests",
                   {"name": "ids", "sql": "SELECT * FROM {{ this }} WHERE id IS NULL"})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "py_one", "type": "python",
                                         "source": "result = duckdb_conn.sql('SELECT 1 AS id').arrow()\n"})
    lab.open()
    notebooks: dict[str, Any] = {}
    for name in ("sql_one", "py_one"):
        path = f"rat-{ns}.bronze.{name}.ipynb"
        lab.command("rat:open-pipeline-in-notebook", {"namespace": ns, "layer": "bronze", "name": name})
        notebooks[name] = lab.page.evaluate(
            "(p) => window.jupyterapp.serviceManager.contents.get(p).then((m) => m.content)", path)
    sql_nb, py_nb = notebooks["sql_one"], notebooks["py_one"]
    assert sql_nb["metadata"]["kernelspec"]["name"] == "rat_sql"
    sql_code = [c["source"] for c in sql_nb["cells"] if c["cell_type"] == "code"]
    assert sql_code == [f"%namespace {ns}", "SELECT 1 AS id",
                        "-- @this: bronze.sql_one\nSELECT * FROM {{ this }} WHERE id IS NULL"]
    assert py_nb["metadata"]["kernelspec"]["name"] == "python3"
    py_code = "\n".join(c["source"] for c in py_nb["cells"] if c["cell_type"] == "code")
    assert f"%%rat pipeline {ns}.bronze.py_one\nresult = duckdb_conn.sql('SELECT 1 AS id').arrow()" in py_code
    lab.assert_no_console_errors()


def test_validate_says_valid_and_without_a_pipeline_how_to_pick_one(lab: Lab, shop: dict[str, Any]) -> None:
    ns = shop["ns"]
    lab.open()
    lab.command("rat:validate-pipeline", {"namespace": ns, "layer": "silver", "name": "orders_clean"})
    lab.page.get_by_text(f"{ns}.silver.orders_clean is valid").first.wait_for()
    # no arguments and no pipeline file in view: a dialog says how to pick one
    lab.command("rat:validate-pipeline", wait=False)
    dialog = lab.page.locator(".jp-Dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "Nothing to validate" in text and "RAT sidebar" in text, text
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    lab.assert_no_console_errors()


def _rename_from_sidebar(lab: Lab, ns: str, layer: str, name: str, new: str) -> None:
    """Right-click the pipeline's row, pick Rename…, type the new name in the dialog, confirm."""
    lab.page.click(f"#rat-sidebar [data-key='{ns}/layer/{layer}/{name}'] .rat-lab-label", button="right")
    lab.page.click(".lm-Menu-itemLabel:text-is('Rename…')")
    dialog = lab.page.get_by_role("dialog")
    field = dialog.get_by_role("textbox", name="New name")
    assert field.input_value() == name
    field.fill(new)
    dialog.get_by_role("button", name="Rename").click()


def test_rename_a_pipeline_from_the_sidebar(lab: Lab, lab_server: LabServer) -> None:
    """Rename… in a pipeline row's context menu: a pipeline others ref() is refused with the server's message
    naming them; one that nothing reads is renamed, its table's data read under the new name."""
    ns = unique("labmv")
    lab_server.api("POST", "namespaces", {"name": ns})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "raw",
                                         "source": "SELECT 1 AS id UNION ALL SELECT 2"})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "silver", "name": "clean",
                                         "source": "SELECT * FROM {{ ref('bronze.raw') }}"})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "gold", "name": "solo",
                                         "source": "SELECT 42 AS answer"})
    started = lab_server.api("POST", "runs", {"namespace": ns, "layer": "gold", "pipeline": "solo",
                                              "version": "draft"})
    assert lab_server.wait_run(started["run_id"])["status"] == "success"
    lab.open()
    lab.expand_namespace(ns)
    lab.page.wait_for_selector(f"#rat-sidebar [data-key='{ns}/layer/bronze/raw']")

    _rename_from_sidebar(lab, ns, "bronze", "raw", "landed")
    error = lab.page.locator(".jp-Dialog")
    error.get_by_text(f"Could not rename {ns}.bronze.raw").wait_for()
    text = error.inner_text()
    assert f"{ns}.silver.clean" in text and "ref()" in text, text
    lab.shot("lab-rename-refused")
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    assert lab_server.api("GET", f"pipelines/{ns}/bronze/raw")["name"] == "raw"

    _rename_from_sidebar(lab, ns, "gold", "solo", "answer")
    lab.page.wait_for_selector(f"#rat-sidebar [data-key='{ns}/layer/gold/answer']")
    assert lab.page.locator(f"#rat-sidebar [data-key='{ns}/layer/gold/solo']").count() == 0
    rows = lab_server.api("POST", "query", {"sql": f"SELECT answer FROM {ns}.gold.answer"})["rows"]
    assert rows == [{"answer": 42}]
    lab.assert_no_console_errors(expected=("409 (Conflict)",))  # the refused rename, shown in its dialog
