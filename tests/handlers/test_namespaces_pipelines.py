"""Namespaces, pipelines (CRUD, list, publish, versions, rollback, validate, preview, metadata, retention)
and quality tests over REST."""

from __future__ import annotations

import json

import pytest

from .conftest import Api, create_pipeline, is_error, run_pipeline

# no test here runs two pipelines at once
pytestmark = [pytest.mark.both_profiles, pytest.mark.rat_config(concurrency=1)]


async def test_namespaces_are_created_listed_updated_and_deleted(api: Api) -> None:
    status, body = await api("POST", "namespaces", {"name": "shop", "description": "the shop"})
    assert status == 201 and body["name"] == "shop" and body["description"] == "the shop"
    assert is_error(await api("POST", "namespaces", {"name": "shop"}), 409, "CONFLICT")
    for bad in ("Shop", "9shop", "sh-op", "select", "", "x" * 200):
        assert is_error(await api("POST", "namespaces", {"name": bad}), 400, "INVALID_ARGUMENT"), bad
    assert is_error(await api("POST", "namespaces", {}), 400)
    assert is_error(await api("POST", "namespaces", {"name": "ok", "colour": "red"}), 400)
    assert is_error(await api("POST", "namespaces", {"name": "ok", "description": 5}), 400)
    assert is_error(await api("POST", "namespaces", raw=b"{not json"), 400)
    assert is_error(await api("POST", "namespaces", raw=b'["a list"]'), 400)
    assert is_error(await api("POST", "namespaces", raw=b"\xff\xfe"), 400)
    status, body = await api("GET", "namespaces")
    assert status == 200 and [n["name"] for n in body["namespaces"]] == ["shop"] and body["total"] == 1
    status, body = await api("GET", "namespaces/shop")
    assert status == 200 and body["description"] == "the shop"
    assert is_error(await api("GET", "namespaces/nope"), 404, "NOT_FOUND")
    assert is_error(await api("GET", "namespaces/No-Pe"), 400)
    status, body = await api("PUT", "namespaces/shop", {"description": "renamed"})
    assert status == 200 and body["description"] == "renamed"
    assert is_error(await api("PUT", "namespaces/shop", {}), 400)
    assert is_error(await api("PUT", "namespaces/nope", {"description": "x"}), 404)
    status, _ = await api("DELETE", "namespaces/shop")
    assert status == 204
    assert is_error(await api("DELETE", "namespaces/shop"), 404)
    assert (await api("GET", "namespaces"))[1]["namespaces"] == []


async def test_json_bodies_over_one_megabyte_are_refused_with_413(api: Api) -> None:
    big = json.dumps({"name": "shop", "description": "x" * (1024 * 1024)}).encode()
    assert is_error(await api("POST", "namespaces", raw=big), 413, "TOO_LARGE")
    assert is_error(await api("POST", "query", raw=json.dumps({"sql": "SELECT 1 -- " + "x" * 1_100_000}).encode()),
                    413, "TOO_LARGE")
    # Just under the cap the body is read and validated normally.
    almost = json.dumps({"name": "shop", "description": "x" * (1024 * 1024 - 100)}).encode()
    assert is_error(await api("POST", "namespaces", raw=almost), 400)
    assert (await api("GET", "namespaces"))[1]["total"] == 0


