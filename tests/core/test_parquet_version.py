"""The Parquet format version of the files runs write (ADR 0033): V2 encodings on RAT's own catalog, V1 on a
REST catalog or when asked for, and the tables read back the same either way (pyiceberg's Arrow scan and
DuckDB's ``iceberg_scan``)."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow.parquet as pq
import pytest

from rat_jupyter.core import engine, fastwrite, runner
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one

pytestmark = pytest.mark.both_profiles
HEADER = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
SOURCE = ("SELECT i::BIGINT AS id, 'name ' || (i % 50) AS v, (i * 0.5)::DOUBLE AS x, "
          "TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE AS at, md5(i::VARCHAR) AS h FROM range(1, 3001) r(i)")


def _metadata(table: Any, path: str) -> pq.FileMetaData:
    with table.io.new_input(path).open() as stream:
        return pq.ParquetFile(stream).metadata


def _encodings(meta: pq.FileMetaData, column: str) -> set[str]:
    group = meta.row_group(0)
    return next(set(group.column(j).encodings) for j in range(group.num_columns)
                if group.column(j).path_in_schema == column)


def test_runs_write_the_format_the_catalog_calls_for_and_read_back_the_same(workspace: Workspace, ns: str) -> None:
    expected = engine.parquet_version_for(workspace.settings)
    assert expected == ("V1" if workspace.settings.catalog_type == "rest" else "V2")
    make_pipeline(workspace, ns, "silver", "t", HEADER + SOURCE)
    assert run_one(workspace, ns, "silver", "t").status == "success"
    table = workspace.catalog.load(PipelineId(ns, "silver", "t"))
    (data,) = fastwrite.live_files(table, "main").data
    meta = _metadata(table, data.file_path)
    assert meta.format_version == ("2.6" if expected == "V2" else "1.0")
    # V2's delta encoding is what makes the integer columns smaller and faster to decode
    assert ("DELTA_BINARY_PACKED" in _encodings(meta, "id")) == (expected == "V2")
    assert ("DELTA_LENGTH_BYTE_ARRAY" in _encodings(meta, "h")) == (expected == "V2")

    republish(workspace, ns, "silver", "t", HEADER + "SELECT 7::BIGINT AS id, 'changed' AS v, 0.25::DOUBLE AS x, "
              "TIMESTAMP '2030-01-01' AS at, md5('7') AS h")
    run = run_one(workspace, ns, "silver", "t")
    assert run.status == "success", run.error
    table = workspace.catalog.load(PipelineId(ns, "silver", "t"))
    live = fastwrite.live_files(table, "main")
    assert len(live.deletes) == 1
    # position-delete files stay V1 whatever the setting: pyiceberg reads their file_path as a dictionary,
    # which pyarrow cannot decode from V2's DELTA_LENGTH_BYTE_ARRAY
    assert _metadata(table, live.deletes[0].file_path).format_version == "1.0"

    got = rows(workspace, ns, "silver", "t", drop=("h",))  # (id, v, x, at), sorted by id
    assert len(got) == 3000
    assert got[6][:3] == (7, "changed", 0.25) and str(got[6][3]).startswith("2030-01-01")
    assert got[99][:3] == (100, "name 0", 50.0) and str(got[99][3]).startswith("2026-01-01 01:40")
    scanned = table.scan().to_arrow().sort_by("id")  # pyiceberg's own reader over the same files
    assert scanned.num_rows == 3000 and scanned.column("v").to_pylist()[6] == "changed"
    assert scanned.column("x").to_pylist()[99] == 50.0
    # a column of distinct strings, which V2 stores DELTA_LENGTH_BYTE_ARRAY-encoded, reads back too
    assert scanned.column("h").to_pylist()[:2] == [hashlib.md5(b"1").hexdigest(), hashlib.md5(b"2").hexdigest()]


@pytest.mark.parametrize(("choice", "catalog", "written"), [
    ("auto", "sql", "V2"), ("auto", "rest", "V1"), ("v1", "sql", "V1"), ("V2", "rest", "V2"), ("v1", "rest", "V1"),
])
def test_the_setting_picks_the_version(choice: str, catalog: str, written: str) -> None:
    assert engine.parquet_version_for(Settings(parquet_version=choice, catalog_type=catalog)) == written


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="parquet_version must be"):
        engine.parquet_version_for(Settings(parquet_version="v3"))


@pytest.mark.embedded_only(reason="checks the local writer's files; the profiles differ only in the default")
def test_each_session_writes_its_own_settings_format(workspace: Workspace, tmp_path: Any) -> None:
    """The version travels with the run's session, not the process: a session opened later with other
    settings (a kernel serving two data dirs, say) does not change what an earlier one writes."""
    v2 = runner.Session(workspace.settings.with_(parquet_version="v2"), None, "ns")
    v1 = runner.Session(workspace.settings.with_(parquet_version="v1"), None, "ns")
    try:
        assert (v2.write, v1.write) == (engine.WriteOptions("V2"), engine.WriteOptions("V1"))
        written = {}
        for name, session in (("v2", v2), ("v1", v1), ("v2-again", v2)):
            location = (tmp_path / name).as_uri()
            staged = fastwrite.stage(session.conn, location, {"id": 1}, "SELECT i::BIGINT AS id FROM range(10) r(i)",
                                     "r1", session.write)
            assert staged.rows == 10
            written[name] = pq.ParquetFile(staged.local).metadata
    finally:
        v2.close()
        v1.close()
    assert {name: meta.format_version for name, meta in written.items()} == {
        "v2": "2.6", "v1": "1.0", "v2-again": "2.6"}
    assert "DELTA_BINARY_PACKED" not in _encodings(written["v1"], "id")
    assert written["v1"].schema.to_arrow_schema().field("id").metadata == {b"PARQUET:field_id": b"1"}
