"""RAT inside a real JupyterLab (under /user/alice/): the commands, the RAT drive, the sidebar, the panels and
the notebook integration, end to end through the browser."""

from __future__ import annotations

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
