"""The demo project `make run` seeds: it runs end to end, the upsert is incremental, the warn test fires."""

from __future__ import annotations

from rat_jupyter import demo
from rat_jupyter.core.workspace import Workspace


def test_demo_project_runs_and_exercises_the_features_it_shows(workspace: Workspace) -> None:
    runs = demo.seed(workspace)
    assert {r.name: r.status for r in runs} == {
        "orders": "success", "customers": "success", "revenue_by_day": "success", "revenue_by_region": "success"}
    assert len(runs) == 6
    silver = next(r for r in runs if r.layer == "silver" and r.name == "orders")
    results = {q["test"]: q for q in workspace.get_run(silver.id)["quality"]}
    assert results["amount_positive"]["severity"] == "warn" and results["amount_positive"]["status"] == "fail"
    assert results["order_id_unique"]["status"] == "pass"
    # a second run of the incremental pipeline reads only rows newer than the watermark
    again = workspace.run_selection("demo.silver.orders", wait=True, timeout=120)[0]
    assert again.status == "success" and again.rows_written == 0
    assert workspace.query("SELECT count(*) AS n FROM demo.silver.orders")["rows"] == [{"n": 3000}]
    assert demo.seed(workspace) == []  # idempotent: an existing demo is left alone
    assert demo.main(["--data-dir", str(workspace.settings.data_dir / "other"), "--no-run"]) == 0
