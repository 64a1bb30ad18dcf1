"""One behaviour suite for both storage backends: a local folder and an S3 bucket (real SeaweedFS)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rat_jupyter.core.errors import Invalid, NotFound
from rat_jupyter.core.settings import S3Options
from rat_jupyter.stores.storage import LocalStorage, S3Storage, Storage
from tests.fixtures.seaweed import SeaweedServer, seaweed  # noqa: F401

S3_PREFIX = "some/prefix"


@dataclass
class Backend:
    """A storage under test plus a way to see everything its backing store holds, inside or outside it."""

    kind: str
    storage: Storage
    everything: Callable[[], dict[str, bytes]]
    put_raw: Callable[[str, bytes], None]


def _local_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "root"

    def everything() -> dict[str, bytes]:
        return {
            (Path(d) / f).relative_to(tmp_path).as_posix(): (Path(d) / f).read_bytes()
            for d, _, files in os.walk(tmp_path)
            for f in files
        }

    def put_raw(rel: str, data: bytes) -> None:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    return Backend("local", LocalStorage(root), everything, put_raw)


def _empty_bucket(client: object, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])


def _s3_backend(server: SeaweedServer, bucket: str, prefix: str) -> Backend:
    client = server.s3_client()
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def everything() -> dict[str, bytes]:
        return {
            obj["Key"]: client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        }

    def put_raw(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=data)

    return Backend("s3", S3Storage(url, server.s3_options()), everything, put_raw)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield _local_backend(tmp_path)
        return
    server: SeaweedServer = request.getfixturevalue("seaweed")
    _empty_bucket(server.s3_client(), server.bucket)
    try:
        yield _s3_backend(server, server.bucket, S3_PREFIX)
    finally:
        _empty_bucket(server.s3_client(), server.bucket)


@pytest.fixture
def store(backend: Backend) -> Storage:
    return backend.storage


def paths(storage: Storage, prefix: str = "") -> list[str]:
    return [f.path for f in storage.list(prefix)]


# --- reading and writing ------------------------------------------------------------------------------

CONTENTS = {
    "empty": b"",
    "text": "hello, wörld\n".encode(),
    "every_byte": bytes(range(256)) * 4,
    "several_megabytes": os.urandom(5 * 1024 * 1024 + 7),  # more than one SeaweedFS chunk (4 MB)
}


@pytest.mark.parametrize("content", CONTENTS.values(), ids=CONTENTS.keys())
def test_a_written_file_reads_back_byte_for_byte(store: Storage, content: bytes) -> None:
    info = store.write("ns/landing/zone/data.bin", content)

    assert store.read("ns/landing/zone/data.bin") == content
    assert (info.path, info.size) == ("ns/landing/zone/data.bin", len(content))


def test_writing_again_replaces_the_content_instead_of_appending(store: Storage) -> None:
    store.write("ns/a.txt", b"first version, rather long")
    store.write("ns/a.txt", b"second")

    assert store.read("ns/a.txt") == b"second"
    assert store.stat("ns/a.txt").size == len(b"second")
    assert paths(store) == ["ns/a.txt"]


def test_read_text_decodes_utf8(store: Storage) -> None:
    store.write("ns/pipeline.sql", "SELECT 'é', '✓'".encode())

    assert store.read_text("ns/pipeline.sql") == "SELECT 'é', '✓'"


def test_read_text_of_a_file_that_is_not_utf8_is_invalid(store: Storage) -> None:
    store.write("ns/latin1.sql", "SELECT 'é'".encode("latin-1"))

    with pytest.raises(Invalid, match="not UTF-8"):
        store.read_text("ns/latin1.sql")


def test_reading_a_missing_file_is_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.read("ns/never/written.txt")


def test_a_folder_is_not_a_file(store: Storage) -> None:
    store.write("ns/folder/file.txt", b"x")

    assert not store.exists("ns/folder")
    assert store.stat("ns/folder") is None
    with pytest.raises(NotFound):
        store.read("ns/folder")


# --- stat and exists ----------------------------------------------------------------------------------


def test_stat_reports_size_and_a_timezone_aware_modification_time(store: Storage) -> None:
    before = datetime.now(UTC)
    store.write("ns/data.csv", b"a,b\n1,2\n")

    info = store.stat("ns/data.csv")

    assert info is not None
    assert (info.path, info.size) == ("ns/data.csv", 8)
    assert info.modified.tzinfo is not None and info.modified.utcoffset() is not None
    # second-resolution timestamps (S3) may round down; allow some slack for clocks
    assert before - timedelta(seconds=5) <= info.modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert info.to_dict() == {"path": "ns/data.csv", "size": 8, "modified": info.modified.isoformat()}


def test_stat_of_a_missing_file_is_none(store: Storage) -> None:
    assert store.stat("ns/missing.csv") is None


def test_exists_is_true_only_after_writing_and_until_deleting(store: Storage) -> None:
    assert not store.exists("ns/x.txt")
    store.write("ns/x.txt", b"x")
    assert store.exists("ns/x.txt")
    store.delete("ns/x.txt")
    assert not store.exists("ns/x.txt")


# --- listing ------------------------------------------------------------------------------------------


def test_list_returns_every_file_recursively_sorted_by_path(store: Storage) -> None:
    for path in ["b.txt", "a/z.txt", "a.txt", "a/b/c/deep.txt", "a/b.txt"]:
        store.write(path, path.encode())

    files = store.list()

    assert [f.path for f in files] == ["a.txt", "a/b.txt", "a/b/c/deep.txt", "a/z.txt", "b.txt"]
    assert [f.size for f in files] == [len(f.path) for f in files]
    assert all(f.modified.tzinfo is not None for f in files)


def test_list_with_a_folder_prefix_returns_only_files_under_it(store: Storage) -> None:
    for path in ["ns/a/1.txt", "ns/a/sub/2.txt", "ns/ab/3.txt", "ns/a.txt", "other/ns/a/4.txt"]:
        store.write(path, b"x")

    assert paths(store, "ns/a/") == ["ns/a/1.txt", "ns/a/sub/2.txt"]
    assert paths(store, "ns/") == ["ns/a.txt", "ns/a/1.txt", "ns/a/sub/2.txt", "ns/ab/3.txt"]


def test_a_list_that_is_not_recursive_returns_only_the_files_directly_in_the_prefixs_folder(store: Storage) -> None:
    """What the reaper asks of a landing zone: its uploads, not what ``_processed/`` has piled up."""
    for path in ["ns/z/1.csv", "ns/z/2.csv", "ns/z/_processed/r1/1.csv", "ns/z/sub/3.csv", "ns/zz.csv", "ns/y.csv"]:
        store.write(path, b"x")

    assert [f.path for f in store.list("ns/z/", recursive=False)] == ["ns/z/1.csv", "ns/z/2.csv"]
    assert [f.path for f in store.list("ns/z", recursive=False)] == ["ns/zz.csv"]  # a name prefix in ns/
    assert [f.path for f in store.list("ns/", recursive=False)] == ["ns/y.csv", "ns/zz.csv"]
    assert store.list("ns/nothing/", recursive=False) == []
    assert paths(store, "ns/z/") == ["ns/z/1.csv", "ns/z/2.csv", "ns/z/_processed/r1/1.csv", "ns/z/sub/3.csv"]


def test_list_of_a_prefix_with_no_files_is_empty(store: Storage) -> None:
    store.write("ns/a/1.txt", b"x")

    assert store.list("ns/nothing/") == []
    assert store.list("elsewhere/") == []


def test_list_of_an_empty_storage_is_empty(store: Storage) -> None:
    assert store.list() == []
    assert store.list("ns/") == []


@pytest.mark.parametrize("prefix", ["../", "/abs/", "%2e%2e/", "a/../", "a\\b/", "a\x00/"])
def test_list_refuses_a_prefix_that_is_not_a_clean_relative_folder(store: Storage, prefix: str) -> None:
    with pytest.raises(Invalid):
        store.list(prefix)


def test_files_outside_the_storage_root_are_not_listed(backend: Backend) -> None:
    if backend.kind == "local":
        backend.put_raw("outside.txt", b"x")
        backend.put_raw("root-sibling/f.txt", b"x")
    else:
        backend.put_raw("outside.txt", b"x")
        backend.put_raw(f"{S3_PREFIX}-sibling/f.txt", b"x")  # shares the prefix string, not the folder
        backend.put_raw("some/f.txt", b"x")
    backend.storage.write("inside.txt", b"y")

    assert paths(backend.storage) == ["inside.txt"]
    assert not backend.storage.exists("outside.txt")


# --- deleting and moving ------------------------------------------------------------------------------


def test_a_deleted_file_is_gone_and_deleting_it_again_is_not_found(store: Storage) -> None:
    store.write("ns/gone.txt", b"x")
    store.write("ns/kept.txt", b"y")

    store.delete("ns/gone.txt")

    with pytest.raises(NotFound):
        store.read("ns/gone.txt")
    with pytest.raises(NotFound):
        store.delete("ns/gone.txt")
    assert paths(store) == ["ns/kept.txt"]


def test_deleting_a_file_that_never_existed_is_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.delete("ns/never.txt")


def test_deleting_the_last_file_of_a_folder_leaves_nothing_listed(store: Storage) -> None:
    store.write("ns/deep/folder/only.txt", b"x")

    store.delete("ns/deep/folder/only.txt")

    assert store.list() == []
    store.write("ns/deep", b"a file where the folder was")
    assert store.read("ns/deep") == b"a file where the folder was"


def test_delete_prefix_removes_every_file_under_the_folder_and_counts_them(store: Storage) -> None:
    for path in ["ns/a/1.txt", "ns/a/sub/2.txt", "ns/a/sub/deeper/3.txt", "ns/ab/4.txt", "ns/a.txt"]:
        store.write(path, b"x")

    assert store.delete_prefix("ns/a/") == 3
    assert paths(store) == ["ns/a.txt", "ns/ab/4.txt"]
    assert store.delete_prefix("ns/a/") == 0


def test_delete_prefix_of_a_folder_with_no_files_deletes_nothing(store: Storage) -> None:
    store.write("ns/kept.txt", b"x")

    assert store.delete_prefix("ns/nothing/") == 0
    assert paths(store) == ["ns/kept.txt"]


def test_move_puts_the_content_at_the_new_path_and_removes_the_old_one(store: Storage) -> None:
    store.write("ns/landing/zone/in.csv", b"a,b\n")

    store.move("ns/landing/zone/in.csv", "ns/landing/zone_processed/run1/in.csv")

    assert store.read("ns/landing/zone_processed/run1/in.csv") == b"a,b\n"
    assert not store.exists("ns/landing/zone/in.csv")
    assert paths(store) == ["ns/landing/zone_processed/run1/in.csv"]


def test_move_replaces_an_existing_destination(store: Storage) -> None:
    store.write("src.txt", b"new")
    store.write("dst.txt", b"old")

    store.move("src.txt", "dst.txt")

    assert store.read("dst.txt") == b"new"
    assert paths(store) == ["dst.txt"]


def test_moving_a_file_onto_itself_keeps_it(store: Storage) -> None:
    store.write("ns/same.txt", b"keep me")

    store.move("ns/same.txt", "ns/same.txt")

    assert store.read("ns/same.txt") == b"keep me"


def test_moving_a_missing_file_is_not_found_and_creates_nothing(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.move("ns/missing.txt", "ns/dst.txt")

    assert store.list() == []


def test_moving_to_an_invalid_path_keeps_the_source(store: Storage) -> None:
    store.write("ns/src.txt", b"x")

    with pytest.raises(Invalid):
        store.move("ns/src.txt", "../escaped.txt")

    assert store.read("ns/src.txt") == b"x"
    assert paths(store) == ["ns/src.txt"]


# --- uri ----------------------------------------------------------------------------------------------


def test_uri_points_at_the_stored_file(backend: Backend, tmp_path: Path) -> None:
    backend.storage.write("ns/landing/zone/a.csv", b"a\n1\n")

    uri = backend.storage.uri("ns/landing/zone/a.csv")

    if backend.kind == "local":
        assert Path(uri).is_absolute()
        assert Path(uri) == (tmp_path / "root" / "ns/landing/zone/a.csv").resolve()
        assert Path(uri).read_bytes() == b"a\n1\n"
    else:
        bucket = backend.storage.bucket
        assert uri == f"s3://{bucket}/{S3_PREFIX}/ns/landing/zone/a.csv"
        assert backend.everything() == {f"{S3_PREFIX}/ns/landing/zone/a.csv": b"a\n1\n"}


def test_uri_of_a_folder_can_be_extended_with_a_glob(backend: Backend, tmp_path: Path) -> None:
    uri = backend.storage.uri("ns/landing/zone") + "/*.csv"

    if backend.kind == "local":
        assert uri == str((tmp_path / "root").resolve() / "ns/landing/zone") + "/*.csv"
    else:
        assert uri == f"s3://{backend.storage.bucket}/{S3_PREFIX}/ns/landing/zone/*.csv"


@pytest.mark.parametrize("path", ["../x", "a/../../b", "/etc/passwd"])
def test_uri_refuses_a_path_that_escapes_the_storage(store: Storage, path: str) -> None:
    with pytest.raises(Invalid):
        store.uri(path)


# --- path validation ----------------------------------------------------------------------------------

BAD_PATHS = {
    "parent": "../x",
    "parent_inside": "a/../b",
    "absolute": "/abs",
    "drive_letter": "C:/x",
    "backslash": "a\\b",
    "nul_byte": "a\x00b",
    "control_char": "a\nb",
    "encoded_parent": "%2e%2e/x",
    "double_encoded_parent": "%252e%252e/x",
    "dot_segment": "a/./b",
    "empty_segment": "a//b",
    "trailing_slash": "a/b/",
    "empty": "",
    "blank": "   ",
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_writing_to_a_bad_path_is_invalid_and_writes_nothing(backend: Backend, path: str) -> None:
    with pytest.raises(Invalid):
        backend.storage.write(path, b"payload")

    assert backend.everything() == {}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
@pytest.mark.parametrize("operation", ["read", "read_text", "stat", "exists", "delete"])
def test_every_operation_refuses_a_bad_path(store: Storage, path: str, operation: str) -> None:
    with pytest.raises(Invalid):
        getattr(store, operation)(path)


def test_a_bad_path_cannot_read_a_file_outside_the_storage(backend: Backend) -> None:
    backend.put_raw("secret.txt", b"secret")

    for path in ["../secret.txt", "%2e%2e/secret.txt", "a/../../secret.txt"]:
        with pytest.raises(Invalid):
            backend.storage.read(path)


# --- backend specifics --------------------------------------------------------------------------------


def test_s3_storage_keeps_files_under_its_key_prefix(seaweed: SeaweedServer) -> None:  # noqa: F811
    backend = _s3_backend(seaweed, seaweed.bucket, "deeper/prefix/")
    try:
        backend.storage.write("ns/f.txt", b"x")

        assert backend.everything() == {"deeper/prefix/ns/f.txt": b"x"}
        assert paths(backend.storage) == ["ns/f.txt"]
        assert backend.storage.uri("ns/f.txt") == f"s3://{seaweed.bucket}/deeper/prefix/ns/f.txt"
    finally:
        _empty_bucket(seaweed.s3_client(), seaweed.bucket)


def test_s3_storage_without_a_prefix_uses_the_bucket_root(seaweed: SeaweedServer) -> None:  # noqa: F811
    bucket = f"rat-noprefix-{uuid.uuid4().hex[:8]}"
    client = seaweed.s3_client()
    client.create_bucket(Bucket=bucket)
    try:
        backend = _s3_backend(seaweed, bucket, "")
        store = backend.storage

        store.write("ns/a/1.txt", b"1")
        store.write("top.txt", b"top")

        assert backend.everything() == {"ns/a/1.txt": b"1", "top.txt": b"top"}
        assert paths(store) == ["ns/a/1.txt", "top.txt"]
        assert paths(store, "ns/") == ["ns/a/1.txt"]
        assert store.uri("ns/a/1.txt") == f"s3://{bucket}/ns/a/1.txt"
        assert store.stat("top.txt").size == 3
        store.move("top.txt", "ns/top.txt")
        assert store.delete_prefix("ns/") == 2
        assert store.list() == []
    finally:
        _empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


def test_s3_storage_with_wrong_credentials_fails_loudly(seaweed: SeaweedServer) -> None:  # noqa: F811
    from botocore.exceptions import ClientError

    wrong = S3Options(endpoint=seaweed.endpoint, access_key_id="nobody", secret_access_key="wrong", path_style=True)
    store = S3Storage(f"s3://{seaweed.bucket}/{S3_PREFIX}", wrong)

    with pytest.raises(ClientError):
        store.write("ns/f.txt", b"x")
    with pytest.raises(ClientError):
        store.stat("ns/f.txt")


def test_local_storage_refuses_to_write_a_file_over_a_folder(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.write("ns/folder/file.txt", b"x")

    with pytest.raises(Invalid, match="folder"):
        store.write("ns/folder", b"y")

    assert store.read("ns/folder/file.txt") == b"x"


def test_local_storage_refuses_to_write_under_a_file(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.write("ns/file", b"x")

    with pytest.raises(Invalid, match="is a file"):
        store.write("ns/file/child.txt", b"y")

    assert store.read("ns/file") == b"x"


def test_local_storage_hides_half_written_temporary_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.write("ns/a.txt", b"x")
    (tmp_path / "ns" / ".rat-tmp-abc123").write_bytes(b"partial")

    assert paths(store) == ["ns/a.txt"]


def test_local_storage_refuses_a_symlink_that_leads_outside_its_root(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"secret")
    store = LocalStorage(tmp_path / "root")
    (tmp_path / "root" / "link.txt").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(Invalid, match="escapes"):
        store.read("link.txt")


def test_local_storage_removes_emptied_folders(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.write("ns/a/b/c.txt", b"x")
    store.write("ns/keep.txt", b"x")

    store.delete("ns/a/b/c.txt")
    assert not (tmp_path / "ns" / "a").exists()

    store.delete_prefix("ns/")
    assert list(tmp_path.iterdir()) == []


# --- names within filesystem limits, hidden areas, races -----------------------------------------------


@pytest.mark.parametrize("name", ["a" * 256, "é" * 128, "x/" + "b" * 300 + "/c.txt"])
def test_names_longer_than_255_bytes_are_refused_not_failed(store: Storage, name: str) -> None:
    with pytest.raises(Invalid, match="at most 255 bytes"):
        store.write(f"ns/landing/z/{name}", b"x")
    assert paths(store) == []


def test_a_255_byte_name_is_fine(store: Storage) -> None:
    name = "a" * 251 + ".csv"
    store.write(f"ns/landing/z/{name}", b"x")
    assert paths(store) == [f"ns/landing/z/{name}"]


def test_lone_surrogates_in_paths_are_refused(store: Storage) -> None:
    with pytest.raises(Invalid, match="UTF-8"):
        store.write("ns/bad\udc80.txt", b"x")


@pytest.mark.parametrize("area", [".rat-tmp", ".rat-runs"])
def test_the_hidden_areas_cannot_be_addressed(store: Storage, area: str) -> None:
    with pytest.raises(Invalid, match="reserved"):
        store.write(f"{area}/x.txt", b"x")
    with pytest.raises(Invalid, match="reserved"):
        store.read(f"{area}/x.txt")


def test_pins_survive_changes_to_the_original_and_archive_only_the_version_read(store: Storage) -> None:
    store.write("ns/landing/z/a.csv", b"v1")
    store.write("ns/landing/z/b.csv", b"b")
    pa_, pb = store.pin("ns/landing/z/a.csv", "run-1"), store.pin("ns/landing/z/b.csv", "run-1")
    store.write("ns/landing/z/a.csv", b"v2 (uploaded while the run read v1)")
    assert paths(store) == ["ns/landing/z/a.csv", "ns/landing/z/b.csv"]  # pins are never listed

    assert store.archive_pinned("run-1", "ns/landing/z/a.csv", "ns/landing/z/_processed/1/a.csv", pa_.etag) is False
    assert store.archive_pinned("run-1", "ns/landing/z/b.csv", "ns/landing/z/_processed/1/b.csv", pb.etag) is True
    store.unpin("run-1")
    assert store.read("ns/landing/z/a.csv").startswith(b"v2")  # the newer upload stays for the next run
    assert store.read("ns/landing/z/_processed/1/a.csv") == b"v1"  # the archive holds what was read
    assert paths(store) == ["ns/landing/z/_processed/1/a.csv", "ns/landing/z/_processed/1/b.csv",
                            "ns/landing/z/a.csv"]


def test_pinning_a_file_deleted_meanwhile_is_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.pin("ns/landing/z/gone.csv", "run-2")


def test_pin_areas_list_what_runs_pinned_and_unpin_empties_them(store: Storage) -> None:
    assert store.pin_areas() == {}
    store.write("ns/landing/z/a.csv", b"a")
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.pin("ns/landing/z/a.csv", "run-1")
    store.pin("ns/landing/z/a.csv", "run-2")
    areas = store.pin_areas()
    assert sorted(areas) == ["run-1", "run-2"]
    assert all(before <= t <= datetime.now(UTC) + timedelta(seconds=5) for t in areas.values())
    store.unpin("run-1")
    assert sorted(store.pin_areas()) == ["run-2"]
    assert paths(store) == ["ns/landing/z/a.csv"]  # the original is untouched


def test_sweep_tmp_removes_only_stale_temporary_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    area = tmp_path / ".rat-tmp"
    area.mkdir()
    (area / "w-stale").write_bytes(b"half an upload")
    (area / "w-fresh").write_bytes(b"an upload in progress")
    old = time.time() - 7200
    os.utime(area / "w-stale", (old, old))
    assert store.sweep_tmp(datetime.now(UTC) - timedelta(hours=1)) == 1
    assert sorted(p.name for p in area.iterdir()) == ["w-fresh"]
    (area / "w-fresh").unlink()
    assert store.sweep_tmp(datetime.now(UTC)) == 0
    assert not area.exists()  # an emptied area is tidied away


def test_storage_races_answer_not_found_never_an_error(tmp_path: Path) -> None:
    """Writers, deleters, movers and readers on the same few paths at once: every failure is NotFound."""
    import threading

    store = LocalStorage(tmp_path)
    targets = [f"ns/landing/z/sub{i % 2}/f{i}.csv" for i in range(4)]
    stop = threading.Event()
    unexpected: list[BaseException] = []

    def loop(action: Callable[[str], object]) -> None:
        n = 0
        while not stop.is_set():
            path = targets[n % len(targets)]
            n += 1
            try:
                action(path)
            except NotFound:
                pass
            except BaseException as exc:  # noqa: BLE001 - collected and reported by the test
                unexpected.append(exc)

    actions: list[Callable[[str], object]] = [
        lambda p: store.write(p, b"data" * 1000),
        store.delete,
        store.read,
        store.stat,
        lambda p: store.list("ns/landing/z/"),
        lambda p: store.move(p, p.replace(".csv", ".moved")),
        lambda p: store.delete(p.replace(".csv", ".moved")),
    ]
    threads = [threading.Thread(target=loop, args=(a,), daemon=True) for a in actions]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(5)
    assert unexpected == [], unexpected[:3]