async def test_pipelines_are_created_validated_listed_paged_sorted_and_deleted(api: Api) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    status, body = await api("POST", "pipelines", {"namespace": "shop", "layer": "bronze", "name": "orders",
                                                   "source": "SELECT 1 AS id", "description": "orders",
                                                   "unique_key": "id"})
    assert status == 201, body
    assert body["s3_path"] == "shop/pipelines/bronze/orders/"
    assert body["files_created"] == ["shop/pipelines/bronze/orders/config.yaml",
                                     "shop/pipelines/bronze/orders/pipeline.sql"]
    new = {"namespace": "shop", "layer": "bronze", "name": "x"}
    assert is_error(await api("POST", "pipelines", {**new, "name": "orders"}), 409, "CONFLICT")
    assert is_error(await api("POST", "pipelines", {**new, "namespace": "nope"}), 404, "NOT_FOUND")
    for bad in ({**new, "layer": "platinum"}, {**new, "name": "Bad-Name"}, {**new, "type": "java"},
                {**new, "config": [1]}, {**new, "unique_key": 5}, {**new, "source": 1}, {**new, "extra": 1},
                {"namespace": "shop", "layer": "bronze"}, {**new, "source": "SELECT {{ broken"}):
        assert is_error(await api("POST", "pipelines", bad), 400), bad
    assert is_error(await api("GET", "pipelines/shop/bronze/x"), 404), "an invalid create wrote nothing"
    for layer, name in (("bronze", "b2"), ("silver", "s1"), ("silver", "s2"), ("gold", "g1")):
        status, body = await api("POST", "pipelines", {"namespace": "shop", "layer": layer, "name": name})
        assert status == 201, body  # a template source
    status, body = await api("POST", "pipelines", {**new, "name": "py", "type": "python"})
    assert status == 201 and body["type"] == "python"

    status, body = await api("GET", "pipelines")
    assert status == 200 and body["total"] == 6 and body["limit"] == 50 and body["offset"] == 0
    names = [p["name"] for p in body["pipelines"]]
    assert names == ["b2", "orders", "py", "g1", "s1", "s2"]  # default order: namespace, layer, name
    status, page = await api("GET", "pipelines", limit="2", offset="2", sort="name")
    assert [p["name"] for p in page["pipelines"]] == ["orders", "py"] and page["total"] == 6
    status, page = await api("GET", "pipelines", sort="-name", limit="3")
    assert [p["name"] for p in page["pipelines"]] == ["s2", "s1", "py"]
    for unknown in ("colour", "-colour", "name;drop"):  # fields off the allow-list fall back to the default order
        status, page = await api("GET", "pipelines", sort=unknown)
        assert status == 200 and [p["name"] for p in page["pipelines"]] == names, unknown
    status, page = await api("GET", "pipelines", layer="silver", search="2")
    assert [p["name"] for p in page["pipelines"]] == ["s2"] and page["total"] == 1
    status, page = await api("GET", "pipelines", limit="200")
    assert status == 200 and page["limit"] == 200
    for params in ({"limit": "201"}, {"limit": "0"}, {"limit": "two"}, {"offset": "-1"}, {"offset": "9" * 30},
                   {"layer": "platinum"}, {"namespace": "Bad-Ns"}):
        assert is_error(await api("GET", "pipelines", **params), 400), params
    status, page = await api("GET", "pipelines", namespace="other")
    assert status == 200 and page["pipelines"] == []

    status, body = await api("GET", "pipelines/shop/bronze/orders")
    assert status == 200 and body["description"] == "orders" and body["draft_dirty"] is True
    assert body["published_version"] in (None, 0)
    assert is_error(await api("GET", "pipelines/shop/platinum/orders"), 400)
    assert is_error(await api("GET", "pipelines/shop/bronze/Orders"), 400)
    assert is_error(await api("GET", "pipelines/nope/bronze/orders"), 404)
    status, body = await api("PUT", "pipelines/shop/bronze/orders", {"description": "all orders", "owner": "ana"})
    assert status == 200 and (body["description"], body["owner"]) == ("all orders", "ana")
    assert is_error(await api("PUT", "pipelines/shop/bronze/orders", {"type": "python"}), 400)
    assert is_error(await api("PUT", "pipelines/shop/bronze/orders", {"name": "x"}), 400)
    assert is_error(await api("PUT", "pipelines/shop/bronze/orders", {"description": "x" * 5001}), 400)
    assert is_error(await api("PUT", "pipelines/shop/bronze/nope", {"description": "x"}), 404)

    status, _ = await api("DELETE", "pipelines/shop/bronze/b2")
    assert status == 204
    assert is_error(await api("GET", "pipelines/shop/bronze/b2"), 404)
    assert is_error(await api("DELETE", "pipelines/shop/bronze/b2"), 404)
    assert (await api("GET", "pipelines"))[1]["total"] == 5
    # The name can be reused after a delete.
    status, _ = await api("POST", "pipelines", {"namespace": "shop", "layer": "bronze", "name": "b2"})
    assert status == 201


