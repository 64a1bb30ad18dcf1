"""The RAT drive's editors in a real JupyterLab: a refused save marks its line (gutter marker, highlighted and
underlined line, the message on hover, a notification) until the file is fixed and saved; pipeline SQL is
highlighted as Jinja SQL, its Jinja parts with classes of their own."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Lab, LabServer, unique

SOURCE = ("-- @merge_strategy: full_refresh\n"
          "SELECT id, upper(item) AS item\n"
          "FROM {{ ref('bronze.orders') }}\n"
          "{% if is_incremental() %}WHERE id > 0{% endif %}")
EDITOR = ".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-FileEditor"


@pytest.fixture(scope="module")
def pipelines(lab_server: LabServer) -> dict[str, Any]:
    ns = unique("ed")
    lab_server.api("POST", "namespaces", {"name": ns})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "bronze", "name": "orders",
                                         "source": "SELECT 1 AS id, 'a' AS item"})
    lab_server.api("POST", "pipelines", {"namespace": ns, "layer": "silver", "name": "orders_clean",
                                         "source": SOURCE})
    return {"ns": ns}


def _type(lab: Lab, text: str) -> None:
    lab.page.locator(f"{EDITOR} .cm-content").first.click()
    lab.page.keyboard.press("Control+A")
    lab.page.keyboard.press("Delete")
    # typed line by line: Enter would auto-indent, so each line starts from the line's beginning
    for i, line in enumerate(text.split("\n")):
        if i:
            lab.page.keyboard.press("Enter")
            lab.page.keyboard.press("Shift+Home")
            lab.page.keyboard.press("Delete")
        lab.page.keyboard.insert_text(line)
    lab.page.wait_for_function("(t) => window.jupyterapp.shell.currentWidget.context.model.toString() === t",
                               arg=text)


def _save(lab: Lab) -> None:
    lab.page.keyboard.press("Control+S")


def test_jinja_sql_highlighting(lab: Lab, pipelines: dict[str, Any]) -> None:
    lab.open()
    lab.open_pipeline(pipelines["ns"], "silver", "orders_clean")
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.model.mimeType === 'text/x-rat-jinja-sql'")
    jinja = lab.page.locator(f"{EDITOR} .rat-lab-jinja-expression").first
    jinja.wait_for()
    assert jinja.inner_text() == "{{ ref('bronze.orders') }}"
    assert lab.page.locator(f"{EDITOR} .rat-lab-jinja-statement").all_inner_texts() == [
        "{% if is_incremental() %}", "{% endif %}"]
    assert lab.page.locator(f"{EDITOR} .rat-lab-annotation").inner_text() == "-- @merge_strategy: full_refresh"
    # SQL keeps its own highlighting: SELECT is a styled token, outside every Jinja mark, and looks different
    styles = lab.page.evaluate("""(sel) => {
        const root = document.querySelector(sel);
        const find = (text) => [...root.querySelectorAll('.cm-line span')].find((s) => s.textContent === text);
        const sel_ = find('SELECT');
        const style = (e) => { const s = getComputedStyle(e); return [s.color, s.backgroundColor].join(' '); };
        const jinja = root.querySelector('.rat-lab-jinja-expression');
        return { selectClass: sel_.className, inJinja: !!sel_.closest('.rat-lab-jinja'),
                 select: style(sel_), jinja: style(jinja) };
    }""", EDITOR)
    assert styles["selectClass"] and not styles["inJinja"], styles
    assert styles["select"] != styles["jinja"], styles
    lab.shot("lab-editor-jinja-light")
    lab.assert_no_console_errors()


def test_a_refused_save_marks_its_line_until_fixed(lab: Lab, lab_server: LabServer,
                                                   pipelines: dict[str, Any]) -> None:
    ns = pipelines["ns"]
    lab.open()
    lab.open_pipeline(ns, "silver", "orders_clean")
    # a template that does not parse (the save validates it): the closing parenthesis of ref( is missing
    bad = "SELECT id, upper(item) AS item\nWHERE id = 1\nFROM {{ ref('bronze.orders' }}"
    _type(lab, bad)
    _save(lab)
    dialog = lab.page.locator(".jp-Dialog")
    dialog.wait_for()
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    dialog.wait_for(state="detached")

    # the marker in the gutter, at the line the server named, with its message on hover
    marker = lab.page.locator(f"{EDITOR} .rat-lab-diag-gutter .rat-lab-diag-marker.rat-lab-diag-error")
    marker.wait_for()
    assert marker.count() == 1
    message = marker.get_attribute("title") or ""
    assert "line 3" in message.lower() or "expected" in message.lower(), message
    line = lab.page.locator(f"{EDITOR} .cm-line.rat-lab-diag-line")
    assert line.count() == 1 and line.inner_text() == "FROM {{ ref('bronze.orders' }}"
    assert line.get_attribute("title") == message
    assert lab.page.locator(f"{EDITOR} .rat-lab-diag-underline").inner_text() == "FROM {{ ref('bronze.orders' }}"
    # marker and line at the same height
    mbox, lbox = marker.bounding_box(), line.bounding_box()
    assert mbox and lbox and abs((mbox["y"] + mbox["height"] / 2) - (lbox["y"] + lbox["height"] / 2)) < lbox["height"]
    # and a notification with the message and the line
    toast = lab.page.locator(".jp-toast-message, .Toastify__toast").filter(has_text="line 3")
    toast.first.wait_for()
    assert "pipeline.sql" in toast.first.inner_text()
    marker.hover()
    lab.shot("lab-editor-error-light")
    lab.set_theme("JupyterLab Dark")
    marker.wait_for()
    lab.shot("lab-editor-error-dark")
    lab.set_theme("JupyterLab Light")
    stored = lab_server.api("GET", f"files/{ns}/pipelines/silver/orders_clean/pipeline.sql")
    assert stored["content"] == SOURCE

    # fixed and saved: the marks are gone
    good = "SELECT id, upper(item) AS item\nFROM {{ ref('bronze.orders') }}\nWHERE id > 0"
    _type(lab, good)
    _save(lab)
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    lab.page.wait_for_selector(f"{EDITOR} .rat-lab-diag-marker", state="detached")
    assert lab.page.locator(f"{EDITOR} .rat-lab-diag-line").count() == 0
    assert lab_server.api("GET", f"files/{ns}/pipelines/silver/orders_clean/pipeline.sql")["content"] == good
    # JupyterLab rethrows a refused save after its dialog (an uncaught rejection of its own save command)
    lab.assert_no_console_errors(expected=("400 (Bad Request)", "uncaught: Could not save"))


def test_validate_marks_a_sql_grammar_error_at_its_line(lab: Lab, pipelines: dict[str, Any]) -> None:
    """A draft with broken SQL is saved (drafts may be half written); Validate names the line and marks it."""
    lab.open()
    lab.open_pipeline(pipelines["ns"], "silver", "orders_clean")
    _type(lab, "SELECT id, upper(item) AS item\nFORM {{ ref('bronze.orders') }}")
    _save(lab)
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    lab.command("rat:validate-pipeline", wait=False)  # it ends with a dialog listing the problems
    dialog = lab.page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "SQL syntax error at line 2" in dialog.inner_text()
    lab.page.click(".jp-Dialog .jp-Dialog-footer button >> nth=-1")
    dialog.wait_for(state="detached")
    marker = lab.page.locator(f"{EDITOR} .rat-lab-diag-gutter .rat-lab-diag-marker.rat-lab-diag-error")
    marker.wait_for()
    assert "SQL syntax error at line 2" in (marker.get_attribute("title") or "")
    line = lab.page.locator(f"{EDITOR} .cm-line.rat-lab-diag-line")
    assert line.count() == 1 and line.inner_text() == "FORM {{ ref('bronze.orders') }}"
    lab.shot("lab-editor-validate-sql-light")

    _type(lab, "SELECT id, upper(item) AS item\nFROM {{ ref('bronze.orders') }}")
    _save(lab)
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    lab.command("rat:validate-pipeline")
    lab.page.wait_for_selector(f"{EDITOR} .rat-lab-diag-marker", state="detached")
    lab.assert_no_console_errors()
