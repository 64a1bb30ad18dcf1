"""The claimer's work per completion does not grow with the size of the batch.

On every wake the claimer used to read the status of every upstream run of every pending run of the batch:
work per completion in proportion to the batch, quadratic over a whole DAG. It now reads only the upstream
statuses of the runs near the front of the queue, and never those of upstream runs that are themselves still
pending. Tested in kind (state-store ids read by the claimer counted), not by time, on real runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rat_jupyter.core import runs as runs_module
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline


@pytest.fixture
def claimer_reads(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of run ids each ``run_statuses`` call of the claimer thread asked for."""
    reads: list[int] = []
    state = workspace.state
    original = state.run_statuses

    def counting(run_ids: Any) -> dict[str, str]:
        if threading.current_thread().name == "rat-run-claimer":
            reads.append(len(list(run_ids)))
        return original(run_ids)

    monkeypatch.setattr(state, "run_statuses", counting)
    monkeypatch.setattr(runs_module, "CLAIM_CHUNK", 4)
    yield reads


def _chain(ws: Workspace, ns: str, n: int) -> None:
    make_pipeline(ws, ns, "silver", "c00", "-- @merge_strategy: full_refresh\nSELECT 1 AS v")
    for i in range(1, n):
        make_pipeline(ws, ns, "silver", f"c{i:02d}",
                      f"-- @merge_strategy: full_refresh\nSELECT v + 1 AS v FROM {{{{ ref('silver.c{i - 1:02d}') }}}}")


def test_a_chain_reads_a_bounded_number_of_upstream_statuses_per_wake(workspace: Workspace, ns: str,
                                                                      claimer_reads: list[int]) -> None:
    n = 14
    _chain(workspace, ns, n)
    runs = workspace.run_selection(f"{ns}.*", wait=True, timeout=300)
    assert [r.status for r in runs] == ["success"] * n
    assert workspace.read_table(ns, "silver", f"c{n - 1:02d}").to_pylist() == [{"v": n}]
    # every wake reads at most the upstream of the one run that can start (before: all 13 pending runs')
    assert claimer_reads and max(claimer_reads) <= 1, claimer_reads


def test_skips_still_reach_the_whole_downstream(workspace: Workspace, ns: str, claimer_reads: list[int]) -> None:
    """A failed run skips its downstream however far down, past the claimer's chunks."""
    make_pipeline(workspace, ns, "silver", "c00", "-- @merge_strategy: full_refresh\nSELECT error('boom') AS v")
    for i in range(1, 11):
        make_pipeline(workspace, ns, "silver", f"c{i:02d}",
                      f"-- @merge_strategy: full_refresh\nSELECT v FROM {{{{ ref('silver.c{i - 1:02d}') }}}}")
    runs = workspace.run_selection(f"{ns}.*", wait=True, timeout=300)
    assert runs[0].status == "failed"
    assert [r.status for r in runs[1:]] == ["skipped"] * 10
    assert all("did not succeed" in (r.error or "") for r in runs[1:])


def test_a_wide_batch_is_claimed_a_page_at_a_time(workspace: Workspace, ns: str, claimer_reads: list[int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent runs: every claim fills its free slots from the first page of pending runs, so no claim
    reads (and decodes) the rest of the batch; before, each read all of it."""
    n = 14
    for i in range(n):
        make_pipeline(workspace, ns, "silver", f"w{i:02d}", f"-- @merge_strategy: full_refresh\nSELECT {i} AS v")
    state = workspace.state
    listed = state.claimable_runs
    per_claim: list[int] = []

    def claimable(limit: int = 1000, after: Any = None) -> list[dict[str, Any]]:
        page = listed(limit, after)
        if threading.current_thread().name == "rat-run-claimer" and per_claim:
            per_claim[-1] += len(page)
        return page

    claim = runs_module.RunManager._claim

    def counted(self: runs_module.RunManager) -> None:
        per_claim.append(0)
        claim(self)

    monkeypatch.setattr(state, "claimable_runs", claimable)
    monkeypatch.setattr(runs_module.RunManager, "_claim", counted)
    runs = workspace.run_selection(f"{ns}.*", wait=True, timeout=300)
    assert [r.status for r in runs] == ["success"] * n
    assert [workspace.read_table(ns, "silver", f"w{i:02d}").to_pylist() for i in (0, n - 1)] == [[{"v": 0}],
                                                                                                [{"v": n - 1}]]
    assert max(per_claim) <= 4, per_claim  # one page of CLAIM_CHUNK = 4 at most, however long the queue
