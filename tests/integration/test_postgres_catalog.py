"""The Iceberg catalog on PostgreSQL (pyiceberg ``SqlCatalog`` through psycopg), shared by two servers and by
writers outside RAT. Commits are optimistic: a commit whose base moved is rejected by the catalog. Runs of
different tables from two servers all land; a run that loses the race on its own table fails with a clear
error or, with ``max_retries``, is retried against the new ``main`` — never a lost or duplicated row."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401
from tests.fixtures.seaweed import SeaweedServer, seaweed  # noqa: F401

# How a lost race is reported: by RAT's publish ("main of … moved during the run", audited runs) or by
# pyiceberg's own commit validation when an unaudited run writes straight to main.
CONFLICT_WORDS = ("moved during the run", "commit rejected", "Added data files were found")


def pg_catalog_settings(postgres: PostgresServer, seaweed: SeaweedServer, tmp_path: Path,  # noqa: F811
                        **extra: Any) -> Settings:
    tag = secrets.token_hex(4)
    catalog = postgres.create_database(f"cat_{tag}").replace("postgresql://", "postgresql+psycopg://", 1)
    return Settings(data_dir=tmp_path, storage_url=f"s3://{seaweed.bucket}/pgc-{tag}",
                    warehouse=f"s3://{seaweed.bucket}/pgc-wh-{tag}", catalog_uri=catalog,
                    state_url=postgres.create_database(f"state_{tag}"), s3=seaweed.s3_options(), **extra)


def _gated(marker: Path, gate: Path, header: str, ids: list[int]) -> str:
    """A Python pipeline that says when it has started (one line per attempt) and waits for the test."""
    return (f"{header}import pathlib, time\n"
            f"with open({str(marker)!r}, 'a') as f:\n    f.write('started\\n')\n"
            f"deadline = time.monotonic() + 60\n"
            f"while not pathlib.Path({str(gate)!r}).exists() and time.monotonic() < deadline:\n"
            f"    time.sleep(0.05)\n"
            f"result = pa.table({{'id': pa.array({ids!r}, pa.int64()), 'v': pa.array(['rat'] * {len(ids)})}})\n")


def _wait_for(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or path.read_text().count("started") < count:
        assert time.monotonic() < deadline, f"the pipeline did not start (attempt {count})"
        time.sleep(0.05)


def test_two_servers_commit_to_one_postgres_catalog(postgres: PostgresServer, seaweed: SeaweedServer,  # noqa: F811
                                                    tmp_path: Path) -> None:
    settings = pg_catalog_settings(postgres, seaweed, tmp_path, concurrency=2)
    one, two = Workspace.open(settings), Workspace.open(settings)
    try:
        assert one.catalog.iceberg.engine.dialect.name == "postgresql"
        one.create_namespace("shop")
        names = [f"t{i}" for i in range(6)]
        for i, name in enumerate(names):
            make_pipeline(one, "shop", "bronze", name, f"SELECT {i} AS id, 'v{i}' AS v",
                          tests={"one_row": "SELECT 1 FROM {{ this }} HAVING count(*) <> 1"})
        # Different tables, two servers, four workers committing to the same catalog database at once.
        runs = [(one, two)[i % 2].run_selection(f"shop.bronze.{name}")[0] for i, name in enumerate(names)]
        final = one.wait_for_runs([r.id for r in runs], timeout=180)
        assert [r["status"] for r in final] == ["success"] * len(names), [r["error"] for r in final]
        for i, name in enumerate(names):
            assert rows(two, "shop", "bronze", name) == [(i, f"v{i}")]
        assert sorted(p.name for p in two.catalog.list_tables("shop")) == sorted(names)
        assert set(one.catalog.locations()) == {one.pid("shop", "bronze", n) for n in names}
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize(("retries", "audited"), [
    pytest.param(0, False, id="straight-to-main"),
    pytest.param(0, True, id="audited"),
    pytest.param(1, True, id="retried"),
])
def test_a_run_that_loses_the_race_on_its_table_fails_cleanly_or_retries(postgres: PostgresServer,  # noqa: F811
                                                                         seaweed: SeaweedServer,  # noqa: F811
                                                                         tmp_path: Path, retries: int,
                                                                         audited: bool) -> None:
    from pyiceberg.catalog import load_catalog

    settings = pg_catalog_settings(postgres, seaweed, tmp_path, concurrency=1)
    # Another engine committing to the same catalog (Spark, Trino, a notebook): a plain pyiceberg client.
    other = load_catalog("rat", type="sql", uri=settings.catalog_uri, warehouse=settings.warehouse,
                         **settings.s3.pyiceberg_properties())
    header = "# @merge_strategy: incremental\n# @unique_key: id\n"
    gate, marker = tmp_path / "go", tmp_path / "started"
    tests = {"has_rows": "SELECT 1 FROM {{ this }} HAVING count(*) = 0"} if audited else None
    with Workspace.open(settings) as ws:
        ws.create_namespace("n")
        gate.touch()
        make_pipeline(ws, "n", "silver", "t", _gated(marker, gate, header, [1, 2]), type="python", tests=tests)
        (first,) = ws.run_selection("n.silver.t", wait=True, timeout=120)
        assert first.status == "success", first.error
        gate.unlink()

        extra = f"# @max_retries: {retries}\n" if retries else ""
        republish(ws, "n", "silver", "t", _gated(marker, gate, header + extra, [2, 3]), "pipeline.py")
        (run,) = ws.run_selection("n.silver.t")
        _wait_for(marker, 2)  # the run loaded main and is computing its batch
        table = other.load_table(("n", "silver", "t"))
        table.append(pa.table({"id": pa.array([100], pa.int64()), "v": pa.array(["other engine"])}))
        outside = table.current_snapshot().snapshot_id
        gate.touch()
        (final,) = ws.wait_for_runs([run.id], timeout=120)
        current = ws.catalog.load(ws.pid("n", "silver", "t"))
        assert set(current.metadata.refs) == {"main"}  # no run branch left behind
        if retries:
            # Retried against the new main: the other engine's row and the run's upsert, each once.
            assert final["status"] == "success", final["error"]
            assert marker.read_text().count("started") == 3
            assert rows(ws, "n", "silver", "t") == [(1, "rat"), (2, "rat"), (3, "rat"), (100, "other engine")]
            assert current.current_snapshot().parent_snapshot_id == outside
        else:
            # Rejected: main is exactly what the other engine committed, and the error says why.
            assert final["status"] == "failed", final
            assert any(word in final["error"] for word in CONFLICT_WORDS), final["error"]
            assert current.current_snapshot().snapshot_id == outside
            assert rows(ws, "n", "silver", "t") == [(1, "rat"), (2, "rat"), (100, "other engine")]
