"""A commit does not read back the metadata file it (or this process) just read or wrote.

pyiceberg's SQL catalog loads the table again inside ``commit_table`` to check the commit's requirements,
reading and parsing the current ``metadata.json`` each time; ``stores.catalog`` keeps the files this process
parsed or wrote (they are immutable), while the catalog's row still decides which one is current. Counted in
kind (files parsed), not timed, on real tables with real commits from worker processes and in-process.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rat_jupyter.common.memo import Lru
from rat_jupyter.common.tables import metadata_weight
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


def test_only_the_newest_metadata_file_of_a_table_is_kept(workspace: Workspace, ns: str) -> None:
    """Each commit supersedes the table's previous file: the memo holds one per table, not every version."""
    make_pipeline(workspace, ns, "silver", "h", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "h").status == "success"
    pid = workspace.pid(ns, "silver", "h")
    table = workspace.catalog.load(pid)
    for i in range(1, 6):
        table.overwrite(pa.table({"id": pa.array(range(i), pa.int64())}))
    folder = table.metadata_location.rsplit("/metadata/", 1)[0]
    held = [key for key in _ParsedMetadata._cache if str(key).startswith(folder)]
    assert held == [folder] and _ParsedMetadata._cache.get(folder)[0] == table.metadata_location

    older = table.metadata.metadata_log[-2].metadata_file  # time travel to an earlier file: parsed, not kept
    parsed = _ParsedMetadata.parsed
    back = workspace.catalog.load_at(pid, older)
    assert back is not None and back.scan().to_arrow().num_rows == 3
    assert _ParsedMetadata.parsed == parsed + 1
    assert _ParsedMetadata._cache.get(folder)[0] == table.metadata_location
    assert workspace.catalog.load(pid).scan().to_arrow().num_rows == 5
    assert _ParsedMetadata.parsed == parsed + 1  # the newest is still there


