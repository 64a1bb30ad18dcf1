"""Submitting a run costs the same with 5 pipelines or 500 (issue 11): the DAG is cached and checked with one
aggregate query, not rebuilt from every pipeline's row or files; any change to a pipeline invalidates it,
including a change made by another process sharing the state store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.state import open_state
from tests.conftest import make_pipeline, run_one

pytestmark = pytest.mark.both_profiles

WIDTH = 30


class CountingStorage:
    """The workspace's storage, counting every call and the paths it touched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.paths: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if args and isinstance(args[0], str):
                self.paths.append(args[0])
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def counted(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CountingStorage, Counter[str]]]:
    storage = CountingStorage(workspace.storage)
    listed: Counter[str] = Counter()
    real_list = workspace.state.list_pipelines

    def list_pipelines(*args: Any, **kwargs: Any) -> Any:
        listed["list_pipelines"] += 1
        return real_list(*args, **kwargs)

    monkeypatch.setattr(workspace, "storage", storage)
    monkeypatch.setattr(workspace.state, "list_pipelines", list_pipelines)
    yield storage, listed


def _many(ws: Workspace, ns: str) -> None:
    for i in range(WIDTH):
        make_pipeline(ws, ns, "bronze", f"b{i}", f"SELECT {i} AS id")
    make_pipeline(ws, ns, "silver", "s", f"SELECT * FROM {{{{ ref('{ns}.bronze.b0') }}}}")


def test_a_run_reads_no_other_pipeline(workspace: Workspace, ns: str,
                                       counted: tuple[CountingStorage, Counter[str]]) -> None:
    storage, listed = counted
    _many(workspace, ns)
    assert [str(p) for p in workspace.select(f"+{ns}.silver.s")[0]] == [f"{ns}.bronze.b0", f"{ns}.silver.s"]
    assert run_one(workspace, ns, "bronze", "b0").status == "success"
    workspace.select(f"{ns}.silver.s", "draft")  # both graphs are built once
    storage.calls.clear()
    storage.paths.clear()
    listed.clear()
    for _ in range(3):
        (run,) = workspace.run_selection(f"{ns}.silver.s", wait=True, timeout=120)
        assert run.status == "success", run.record["error"]
    assert listed["list_pipelines"] == 0  # the cached graph was used, not rebuilt from every row
    assert sum(storage.calls.values()) == 0, storage.calls  # published runs read no files at all
    (draft,) = workspace.run_selection(f"{ns}.silver.s", version="draft", wait=True, timeout=120)
    assert draft.status == "success", draft.record["error"]
    assert storage.paths and all(p.startswith(f"{ns}/pipelines/silver/s/") for p in storage.paths), storage.paths
    assert listed["list_pipelines"] == 0


def test_every_kind_of_change_invalidates_the_cached_graph(workspace: Workspace, ns: str,
                                                           counted: tuple[CountingStorage, Counter[str]]) -> None:
    _storage, listed = counted
    _many(workspace, ns)
    sel = f"+{ns}.silver.s"

    def chosen(selector: str = sel, version: str = "published") -> list[str]:
        return [str(p) for p in workspace.select(selector, version)[0]]

    assert chosen() == [f"{ns}.bronze.b0", f"{ns}.silver.s"]
    # a source file write: the draft graph changes at once, the published one only with a publish
    path = f"{ns}/pipelines/silver/s/pipeline.sql"
    workspace.write_file(path, f"SELECT * FROM {{{{ ref('{ns}.bronze.b0') }}}} "
                               f"UNION ALL SELECT * FROM {{{{ ref('{ns}.bronze.b1') }}}}")
    assert chosen(version="draft") == [f"{ns}.bronze.b0", f"{ns}.bronze.b1", f"{ns}.silver.s"]
    assert chosen() == [f"{ns}.bronze.b0", f"{ns}.silver.s"]
    workspace.publish_pipeline(ns, "silver", "s")
    assert chosen() == [f"{ns}.bronze.b0", f"{ns}.bronze.b1", f"{ns}.silver.s"]
    # rollback to version 1 restores the old reads
    workspace.rollback(ns, "silver", "s", 1)
    assert chosen() == [f"{ns}.bronze.b0", f"{ns}.silver.s"]
    # a new pipeline appears in the namespace selection; a deleted one is gone
    before = chosen(f"{ns}.*")
    make_pipeline(workspace, ns, "gold", "g", f"SELECT * FROM {{{{ ref('{ns}.silver.s') }}}}")
    after = chosen(f"{ns}.*")
    assert sorted(after) == sorted([*before, f"{ns}.gold.g"])
    # critical path first: silver.s, which g now waits on, moves ahead of the bronze leaves; g comes last
    assert after.index(f"{ns}.bronze.b0") < after.index(f"{ns}.silver.s") < after.index(f"{ns}.gold.g")
    assert after[-1] == f"{ns}.gold.g"
    assert chosen(f"{ns}.bronze.b0+") == [f"{ns}.bronze.b0", f"{ns}.silver.s", f"{ns}.gold.g"]
    workspace.delete_pipeline(ns, "gold", "g")
    assert chosen(f"{ns}.*") == before
    # a change made by another process (a second workspace on the same state store, in client mode)
    other = Workspace(workspace.settings, workspace.storage.inner, open_state(workspace.settings.resolved_state_url),
                      server=False)
    try:
        other.create_pipeline(ns, "gold", "h", source=f"SELECT * FROM {{{{ ref('{ns}.bronze.b2') }}}}")
        other.publish_pipeline(ns, "gold", "h")
    finally:
        other.state.close()
    assert chosen(f"+{ns}.gold.h") == [f"{ns}.bronze.b2", f"{ns}.gold.h"]
    # between changes the graph is not rebuilt
    listed.clear()
    for _ in range(5):
        chosen(f"{ns}.*")
        run_one(workspace, ns, "bronze", "b3")
    assert listed["list_pipelines"] == 0
