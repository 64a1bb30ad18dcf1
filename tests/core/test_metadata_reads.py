"""A commit does not read back the metadata file it (or this process) just read or wrote.

pyiceberg's SQL catalog loads the table again inside ``commit_table`` to check the commit's requirements,
reading and parsing the current ``metadata.json`` each time; ``stores.catalog`` keeps the files this process
parsed or wrote (they are immutable), while the catalog's row still decides which one is current. Counted in
kind (files parsed), not timed, on real tables with real commits from worker processes and in-process.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from rat_jupyter.core import runner
from rat_jupyter.core.reporter import ListReporter
from rat_jupyter.core.runner import CancelToken
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.catalog import _ParsedMetadata
from tests.conftest import make_pipeline, republish, run_one

# A REST catalog (the scale profile) hands the metadata over with the table: no file is parsed to count.
pytestmark = pytest.mark.embedded_only(reason="counts the SQL catalog's metadata-file reads")


def test_commits_parse_no_metadata_and_other_writers_are_seen(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "t").status == "success"
    pid = workspace.pid(ns, "silver", "t")
    table = workspace.catalog.load(pid)
    parsed = _ParsedMetadata.parsed
    for i in range(1, 6):
        table.overwrite(pa.table({"id": pa.array(range(i), pa.int64())}))
    assert _ParsedMetadata.parsed == parsed  # five commits, no metadata file read back
    again = workspace.catalog.load(pid)
    assert again.metadata_location == table.metadata_location
    assert again.scan().to_arrow().num_rows == 5
    assert _ParsedMetadata.parsed == parsed

    republish(workspace, ns, "silver", "t", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(7)")
    assert run_one(workspace, ns, "silver", "t").status == "success"  # another process commits
    fresh = workspace.catalog.load(pid)
    assert fresh.metadata_location != table.metadata_location
    assert fresh.scan().to_arrow().num_rows == 7  # the catalog's pointer decides: the new file is read
    assert _ParsedMetadata.parsed == parsed + 1


def test_a_mid_dag_rerun_parses_no_metadata(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "a", "SELECT range AS id FROM range(10)")
    make_pipeline(workspace, ns, "bronze", "b", "SELECT range AS id, range * 2 AS v FROM range(10)")
    make_pipeline(workspace, ns, "gold", "g",
                  "SELECT a.id, b.v FROM {{ ref('bronze.a') }} a JOIN {{ ref('bronze.b') }} b USING (id)")
    for layer, name in (("bronze", "a"), ("bronze", "b"), ("gold", "g")):
        assert run_one(workspace, ns, layer, name).status == "success"
    pid = workspace.pid(ns, "gold", "g")
    files, _ = workspace.published_files(pid)
    first = runner.execute_run(workspace.settings, "mdreads0", pid, files, ListReporter(), CancelToken())
    assert first.status == "success", first.error
    parsed = _ParsedMetadata.parsed
    for i in range(1, 4):
        outcome = runner.execute_run(workspace.settings, f"mdreads{i}", pid, files, ListReporter(), CancelToken())
        assert outcome.status == "success", outcome.error
    assert _ParsedMetadata.parsed == parsed  # upstreams and its own table: nothing parsed again
    assert workspace.catalog.load(pid).scan().to_arrow().num_rows == 10


def test_avro_reader_trees_are_built_once_per_header_schema(workspace: Workspace, ns: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifests and manifest lists of one table share their header schemas: reading them again, or reading
    the next snapshot's, resolves no new reader tree, and the entries read are the same (ADR 0029)."""
    from pyiceberg.avro.file import AvroFile

    from rat_jupyter.stores.catalog import _AvroReaders

    assert getattr(AvroFile.__enter__, "_rat_memoized", False)
    make_pipeline(workspace, ns, "silver", "m", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(4)")
    assert run_one(workspace, ns, "silver", "m").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "m"))

    def entries(t: object) -> list[tuple[str, str, int]]:
        snap = t.metadata.snapshot_by_name("main")  # type: ignore[attr-defined]
        return [(e.status.name, e.data_file.file_path, e.data_file.record_count)
                for m in snap.manifests(t.io) for e in m.fetch_manifest_entry(t.io, discard_deleted=False)]  # type: ignore[attr-defined]

    first = entries(table)
    built = _AvroReaders.built
    assert entries(table) == first and len(first) == 1
    assert _AvroReaders.built == built  # the same files again: nothing resolved
    table.overwrite(pa.table({"id": pa.array(range(9), pa.int64())}))
    second = entries(table)
    assert _AvroReaders.built == built  # a new snapshot's files, the same header schemas
    assert table.scan().to_arrow().num_rows == 9
    monkeypatch.setattr(AvroFile, "__enter__", AvroFile.__enter__._rat_original)  # type: ignore[attr-defined]
    assert entries(table) == second  # pyiceberg's own reader reads the same entries
