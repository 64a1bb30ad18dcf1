"""A table's metadata stays bounded however many runs it has had (issue 11, ADR 0016): the commit a run
makes must not cost more after 200 runs than after 60. Tested in kind (sizes and counts), not by time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.history import DEFAULT_MAX_SNAPSHOTS, TABLE_PROPERTIES
from tests.conftest import make_pipeline, run_one

PREVIOUS_MAX = int(TABLE_PROPERTIES["write.metadata.previous-versions-max"])


def shape(ws: Workspace, ns: str, name: str) -> dict[str, Any]:
    table = ws.catalog.load(ws.pid(ns, "silver", name))
    current = Path(table.metadata_location.removeprefix("file://"))
    main = table.metadata.snapshot_by_name("main")
    return {"json_bytes": current.stat().st_size,
            "version": int(current.name.split("-", 1)[0]),  # pyiceberg numbers each commit's metadata file
            "metadata_files": len(list(current.parent.glob("*.metadata.json"))),
            "snapshots": len(table.metadata.snapshots),
            "metadata_log": len(table.metadata.metadata_log),
            "manifests": len(main.manifests(table.io)),
            "properties": table.metadata.properties}


def test_200_runs_of_one_pipeline_keep_its_metadata_bounded(workspace: Workspace, ns: str) -> None:
    """Full refresh without tests (direct commit to main) and with a test (run branch, then publish)."""
    make_pipeline(workspace, ns, "silver", "plain",
                  "-- @merge_strategy: full_refresh\nSELECT range AS id, range * 2 AS v FROM range(10)")
    make_pipeline(workspace, ns, "silver", "audited",
                  "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(5)",
                  tests={"positive": "SELECT * FROM {{ this }} WHERE id < 0"})
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for name, total in (("plain", 200), ("audited", 120)):
        for i in range(1, total + 1):
            assert run_one(workspace, ns, "silver", name).status == "success"
            if i in (20, 30, 70, 80, total):
                seen[(name, i)] = shape(workspace, ns, name)
    for name, total in (("plain", 200), ("audited", 120)):
        early, settled, last = seen[(name, 30)], seen[(name, 70)], seen[(name, total)]
        # the bound is reached by run 50: from there each commit that moves main expires the oldest snapshot
        assert last["json_bytes"] <= 1.25 * settled["json_bytes"], (name, settled, last)
        assert last["json_bytes"] <= 2.5 * early["json_bytes"], (name, early, last)
        assert settled["snapshots"] == last["snapshots"] == DEFAULT_MAX_SNAPSHOTS, (name, settled, last)
        # ... in the same commit: ten runs at the bound make as many commits as ten runs below it
        # (regression: a trim commit of its own every TRIM_SLACK runs, a second catalog commit in one run of ten)
        below = seen[(name, 30)]["version"] - seen[(name, 20)]["version"]
        at_bound = seen[(name, 80)]["version"] - seen[(name, 70)]["version"]
        assert at_bound == below, (name, below, at_bound)
        assert last["metadata_log"] <= PREVIOUS_MAX
        assert last["metadata_files"] <= PREVIOUS_MAX + 1  # older ones are deleted after each commit
        assert last["manifests"] <= 2  # manifests holding only deleted files are not carried forward
        assert {k: last["properties"][k] for k in TABLE_PROPERTIES} == TABLE_PROPERTIES
    assert workspace.read_table(ns, "silver", "plain").num_rows == 10
    assert workspace.read_table(ns, "silver", "audited").num_rows == 5
    history = workspace.table_history(ns, "silver", "plain")
    assert len(history) == DEFAULT_MAX_SNAPSHOTS
    oldest = int(history[-1]["snapshot_id"])
    assert workspace.read_table(ns, "silver", "plain", snapshot_id=oldest).num_rows == 10  # time travel works


def test_appends_merge_their_manifests(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "log", "-- @merge_strategy: append_only\nSELECT 1 AS id")
    for _ in range(40):
        assert run_one(workspace, ns, "silver", "log").status == "success"
    assert workspace.read_table(ns, "silver", "log").num_rows == 40
    min_merge = int(TABLE_PROPERTIES["commit.manifest.min-count-to-merge"])
    assert shape(workspace, ns, "log")["manifests"] <= min_merge  # 40 appends, not 40 manifests


def test_a_table_created_before_the_bound_gets_it_only_with_a_successful_publish(workspace: Workspace,
                                                                                 ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "old", "-- @merge_strategy: full_refresh\nSELECT 1 AS id",
                  tests={"ok": "SELECT * FROM {{ this }} WHERE id < 0"})
    assert run_one(workspace, ns, "silver", "old").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "old"))
    with table.transaction() as tx:  # what a table created by an earlier version looks like
        tx.remove_properties(*TABLE_PROPERTIES)
    before = json.dumps(workspace.catalog.load(workspace.pid(ns, "silver", "old")).metadata.properties,
                        sort_keys=True)
    assert not set(TABLE_PROPERTIES) & set(json.loads(before))
    workspace.save_test(ns, "silver", "old", "ok", "SELECT * FROM {{ this }} WHERE id > 0", create=False)
    workspace.publish_pipeline(ns, "silver", "old")
    assert run_one(workspace, ns, "silver", "old").status == "failed"  # blocking test: nothing published
    after = workspace.catalog.load(workspace.pid(ns, "silver", "old")).metadata.properties
    assert json.dumps(after, sort_keys=True) == before
    workspace.save_test(ns, "silver", "old", "ok", "SELECT * FROM {{ this }} WHERE id < 0", create=False)
    workspace.publish_pipeline(ns, "silver", "old")
    assert run_one(workspace, ns, "silver", "old").status == "success"
    props = workspace.catalog.load(workspace.pid(ns, "silver", "old")).metadata.properties
    assert {k: props[k] for k in TABLE_PROPERTIES} == TABLE_PROPERTIES


def test_commits_reuse_one_producer_class(workspace: Workspace, ns: str) -> None:
    """A long-lived worker commits many times: the producer classes are made once, not one pair per commit."""
    import duckdb

    from rat_jupyter.common import history
    from rat_jupyter.core import engine, strategies

    make_pipeline(workspace, ns, "silver", "t", "SELECT range AS id FROM range(5)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    pid = workspace.pid(ns, "silver", "t")
    classes = [type(history.overwrite(workspace.catalog.load(pid).transaction().update_snapshot()))
               for _ in range(2)]
    assert classes[0] is classes[1]
    conn = duckdb.connect()
    write = engine.WriteOptions.of(workspace.settings)
    for n in (4, 3):  # two full replacements in this process: the lean replace producer is derived once
        table = workspace.catalog.load(pid)
        assert strategies.commit(table, table.scan(limit=n).to_arrow(), "main", conn, write, delete_all=True)
    assert strategies._lean_replace.cache_info().currsize == 1
    import pyarrow as pa

    for gone, new in ((0, 10), (1, 11)):  # two partial replacements (the file holding a key rewritten, another
        table = workspace.catalog.load(pid)  # file left alone): the row-level producer is derived once
        assert strategies.commit(table, pa.table({"id": pa.array([new], pa.int64())}), "main", conn, write)
        table = workspace.catalog.load(pid)
        assert strategies.commit(table, None, "main", conn, write, delete_column="id", delete_values=[gone])
    assert strategies._row_level.cache_info().currsize == 1
    assert sorted(workspace.catalog.load(pid).scan().to_arrow()["id"].to_pylist()) == [2, 10, 11]
