"""Landing zones are transactional: uploads appear whole, and archiving moves only the files a run read.

The drills upload files continuously while runs with ``archive_landing_zones`` read the zone, then check
that every uploaded file was read by exactly one run or is still waiting in the zone, and that no run read
a partial file. The module runs on both profiles: on S3 a pin is a server-side copy, and a run's pins and
archives go out concurrently (``landing.CONCURRENCY``), so runs under steady uploads do not slow down.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core import landing
from rat_jupyter.core.landing import LandingPins
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.stores.storage import LocalStorage, S3Storage
from tests.conftest import make_pipeline, run_one
from tests.fixtures.seaweed import SeaweedServer  # the session server comes from tests/conftest.py

pytestmark = pytest.mark.both_profiles
ROWS_PER_FILE = 400
ROUNDS = 12


def _csv(file_no: int, rows: int = ROWS_PER_FILE) -> bytes:
    # Long rows make each file ~100 KB, so a write is not one syscall and a partial file would show.
    pad = "p" * 200
    lines = ["file,line,pad"] + [f"{file_no},{i},{pad}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


class _Uploader(threading.Thread):
    """Uploads numbered files into a zone until stopped; remembers what it uploaded."""

    def __init__(self, ws: Workspace, ns: str, zone: str) -> None:
        super().__init__(daemon=True)
        self.ws, self.ns, self.zone = ws, ns, zone
        self.stop = threading.Event()
        self.uploaded: list[int] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self.ws.upload_landing_file(self.ns, self.zone, f"part_{n:05d}.csv", _csv(n))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
                return
            self.uploaded.append(n)
            n += 1
            time.sleep(0.005)


def _table_counts(ws: Workspace, ns: str) -> Counter[int]:
    if ws.catalog.load(ws.pid(ns, "bronze", "parts")) is None:
        return Counter()
    table = ws.read_table(ns, "bronze", "parts")
    return Counter(int(v) for v in table.column("file").to_pylist())


def _files_in_zone(ws: Workspace, ns: str, zone: str) -> tuple[set[int], Counter[int]]:
    """File numbers still waiting in the zone, and how many times each was archived."""
    prefix = f"{ns}/landing/{zone}/"
    waiting: set[int] = set()
    archived: Counter[int] = Counter()
    for f in ws.storage.list(prefix):
        name = f.path.rsplit("/", 1)[-1]
        if not name.endswith(".csv"):
            continue
        number = int(name.rsplit("part_", 1)[1].split(".")[0])
        if "/_processed/" in f.path:
            archived[number] += 1
        else:
            waiting.add(number)
    return waiting, archived


def test_uploads_during_archiving_runs_lose_nothing(workspace: Workspace, ns: str) -> None:
    workspace.create_landing_zone(ns, "drop")
    source = ("-- @merge_strategy: append_only\n-- @archive_landing_zones: true\n"
              "SELECT file, line FROM read_csv('{{ landing_zone(\"drop\") }}', header = true,"
              " columns = {'file': 'INTEGER', 'line': 'INTEGER', 'pad': 'VARCHAR'})")
    make_pipeline(workspace, ns, "bronze", "parts", source)
    workspace.upload_landing_file(ns, "drop", "part_99999.csv", _csv(99999))  # the first run has a file
    uploader = _Uploader(workspace, ns, "drop")
    uploader.start()
    statuses = []
    try:
        for _ in range(ROUNDS):
            run = run_one(workspace, ns, "bronze", "parts")
            statuses.append((run.status, run.error))
            counts = _table_counts(workspace, ns)
            # No run read a partial file: each file read contributed all of its rows, once.
            assert {n: c for n, c in counts.items() if c != ROWS_PER_FILE} == {}, run.error
            time.sleep(0.05)
    finally:
        uploader.stop.set()
        uploader.join(10)
    assert not uploader.errors, uploader.errors
    # A run may find the zone empty (its uploads all archived by the previous run): that fails cleanly.
    assert all(s == "success" or "No files found" in (e or "") for s, e in statuses), statuses
    assert sum(s == "success" for s, _ in statuses) >= ROUNDS // 2, statuses

    uploaded = set(uploader.uploaded) | {99999}
    counts = _table_counts(workspace, ns)
    read = set(counts)
    waiting, archived = _files_in_zone(workspace, ns, "drop")
    assert read | waiting == uploaded, "uploaded files went missing"
    assert not read & waiting, "a file was read and is still waiting: the next run would read it again"
    assert set(archived) == read and all(c == 1 for c in archived.values())
    assert all(c == ROWS_PER_FILE for c in counts.values())
    # The zone's file records match what is still waiting (archived ones are gone, new ones kept).
    recorded = {int(r["filename"].split("_")[1].split(".")[0]) for r in workspace.list_landing_files(ns, "drop")}
    assert recorded == waiting
    assert len(uploaded) > ROUNDS, "the drill uploaded too little to mean anything"


def test_a_run_forgets_the_files_it_archived_before_it_ends(workspace: Workspace, ns: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone's records are right the moment the run's final status is written, not some time after.

    Regression: the records of archived files were deleted after the status, one statement per file, so a
    client that saw ``success`` still listed (on PostgreSQL, for seconds) files that had moved away.
    """
    workspace.create_landing_zone(ns, "drop")
    for n in range(30):
        workspace.upload_landing_file(ns, "drop", f"part_{n:05d}.csv", _csv(n, 2))
    make_pipeline(workspace, ns, "bronze", "parts",
                  "-- @archive_landing_zones: true\n"
                  "SELECT file, line FROM read_csv('{{ landing_zone(\"drop\") }}', header = true)")
    seen_at_end: list[list[str]] = []
    update_run = workspace.state.update_run

    def watching(run_id: str, *args: Any, **fields: Any) -> Any:
        if fields.get("status") == "success":
            seen_at_end.append([r["filename"] for r in workspace.list_landing_files(ns, "drop")])
        return update_run(run_id, *args, **fields)

    monkeypatch.setattr(workspace.state, "update_run", watching)
    run = run_one(workspace, ns, "bronze", "parts")
    assert run.status == "success", run.error
    assert seen_at_end == [[]], "records of archived files outlived the run's end"
    assert workspace.list_landing_files(ns, "drop") == []


