"""Landing zones (files, samples, lifecycle), lineage, retention admin and the audit log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Api, create_pipeline, files_under, is_error, upload, wait_run

# no test here runs two pipelines at once
pytestmark = [pytest.mark.both_profiles, pytest.mark.rat_config(concurrency=1)]

CSV = b"id,amount\n1,10\n2,20\n"


async def test_landing_zones_hold_uploaded_files_samples_and_a_lifecycle(api: Api, rat_data_dir: Path) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    status, zone = await api("POST", "landing-zones", {"namespace": "shop", "name": "raw", "description": "drops"})
    assert status == 201 and (zone["namespace"], zone["name"], zone["description"]) == ("shop", "raw", "drops")
    assert is_error(await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"}), 409, "CONFLICT")
    assert is_error(await api("POST", "landing-zones", {"namespace": "nope", "name": "raw"}), 404)
    for bad in ({"namespace": "shop"}, {"namespace": "shop", "name": "Raw-Zone"}, {"namespace": "shop", "name": "x",
                                                                                   "description": 5},
                {"namespace": "shop", "name": "x", "kind": "s3"}):
        assert is_error(await api("POST", "landing-zones", bad), 400), bad
    await api("POST", "landing-zones", {"namespace": "shop", "name": "archive"})

    status, row = await upload(api, "landing-zones/shop/raw/files", {}, [("file", "orders.csv", CSV)])
    assert status == 201, row
    assert re.fullmatch(r"shop/landing/raw/\d{8}_\d{6}_orders\.csv", row["path"]), row
    assert (row["filename"], row["size_bytes"]) == ("orders.csv", len(CSV))
    status, second = await upload(api, "landing-zones/shop/raw/files", {}, [("file", "../../more.csv", CSV)])
    assert status == 201 and second["filename"] == "more.csv" and second["path"].startswith("shop/landing/raw/")
    for bad_name in (".hidden.csv", "_private.csv"):
        assert is_error(await upload(api, "landing-zones/shop/raw/files", {}, [("file", bad_name, CSV)]), 400)
    assert is_error(await upload(api, "landing-zones/shop/raw/files", {}, []), 400)
    assert is_error(await upload(api, "landing-zones/shop/nope/files", {}, [("file", "a.csv", CSV)]), 404)

    status, body = await api("GET", "landing-zones")
    zones = {z["name"]: z for z in body["zones"]}
    assert status == 200 and body["total"] == 2
    assert (zones["raw"]["file_count"], zones["raw"]["total_bytes"]) == (2, 2 * len(CSV))
    assert (zones["archive"]["file_count"], zones["archive"]["total_bytes"]) == (0, 0)
    status, body = await api("GET", "landing-zones", namespace="shop", limit="1", offset="1")
    assert [z["name"] for z in body["zones"]] == ["raw"] and body["total"] == 2
    assert is_error(await api("GET", "landing-zones", limit="500"), 400)
    assert is_error(await api("GET", "landing-zones", offset="9" * 30), 400)
    status, body = await api("GET", "landing-zones/shop/raw")
    assert status == 200 and body["file_count"] == 2
    assert is_error(await api("GET", "landing-zones/shop/nope"), 404)
    assert is_error(await api("GET", "landing-zones/shop/Bad-Zone"), 400)

    status, body = await api("GET", "landing-zones/shop/raw/files")
    assert status == 200 and body["total"] == 2 and {f["id"] for f in body["files"]} == {row["id"], second["id"]}
    status, body = await api("GET", "landing-zones/shop/raw/files", limit="1")
    assert len(body["files"]) == 1 and body["total"] == 2
    status, body = await api("GET", f"landing-zones/shop/raw/files/{row['id']}")
    assert status == 200 and body["path"] == row["path"]
    assert is_error(await api("GET", "landing-zones/shop/raw/files/abcdef0123"), 404)
    assert is_error(await api("GET", "landing-zones/shop/raw/files/not-an-id"), 400)
    assert is_error(await api("GET", f"landing-zones/shop/archive/files/{row['id']}"), 404)

    # Samples keep their name, overwrite, and are not counted as landed files.
    status, body = await upload(api, "landing-zones/shop/raw/samples", {}, [("file", "sample.csv", b"id\n1\n")])
    assert status == 201 and body["path"] == "shop/landing/raw/_samples/sample.csv"
    status, body = await upload(api, "landing-zones/shop/raw/samples", {}, [("file", "sample.csv", CSV)])
    assert status == 201 and body["size"] == len(CSV)
    status, body = await api("GET", "landing-zones/shop/raw/samples")
    assert status == 200 and [s["path"] for s in body["samples"]] == ["shop/landing/raw/_samples/sample.csv"]
    assert (await api("GET", "landing-zones/shop/raw"))[1]["file_count"] == 2
    assert is_error(await upload(api, "landing-zones/shop/raw/samples", {}, [("file", ".env", b"x")]), 400)
    assert is_error(await api("GET", "landing-zones/shop/nope/samples"), 404)
    status, _ = await api("DELETE", "landing-zones/shop/raw/samples/sample.csv")
    assert status == 204
    assert (await api("GET", "landing-zones/shop/raw/samples"))[1]["samples"] == []
    assert is_error(await api("DELETE", "landing-zones/shop/raw/samples/sample.csv"), 404)
    assert is_error(await api("DELETE", "landing-zones/shop/raw/samples/.hidden"), 400)

    status, body = await api("GET", "landing-zones/shop/raw/lifecycle")
    assert status == 200 and set(body) == {"processed_max_age_days", "auto_purge"}
    status, body = await api("PUT", "landing-zones/shop/raw/lifecycle", {"processed_max_age_days": 7,
                                                                         "auto_purge": True})
    assert (status, body) == (200, {"processed_max_age_days": 7, "auto_purge": True})
    for bad in ({"processed_max_age_days": 0}, {"processed_max_age_days": "7"}, {"auto_purge": "yes"},
                {"retain": 1}):
        assert is_error(await api("PUT", "landing-zones/shop/raw/lifecycle", bad), 400), bad
    assert (await api("GET", "landing-zones/shop/raw/lifecycle"))[1]["processed_max_age_days"] == 7
    assert is_error(await api("GET", "landing-zones/shop/nope/lifecycle"), 404)

    status, body = await api("PUT", "landing-zones/shop/raw", {"owner": "ana", "expected_schema": "id INT"})
    assert status == 200 and (body["owner"], body["expected_schema"], body["description"]) == (
        "ana", "id INT", "drops")
    assert is_error(await api("PUT", "landing-zones/shop/raw", {"owner": 5}), 400)
    assert is_error(await api("PUT", "landing-zones/shop/raw", {"name": "other"}), 400)
    assert is_error(await api("PUT", "landing-zones/shop/nope", {"owner": "ana"}), 404)

    status, _ = await api("DELETE", f"landing-zones/shop/raw/files/{second['id']}")
    assert status == 204
    assert is_error(await api("DELETE", f"landing-zones/shop/raw/files/{second['id']}"), 404)
    assert (await api("GET", "landing-zones/shop/raw"))[1]["file_count"] == 1

    status, _ = await api("DELETE", "landing-zones/shop/raw")
    assert status == 204
    assert is_error(await api("GET", "landing-zones/shop/raw"), 404)
    assert is_error(await api("DELETE", "landing-zones/shop/raw"), 404)
    assert [z["name"] for z in (await api("GET", "landing-zones"))[1]["zones"]] == ["archive"]
    assert not any("landing/raw" in p for p in files_under(rat_data_dir / "storage"))


async def test_lineage_links_landing_zones_pipelines_and_tables_with_their_latest_run(api: Api) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"})
    await api("POST", "landing-zones", {"namespace": "shop", "name": "unused"})
    assert (await upload(api, "landing-zones/shop/raw/files", {}, [("file", "orders.csv", CSV)]))[0] == 201
    await create_pipeline(api, "shop", "bronze", "orders",
                          "SELECT * FROM read_csv_auto('{{ landing_zone(\"raw\") }}')")
    await create_pipeline(api, "shop", "silver", "totals",
                          "SELECT sum(amount) AS total FROM {{ ref('bronze.orders') }}")
    status, body = await api("POST", "runs", {"namespace": "shop", "layer": "bronze", "pipeline": "orders",
                                              "downstream": True})
    assert status == 202 and len(body["runs"]) == 2
    run, downstream = [await wait_run(api, r["id"]) for r in body["runs"]]
    assert run["status"] == downstream["status"] == "success" and run["rows_written"] == 2, run
    status, body = await api("POST", "query", {"sql": "SELECT total FROM shop.silver.totals"})
    assert (status, body["rows"]) == (200, [{"total": 30}]), body  # an integer sum (HUGEINT) is a JSON number

    status, body = await api("GET", "lineage")
    assert status == 200
    nodes = {n["id"]: n for n in body["nodes"]}
    assert set(nodes) == {"landing:shop.raw", "landing:shop.unused", "pipeline:shop.bronze.orders",
                          "table:shop.bronze.orders", "pipeline:shop.silver.totals", "table:shop.silver.totals"}
    assert nodes["pipeline:shop.bronze.orders"]["latest_run"]["status"] == "success"
    assert nodes["pipeline:shop.bronze.orders"]["latest_run"]["id"] == run["id"]
    assert {(e["source"], e["target"], e["type"]) for e in body["edges"]} == {
        ("landing:shop.raw", "pipeline:shop.bronze.orders", "landing_input"),
        ("pipeline:shop.bronze.orders", "table:shop.bronze.orders", "produces"),
        ("table:shop.bronze.orders", "pipeline:shop.silver.totals", "ref"),
        ("pipeline:shop.silver.totals", "table:shop.silver.totals", "produces")}
    assert (await api("GET", "lineage", namespace="other"))[1] == {"nodes": [], "edges": []}
    assert is_error(await api("GET", "lineage", namespace="Bad-Ns"), 400)


async def test_retention_settings_are_validated_and_the_reaper_runs_on_demand(api: Api) -> None:
    status, config = await api("GET", "admin/retention/config")
    assert status == 200 and config["runs_max_per_pipeline"] >= 1 and config["reaper_interval_minutes"] >= 1
    status, body = await api("PUT", "admin/retention/config", {"runs_max_per_pipeline": 10, "logs_max_age_days": 3})
    assert status == 200 and (body["runs_max_per_pipeline"], body["logs_max_age_days"]) == (10, 3)
    assert {k: v for k, v in body.items() if k not in ("runs_max_per_pipeline", "logs_max_age_days")} == {
        k: v for k, v in config.items() if k not in ("runs_max_per_pipeline", "logs_max_age_days")}
    for bad in ({"runs_max_per_pipeline": 0}, {"reaper_interval_minutes": 0}, {"runs_max_age_days": -1},
                {"runs_max_age_days": "30"}, {"runs_max_age_days": True}, {"runs_max_age_days": 10**7},
                {"unknown_setting": 1}):
        assert is_error(await api("PUT", "admin/retention/config", bad), 400), bad
    assert is_error(await api("PUT", "admin/retention/config", raw=b"[1]"), 400)
    assert (await api("GET", "admin/retention/config"))[1]["runs_max_per_pipeline"] == 10

    status, body = await api("GET", "admin/retention/status")
    assert status == 200 and body["interval_minutes"] == config["reaper_interval_minutes"]
    status, stats = await api("POST", "admin/retention/run")
    assert status == 202 and isinstance(stats, dict), stats
    status, body = await api("GET", "admin/retention/status")
    assert status == 200 and body["last_run_at"], body


async def test_the_audit_log_records_every_successful_mutation_and_nothing_else(api: Api) -> None:
    assert (await api("GET", "audit"))[1] == {"entries": [], "total": 0}
    mutations = [("POST", "namespaces", {"name": "shop"}), ("PUT", "namespaces/shop", {"description": "d"}),
                 ("PUT", "files/shop/a.txt", {"content": "a"}), ("DELETE", "files/shop/a.txt", None),
                 ("POST", "landing-zones", {"namespace": "shop", "name": "raw"}),
                 ("PUT", "admin/retention/config", {"logs_max_age_days": 5})]
    for method, path, body in mutations:
        assert (await api(method, path, body))[0] < 300, (method, path)
    # Failed mutations and reads are not audited.
    assert (await api("POST", "namespaces", {"name": "shop"}))[0] == 409
    assert (await api("DELETE", "namespaces/nope"))[0] == 404
    assert (await api("PUT", "files/../x", {"content": "x"}))[0] in (400, 404)
    await api("GET", "namespaces")
    await api("GET", "files/shop/none.txt")

    status, body = await api("GET", "audit")
    assert status == 200 and body["total"] == len(mutations)
    entries = body["entries"]
    assert [(e["action"], e["resource"].split("/rat/api/v1/")[1]) for e in reversed(entries)] == [
        (m.lower(), p) for m, p, _ in mutations]
    assert all(e["user_id"] and e["ip"] and e["created_at"] for e in entries)
    status, page = await api("GET", "audit", limit="2", offset="1")
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in entries[1:3]] and page["total"] == len(mutations)
    for params in ({"limit": "201"}, {"offset": "9" * 30}, {"offset": "-1"}):
        assert is_error(await api("GET", "audit", **params), 400), params
    assert (await api("GET", "audit"))[1]["total"] == len(mutations)