async def test_publish_versions_rollback_validate_preview_and_metadata(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT 1 AS id", publish=False)
    base = "pipelines/shop/bronze/orders"
    status, body = await api("POST", f"{base}/publish", {"message": "first"})
    assert (status, body["status"], body["version"], body["message"]) == (200, "published", 1, "first")
    assert body["files"] == ["pipeline.sql"]
    status, _ = await api("PUT", "files/shop/pipelines/bronze/orders/pipeline.sql", {"content": "SELECT 2 AS id"})
    assert status == 200
    assert (await api("GET", base))[1]["draft_dirty"] is True
    status, body = await api("POST", f"{base}/publish")
    assert (status, body["version"]) == (200, 2)
    assert is_error(await api("POST", f"{base}/publish", {"message": 5}), 400)
    assert is_error(await api("POST", "pipelines/shop/bronze/nope/publish"), 404)

    status, body = await api("GET", f"{base}/versions")
    assert status == 200 and [v["version"] for v in body["versions"]] == [2, 1] and body["total"] == 2
    status, body = await api("GET", f"{base}/versions/1")
    assert status == 200 and body["version"] == 1 and body["message"] == "first"
    assert body["contents"] == {"pipeline.sql": "SELECT 1 AS id"}  # what an editor diffs the draft against
    assert is_error(await api("GET", f"{base}/versions/9"), 404)
    assert is_error(await api("GET", f"{base}/versions/{'9' * 30}"), 400)  # not an overflow in the state store
    assert (await api("GET", f"{base}/versions/one"))[0] == 404  # no such route

    status, body = await api("POST", f"{base}/rollback", {"version": 1})
    assert (status, body["status"], body["from_version"], body["new_version"]) == (200, "rolled_back", 1, 3)
    status, body = await api("GET", "files/shop/pipelines/bronze/orders/pipeline.sql")
    assert status == 200 and body["content"] == "SELECT 1 AS id"
    for bad in ({}, {"version": "one"}, {"version": 0}, {"version": True}, {"version": 10**30}):
        assert is_error(await api("POST", f"{base}/rollback", bad), 400), bad
    assert is_error(await api("POST", f"{base}/rollback", {"version": 42}), 404)

    status, body = await api("POST", f"{base}/validate")
    assert status == 200 and body["valid"] is True
    status, body = await api("POST", f"{base}/validate", {"files": {"pipeline.sql": "SELECT {{ nope("}})
    assert status == 200 and body["valid"] is False and body["files"][0]["errors"]
    assert is_error(await api("POST", f"{base}/validate", {"files": ["pipeline.sql"]}), 400)

    status, body = await api("POST", f"{base}/preview", {"limit": 2, "code": "SELECT * FROM range(5) t(n)"})
    assert status == 200 and [r["n"] for r in body["rows"]] == [0, 1], body
    status, body = await api("POST", f"{base}/preview")
    assert status == 200 and body["rows"] == [{"id": 1}] and body["error"] is None
    status, body = await api("POST", f"{base}/preview", {"code": "SELECT * FROM missing_table"})
    assert status == 200 and body["rows"] == [] and "missing_table" in body["error"]  # RAT's preview contract
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "5"}, {"code": 5}, {"other": 1}):
        assert is_error(await api("POST", f"{base}/preview", bad), 400), bad
    assert (await api("GET", "tables"))[1]["tables"] == [], "a preview writes nothing"

    # A dependency cycle cannot be published: 422 with the validation report.
    await create_pipeline(api, "shop", "silver", "a", "SELECT 1 AS id", publish=False)
    await create_pipeline(api, "shop", "silver", "b", "SELECT * FROM {{ ref('silver.a') }}", publish=False)
    status, _ = await api("PUT", "files/shop/pipelines/silver/a/pipeline.sql",
                          {"content": "SELECT * FROM {{ ref('silver.b') }}"})
    assert status == 200
    status, body = await api("POST", "pipelines/shop/silver/a/publish")
    assert is_error((status, body), 422, "UNPROCESSABLE") and body["details"]["validation"]["valid"] is False

    assert is_error(await api("GET", f"{base}/metadata"), 404)
    assert is_error(await api("GET", f"{base}/metadata/quality"), 404)
    meta = "description: all orders\nowner: ana\n"
    assert (await api("PUT", "files/shop/pipelines/bronze/orders/pipeline.meta.yaml", {"content": meta}))[0] == 200
    assert (await api("PUT", "files/shop/pipelines/bronze/orders/tests/quality.meta.yaml", {"content": "a: 1\n"}
                      ))[0] == 200
    status, body = await api("GET", f"{base}/metadata")
    assert status == 200 and body == {"path": "shop/pipelines/bronze/orders/pipeline.meta.yaml", "content": meta}
    status, body = await api("GET", f"{base}/metadata/quality")
    assert status == 200 and body["content"] == "a: 1\n"
    assert is_error(await api("GET", "pipelines/shop/bronze/nope/metadata"), 404)

    status, body = await api("GET", f"{base}/retention")
    assert status == 200 and body["overrides"] is None and body["effective"] == body["system"]
    status, body = await api("PUT", f"{base}/retention", {"runs_max_per_pipeline": 5})
    assert status == 200 and body["overrides"] == {"runs_max_per_pipeline": 5}
    assert body["effective"]["runs_max_per_pipeline"] == 5
    for bad in ({"runs_max_per_pipeline": 0}, {"runs_max_per_pipeline": "5"}, {"reaper_interval_minutes": 5},
                {"bogus": 1}):
        assert is_error(await api("PUT", f"{base}/retention", bad), 400), bad
    assert (await api("GET", f"{base}/retention"))[1]["overrides"] == {"runs_max_per_pipeline": 5}


