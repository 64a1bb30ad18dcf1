"""A failed run — blocking test, error, cancel, kill — leaves main's snapshot, schema and properties
byte-for-byte as they were, even when the run changed the schema (docs/strategies.md §4)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, run_one

pytestmark = pytest.mark.both_profiles

SLOW = "(SELECT sum(a.range * b.range) FROM range(300000) a, range(300000) b)"


def main_bytes(ws: Workspace, ns: str) -> tuple[int, str, int, str, list]:
    table = ws.catalog.load(ws.pid(ns, "silver", "t"))
    md = table.metadata
    return (md.current_snapshot_id, md.schema().model_dump_json(), md.current_schema_id,
            json.dumps(md.properties, sort_keys=True), sorted(table.scan().to_arrow().to_pylist(), key=repr))


def wait_log(ws: Workspace, run_id: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in e["message"] for e in ws.run_logs(run_id)["logs"]):
        assert time.monotonic() < deadline, f"log line {text!r} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["blocking_test", "error", "test_error", "cancel", "kill"])
@pytest.mark.parametrize("strategy", ["full_refresh", "incremental"])
def test_a_failed_run_that_changes_the_schema_leaves_main_byte_for_byte(workspace: Workspace, ns: str, kind: str,
                                                                         strategy: str) -> None:
    header = f"-- @merge_strategy: {strategy}\n-- @unique_key: id\n"
    make_pipeline(workspace, ns, "silver", "t", header + "SELECT 1 AS id, 1::INTEGER AS v",
                  tests={"ok": "SELECT * FROM {{ this }} WHERE v < 0"})
    assert run_one(workspace, ns, "silver", "t").status == "success"
    before = main_bytes(workspace, ns)
    # the new version adds a column and widens v: both are staged with the run, never committed before it
    body = header + "SELECT 2 AS id, 5::BIGINT AS v, 'new' AS extra"
    if kind == "blocking_test":
        workspace.save_test(ns, "silver", "t", "ok",
                            "SELECT * FROM {{ this }} WHERE extra = 'new'", create=False)
    elif kind == "error":
        body = header + "SELECT 2 AS id, 5::BIGINT AS v, CASE WHEN random() < 2 THEN error('boom') END AS extra"
    elif kind == "test_error":
        workspace.save_test(ns, "silver", "t", "ok", "SELECT no_such_column FROM {{ this }}", create=False)
    else:
        workspace.save_test(ns, "silver", "t", "ok",
                            f"SELECT * FROM {{{{ this }}}} WHERE {SLOW} < 0", create=False)
    republish(workspace, ns, "silver", "t", body)
    if kind in ("cancel", "kill"):
        (run,) = workspace.run_selection(f"{ns}.silver.t")
        wait_log(workspace, run.id, "Wrote ")  # the branch holds the new schema and data now
        time.sleep(0.3)
        if kind == "cancel":
            workspace.cancel_run(run.id)
        else:
            pid = workspace.pool.pid_of(run.id)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        (final,) = workspace.wait_for_runs([run.id], timeout=60)
        assert final["status"] == ("cancelled" if kind == "cancel" else "failed")
        if kind == "cancel":  # the worker finishes its clean-up after the status changed
            deadline = time.monotonic() + 20
            while workspace.pool.pid_of(run.id) is not None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    else:
        final = run_one(workspace, ns, "silver", "t").record
        assert final["status"] == "failed"
    assert main_bytes(workspace, ns) == before
    table = workspace.catalog.load(workspace.pid(ns, "silver", "t"))
    assert table.schema().column_names == ["id", "v"]
