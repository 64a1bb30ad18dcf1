"""Runs with write-audit-publish: main is only ever moved by a run that passed its blocking tests."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rat_jupyter.core.errors import Conflict, CycleError, NotFound
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one

pytestmark = pytest.mark.both_profiles


def main_state(ws: Workspace, ns: str, layer: str, name: str) -> tuple[int, list[dict]]:
    table = ws.catalog.load(ws.pid(ns, layer, name))
    snap = table.metadata.snapshot_by_name("main")
    return snap.snapshot_id, table.scan().to_arrow().to_pylist()


def wait_status(ws: Workspace, run_id: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ws.get_run(run_id)["status"] != status:
        assert time.monotonic() < deadline, f"run never became {status}"
        time.sleep(0.05)


def test_failing_error_test_leaves_main_at_its_previous_snapshot(workspace: Workspace, ns: str) -> None:
    tests = {"no_negatives": "SELECT * FROM {{ this }} WHERE v < 0"}
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS id, 5 AS v", tests=tests)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    before = main_state(workspace, ns, "silver", "t")
    location = workspace.catalog.load(workspace.pid(ns, "silver", "t")).metadata_location

    republish(workspace, ns, "silver", "t", "SELECT 1 AS id, -5 AS v UNION ALL SELECT 2, 3")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "failed"
    assert "no_negatives" in run.error and "1 violating rows" in run.error
    assert main_state(workspace, ns, "silver", "t") == before
    table = workspace.catalog.load(workspace.pid(ns, "silver", "t"))
    assert list(table.metadata.refs) == ["main"]  # the run branch is gone
    assert table.metadata.snapshot_by_name("main").snapshot_id == before[0]
    assert table.metadata_location != location  # branch work happened, but main did not move
    results = workspace.get_run(run.id)["quality"]
    assert [(r["test"], r["status"], r["violations"]) for r in results] == [("no_negatives", "fail", 1)]
    assert results[0]["sample"] == [{"id": 1, "v": -5}]


def test_failing_test_on_first_run_creates_no_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT -1 AS v", tests={"pos": "SELECT * FROM {{ this }} WHERE v < 0"})
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "failed"
    assert workspace.catalog.load(workspace.pid(ns, "silver", "t")) is None


def test_warn_test_does_not_block_publish(workspace: Workspace, ns: str) -> None:
    tests = {"soft": "-- @severity: warn\nSELECT * FROM {{ this }} WHERE v < 0"}
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS id, 1 AS v", tests=tests)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    republish(workspace, ns, "silver", "t", "SELECT 1 AS id, -1 AS v")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    assert rows(workspace, ns, "silver", "t") == [(1, -1)]
    (result,) = workspace.get_run(run.id)["quality"]
    assert (result["status"], result["severity"], result["violations"]) == ("fail", "warn", 1)
    levels = {e["level"] for e in workspace.run_logs(run.id)["logs"]}
    assert "warn" in levels


def test_quality_tests_see_the_branch_not_main(workspace: Workspace, ns: str) -> None:
    tests = {"exactly_two": "SELECT 1 WHERE (SELECT count(*) FROM {{ this }}) <> 2"}
    make_pipeline(workspace, ns, "silver", "t", "-- @merge_strategy: append_only\nSELECT 1 AS id",
                  tests={"one_or_two": "SELECT 1 WHERE (SELECT count(*) FROM {{ this }}) > 2"})
    assert run_one(workspace, ns, "silver", "t").status == "success"
    workspace.save_test(ns, "silver", "t", "exactly_two", tests["exactly_two"])
    workspace.publish_pipeline(ns, "silver", "t")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error  # the appended branch holds 2 rows, main held 1


def test_killed_worker_fails_the_run_and_leaves_main_untouched(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "result = pa.table({'v': [1, 2]})\n", type="python")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    before = main_state(workspace, ns, "silver", "t")
    republish(workspace, ns, "silver", "t", "import time\ntime.sleep(60)\nresult = pa.table({'v': [9]})\n",
              "pipeline.py")
    (run,) = workspace.run_selection(f"{ns}.silver.t")
    wait_status(workspace, run.id, "running")
    deadline = time.monotonic() + 10
    while (pid := workspace.executor.pid_of(run.id)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    (final,) = workspace.wait_for_runs([run.id], timeout=30)
    assert final["status"] == "failed"
    assert "killed" in final["error"]
    assert main_state(workspace, ns, "silver", "t") == before
    # the pool replaced the worker: the next run works
    republish(workspace, ns, "silver", "t", "result = pa.table({'v': [3]})\n", "pipeline.py")
    assert run_one(workspace, ns, "silver", "t").status == "success"


def test_cancel_stops_a_long_running_query(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "slow",
                  "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b")
    (run,) = workspace.run_selection(f"{ns}.silver.slow")
    wait_status(workspace, run.id, "running")
    # a worker starts cold (it imports DuckDB on its first task): wait for the run to reach its query, so the
    # cancel below lands on a running query and not on the set-up before it
    deadline = time.monotonic() + 60
    while not any(e["message"].startswith("Running ") for e in workspace.run_logs(run.id)["logs"]):
        assert time.monotonic() < deadline, "the run never reached its query"
        time.sleep(0.05)
    time.sleep(1.0)  # let the query get going
    worker = workspace.executor.pid_of(run.id)
    assert worker is not None
    started = time.monotonic()
    cancelled = workspace.cancel_run(run.id)
    assert cancelled["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while not any("cancelled while the query" in e["message"] for e in workspace.run_logs(run.id)["logs"]):
        assert time.monotonic() < deadline, "the query was not interrupted"
        time.sleep(0.05)
    assert time.monotonic() - started < 5
    assert worker in workspace.executor.worker_pids()  # interrupted, not killed
    assert workspace.get_run(run.id)["status"] == "cancelled"
    while workspace.executor.pid_of(run.id) is not None:  # the worker finishes its clean-up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert workspace.catalog.load(workspace.pid(ns, "silver", "slow")) is None
    with pytest.raises(Conflict):
        workspace.cancel_run(run.id)


def test_ref_to_a_missing_table_names_it(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "gold", "g", "SELECT * FROM {{ ref('silver.nowhere') }}")
    run = run_one(workspace, ns, "gold", "g")
    assert run.status == "failed"
    assert f"{ns}.silver.nowhere" in run.error and "line 1" in run.error


def test_cycle_is_reported_with_its_path(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "a", "SELECT * FROM {{ ref('silver.b') }}", publish=False)
    make_pipeline(workspace, ns, "silver", "b", "SELECT * FROM {{ ref('silver.c') }}", publish=False)
    make_pipeline(workspace, ns, "silver", "c", "SELECT * FROM {{ ref('silver.a') }}", publish=False)
    with pytest.raises(CycleError) as info:
        workspace.dag(ns, version="draft")
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and len(cycle) == 4
    assert set(cycle) == {f"{ns}.silver.a", f"{ns}.silver.b", f"{ns}.silver.c"}
    assert " -> " in str(info.value)
    report = workspace.validate_pipeline(ns, "silver", "a")
    assert not report["valid"]
    assert any("cycle" in e for f in report["files"] for e in f["errors"])


def test_selection_runs_downstream_in_dag_order_and_skips_after_failure(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "src", "SELECT 1 AS id")
    make_pipeline(workspace, ns, "silver", "ok", "SELECT id FROM {{ ref('bronze.src') }}")
    make_pipeline(workspace, ns, "silver", "bad", "SELECT id / 0 AS x, error('boom') FROM {{ ref('bronze.src') }}")
    make_pipeline(workspace, ns, "gold", "after_bad", "SELECT * FROM {{ ref('silver.bad') }}")
    make_pipeline(workspace, ns, "gold", "after_ok", "SELECT * FROM {{ ref('silver.ok') }}")
    runs = workspace.run_selection(f"{ns}.bronze.src+", wait=True, timeout=120)
    status = {r.name: r.status for r in runs}
    assert status == {"src": "success", "ok": "success", "bad": "failed", "after_ok": "success",
                      "after_bad": "skipped"}
    assert runs[0].name == "src"
    assert len({r.batch_id for r in runs}) == 1
    skipped = next(r for r in runs if r.name == "after_bad")
    assert f"{ns}.silver.bad" in skipped.error
    ok = next(r for r in runs if r.name == "ok")
    after = next(r for r in runs if r.name == "after_ok")
    assert after.started_at >= ok.finished_at


def test_upstream_selection_runs_only_the_ancestors(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS id")
    make_pipeline(workspace, ns, "silver", "b", "SELECT * FROM {{ ref('bronze.a') }}")
    make_pipeline(workspace, ns, "gold", "c", "SELECT * FROM {{ ref('silver.b') }}")
    make_pipeline(workspace, ns, "gold", "other", "SELECT * FROM {{ ref('silver.b') }}")
    runs = workspace.run_selection(f"+{ns}.gold.c", wait=True, timeout=120)
    assert [r.name for r in runs] == ["a", "b", "c"]
    assert all(r.status == "success" for r in runs)


def test_independent_pipelines_run_in_parallel(workspace: Workspace, ns: str) -> None:
    for name in ("p1", "p2"):
        make_pipeline(workspace, ns, "silver", name, "import time\ntime.sleep(1.5)\nresult = pa.table({'a': [1]})\n",
                      type="python")
    start = time.monotonic()
    runs = workspace.run_selection(f"{ns}.silver.*", wait=True, timeout=60)
    elapsed = time.monotonic() - start
    assert [r.status for r in runs] == ["success", "success"], [r.error for r in runs]
    assert elapsed < 2.9  # serially it would take 3 s or more
    a, b = runs
    assert a.started_at < b.finished_at and b.started_at < a.finished_at


def test_never_published_pipeline_runs_only_as_a_draft(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v", publish=False)
    with pytest.raises(Conflict, match="never been published"):
        workspace.run_selection(f"{ns}.silver.t")
    run = run_one(workspace, ns, "silver", "t", version="draft")
    assert run.status == "success" and run.version == "draft"


def test_runs_use_the_published_version_not_the_draft(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v")
    workspace.write_file(f"{ns}/pipelines/silver/t/pipeline.sql", "SELECT 2 AS v")
    assert workspace.get_pipeline(ns, "silver", "t")["draft_dirty"] is True
    run = run_one(workspace, ns, "silver", "t")
    assert run.version == "1"
    assert rows(workspace, ns, "silver", "t") == [(1,)]
    run_one(workspace, ns, "silver", "t", version="draft")
    assert rows(workspace, ns, "silver", "t") == [(2,)]


def test_rollback_creates_a_new_version_with_the_old_files(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v")
    republish(workspace, ns, "silver", "t", "SELECT 2 AS v")
    out = workspace.rollback(ns, "silver", "t", 1, "back to one")
    assert out == {"status": "rolled_back", "from_version": 1, "new_version": 3, "message": "back to one"}
    versions = workspace.list_versions(ns, "silver", "t")
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["files"] == versions[2]["files"]
    run = run_one(workspace, ns, "silver", "t")
    assert run.version == "3"
    assert rows(workspace, ns, "silver", "t") == [(1,)]
    assert workspace.read_file(f"{ns}/pipelines/silver/t/pipeline.sql")["content"] == "SELECT 1 AS v"


def test_a_second_run_of_a_busy_pipeline_is_refused(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "import time\ntime.sleep(2)\nresult = pa.table({'a': [1]})\n",
                  type="python")
    (run,) = workspace.run_selection(f"{ns}.silver.t")
    with pytest.raises(Conflict, match="already has a pending or running run"):
        workspace.run_selection(f"{ns}.silver.t")
    workspace.wait_for_runs([run.id], timeout=30)


def test_failed_run_is_retried_when_configured(workspace: Workspace, ns: str) -> None:
    code = ("# @max_retries: 2\n"
            "import pathlib\n"
            f"marker = pathlib.Path({str(workspace.settings.data_dir)!r}) / '{ns}.attempt'\n"
            "n = int(marker.read_text()) if marker.exists() else 0\n"
            "marker.write_text(str(n + 1))\n"
            "if n < 1:\n    raise RuntimeError('flaky')\n"
            "result = pa.table({'n': [n]})\n")
    make_pipeline(workspace, ns, "silver", "t", code, type="python")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    assert run.attempt == 2
    assert any("Retrying (1/2)" in e["message"] for e in workspace.run_logs(run.id)["logs"])


def test_run_tests_runs_them_for_real_against_the_table(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT * FROM (VALUES (1), (NULL)) t(v)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    workspace.save_test(ns, "silver", "t", "not_null", "SELECT * FROM {{ this }} WHERE v IS NULL")
    workspace.save_test(ns, "silver", "t", "broken", "SELECT * FROM nowhere_at_all", severity="warn")
    out = workspace.run_tests(ns, "silver", "t")
    by = {r["test"]: r for r in out["results"]}
    assert (out["total"], out["passed"], out["failed"]) == (2, 0, 2)
    assert by["not_null"]["status"] == "fail" and by["not_null"]["violations"] == 1
    assert by["broken"]["status"] == "error" and "nowhere_at_all" in by["broken"]["error"]


def test_preview_returns_rows_without_writing(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT range AS i FROM range(250)", publish=False)
    out = workspace.preview(ns, "silver", "t", limit=10)
    assert out["error"] is None
    assert out["total_row_count"] == 250 and len(out["rows"]) == 10
    assert out["columns"] == [{"name": "i", "type": "int64"}]
    assert [p["name"] for p in out["phases"]] == ["resolve", "render", "execute"]
    assert workspace.catalog.load(workspace.pid(ns, "silver", "t")) is None
    inline = workspace.preview(ns, "silver", "t", code="SELECT 42 AS answer")
    assert inline["rows"] == [{"answer": 42}]
    broken = workspace.preview(ns, "silver", "t", code="SELECT * FROM {{ ref('silver.missing') }}")
    assert "silver.missing" in broken["error"]


def test_preview_and_quality_errors_name_the_users_line(workspace: Workspace, ns: str) -> None:
    """DuckDB's ``LINE n`` is the line of the pipeline file, not of the statement RAT wraps around it."""
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS a", publish=False)
    code = "-- @merge_strategy: full_refresh\nSELECT 1 AS a,\n  2 AS b\nFROM nosuchtable\n"
    out = workspace.preview(ns, "silver", "t", code=code)
    assert "LINE 4: FROM nosuchtable" in out["error"]
    workspace.run_selection(f"{ns}.silver.t", version="draft", wait=True)
    workspace.save_test(ns, "silver", "t", "broken", "SELECT *\nFROM {{ this }}\nWHERE nope > 1", severity="warn")
    result = workspace.run_tests(ns, "silver", "t")["results"][0]
    # the saved file starts with the "-- @severity: warn" line save_test adds, so WHERE is its line 4
    assert workspace.read_file(f"{ns}/pipelines/silver/t/tests/quality/broken.sql")["content"].splitlines()[3] \
        == "WHERE nope > 1"
    assert result["status"] == "error" and "LINE 4: WHERE nope > 1" in result["error"], result