async def test_quality_tests_are_managed_under_both_mounts_and_run_for_real(api: Api) -> None:
    await create_pipeline(api, "shop", "bronze", "orders", "SELECT * FROM range(3) t(id)")
    await run_pipeline(api, "shop", "bronze", "orders")
    for mount in ("pipelines/shop/bronze/orders/tests", "tests/shop/bronze/orders"):
        status, body = await api("GET", mount)
        assert status == 200, body
    base = "pipelines/shop/bronze/orders/tests"
    status, body = await api("POST", base, {"name": "no_nulls", "sql": "SELECT * FROM {{ this }} WHERE id IS NULL",
                                            "severity": "error", "description": "ids are set"})
    assert status == 201 and body["name"] == "no_nulls" and body["severity"] == "error", body
    assert body["path"] == "shop/pipelines/bronze/orders/tests/quality/no_nulls.sql"
    assert is_error(await api("POST", base, {"name": "no_nulls", "sql": "SELECT 1"}), 409, "CONFLICT")
    for bad in ({"name": "Bad-Name", "sql": "SELECT 1"}, {"name": "t"},
                {"name": "t", "sql": "SELECT 1", "severity": "fatal"},
                {"name": "t", "sql": "SELECT 1", "description": "two\nlines"},
                {"name": "t", "sql": "SELECT {{ broken"}):
        assert is_error(await api("POST", base, bad), 400), bad
    status, body = await api("POST", "tests/shop/bronze/orders",
                             {"name": "too_many", "sql": "SELECT * FROM {{ this }} WHERE id > 1", "severity": "warn"})
    assert status == 201 and body["severity"] == "warn"
    status, body = await api("GET", base)
    assert [t["name"] for t in body["tests"]] == ["no_nulls", "too_many"] and body["total"] == 2
    status, body = await api("GET", "tests/shop/bronze/orders/no_nulls")
    assert status == 200 and body["description"] == "ids are set" and body["published"] is False
    assert is_error(await api("GET", f"{base}/nope"), 404)
    status, body = await api("PUT", f"{base}/too_many", {"sql": "SELECT * FROM {{ this }} WHERE id > 5"})
    assert status == 200 and "id > 5" in body["sql"]
    assert is_error(await api("PUT", f"{base}/nope", {"sql": "SELECT 1"}), 404)
    assert is_error(await api("PUT", f"{base}/too_many", {}), 400)

    status, body = await api("POST", f"{base}/run")
    assert status == 200, body
    assert (body["passed"], body["failed"], body["total"]) == (2, 0, 2)
    status, body = await api("POST", "tests/shop/bronze/orders/run", {"tests": ["no_nulls"]})
    assert status == 200 and [r["test"] for r in body["results"]] == ["no_nulls"], body
    assert is_error(await api("POST", f"{base}/run", {"tests": "no_nulls"}), 400)
    assert is_error(await api("POST", "pipelines/shop/bronze/nope/tests/run"), 404)

    status, _ = await api("DELETE", f"{base}/too_many")
    assert status == 204
    assert is_error(await api("DELETE", "tests/shop/bronze/orders/too_many"), 404)
    assert [t["name"] for t in (await api("GET", base))[1]["tests"]] == ["no_nulls"]