def test_an_upload_archived_before_its_record_is_not_left_listed(workspace: Workspace, ns: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A run can archive a file between its upload's write and its record: then no record may stay behind."""
    workspace.create_landing_zone(ns, "drop")
    write = workspace.storage.write

    def write_then_archived(path: str, data: bytes) -> Any:
        info = write(path, data)
        # what an archiving run does the moment the file exists: move it, then forget the records of what it moved
        workspace.storage.move(path, path.replace("/drop/", "/drop/_processed/r1/"))
        workspace.state.forget_landing_files(ns, "drop", [path])
        return info

    monkeypatch.setattr(workspace.storage, "write", write_then_archived)
    workspace.upload_landing_file(ns, "drop", "late.csv", _csv(1, 2))
    monkeypatch.undo()
    workspace.upload_landing_file(ns, "drop", "kept.csv", _csv(2, 2))
    assert [r["filename"] for r in workspace.list_landing_files(ns, "drop")] == ["kept.csv"]


def test_an_upload_whose_write_fails_leaves_no_record(workspace: Workspace, ns: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The record goes in before the write; a write that fails takes it out again, and the error reaches the caller."""
    workspace.create_landing_zone(ns, "drop")
    workspace.upload_landing_file(ns, "drop", "kept.csv", _csv(1, 2))

    def full_disk(path: str, data: bytes) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workspace.storage, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        workspace.upload_landing_file(ns, "drop", "lost.csv", _csv(2, 2))
    monkeypatch.undo()
    assert [r["filename"] for r in workspace.list_landing_files(ns, "drop")] == ["kept.csv"]
    assert not [f for f in workspace.storage.list(f"{ns}/landing/drop/") if f.path.endswith("lost.csv")]


def test_a_run_records_the_files_it_read(workspace: Workspace, ns: str) -> None:
    workspace.create_landing_zone(ns, "z")
    workspace.upload_landing_file(ns, "z", "a.csv", _csv(1, 3))
    workspace.upload_landing_file(ns, "z", "b.txt", b"not csv")
    source = ("-- @archive_landing_zones: true\n"
              "SELECT file, line FROM read_csv('{{ landing_zone(\"z\", \"*.csv\") }}', header = true)")
    make_pipeline(workspace, ns, "bronze", "rec", source)
    run = run_one(workspace, ns, "bronze", "rec")
    assert run.status == "success", run.error
    (render,) = [p for p in workspace.get_run(run.id)["phases"] if p["name"] == "render"]
    (read,) = render["metadata"]["landing_files"]
    assert (read["zone"], read["file"].endswith("_a.csv"), read["size"]) == (f"{ns}.z", True, len(_csv(1, 3)))
    assert read["etag"]
    # only the file read was archived; the one the pattern did not match is still there, and recorded
    assert [r["filename"] for r in workspace.list_landing_files(ns, "z")] == ["b.txt"]
    left = [f.path for f in workspace.storage.list(f"{ns}/landing/z/")]
    assert any(p.endswith("_b.txt") and "_processed" not in p for p in left)
    assert any(p.endswith("_a.csv") and f"_processed/{run.id}/" in p for p in left)
    assert f"run-{run.id}" not in workspace.storage.pin_areas(), "the run's pins are released"


def test_partial_uploads_are_invisible_to_a_zone_glob(tmp_path: Path) -> None:
    """While a write is in progress, nothing in the zone folder exists that a ``*`` glob could match."""
    store = LocalStorage(tmp_path)
    zone = tmp_path / "ns" / "landing" / "z"
    store.write("ns/landing/z/first.csv", b"a\n1\n")
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.update(p.name for p in zone.iterdir())
            except FileNotFoundError:
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for i in range(200):
            store.write(f"ns/landing/z/f{i}.csv", b"a\n" + b"1\n" * 20_000)
    finally:
        stop.set()
        watcher.join(5)
    assert seen <= {"first.csv"} | {f"f{i}.csv" for i in range(200)}, sorted(seen)[:5]
    assert [f.path for f in store.list("")][:1] == ["ns/landing/z/f0.csv"]
    assert all(".rat-" not in f.path for f in store.list(""))


class _InFlight:
    """Wraps storage calls and remembers the most that were running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.now[name] += 1
                self.calls[name] += 1
                self.most[name] = max(self.most[name], self.now[name])
            try:
                time.sleep(0.02)  # a slow round trip, so that calls in flight together overlap for sure
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.now[name] -= 1
        return call


def test_s3_pins_and_archives_of_a_run_go_out_concurrently(seaweed: SeaweedServer, monkeypatch: Any) -> None:
    """Regression: on S3 each pin (copy + HEAD) and archive (copy + HEAD + DELETE) ran one after another, so
    a run took ~20 ms per file it read; with uploads arriving meanwhile each run had more to do than the
    last, and the drill above grew from 8 s to 24 s per run until it hit its timeout on a loaded machine."""
    store = S3Storage(f"s3://{seaweed.bucket}/pins-{secrets.token_hex(4)}", seaweed.s3_options())
    files = 40
    for i in range(files):
        store.write(f"ns/landing/z/part_{i:03d}.csv", _csv(i, 3))
    store.write("ns/landing/z/notes.txt", b"not read")
    flight = _InFlight()
    for name in ("pin", "archive_pinned"):
        monkeypatch.setattr(store, name, flight.wrap(name, getattr(store, name)))
    for name in ("delete_object", "delete_objects"):
        monkeypatch.setattr(store.client, name, flight.wrap(name, getattr(store.client, name)))

    pins = LandingPins(store, "r1")
    uri = pins.resolve("ns", "z", "*.csv")
    assert uri == store.pinned_uri("run-r1", "ns/landing/z") + "/*.csv"
    assert len(pins.files) == files and 1 < flight.most["pin"] <= landing.CONCURRENCY
    area = store.pinned_uri("run-r1").split("/", 3)[3] + "/"
    pinned = seaweed.s3_client().list_objects_v2(Bucket=seaweed.bucket, Prefix=area).get("Contents", [])
    assert len(pinned) == files
    # replaced after the run read it: left in the zone, and the others archived concurrently
    store.write("ns/landing/z/part_007.csv", _csv(7, 5))
    archived: list[tuple[str, str]] = []
    assert pins.archive([("ns", "z")], lambda level, msg: archived.append((level, msg))) == [("ns", "z")]
    assert 1 < flight.most["archive_pinned"] <= landing.CONCURRENCY
    assert archived == [("info", f"Archived {files - 1} file(s) of landing zone ns.z to _processed/r1/ "
                                 "(1 replaced meanwhile, left in the zone)")]
    assert pins.archived == {f"ns/landing/z/part_{i:03d}.csv" for i in range(files) if i != 7}
    left = sorted(f.path for f in store.list("ns/landing/z/") if "_processed" not in f.path)
    assert left == ["ns/landing/z/notes.txt", "ns/landing/z/part_007.csv"]
    assert store.read("ns/landing/z/part_007.csv") == _csv(7, 5)
    # _processed/ holds the versions the run read (the replaced file's too, as on the embedded profile)
    processed = [f.path for f in store.list("ns/landing/z/_processed/r1/")]
    assert len(processed) == files and all(store.read(p) == _csv(int(p[-7:-4]), 3) for p in processed)
    # release: one batched delete for the whole pin area, not one request per file
    before = flight.calls["delete_object"]
    pins.release()
    assert "run-r1" not in store.pin_areas()
    assert flight.calls["delete_objects"] == 1 and flight.calls["delete_object"] == before


def test_an_upload_asks_storage_nothing_but_the_write(workspace: Workspace, ns: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """One request per upload on S3: the write. No existence check after it (the record order makes it moot)."""
    workspace.create_landing_zone(ns, "drop")
    calls: list[str] = []
    for name in ("exists", "stat", "list", "read", "move", "delete"):
        if hasattr(workspace.storage, name):
            real = getattr(workspace.storage, name)
            monkeypatch.setattr(workspace.storage, name,
                                lambda *a, _n=name, _r=real, **k: (calls.append(_n), _r(*a, **k))[1])
    row = workspace.upload_landing_file(ns, "drop", "one.csv", _csv(1, 2))
    monkeypatch.undo()
    assert calls == []
    assert [r["id"] for r in workspace.list_landing_files(ns, "drop")] == [row["id"]]
