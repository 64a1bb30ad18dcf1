"""``engine.connect`` on S3 settings, on a real SeaweedFS: a connection made for S3 can read S3.

The S3 secret is an httpfs secret type, so a connection asked for only ``("avro", "iceberg")`` on S3
settings used to fail at ``CREATE SECRET``; httpfs is now loaded whenever the secret is made."""

from __future__ import annotations

import secrets
from pathlib import Path

from rat_jupyter.core import engine
from rat_jupyter.core.settings import Settings
from tests.fixtures.seaweed import SeaweedServer  # the session server comes from tests/conftest.py


def test_a_connection_without_httpfs_asked_for_still_reads_s3(seaweed: SeaweedServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, storage_url=f"s3://{seaweed.bucket}/eng-{secrets.token_hex(4)}",
                        s3=seaweed.s3_options())
    url = f"{settings.resolved_storage_url}/probe.parquet"
    writer = engine.connect(settings)
    writer.execute(f"COPY (SELECT range AS i FROM range(5)) TO '{url}' (FORMAT parquet)")
    writer.close()
    for extensions in (("avro", "iceberg"), ()):
        conn = engine.connect(settings, extensions=extensions)
        try:
            loaded = {r[0] for r in conn.execute(
                "SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
            assert "httpfs" in loaded
            assert conn.execute(f"SELECT sum(i) FROM read_parquet('{url}')").fetchone() == (10,)
        finally:
            conn.close()


def test_a_local_connection_leaves_httpfs_unloaded(tmp_path: Path) -> None:
    conn = engine.connect(Settings(data_dir=tmp_path), extensions=("avro", "iceberg"))
    try:
        loaded = {r[0] for r in conn.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
        assert "httpfs" not in loaded and "iceberg" in loaded
    finally:
        conn.close()