async def test_a_pipeline_opens_as_a_notebook_of_its_source_and_tests(api: Api) -> None:
    sql = "SELECT 1 AS id"
    await create_pipeline(api, "nbs", "silver", "orders", sql, publish=False)
    status, body = await api("POST", "pipelines/nbs/silver/orders/tests",
                             {"name": "id_unique", "sql": "-- @severity: warn\nSELECT id FROM {{ this }} "
                                                          "GROUP BY 1 HAVING count(*) > 1"})
    assert status == 201, body
    status, body = await api("GET", "pipelines/nbs/silver/orders/notebook")
    assert status == 200, body
    assert body["name"] == "orders.silver.nbs.ipynb"
    nb = body["notebook"]
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "rat_sql"
    files = [c for c in nb["cells"] if c["cell_type"] == "code" and "rat" in c["metadata"]]
    assert [(c["metadata"]["rat"]["role"], c["metadata"]["rat"]["path"]) for c in files] == \
        [("pipeline", "pipeline.sql"), ("test", "tests/quality/id_unique.sql")]
    assert files[0]["source"] == sql and "HAVING count(*) > 1" in files[1]["source"]
    # a draft that was never published has no published notebook; bad choices are 400s; typos say what exists
    assert is_error(await api("GET", "pipelines/nbs/silver/orders/notebook", version="published"), 409)
    assert is_error(await api("GET", "pipelines/nbs/silver/orders/notebook", kernel="julia"), 400)
    status, error = await api("GET", "pipelines/nbs/silver/ordrs/notebook")
    assert status == 404 and "orders" in error["message"], error


async def test_one_quality_test_is_read_from_its_own_file(api: Api, jp_serverapp, monkeypatch) -> None:
    """GET of one test (and the reply of a save) reads that test's file, not every file of the pipeline; the
    answer is the one the listing gives for it, published flag included."""
    from tests.core.test_dag_cache import CountingStorage

    ws = jp_serverapp.web_app.settings["rat_workspace"]
    await create_pipeline(api, "shop", "bronze", "many", "SELECT * FROM range(3) t(id)")
    base = "pipelines/shop/bronze/many/tests"
    for i in range(6):
        assert (await api("POST", base, {"name": f"t{i}", "sql": f"SELECT * FROM {{{{ this }}}} WHERE id > {i}"}))[0] \
            == 201
    assert (await api("POST", "pipelines/shop/bronze/many/publish", {}))[0] == 200
    listed = {t["name"]: t for t in (await api("GET", base))[1]["tests"]}
    storage = CountingStorage(ws.storage)
    monkeypatch.setattr(ws, "storage", storage)
    status, body = await api("GET", f"{base}/t3")
    assert status == 200 and body == listed["t3"] and body["published"] is True
    assert storage.paths == ["shop/pipelines/bronze/many/tests/quality/t3.sql"], storage.paths
    assert is_error(await api("GET", f"{base}/nope"), 404)