def test_a_replaced_tables_old_manifests_leave_the_memo(workspace: Workspace, ns: str) -> None:
    """Runs of a full refresh in one process: only the current snapshot's manifest list and manifests stay."""
    from rat_jupyter.core import fastwrite

    make_pipeline(workspace, ns, "silver", "m", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(5)")
    pid = workspace.pid(ns, "silver", "m")
    files, _ = workspace.published_files(pid)
    for i in range(5):
        outcome = runner.execute_run(workspace.settings, f"mfst{i}", pid, files, ListReporter(), CancelToken())
        assert outcome.status == "success", outcome.error
    table = workspace.catalog.load(pid)
    folder = table.metadata_location.rsplit("/metadata/", 1)[0]

    def held() -> tuple[set[str], set[str]]:
        return ({str(p) for p in fastwrite._Manifests._lists if str(p).startswith(folder + "/")},
                {str(p) for p in fastwrite._Manifests._entries if str(p).startswith(folder + "/")})

    # each run read the snapshot before its own: the last one read is the one before the current
    by_list = {s.manifest_list: s for s in table.metadata.snapshots}
    lists, entries = held()
    assert len(lists) == 1 and lists <= set(by_list)
    (read,) = lists
    assert entries == {m.manifest_path for m in by_list[read].manifests(table.io)}

    snap = table.current_snapshot()
    assert snap is not None and len(fastwrite.snapshot_entries(table, snap)) == 1  # the newest supersedes it
    current = {m.manifest_path for m in snap.manifests(table.io)}
    assert held() == ({snap.manifest_list}, current)
    older = table.metadata.snapshots[0]  # time travel: read and kept, and the newest's stay
    assert len(fastwrite.snapshot_entries(table, older)) == 1
    lists, entries = held()
    assert lists == {snap.manifest_list, older.manifest_list} and entries >= current


def test_the_manifest_memo_weighs_entries_by_their_columns(workspace: Workspace, ns: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry holds statistics for every column, so a wide table's entries weigh more than a narrow one's:
    the memo's bound is on what it holds, and a manifest heavier than the bound is read each time."""
    from pyiceberg.manifest import ManifestFile

    from rat_jupyter.core import fastwrite

    wide = ", ".join(f"range + {i} AS c{i}" for i in range(30))
    full = "-- @merge_strategy: full_refresh\n"
    make_pipeline(workspace, ns, "silver", "narrow", f"{full}SELECT range AS id FROM range(3)")
    make_pipeline(workspace, ns, "silver", "wide", f"{full}SELECT {wide} FROM range(3)")
    for name in ("narrow", "wide"):
        assert run_one(workspace, ns, "silver", name).status == "success"
    memo = Lru(8, weight=fastwrite._Manifests._entries._weight)
    monkeypatch.setattr(fastwrite._Manifests, "_entries", memo)
    reads: list[str] = []
    fetch = ManifestFile.fetch_manifest_entry
    monkeypatch.setattr(ManifestFile, "fetch_manifest_entry",
                        lambda self, *a, **kw: reads.append(self.manifest_path) or fetch(self, *a, **kw))
    read: dict[str, list[str]] = {}
    for name in ("narrow", "wide"):
        table = workspace.catalog.load(workspace.pid(ns, "silver", name))
        snap = table.current_snapshot()
        assert snap is not None
        for _ in range(2):
            assert len(fastwrite.snapshot_entries(table, snap)) == 1
        read[name] = [p for p in reads if p.startswith(table.location().rstrip("/") + "/")]
    assert len(read["narrow"]) == 1 and len(read["wide"]) == 2  # a narrow entry fits in 8 units, a wide one not
    assert 0 < memo.used <= memo.size


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


def test_avro_writer_trees_are_built_once_per_schema(workspace: Workspace, ns: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits write a manifest and a manifest list each: after a table's first commit, further commits to
    it and to a table of the same partition type resolve no new writer tree, a partitioned table gets its
    own, and what the memoized writers wrote reads back as what pyiceberg's own writers write (ADR 0030)."""
    from pyiceberg.avro import file as avro_file

    from rat_jupyter.stores.catalog import _AvroWriters

    assert getattr(avro_file.resolve_writer, "_rat_memoized", False)
    make_pipeline(workspace, ns, "silver", "w", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(4)")
    assert run_one(workspace, ns, "silver", "w").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "w"))
    table.overwrite(pa.table({"id": pa.array(range(2), pa.int64())}))
    built = _AvroWriters.built
    for n in (5, 6):
        table.overwrite(pa.table({"id": pa.array(range(n), pa.int64())}))
        table.append(pa.table({"id": pa.array([100], pa.int64())}))
    assert _AvroWriters.built == built  # four commits, the same schemas: nothing resolved
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [*range(6), 100]

    make_pipeline(workspace, ns, "silver", "p", "SELECT range AS id, range % 2 AS k FROM range(6)",
                  config={"merge_strategy": "full_refresh", "partition_by": ["k"]})
    assert run_one(workspace, ns, "silver", "p").status == "success"
    part = workspace.catalog.load(workspace.pid(ns, "silver", "p"))
    mine = pa.table({"id": pa.array([7, 8], pa.int64()), "k": pa.array([1, 0], pa.int64())})
    built = _AvroWriters.built
    part.append(mine)
    assert _AvroWriters.built > built  # another partition type: its own entry schema and writer
    snap = part.metadata.snapshot_by_name("main")
    memoized = sorted((e.data_file.partition[0], e.data_file.record_count)
                      for m in snap.manifests(part.io) for e in m.fetch_manifest_entry(part.io))

    for name in ("resolve_writer", "construct_writer"):  # pyiceberg's own writers for the same commit
        monkeypatch.setattr(avro_file, name, getattr(avro_file, name)._rat_original)
    part.delete("id >= 7")
    part.append(mine)
    snap = part.metadata.snapshot_by_name("main")
    plain = sorted((e.data_file.partition[0], e.data_file.record_count)
                   for m in snap.manifests(part.io) for e in m.fetch_manifest_entry(part.io))
    assert memoized == plain
    assert sorted(part.scan().to_arrow().column("id").to_pylist()) == [*range(6), 7, 8]


def test_a_commit_loads_no_table_and_still_loses_a_race(workspace: Workspace, ns: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL catalog's commit checks the requirements against the metadata file the catalog's row names,
    without loading a table; a commit made by another writer meanwhile — before it, or between its metadata
    write and its row update — makes it fail and leaves the other writer's commit in place (ADR 0030)."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException

    assert getattr(SqlCatalog.commit_table, "_rat_lean", False)
    make_pipeline(workspace, ns, "silver", "c", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "c").status == "success"
    pid = workspace.pid(ns, "silver", "c")
    with workspace.catalog.load(pid).transaction() as tx:  # fail at once instead of pyiceberg's retries
        tx.set_properties({"commit.retry.num-retries": "0"})
    loads: list[object] = []
    load = SqlCatalog.load_table
    monkeypatch.setattr(SqlCatalog, "load_table", lambda self, ident: loads.append(ident) or load(self, ident))
    mine, theirs = workspace.catalog.load(pid), workspace.catalog.load(pid)
    loads.clear()
    mine.append(pa.table({"id": pa.array([10], pa.int64())}))
    assert loads == []  # committed without loading the table

    with pytest.raises(CommitFailedException):  # stale: main moved since it was loaded
        theirs.append(pa.table({"id": pa.array([20], pa.int64())}))
    theirs = workspace.catalog.load(pid)

    write = SqlCatalog._write_metadata

    def racing(metadata: object, io: object, metadata_path: str) -> None:
        write(metadata, io, metadata_path)
        monkeypatch.setattr(SqlCatalog, "_write_metadata", staticmethod(write))
        mine.append(pa.table({"id": pa.array([30], pa.int64())}))  # lands between the write and the update

    monkeypatch.setattr(SqlCatalog, "_write_metadata", staticmethod(racing))
    with pytest.raises(CommitFailedException, match="updated by another process"):
        theirs.append(pa.table({"id": pa.array([40], pa.int64())}))
    got = sorted(workspace.catalog.load(pid).scan().to_arrow().column("id").to_pylist())
    assert got == [0, 1, 2, 10, 30]


def test_the_table_memos_are_bounded_by_the_snapshots_they_hold(workspace: Workspace, ns: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A table's metadata grows with its history, so the memos of tables and of parsed files weigh what each
    holds: a table that grew in place through commits is weighed again when it is next served, and what no
    longer fits leaves (least recently used first) instead of growing the worker."""
    for name in ("a", "b", "big"):
        make_pipeline(workspace, ns, "silver", name,
                      "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
        assert run_one(workspace, ns, "silver", name).status == "success"
    catalog = runner._Context.catalog(workspace.settings)
    tables = Lru(30, weight=runner._Tables._cache._weight)
    files = Lru(30, weight=_ParsedMetadata._cache._weight)
    monkeypatch.setattr(runner._Tables, "_cache", tables)
    monkeypatch.setattr(_ParsedMetadata, "_cache", files)
    a, b, big = (runner._Tables.load(catalog, workspace.pid(ns, "silver", n)) for n in ("a", "b", "big"))
    assert a is not None and b is not None and big is not None
    assert tables.used == sum(metadata_weight(t.metadata) for t in (a, b, big)) == 15  # one snapshot each
    for i in range(12):
        big.overwrite(pa.table({"id": pa.array(range(i), pa.int64())}))  # grows in place: still weighed 5
    assert metadata_weight(big.metadata) > 25
    assert runner._Tables.load(catalog, workspace.pid(ns, "silver", "big")) is big  # a hit, weighed again
    assert tables.used == metadata_weight(big.metadata) <= tables.size and len(tables) == 1  # a and b left
    assert files.used <= files.size
    again = runner._Tables.load(catalog, workspace.pid(ns, "silver", "a"))
    assert again is not None and again is not a and again.scan().to_arrow().num_rows == 3
    assert tables.used <= tables.size and files.used <= files.size


def test_a_table_another_process_moved_is_loaded_from_its_file(workspace: Workspace, ns: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A run reloads a table whose pointer moved from the file the pointer names, without asking the catalog
    for its row again; the table is what the catalog's own load gives. A table dropped meanwhile is gone."""
    from pyiceberg.catalog.sql import SqlCatalog

    make_pipeline(workspace, ns, "silver", "m", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "m").status == "success"
    pid = workspace.pid(ns, "silver", "m")
    catalog = runner._Context.catalog(workspace.settings)
    first = runner._Tables.load(catalog, pid)
    republish(workspace, ns, "silver", "m", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(5)")
    assert run_one(workspace, ns, "silver", "m").status == "success"  # a worker process commits
    loads: list[object] = []
    load = SqlCatalog.load_table
    monkeypatch.setattr(SqlCatalog, "load_table", lambda self, ident: loads.append(ident) or load(self, ident))
    again = runner._Tables.load(catalog, pid)
    assert loads == []
    assert again is not None and first is not None and again.metadata_location != first.metadata_location
    fresh = load(catalog.iceberg, pid.table_identifier)
    assert (again.metadata_location, again.metadata, again.name()) == (fresh.metadata_location, fresh.metadata,
                                                                       fresh.name())
    assert again.scan().to_arrow().num_rows == 5
    assert catalog.load_at(pid, again.metadata_location + ".gone") is not None  # unreadable: the catalog's load
    catalog.drop(pid)
    assert runner._Tables.load(catalog, pid) is None


def test_a_data_file_is_checked_against_the_schema_once_and_a_misfit_every_time(
        workspace: Workspace, ns: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Adding a data file checks its Arrow schema (with field ids) against the table's: the same schema is
    checked once per process, and a file that does not fit is refused every time, not remembered (ADR 0030)."""
    import pyarrow.parquet as pq
    from pyiceberg.io import pyarrow as io_pyarrow
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    from rat_jupyter.core.fastwrite import _DataFileChecks

    assert getattr(io_pyarrow._check_pyarrow_schema_compatible, "_rat_memoized", False)
    make_pipeline(workspace, ns, "silver", "d", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "d").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "d"))

    def written(values: pa.Array, name: str) -> str:
        path = str(tmp_path / f"{name}.parquet")
        field = pa.field("id", values.type, metadata={"PARQUET:field_id": "1"})
        pq.write_table(pa.Table.from_arrays([values], schema=pa.schema([field])), path)
        return path

    monkeypatch.setattr(_DataFileChecks, "_cache", Lru(4096))
    good = [written(pa.array([7, 8], pa.int64()), f"good{i}") for i in range(2)]
    assert [parquet_file_to_data_file(table.io, table.metadata, p).record_count for p in good] == [2, 2]
    bad = written(pa.array(["x"], pa.string()), "bad")
    for _ in range(2):
        with pytest.raises(ValueError):
            parquet_file_to_data_file(table.io, table.metadata, bad)
    assert sum(1 for key in _DataFileChecks if key[0] == "check") == 1  # the good schema, checked once


def test_a_reparsed_schema_finds_its_data_file_checks_and_is_not_kept_alive(
        workspace: Workspace, ns: str, tmp_path: Path) -> None:
    """Each parse of a metadata file makes new schema objects, equal to the ones before: a worker re-parses
    a table's file whenever another process committed it. The checks are keyed by the schema's content, so
    the new object finds what the old one built, and the memo keeps no schema object alive."""
    import gc
    import weakref

    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import parquet_file_to_data_file
    from pyiceberg.serializers import FromInputFile

    from rat_jupyter.core.fastwrite import _DataFileChecks

    make_pipeline(workspace, ns, "silver", "p", "-- @merge_strategy: full_refresh\nSELECT range AS id FROM range(3)")
    assert run_one(workspace, ns, "silver", "p").status == "success"
    table = workspace.catalog.load(workspace.pid(ns, "silver", "p"))
    path = str(tmp_path / "one.parquet")
    field = pa.field("id", pa.int64(), metadata={"PARQUET:field_id": "1"})
    pq.write_table(pa.Table.from_arrays([pa.array([1, 2], pa.int64())], schema=pa.schema([field])), path)

    def parsed() -> object:  # the file parsed anew, as a worker does after another process's commit
        return FromInputFile.table_metadata(table.io.new_input(table.metadata_location))

    first = parsed()
    assert parquet_file_to_data_file(table.io, first, path).record_count == 2
    built = _DataFileChecks.built
    gone = weakref.ref(first.schema())
    second = parsed()
    assert second.schema() is not first.schema() and second.schema() == first.schema()
    assert parquet_file_to_data_file(table.io, second, path).record_count == 2
    assert _DataFileChecks.built == built  # nothing derived again for the equal schema
    del first
    gc.collect()
    assert gone() is None  # the memo did not keep the first schema object alive


def test_the_sqlite_catalog_syncs_its_log_at_checkpoints(workspace: Workspace, ns: str) -> None:
    """The embedded catalog is in WAL mode with ``synchronous=NORMAL`` on every connection (the platform
    state's setting), including the ones opened while pyiceberg set its tables up; commits still land."""
    catalog = runner._Context.catalog(workspace.settings).iceberg
    for _ in range(2):
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    make_pipeline(workspace, ns, "silver", "s", "-- @merge_strategy: full_refresh\nSELECT 1 AS v")
    assert run_one(workspace, ns, "silver", "s").status == "success"
    assert workspace.catalog.load(workspace.pid(ns, "silver", "s")).scan().to_arrow().num_rows == 1
