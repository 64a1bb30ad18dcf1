"""DuckDB keeps no second copy of local data files: a busy worker does not grow by every file it has read.

DuckDB's external file cache holds the blocks of every file a database read until memory runs short. For
local files the kernel's page cache already holds them, and a full refresh writes new files each run, so the
cache only grew (ADR 0036). On S3 it saves requests and stays on.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from rat_jupyter.core import engine
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, run_one


def _cached_mib(conn: duckdb.DuckDBPyConnection) -> float:
    (row,) = conn.execute("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'EXTERNAL_FILE_CACHE'"
                          ).fetchall()
    return row[0] / 2**20


def test_reading_local_files_leaves_nothing_in_duckdbs_file_cache(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "rat")
    conn = engine.connect(settings)
    assert conn.execute("SELECT current_setting('enable_external_file_cache')").fetchone() == (False,)
    for i in range(200):  # small files, as 200 runs of gold models write them: cached whole when cached
        conn.execute(f"COPY (SELECT range AS id, random() AS v FROM range(5000)) "
                     f"TO '{tmp_path / f'f{i}.parquet'}' (FORMAT parquet)")
    total = conn.execute(f"SELECT sum(v) FROM read_parquet('{tmp_path}/f*.parquet')").fetchone()
    assert total is not None and total[0] > 0
    assert _cached_mib(conn) < 0.1

    cached = engine.connect(settings, config={"enable_external_file_cache": True})  # the old behaviour
    cached.execute(f"SELECT sum(v) FROM read_parquet('{tmp_path}/f*.parquet')").fetchone()
    assert _cached_mib(cached) > 2  # what a worker used to keep of these files (about their size)


def test_the_cache_is_off_for_local_workspaces_and_on_for_s3(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "bronze", "t", "SELECT range AS id FROM range(10)")
    assert run_one(workspace, ns, "bronze", "t").status == "success"
    conn = engine.session_connection(workspace.settings)
    try:
        (on,) = conn.execute("SELECT current_setting('enable_external_file_cache')").fetchone() or (None,)
    finally:
        conn.close()
    assert on is bool(workspace.settings.s3.endpoint)  # embedded: off; scale (SeaweedFS's S3): on