def test_get_run_of_an_unknown_id_is_not_found(workspace: Workspace) -> None:
    with pytest.raises(NotFound):
        workspace.get_run("0" * 32)


def test_the_published_dag_comes_from_the_published_version(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS id")
    make_pipeline(workspace, ns, "bronze", "b", "SELECT 2 AS id")
    make_pipeline(workspace, ns, "silver", "c", "SELECT * FROM {{ ref('bronze.a') }}")
    # a draft that reads b instead, saved but not published
    workspace.write_file(f"{ns}/pipelines/silver/c/pipeline.sql", "SELECT * FROM {{ ref('bronze.b') }}")
    c = workspace.pid(ns, "silver", "c")
    assert workspace.dag(ns).upstream(c) == {workspace.pid(ns, "bronze", "a")}
    assert workspace.dag(ns, version="draft").upstream(c) == {workspace.pid(ns, "bronze", "b")}
    order, _ = workspace.select(f"{ns}.bronze.a+")
    assert order == [workspace.pid(ns, "bronze", "a"), c]
    workspace.publish_pipeline(ns, "silver", "c")
    order, _ = workspace.select(f"{ns}.bronze.a+")
    assert order == [workspace.pid(ns, "bronze", "a")]


def test_deleting_a_namespace_removes_its_pipelines_files_and_tables(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS id")
    assert run_one(workspace, ns, "bronze", "a").status == "success"
    workspace.delete_namespace(ns)
    assert workspace.catalog.list_tables(ns) == []
    assert workspace.storage.list(f"{ns}/") == []
    with pytest.raises(NotFound):
        workspace.get_pipeline(ns, "bronze", "a")
    # the name can be used again, and its tables recreated by a worker that cached the old namespace (the
    # one that ran the first run: regression, on an S3 table bucket it staged the new table's file before it
    # re-created the namespace, which the bucket then refused)
    workspace.create_namespace(ns)
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 2 AS id")
    run = run_one(workspace, ns, "bronze", "a")
    assert run.status == "success", run.error
    assert rows(workspace, ns, "bronze", "a") == [(2,)]


def test_a_run_records_the_snapshot_it_published(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT 1 AS v")
    for _ in range(2):
        run = run_one(workspace, ns, "bronze", "a")
        assert run.status == "success"
        assert run.snapshot_id == str(main_state(workspace, ns, "bronze", "a")[0])


def test_landing_zone_reads_new_files_and_archives_them_after_success(workspace: Workspace, ns: str) -> None:
    workspace.create_landing_zone(ns, "drop")
    workspace.upload_landing_file(ns, "drop", "a.csv", b"id,v\n1,x\n2,y\n")
    workspace.upload_sample(ns, "drop", "sample.csv", b"id,v\n9,sample\n")
    source = ("-- @merge_strategy: append_only\n-- @archive_landing_zones: true\n"
              "SELECT * FROM read_csv_auto('{{ landing_zone(\"drop\", \"*.csv\") }}')")
    make_pipeline(workspace, ns, "bronze", "drop", source)
    # a preview reads the curated samples; a run reads the real files (never _samples/ or _processed/)
    assert workspace.preview(ns, "bronze", "drop")["rows"] == [{"id": 9, "v": "sample"}]
    run = run_one(workspace, ns, "bronze", "drop")
    assert run.status == "success", run.error
    assert rows(workspace, ns, "bronze", "drop") == [(1, "x"), (2, "y")]
    left = [f.path for f in workspace.storage.list(f"{ns}/landing/drop/")]
    assert not [p for p in left if p.endswith("a.csv") and "/_processed/" not in p]
    assert any(f"/_processed/{run.id}/" in p for p in left)
    assert workspace.list_landing_files(ns, "drop") == []
    # archived files are not read again: the next run finds no new file
    workspace.upload_landing_file(ns, "drop", "b.csv", b"id,v\n3,z\n")
    assert run_one(workspace, ns, "bronze", "drop").status == "success"
    assert rows(workspace, ns, "bronze", "drop") == [(1, "x"), (2, "y"), (3, "z")]
