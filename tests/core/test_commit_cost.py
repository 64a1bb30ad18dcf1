"""A commit's metadata work does not grow with the number of times the commit reads its staged metadata.

pyiceberg replays the staged updates and deep-copies the whole table metadata (every live snapshot) on each
read of ``Transaction.table_metadata``; one commit reads it about twenty times, so a table's commit cost grew
with its snapshots. ``stores.catalog`` computes it once per staged state. Tested in kind (calls counted), not
by time, on a real table with real commits.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import update as table_update

from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, run_one


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the staged updates were replayed onto the metadata (one entry per replay)."""
    seen: list[int] = []
    original = table_update.update_table_metadata

    def counting(base: Any, updates: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(updates))
        return original(base, updates, *args, **kwargs)

    monkeypatch.setattr(table_update, "update_table_metadata", counting)
    import pyiceberg.table as table_module

    monkeypatch.setattr(table_module, "update_table_metadata", counting)
    return seen


def _overwrite(table: Any, rows: int) -> None:
    table.overwrite(pa.table({"id": pa.array(range(rows), pa.int64())}))


def test_staged_metadata_is_computed_once_per_staged_state(workspace: Workspace, ns: str,
                                                           replays: list[int]) -> None:
    make_pipeline(workspace, ns, "silver", "t", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "t"))
    tx = table.transaction()
    first = tx.table_metadata
    assert tx.table_metadata is first and tx.table_metadata is first  # read three times, computed once
    assert len(replays) == 1
    tx.set_properties({"rat.test": "1"})  # a new staged state: computed again, and it shows the update
    assert tx.table_metadata.properties["rat.test"] == "1"
    assert tx.table_metadata is tx.table_metadata
    assert len(replays) == 2
    tx.commit_transaction()
    assert table.metadata.properties["rat.test"] == "1"


def test_commit_replays_do_not_grow_with_snapshots(workspace: Workspace, ns: str, replays: list[int]) -> None:
    """The replays one overwrite makes are as many with 40 snapshots as with 2, and few."""
    make_pipeline(workspace, ns, "silver", "s", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "s").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "s"))
    counts = {}
    for i in range(1, 41):
        replays.clear()
        _overwrite(table, i)
        counts[i] = len(replays)
    assert len(table.metadata.snapshots) >= 40
    assert counts[40] == counts[2], counts
    assert counts[40] <= 8, counts  # pyiceberg alone: about twenty
    assert table.scan().to_arrow().num_rows == 40
