"""Storage routes: read/write/delete/list/upload, path traversal refused, upload size limits."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import Api, Http, files_under, is_error, multipart, upload

# no test here runs two pipelines at once
pytestmark = [pytest.mark.both_profiles, pytest.mark.rat_config(concurrency=1)]

# Sent as-is in the URL after /files/ (tornado decodes the percent-escapes once before the handler).
BAD_URL_PATHS = [
    "../escape.txt", "shop/../../escape.txt", "shop/./x.txt", "%2e%2e%2fescape.txt", "shop%2f..%2f..%2fescape.txt",
    "%252e%252e%252fescape.txt", "%25252e%25252e%25252fescape.txt", "shop/..%5c..%5cescape.txt", "shop%5cx.txt",
    "%2fetc%2fpasswd", "/etc/passwd", "shop/x%00.txt", "C:%5cWindows%5cwin.ini", "shop/%0a.txt",
]
# As query parameters and form fields (plain strings, encoded by the client).
BAD_VALUES = [
    "../", "../escape.txt", "shop/../../", "/etc", "/etc/passwd", "shop\\..\\escape.txt", "..\\escape.txt",
    "%2e%2e%2f", "%2e%2e/escape.txt", "%252e%252e/escape.txt", "..%5cescape.txt", "shop/\x00.txt", "shop/x\x00",
    "C:/Windows", "shop/./x",
]


async def test_files_are_written_read_listed_and_deleted(api: Api) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    status, body = await api("PUT", "files/shop/docs/readme.md", {"content": "# Shop\n"})
    assert status == 200 and body["status"] == "written" and body["path"] == "shop/docs/readme.md", body
    await api("PUT", "files/shop/docs/hooks/pre_x.sql", {"content": "SELECT 1"})
    status, body = await api("GET", "files/shop/docs/readme.md")
    assert status == 200 and body["content"] == "# Shop\n" and body["size"] == 7
    status, body = await api("GET", "files", prefix="shop/")
    assert status == 200
    assert {(f["path"], f["type"]) for f in body["files"]} == {("shop/docs/readme.md", "doc"),
                                                               ("shop/docs/hooks/pre_x.sql", "hook")}
    status, body = await api("GET", "files", prefix="shop/", exclude="hooks")
    assert [f["path"] for f in body["files"]] == ["shop/docs/readme.md"]
    status, body = await api("GET", "files", prefix="other/")
    assert status == 200 and body["files"] == []
    assert is_error(await api("GET", "files"), 400)
    assert is_error(await api("GET", "files", prefix="Bad-Ns/"), 400)
    assert is_error(await api("PUT", "files/shop/docs/a.txt", {"content": 5}), 400)
    assert is_error(await api("PUT", "files/shop/docs/a.txt", {"content": "x", "mode": "append"}), 400)
    assert is_error(await api("PUT", "files/Bad-Ns/a.txt", {"content": "x"}), 400)
    assert is_error(await api("GET", "files/shop/docs/none.md"), 404)
    status, _ = await api("DELETE", "files/shop/docs/readme.md")
    assert status == 204
    assert is_error(await api("GET", "files/shop/docs/readme.md"), 404)

    # Pipeline files are validated before they are written, and mark the draft dirty.
    await api("POST", "pipelines", {"namespace": "shop", "layer": "bronze", "name": "orders", "source": "SELECT 1"})
    await api("POST", "pipelines/shop/bronze/orders/publish")
    assert (await api("GET", "pipelines/shop/bronze/orders"))[1]["draft_dirty"] is False
    path = "files/shop/pipelines/bronze/orders/pipeline.sql"
    assert is_error(await api("PUT", path, {"content": "SELECT {{ broken"}), 400, "TEMPLATE_ERROR")
    assert (await api("GET", path))[1]["content"] == "SELECT 1"
    status, body = await api("PUT", path, {"content": "SELECT 2 AS id"})
    assert status == 200 and isinstance(body["warnings"], list)
    assert (await api("GET", "pipelines/shop/bronze/orders"))[1]["draft_dirty"] is True
    assert is_error(await api("PUT", "files/shop/pipelines/bronze/nope/pipeline.sql", {"content": "SELECT 1"}), 404)

    # Multipart upload: to a folder (keeps the base name) or to a file path.
    status, body = await upload(api, "files/upload", {"path": "shop/data/"},
                                [("file", "../../evil name.csv", b"a,b\n1,2\n")])
    assert status == 201 and body["path"] == "shop/data/evil name.csv" and body["status"] == "uploaded", body
    assert body["filename"] == "../../evil name.csv" and body["size"] == 8
    status, body = await upload(api, "files/upload", {"path": "shop/data/renamed.csv"}, [("file", "x.csv", b"1")])
    assert status == 201 and body["path"] == "shop/data/renamed.csv"
    assert (await api("GET", "files/shop/data/renamed.csv"))[1]["content"] == "1"
    assert is_error(await upload(api, "files/upload", {"path": "shop/data/"}, []), 400)
    assert is_error(await upload(api, "files/upload", {}, [("file", "x.csv", b"1")]), 400)
    assert is_error(await upload(api, "files/upload", {"path": "shop/data/"},
                                 [("file", "a.csv", b"1"), ("file", "b.csv", b"2")]), 400)


async def test_storage_routes_refuse_path_traversal_and_write_nothing(api: Api, http: Http,
                                                                      rat_data_dir: Path) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    await api("PUT", "files/shop/keep.txt", {"content": "keep"})
    outside = rat_data_dir.parent
    before = files_under(outside)
    for bad in BAD_URL_PATHS:
        for method, body in (("GET", None), ("PUT", json.dumps({"content": "pwned"})), ("DELETE", None)):
            resp = await http(method, f"files/{bad}", body=body)
            assert resp.code == 400, (method, bad, resp.code, resp.body[:200])
            assert json.loads(resp.body)["code"] == "INVALID_ARGUMENT"
    for bad in BAD_VALUES:
        resp = await http("GET", f"files?prefix={quote(bad, safe='')}")
        assert resp.code == 400, (bad, resp.code, resp.body[:200])
        body, headers = multipart({"path": bad}, [("file", "x.txt", b"pwned")])
        resp = await http("POST", "files/upload", body=body, headers=headers)
        assert resp.code == 400, (bad, resp.code, resp.body[:200])
        resp = await http("PUT", f"files/{quote(bad, safe='/')}", body=json.dumps({"content": "pwned"}))
        assert resp.code in (400, 404), (bad, resp.code, resp.body[:200])  # 404: the router found no /files/{path}
    assert files_under(outside) == before
    assert (await api("GET", "files/shop/keep.txt"))[1]["content"] == "keep"


@pytest.mark.rat_config(max_upload_bytes=4096)
async def test_uploads_over_the_configured_limit_are_refused_with_413(api: Api, rat_data_dir: Path) -> None:
    await api("POST", "namespaces", {"name": "shop"})
    await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"})
    before = files_under(rat_data_dir / "storage")
    too_big, huge, fits = b"x" * 4097, b"x" * 200_000, b"x" * 4096
    for content in (too_big, huge):  # checked on the file (multipart overhead allowed) and on Content-Length
        assert is_error(await upload(api, "files/upload", {"path": "shop/data/"}, [("file", "big.bin", content)]),
                        413, "TOO_LARGE")
        assert is_error(await upload(api, "landing-zones/shop/raw/files", {}, [("file", "big.csv", content)]),
                        413, "TOO_LARGE")
        assert is_error(await upload(api, "landing-zones/shop/raw/samples", {}, [("file", "big.csv", content)]),
                        413, "TOO_LARGE")
        assert is_error(await api("PUT", "files/shop/data/big.txt", {"content": content.decode()}), 413, "TOO_LARGE")
    assert files_under(rat_data_dir / "storage") == before
    assert (await api("GET", "landing-zones/shop/raw/files"))[1]["files"] == []
    status, body = await upload(api, "files/upload", {"path": "shop/data/"}, [("file", "fits.bin", fits)])
    assert status == 201 and body["size"] == 4096
    status, body = await upload(api, "landing-zones/shop/raw/files", {}, [("file", "fits.csv", fits)])
    assert status == 201 and body["size_bytes"] == 4096
    # The JSON cap of other routes stays 1 MB.
    assert (await api("POST", "namespaces", {"name": "x", "description": "x" * 5000}))[0] == 201


async def test_any_file_downloads_as_bytes_while_text_reads_refuse_binary(api: Api, http: Http) -> None:
    assert (await api("POST", "namespaces", {"name": "shop"}))[0] == 201
    assert (await api("POST", "landing-zones", {"namespace": "shop", "name": "raw"}))[0] == 201
    payload = bytes(range(256)) * 4
    body, headers = multipart({}, [("file", "data.parquet", payload)])
    uploaded = await http("POST", "landing-zones/shop/raw/files", body=body, headers=headers)
    assert uploaded.code == 201
    row = json.loads(uploaded.body)
    assert is_error(await api("GET", f"files/{row['path']}"), 400)  # not UTF-8 text
    resp = await http("GET", f"files/{row['path']}?download=1")
    assert resp.code == 200 and resp.body == payload
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert (await http("GET", "files/shop/landing/raw/missing.bin?download=1")).code == 404
    assert (await http("GET", "files/..%2fescape?download=1")).code == 400
