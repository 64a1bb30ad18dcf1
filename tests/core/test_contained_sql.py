"""A pipeline's or test's SQL cannot close the statement RAT wraps it in and run statements of its own.

Previews run ``CREATE TEMP TABLE … AS (<sql>)``, quality tests ``SELECT … FROM (<sql>)`` and the fast write
path ``COPY (<sql>) TO …``: a text with an unbalanced ``)`` and a ``;`` used to turn each into several
statements, so a preview documented as writing nothing executed a ``COPY … TO`` of the author's choosing.
"""

from __future__ import annotations

from pathlib import Path

from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline


def escape(target: Path) -> str:
    return f"SELECT 1 AS a); COPY (SELECT 42 AS x) TO '{target}'; SELECT (1"


def test_a_preview_cannot_break_out_and_write_a_file(workspace: Workspace, ns: str, tmp_path: Path) -> None:
    make_pipeline(workspace, ns, "bronze", "p", "SELECT 1 AS a", publish=False)
    target = tmp_path / "preview.csv"
    out = workspace.preview(ns, "bronze", "p", code=escape(target))
    assert "single SELECT statement" in out["error"] and f"{ns}.bronze.p" in out["error"]
    assert not target.exists()
    # ordinary statements with trailing comments, semicolons, CTEs and unions still preview
    code = "WITH q AS (SELECT 1 AS a) (SELECT a FROM q) UNION ALL (SELECT 2); -- x"
    ok = workspace.preview(ns, "bronze", "p", code=code)
    assert ok["error"] is None and ok["rows"] == [{"a": 1}, {"a": 2}]


def test_a_run_cannot_break_out_and_write_a_file(workspace: Workspace, ns: str, tmp_path: Path) -> None:
    target = tmp_path / "run.csv"
    make_pipeline(workspace, ns, "bronze", "q", escape(target), publish=False)
    [run] = workspace.run_selection(f"{ns}.bronze.q", version="draft", wait=True, timeout=120)
    assert run.status == "failed" and "single SELECT statement" in run.error
    assert not target.exists()
    assert workspace.catalog.load(workspace.pid(ns, "bronze", "q")) is None


def test_a_quality_test_cannot_break_out_and_write_a_file(workspace: Workspace, ns: str, tmp_path: Path) -> None:
    make_pipeline(workspace, ns, "bronze", "r", "SELECT 1 AS a", publish=False)
    workspace.run_selection(f"{ns}.bronze.r", version="draft", wait=True, timeout=120)
    target = tmp_path / "test.csv"
    workspace.save_test(ns, "bronze", "r", "sneaky", escape(target), severity="warn")
    [result] = workspace.run_tests(ns, "bronze", "r")["results"]
    assert result["status"] == "error" and "quality test sneaky" in result["error"]
    assert not target.exists()
