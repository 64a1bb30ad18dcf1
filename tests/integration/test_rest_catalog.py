"""The scale profile end to end through an Iceberg REST catalog: SeaweedFS S3 for storage and tables, its
Iceberg REST catalog for the catalog, PostgreSQL for platform state. A bronze → silver (incremental, audited)
→ gold (full refresh, audited) chain runs twice with write-audit-publish on run branches, a failing audit
leaves ``main`` untouched, and the tables are read back by clients that know nothing of RAT: a plain
pyiceberg REST client and DuckDB ``ATTACH … (TYPE iceberg)``."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from rat_jupyter.core import engine
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, rows
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401
from tests.fixtures.seaweed import SeaweedServer, seaweed  # noqa: F401

BRONZE = ("-- @merge_strategy: append_only\n-- @archive_landing_zones: true\n"
          "SELECT id, v, ts FROM read_csv_auto('{{ landing_zone(\"drop\", \"*.csv\") }}')")
SILVER = ("-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: ts\n"
          "SELECT id, v, ts FROM {{ ref('bronze.orders') }}"
          "{% if is_incremental() %} WHERE ts > {{ watermark_value }}{% endif %}")
GOLD = "-- @merge_strategy: full_refresh\nSELECT count(*) AS n, sum(v) AS total FROM {{ ref('silver.orders') }}"


def rest_settings(postgres: PostgresServer, seaweed: SeaweedServer, tmp_path: Any, **extra: Any) -> Settings:  # noqa: F811
    """The scale profile on a REST catalog: the warehouse is SeaweedFS's table bucket."""
    tag = secrets.token_hex(4)
    return Settings(data_dir=tmp_path, storage_url=f"s3://{seaweed.bucket}/rest-{tag}",
                    warehouse=f"s3://{seaweed.table_bucket}", catalog_type="rest",
                    catalog_uri=seaweed.iceberg_rest_uri,
                    catalog_properties={"credential": f"{seaweed.access_key}:{seaweed.secret_key}"},
                    state_url=postgres.create_database(f"state_{tag}"), s3=seaweed.s3_options(), **extra)


def _ns() -> str:
    return "r" + secrets.token_hex(3)


def test_bronze_silver_gold_with_wap_on_s3_and_the_rest_catalog(postgres: PostgresServer,  # noqa: F811
                                                                 seaweed: SeaweedServer, tmp_path) -> None:  # noqa: F811
    settings = rest_settings(postgres, seaweed, tmp_path)
    ns = _ns()
    with Workspace.open(settings) as ws:
        assert type(ws.catalog.iceberg).__name__ == "RestCatalog"
        ws.create_namespace(ns)
        ws.create_landing_zone(ns, "drop")
        ws.upload_landing_file(ns, "drop", "a.csv", b"id,v,ts\n1,10,1\n2,20,2\n")
        make_pipeline(ws, ns, "bronze", "orders", BRONZE)
        make_pipeline(ws, ns, "silver", "orders", SILVER, tests={"no_negative": "SELECT * FROM {{ this }} WHERE v < 0"})
        make_pipeline(ws, ns, "gold", "totals", GOLD, tests={"not_empty": "SELECT * FROM {{ this }} WHERE n = 0"})

        first = ws.run_selection(f"{ns}.*", wait=True, timeout=180)
        assert [r.status for r in first] == ["success"] * 3, [r.error for r in first]
        assert rows(ws, ns, "gold", "totals") == [(2, 30)]

        # Second round: bronze appends only the new file (the first was archived), silver upserts id 2 and
        # inserts id 3 past the watermark, gold is recomputed.
        ws.upload_landing_file(ns, "drop", "b.csv", b"id,v,ts\n2,25,3\n3,30,4\n")
        second = {f"{r.layer}": r for r in ws.run_selection(f"{ns}.*", wait=True, timeout=180)}
        assert {k: r.status for k, r in second.items()} == {"bronze": "success", "silver": "success",
                                                           "gold": "success"}, [r.error for r in second.values()]
        assert second["bronze"].rows_written == 2 and second["silver"].rows_written == 2
        assert rows(ws, ns, "silver", "orders") == [(1, 10, 1), (2, 25, 3), (3, 30, 4)]
        assert rows(ws, ns, "gold", "totals") == [(3, 65)]
        # The audited runs published through a run branch; the branch is gone after the publish.
        silver_table = ws.catalog.load(ws.pid(ns, "silver", "orders"))
        assert set(silver_table.metadata.refs) == {"main"}
        logs = [line["message"] for line in ws.run_logs(second["silver"].id)["logs"]]
        assert any("branch rat-run-" in m for m in logs), logs
        assert any("Published snapshot" in m for m in logs), logs
        assert len(silver_table.snapshots()) == 2  # one snapshot per run, nothing else on main's history

        # A failing audit on the REST catalog: nothing published, main and its snapshot unchanged.
        gold_before = ws.catalog.load(ws.pid(ns, "gold", "totals")).current_snapshot().snapshot_id
        republish(ws, ns, "gold", "totals", GOLD + " WHERE v < 0")  # n = 0: the audit fails
        (bad,) = ws.run_selection(f"{ns}.gold.totals", wait=True, timeout=180)
        assert bad.status == "failed" and "quality tests failed" in (bad.error or ""), bad.error
        gold = ws.catalog.load(ws.pid(ns, "gold", "totals"))
        assert gold.current_snapshot().snapshot_id == gold_before
        assert set(gold.metadata.refs) == {"main"}  # the failed run's branch was dropped
        assert rows(ws, ns, "gold", "totals") == [(3, 65)]

        # The query service reads the same tables through the REST catalog.
        assert ws.query(f"SELECT n, total FROM {ns}.gold.totals")["rows"] == [{"n": 3, "total": 65}]
        assert sorted(str(p) for p in ws.catalog.list_tables(ns)) == [
            f"{ns}.bronze.orders", f"{ns}.gold.totals", f"{ns}.silver.orders"]
        expected = rows(ws, ns, "silver", "orders")

    # A plain pyiceberg REST client, configured only with the catalog's address and credentials.
    from pyiceberg.catalog import load_catalog

    plain = load_catalog("other", type="rest", uri=seaweed.iceberg_rest_uri, warehouse=f"s3://{seaweed.table_bucket}",
                         credential=f"{seaweed.access_key}:{seaweed.secret_key}",
                         **settings.s3.pyiceberg_properties())
    table = plain.load_table((ns, "silver", "orders")).scan().to_arrow()
    assert sorted(tuple(r.values()) for r in table.select(["id", "v", "ts"]).to_pylist()) == expected

    # DuckDB's own Iceberg REST client (ATTACH … TYPE iceberg), with an OAuth2 secret.
    conn = engine.connect(settings)
    try:
        conn.execute(f"CREATE SECRET rest_catalog (TYPE iceberg, CLIENT_ID '{seaweed.access_key}', "
                     f"CLIENT_SECRET '{seaweed.secret_key}', "
                     f"OAUTH2_SERVER_URI '{seaweed.iceberg_rest_uri}/v1/oauth/tokens')")
        conn.execute(f"ATTACH '{seaweed.table_bucket}' AS lake (TYPE iceberg, SECRET rest_catalog, "
                     f"ENDPOINT '{seaweed.iceberg_rest_uri}')")
        got = conn.execute(f'SELECT id, v, ts FROM lake."{ns}.silver".orders ORDER BY id').fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in got] == expected


