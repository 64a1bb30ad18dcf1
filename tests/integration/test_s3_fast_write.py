"""The fast write path on S3-compatible storage (ADR 0007, ADR 0023), on a real SeaweedFS: DuckDB writes
the data and position-delete files to ``s3://`` itself (httpfs, the run's S3 settings as a secret) and
pyiceberg only commits them, through a SQL catalog and through SeaweedFS's Iceberg REST catalog.

Who wrote a file is read from the Iceberg metadata: DuckDB's files are named ``rat-<run id>-…``,
``rat-data-…`` and ``rat-deletes-…`` by :mod:`rat_jupyter.core.fastwrite`, pyiceberg's own writer names
its files ``00000-0-<uuid>.parquet``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from rat_jupyter.core import fastwrite
from rat_jupyter.core.names import PipelineId
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows, run_one
from tests.fixtures.seaweed import SeaweedServer  # the session server comes from tests/conftest.py

KEYED = "-- @merge_strategy: incremental\n-- @unique_key: id\n"
FULL = "-- @merge_strategy: full_refresh\n"


def source(low: int, high: int, tag: str) -> str:
    return f"SELECT i::BIGINT AS id, '{tag}' || i AS v, (i * 7) % 1000 AS n FROM range({low}, {high + 1}) r(i)"


@pytest.fixture(scope="module", params=["sql", "rest"])
def s3ws(request: pytest.FixtureRequest, seaweed: SeaweedServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace whose files and tables are on SeaweedFS: a SQLite catalog with an ``s3://`` warehouse,
    or SeaweedFS's Iceberg REST catalog (warehouse = its table bucket)."""
    tag = secrets.token_hex(4)
    data = tmp_path_factory.mktemp("s3fast")
    kw: dict[str, Any] = {"storage_url": f"s3://{seaweed.bucket}/fast-{tag}", "s3": seaweed.s3_options()}
    if request.param == "rest":
        kw.update(warehouse=f"s3://{seaweed.table_bucket}", catalog_type="rest", catalog_uri=seaweed.iceberg_rest_uri,
                  catalog_properties={"credential": f"{seaweed.access_key}:{seaweed.secret_key}"})
    else:
        kw.update(warehouse=f"s3://{seaweed.bucket}/fast-wh-{tag}")
    ws = Workspace.open(Settings(data_dir=data, concurrency=1, **kw), warm=True)
    assert ws.pool.wait_ready(120), "worker processes did not start"
    yield ws
    ws.close()


@pytest.fixture
def ns(s3ws: Workspace) -> str:
    name = "f" + secrets.token_hex(4)
    s3ws.create_namespace(name)
    return name


def table(ws: Workspace, ns: str, name: str = "t") -> Any:
    return ws.catalog.load(PipelineId(ns, "silver", name))


def summary(ws: Workspace, ns: str) -> dict[str, str]:
    snap = table(ws, ns).current_snapshot()
    return dict(snap.summary.additional_properties, operation=str(snap.summary.operation))


def logs(ws: Workspace, run: Any) -> list[str]:
    return [line["message"] for line in ws.run_logs(run.id)["logs"]]


def ok(ws: Workspace, ns: str, name: str = "t") -> Any:
    run = run_one(ws, ns, "silver", name)
    assert run.status == "success", run.error
    assert not any("Arrow path" in m for m in logs(ws, run)), logs(ws, run)
    return run


def objects(seaweed: SeaweedServer, uri: str) -> list[str]:
    parsed = urlparse(uri)
    client = seaweed.s3_client()
    out: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc,
                                                                  Prefix=parsed.path.lstrip("/") + "/"):
        out += [f"s3://{parsed.netloc}/{o['Key']}" for o in page.get("Contents", [])]
    return out


def assert_under_table(ws: Workspace, ns: str, seaweed: SeaweedServer) -> Any:
    """Every live file is an object under the table's S3 data folder; nothing was left on local disk."""
    t = table(ws, ns)
    live = fastwrite.live_files(t, "main")
    stored = set(objects(seaweed, t.location()))
    for f in live.data + live.deletes:
        assert f.file_path.startswith(t.location().rstrip("/") + "/data/rat-"), f.file_path
        assert f.file_path in stored
    assert not list(Path(ws.settings.data_dir).rglob("*.parquet"))
    return live