def test_a_publish_that_lost_the_race_on_the_rest_catalog_leaves_main_alone(postgres: PostgresServer,  # noqa: F811
                                                                            seaweed: SeaweedServer,  # noqa: F811
                                                                            tmp_path) -> None:
    """RAT's publish commit asserts ``main`` did not move; the REST catalog enforces it (no lost update)."""
    import pyarrow as pa

    from rat_jupyter.core.errors import Conflict
    from rat_jupyter.core.runner import _publish

    settings = rest_settings(postgres, seaweed, tmp_path)
    ns = _ns()
    with Workspace.open(settings) as ws:
        ws.create_namespace(ns)
        make_pipeline(ws, ns, "bronze", "t", "SELECT 1 AS v")
        (run,) = ws.run_selection(f"{ns}.bronze.t", wait=True, timeout=180)
        assert run.status == "success", run.error
        pid = ws.pid(ns, "bronze", "t")
        table = ws.catalog.load(pid)
        base = table.current_snapshot().snapshot_id
        table.manage_snapshots().create_branch(base, "rat-run-stale").commit()
        table.append(pa.table({"v": pa.array([2], pa.int32())}), branch="rat-run-stale")
        stale = ws.catalog.load(pid)  # the run's view of the table, before main moves
        (moved,) = ws.run_selection(f"{ns}.bronze.t", wait=True, timeout=180)  # another run publishes
        assert moved.status == "success", moved.error
        head = ws.catalog.load(pid).current_snapshot().snapshot_id
        assert head != base
        with pytest.raises(Conflict, match="moved during the run"):
            _publish(stale, "rat-run-stale", base, pid)
        after = ws.catalog.load(pid)
        assert after.current_snapshot().snapshot_id == head
        assert "rat-run-stale" in after.metadata.refs  # the losing commit changed nothing at all
        assert rows(ws, ns, "bronze", "t") == [(1,)]


def test_a_kernel_reads_rest_tables_with_its_own_catalog_credential(postgres: PostgresServer,  # noqa: F811
                                                                    seaweed: SeaweedServer, tmp_path,  # noqa: F811
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What the server exports to kernels carries no catalog credential; a kernel brings its own."""
    from pyiceberg.exceptions import UnauthorizedError

    from rat_jupyter.core.settings import ENV_SETTINGS

    settings = rest_settings(postgres, seaweed, tmp_path)
    ns = _ns()
    with Workspace.open(settings) as ws:
        ws.create_namespace(ns)
        make_pipeline(ws, ns, "bronze", "t", "SELECT 42 AS v")
        (run,) = ws.run_selection(f"{ns}.bronze.t", wait=True, timeout=180)
        assert run.status == "success", run.error
    exported = settings.to_client_json()
    assert seaweed.secret_key not in exported
    monkeypatch.setenv(ENV_SETTINGS, exported)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.delenv("RAT_CATALOG_CREDENTIAL", raising=False)
    with pytest.raises(UnauthorizedError):
        Workspace.open(Settings.from_env(), server=False).catalog.load(ws.pid(ns, "bronze", "t"))
    monkeypatch.setenv("RAT_CATALOG_CREDENTIAL", f"{seaweed.access_key}:{seaweed.secret_key}")
    kernel = Workspace.open(Settings.from_env(), server=False)
    try:
        assert kernel.query(f"SELECT v FROM {ns}.bronze.t")["rows"] == [{"v": 42}]
    finally:
        kernel.close()