def test_full_refresh_is_written_by_duckdb_to_s3_and_replaced_in_one_snapshot(s3ws: Workspace, ns: str,
                                                                              seaweed: SeaweedServer) -> None:
    make_pipeline(s3ws, ns, "silver", "t", FULL + source(1, 3000, "a"))
    first = ok(s3ws, ns)
    (f,) = assert_under_table(s3ws, ns, seaweed).data
    assert Path(f.file_path).name.startswith(f"rat-{first.id}-")  # the query's COPY wrote it
    assert f.record_count == 3000 and first.rows_written == 3000

    republish(s3ws, ns, "silver", "t", FULL + source(1, 10, "b"))
    second = ok(s3ws, ns)
    (g,) = assert_under_table(s3ws, ns, seaweed).data
    assert Path(g.file_path).name.startswith(f"rat-{second.id}-")
    assert summary(s3ws, ns)["operation"] == "Operation.OVERWRITE"
    assert rows(s3ws, ns, "silver", "t") == sorted((i, f"b{i}", (i * 7) % 1000) for i in range(1, 11))
    # The S3 keys reached DuckDB as an in-memory secret only: in no run log, in no file of the workspace
    secret = seaweed.secret_key.encode()
    assert not any(secret in m.encode() for run in (first, second) for m in logs(s3ws, run))
    assert not [p for p in Path(s3ws.settings.data_dir).rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_an_upsert_on_s3_adds_a_position_delete_file_and_rewrites_no_data_file(s3ws: Workspace, ns: str,
                                                                               seaweed: SeaweedServer) -> None:
    make_pipeline(s3ws, ns, "silver", "t", KEYED + source(1, 5000, "a"))
    first = ok(s3ws, ns)  # a first load of a keyed strategy takes the fast path too
    (f,) = assert_under_table(s3ws, ns, seaweed).data
    assert Path(f.file_path).name.startswith(f"rat-{first.id}-")

    republish(s3ws, ns, "silver", "t", KEYED + "SELECT id::BIGINT AS id, 'u' || id AS v, 1 AS n "
                                              "FROM range(1, 5001, 100) r(id) UNION ALL SELECT 9999, 'new', 2")
    ok(s3ws, ns)
    s = summary(s3ws, ns)
    assert "deleted-data-files" not in s, s  # the file holding the keys was not rewritten
    assert s["added-position-deletes"] == "50" and s["added-delete-files"] == "1", s
    assert s["added-data-files"] == "1" and s["added-records"] == "51", s
    live = assert_under_table(s3ws, ns, seaweed)
    (deletes,) = live.deletes
    assert Path(deletes.file_path).name.startswith("rat-deletes-")
    assert deletes.file_size_in_bytes == seaweed.s3_client().head_object(
        Bucket=urlparse(deletes.file_path).netloc, Key=urlparse(deletes.file_path).path.lstrip("/"))["ContentLength"]
    assert {Path(d.file_path).name.split("-")[1] for d in live.data} == {first.id, "data"}

    expected = {i: (f"a{i}", (i * 7) % 1000) for i in range(1, 5001)}
    expected.update({i: (f"u{i}", 1) for i in range(1, 5001, 100)})
    expected[9999] = ("new", 2)
    want = sorted((i, v, n) for i, (v, n) in expected.items())
    assert rows(s3ws, ns, "silver", "t") == want
    scanned = table(s3ws, ns).scan().to_arrow()  # pyiceberg applies the S3 delete file as well
    assert sorted(tuple(r.values()) for r in scanned.to_pylist()) == want

    # Past the threshold the run compacts: one new data file on S3, every old file leaves the snapshot.
    republish(s3ws, ns, "silver", "t", KEYED + source(1, 2000, "c"))
    ok(s3ws, ns)
    live = assert_under_table(s3ws, ns, seaweed)
    assert live.deletes == [] and len(live.data) == 1 and live.records == 5001
    assert Path(live.data[0].file_path).name.startswith("rat-data-")
    expected.update({i: (f"c{i}", (i * 7) % 1000) for i in range(1, 2001)})
    assert rows(s3ws, ns, "silver", "t") == sorted((i, v, n) for i, (v, n) in expected.items())


def test_a_failed_run_on_s3_leaves_main_unchanged_and_a_failed_first_load_no_file(
        s3ws: Workspace, ns: str, seaweed: SeaweedServer) -> None:
    failing = {"never": "SELECT * FROM {{ this }} WHERE id > 0"}
    make_pipeline(s3ws, ns, "silver", "t", KEYED + source(1, 100, "a"))
    ok(s3ws, ns)
    before = table(s3ws, ns).current_snapshot().snapshot_id
    s3ws.save_test(ns, "silver", "t", "never", failing["never"])
    republish(s3ws, ns, "silver", "t", KEYED + source(50, 150, "b"))
    bad = run_one(s3ws, ns, "silver", "t")
    assert bad.status == "failed", bad.error
    assert table(s3ws, ns).current_snapshot().snapshot_id == before
    assert rows(s3ws, ns, "silver", "t") == sorted((i, f"a{i}", (i * 7) % 1000) for i in range(1, 101))

    # A first load whose audit fails creates no table, and its staged S3 file is removed again.
    make_pipeline(s3ws, ns, "silver", "u", FULL + source(1, 100, "a"), tests=failing)
    bad = run_one(s3ws, ns, "silver", "u")
    assert bad.status == "failed", bad.error
    assert table(s3ws, ns, "u") is None
    location = s3ws.catalog.table_location(PipelineId(ns, "silver", "u"))
    assert [o for o in objects(seaweed, location) if o.endswith(".parquet")] == []
    assert not list(Path(s3ws.settings.data_dir).rglob("*.parquet"))


def test_duckdb_writes_s3_only_with_the_runs_secret_and_not_when_turned_off(s3ws: Workspace, tmp_path: Path,
                                                                           monkeypatch: Any) -> None:
    """Without S3 settings (no secret) an ``s3://`` table keeps the Arrow path; ``RAT_WRITE_PATH=arrow``
    (the escape hatch, read by the processes that run pipelines) turns the fast path off everywhere."""
    from rat_jupyter.core import engine

    warehouse = s3ws.settings.resolved_warehouse
    conn = engine.connect(s3ws.settings)
    bare = engine.connect(Settings(data_dir=tmp_path))  # httpfs loaded, no S3 secret
    try:
        assert fastwrite.writable(conn, warehouse) and fastwrite.writable(conn, str(tmp_path))
        assert not fastwrite.writable(bare, warehouse)
        assert not fastwrite.writable(None, warehouse)
        monkeypatch.setenv(fastwrite.ENV_WRITE_PATH, "arrow")
        assert not fastwrite.writable(conn, warehouse) and not fastwrite.writable(conn, str(tmp_path))
    finally:
        conn.close()
        bare.close()
