"""The state store: one suite, run against SQLite (embedded default) and a real PostgreSQL server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rat_jupyter.core.errors import Busy, Conflict, NotFound
from rat_jupyter.stores.state import SqlState, new_id, now_iso, open_state
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401

_db = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"state_{next(_db)}")


@pytest.fixture
def state(state_url: str) -> Iterator[SqlState]:
    store = open_state(state_url)
    yield store
    store.close()


def test_migrations_are_idempotent(state_url: str) -> None:
    first = open_state(state_url)
    second = open_state(state_url)  # a second server (or a restart) finds the schema in place
    assert first.scalar("SELECT MAX(version) FROM schema_version") == second.scalar(
        "SELECT MAX(version) FROM schema_version") >= 3
    first.close()
    second.close()


def test_namespaces_and_pipelines(state: SqlState) -> None:
    state.create_namespace("shop", "the shop")
    with pytest.raises(Conflict):
        state.create_namespace("shop")
    p = state.create_pipeline("shop", "bronze", "orders", "sql", "d")
    state.create_pipeline("shop", "silver", "orders", "sql")
    with pytest.raises(Conflict):
        state.create_pipeline("shop", "bronze", "orders", "sql")
    rows, total = state.list_pipelines("shop", sort="-layer", search="ord")
    assert total == 2 and [r["layer"] for r in rows] == ["silver", "bronze"]
    state.soft_delete_pipeline(p["id"])
    with pytest.raises(NotFound):
        state.get_pipeline("shop", "bronze", "orders")
    state.create_pipeline("shop", "bronze", "orders", "sql")  # the name is free again
    state.update_namespace("shop", "new")
    assert state.get_namespace("shop")["description"] == "new"
    state.delete_namespace("shop")
    assert state.list_pipelines("shop")[1] == 0


def test_versions_are_content_addressed(state: SqlState) -> None:
    state.create_namespace("ns")
    p = state.create_pipeline("ns", "bronze", "a", "sql")
    state.put_blobs({"h1": "SELECT 1", "h2": "x: 1"})
    state.put_blobs({"h1": "SELECT 1"})  # storing the same content twice is fine
    v1 = state.add_version(p["id"], {"pipeline.sql": "h1"}, "first")
    v2 = state.add_version(p["id"], {"pipeline.sql": "h1", "config.yaml": "h2"}, "second", max_versions=1)
    assert (v1["version"], v2["version"]) == (1, 2)
    assert [v["version"] for v in state.list_versions(p["id"])] == [2]  # pruned to max_versions
    assert state.get_blobs(["h1", "h2"]) == {"h1": "SELECT 1", "h2": "x: 1"}
    assert state.get_pipeline("ns", "bronze", "a")["published_version"] == 2


def _run(state: SqlState, name: str, status: str = "pending", created: str | None = None) -> str:
    run_id = new_id()
    state.create_run({"id": run_id, "namespace": "ns", "layer": "bronze", "name": name, "status": status,
                      "trigger": "t", "created_at": created or now_iso()})
    return run_id


def test_runs_logs_and_compare_and_set(state: SqlState) -> None:
    a = _run(state, "a")
    b = _run(state, "b", "success")
    assert [r["id"] for r in state.active_runs()] == [a]
    assert state.update_run(a, only_if_status=("pending",), status="running")
    assert not state.update_run(a, only_if_status=("pending",), status="cancelled")  # lost the race
    state.update_run(a, status="success", phases=[{"name": "write", "duration_ms": 3}])
    assert state.get_run(a)["phases"] == [{"name": "write", "duration_ms": 3}]
    state.append_logs(a, [(now_iso(), "info", "one"), (now_iso(), "warn", "two")])
    state.append_logs(a, [(now_iso(), "info", "three")])
    assert [(line["seq"], line["message"]) for line in state.get_logs(a)] == [(1, "one"), (2, "two"), (3, "three")]
    assert [line["message"] for line in state.get_logs(a, after_seq=2)] == ["three"]
    runs, total = state.list_runs(status="success", sort="created_at")
    assert total == 2 and [r["id"] for r in runs] == [a, b]
    assert set(state.latest_runs()) == {("ns", "bronze", "a"), ("ns", "bronze", "b")}
    state.save_quality_results(a, "ns", "bronze", "a", [{"test": "t1", "severity": "error", "status": "fail",
                                                         "violations": 2, "sample": [{"x": 1}]}])
    assert state.quality_results(a)[0]["sample"] == [{"x": 1}]
    assert state.delete_runs([a]) == 1
    assert state.get_logs(a) == [] and state.quality_results(a) == []


def test_row_compare_and_set_lets_exactly_one_writer_win(state: SqlState) -> None:
    state.insert_row("schedules", {"id": "s1", "namespace": "ns", "layer": "bronze", "pipeline": "a",
                                   "cron": "* * * * *", "next_run_at": "2026-01-01T00:00:00+00:00",
                                   "created_at": now_iso(), "updated_at": now_iso()})
    wins = []

    def fire() -> None:
        wins.append(state.update_row("schedules", "s1", expect={"next_run_at": "2026-01-01T00:00:00+00:00"},
                                     next_run_at="2026-01-01T00:01:00+00:00"))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_settings_and_audit(state: SqlState) -> None:
    state.put_setting("k", {"a": 1})
    state.put_setting("k", {"a": 2})
    assert state.get_setting("k") == {"a": 2} and state.get_setting("missing", 5) == 5
    state.audit("post", "/x", user_id="u", ip="127.0.0.1")
    entries, total = state.list_audit()
    assert total == 1 and entries[0]["resource"] == "/x"


def test_only_one_server_leads(postgres: PostgresServer) -> None:  # noqa: F811
    url = postgres.create_database(f"leader_{next(_db)}")
    one, two = open_state(url), open_state(url)
    try:
        assert one.acquire_leader("scheduler") is True
        assert one.acquire_leader("scheduler") is True  # re-entrant for the holder
        assert two.acquire_leader("scheduler") is False
        one.release_leader("scheduler")
        assert two.acquire_leader("scheduler") is True
        assert one.acquire_leader("scheduler") is False
    finally:
        one.close()
        two.close()
    three = open_state(url)
    assert three.acquire_leader("scheduler") is True  # closing the holder frees the lock
    three.close()


def test_presence_of_other_claimers_is_read_without_opening_connections(postgres: PostgresServer) -> None:  # noqa: F811
    """The watcher asks every 2 s which claimers are alive: one ``pg_locks`` query on its own connection, not a
    connection (and a lock probe) per claimer of an active run."""
    from rat_jupyter.stores.postgres_state import PostgresState

    url = postgres.create_database(f"presence_{next(_db)}")
    claimers, watcher = PostgresState(url), PostgresState(url)

    class Counting:
        def __init__(self, module: object) -> None:
            self.module, self.opened = module, 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.module, name)

        def connect(self, *args: object, **kwargs: object) -> object:
            self.opened += 1
            return self.module.connect(*args, **kwargs)  # type: ignore[attr-defined]

    try:
        alive = [f"alive:{i}" for i in range(3)]
        for server_id in [*alive, "gone:0"]:
            run_id = new_id()
            claimers.create_run({"id": run_id, "namespace": "n", "layer": "bronze", "name": server_id,
                                 "status": "pending", "trigger": "t", "created_at": now_iso()})
            assert claimers.claim_run(run_id, server_id, "o")
            claimers.update_run(run_id, status="running", started_at=now_iso())
        claimers._presence.pop("gone:0").close()  # that claimer's session ends, as when its process is killed
        watcher.query("SELECT 1")  # the watcher's own connection, open before the rounds
        counting = Counting(watcher._psycopg)
        watcher._psycopg = counting  # type: ignore[assignment]
        assert not watcher.is_present("gone:0")  # (the definitive check opens a connection of its own)
        opened = counting.opened
        assert watcher.reap_dead_claimers() == 1  # the gone claimer's running run, failed
        assert watcher.reap_dead_claimers() == 0
        assert counting.opened == opened
        assert all(watcher.is_present(s) for s in alive)
        assert all(claimers.is_present(s) for s in alive)
    finally:
        watcher.close()
        claimers.close()


def test_a_leader_whose_session_ended_no_longer_leads(postgres: PostgresServer) -> None:  # noqa: F811
    """The leader lock lives with the leader's session: when the database ends that session (a restart, a
    network cut), the former leader must not keep answering "I lead" next to the server that took over."""
    import time

    url = postgres.create_database(f"leader_{next(_db)}")
    one, two = open_state(url), open_state(url)
    try:
        assert one.acquire_leader("scheduler") is True
        backend = one._leader_conns["scheduler"].info.backend_pid  # type: ignore[attr-defined]
        assert two.scalar("SELECT pg_terminate_backend(?)", (backend,)) is True
        deadline = time.monotonic() + 10
        while not two.acquire_leader("scheduler"):  # the session's end frees the lock a moment later
            assert time.monotonic() < deadline, "the ended session's lock was never freed"
            time.sleep(0.05)
        assert one.acquire_leader("scheduler") is False
        two.release_leader("scheduler")
        assert one.acquire_leader("scheduler") is True  # the former leader can lead again once it is free
        backend = one._leader_conns["scheduler"].info.backend_pid  # type: ignore[attr-defined]
        assert two.scalar("SELECT pg_terminate_backend(?)", (backend,)) is True
        one.release_leader("scheduler")  # a lock whose session is already gone: nothing to release, no error
        assert "scheduler" not in one._leader_conns  # type: ignore[attr-defined]
    finally:
        one.close()
        two.close()


def test_a_pipeline_is_renamed_with_its_runs_schedules_and_triggers_in_one_transaction(state: SqlState) -> None:
    import json

    state.create_namespace("shop")
    p = state.create_pipeline("shop", "bronze", "orders", "sql")
    other = state.create_pipeline("shop", "bronze", "other", "sql")
    state.create_run({"id": new_id(), "pipeline_id": p["id"], "namespace": "shop", "layer": "bronze",
                      "name": "orders", "status": "success", "trigger": "manual", "created_at": now_iso()})
    stamp = now_iso()
    state.insert_row("schedules", {"id": "s1", "namespace": "shop", "layer": "bronze", "pipeline": "orders",
                                   "cron": "0 3 * * *", "created_at": stamp, "updated_at": stamp})
    after = json.dumps({"namespace": "shop", "layer": "bronze", "pipeline": "orders"})
    state.insert_row("triggers", {"id": "t1", "namespace": "shop", "layer": "bronze", "pipeline": "other",
                                  "type": "pipeline_success", "config": after, "created_at": stamp,
                                  "updated_at": stamp})
    with pytest.raises(Conflict):
        state.rename_pipeline(p["id"], "other")  # taken: nothing changes
    assert state.get_pipeline("shop", "bronze", "orders")["id"] == p["id"]
    state.rename_pipeline(p["id"], "sales")
    assert state.get_pipeline("shop", "bronze", "sales")["id"] == p["id"]
    assert state.find_pipeline("shop", "bronze", "orders") is None
    assert ("shop", "bronze", "sales") in state.latest_runs()
    assert state.get_schedule_row("s1")["pipeline"] == "sales"
    trigger = state.get_trigger_row("t1")
    assert trigger["pipeline"] == "other" and json.loads(trigger["config"])["pipeline"] == "sales"
    assert state.get_pipeline("shop", "bronze", "other")["id"] == other["id"]


def test_pipeline_counts_are_per_namespace_and_leave_deleted_ones_out(state: SqlState) -> None:
    assert state.pipeline_counts() == {}
    for ns in ("shop", "crm", "empty"):
        state.create_namespace(ns)
    for name in ("a", "b", "c"):
        state.create_pipeline("shop", "bronze", name, "sql")
    gone = state.create_pipeline("crm", "silver", "x", "sql")
    state.create_pipeline("crm", "gold", "y", "sql")
    state.soft_delete_pipeline(gone["id"])
    assert state.pipeline_counts() == {"shop": 3, "crm": 1}


def test_a_batch_and_the_newest_runs_are_read_through_indexes(state: SqlState) -> None:
    """A selection run's progress (``GET /runs?batch_id=…&status=…``, polled while it runs) and the first page
    of the run history must not scan every run the server ever had: a year of minute-scheduled runs is half
    a million rows."""
    for i in range(30):
        state.create_run({"id": f"r{i:02d}", "namespace": "n", "layer": "bronze", "name": f"p{i % 3}",
                          "status": "success" if i % 2 else "failed", "trigger": "manual",
                          "batch_id": f"b{i % 5}", "created_at": f"2026-01-01T00:00:{i:02d}+00:00"})
    runs, total = state.list_runs(batch_id="b1", status="success", limit=1)
    assert total == 3 and [r["batch_id"] for r in runs] == ["b1"]
    runs, total = state.list_runs(limit=5)
    assert total == 30 and [r["id"] for r in runs] == ["r29", "r28", "r27", "r26", "r25"]
    if state.placeholder == "?":  # SQLite: the plan names the index; PostgreSQL's planner may scan a tiny table
        def plan(sql: str, *params: str) -> str:
            return " | ".join(str(r["detail"]) for r in state.query(f"EXPLAIN QUERY PLAN {sql}", params))

        # the statements list_runs sends
        assert "runs_batch" in plan("SELECT COUNT(*) FROM runs WHERE 1=1 AND status = ? AND batch_id = ?",
                                    "success", "b1")
        assert "runs_created" in plan("SELECT * FROM runs WHERE 1=1 ORDER BY created_at DESC, id LIMIT 50")
    else:
        names = {r["indexname"] for r in state.query("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")}
        assert {"runs_batch", "runs_created"} <= names


def test_archived_landing_files_are_forgotten_in_batches_and_only_in_their_zone(state: SqlState) -> None:
    """An archiving run can take thousands of files: their records go in one call, more than one ``IN`` batch,
    and neither the zone's other files nor another zone's file at the same path go with them."""
    state.create_namespace("n")
    for zone in ("z", "other"):
        state.create_zone("n", zone)
    paths = [f"n/landing/z/f{i:04d}.csv" for i in range(1_203)]
    for path in paths:
        state.add_landing_file("n", "z", path.rsplit("/", 1)[1], path, 1, None)
    state.add_landing_file("n", "z", "new.csv", "n/landing/z/new.csv", 1, None)  # uploaded during the run
    state.add_landing_file("n", "other", "f0000.csv", paths[0], 1, None)  # another zone's record
    assert state.forget_landing_files("n", "z", [*paths, "n/landing/z/never-recorded.csv"]) == len(paths)
    assert [f["filename"] for f in state.list_landing_files("n", "z")] == ["new.csv"]
    assert [f["filename"] for f in state.list_landing_files("n", "other")] == ["f0000.csv"]
    assert state.forget_landing_files("n", "z", []) == 0
    if state.placeholder == "?":
        (row,) = state.query("EXPLAIN QUERY PLAN SELECT * FROM landing_files WHERE namespace = ? AND zone = ?",
                             ("n", "z"))
        assert "landing_files_zone" in str(row["detail"])


def test_old_landing_file_records_are_found_across_zones_through_an_index(state: SqlState) -> None:
    """The reaper's sweep for records of files that never arrived reads only the old records."""
    state.create_namespace("n")
    for zone in ("a", "b", "c"):
        state.create_zone("n", zone)
    old = [state.add_landing_file("n", zone, f"{zone}.csv", f"n/landing/{zone}/{zone}.csv", 1, None)
           for zone in ("b", "a")]
    cutoff = now_iso()
    state.add_landing_file("n", "a", "new.csv", "n/landing/a/new.csv", 1, None)
    state.add_landing_file("n", "c", "new.csv", "n/landing/c/new.csv", 1, None)

    found = state.landing_files_recorded_before(cutoff)
    assert [(r["zone"], r["id"]) for r in found] == [("a", old[1]["id"]), ("b", old[0]["id"])]  # by zone
    assert state.landing_files_recorded_before(old[0]["uploaded_at"]) == []
    if state.placeholder == "?":
        (row,) = state.query("EXPLAIN QUERY PLAN SELECT * FROM landing_files WHERE uploaded_at < ?", (cutoff,))
        assert "landing_files_uploaded" in str(row["detail"])


def test_whether_a_pipeline_is_busy_is_read_without_walking_its_history(state: SqlState) -> None:
    """Every submit asks whether the pipeline has a pending or running run. Regression: SQLite answered it
    through ``runs_pipeline``, every run the pipeline ever had (0.78 ms at 5,000 runs, growing with each)."""
    state.create_namespace("n")
    for i in range(40):
        state.create_run({"id": f"old{i:02d}", "namespace": "n", "layer": "bronze", "name": "p", "status": "success",
                          "trigger": "manual", "created_at": f"2026-01-01T00:00:{i:02d}+00:00"})
    state.create_run({"id": "now", "namespace": "n", "layer": "bronze", "name": "p", "status": "running",
                      "trigger": "manual", "created_at": "2026-01-02T00:00:00+00:00"})
    run = {"id": "next", "namespace": "n", "layer": "bronze", "name": "p", "status": "pending", "trigger": "manual",
           "created_at": "2026-01-03T00:00:00+00:00"}
    if state.placeholder != "?":
        names = {r["indexname"] for r in state.query("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")}
        assert "runs_pipeline_status" in names and "runs_status" not in names
        with pytest.raises(Busy):
            state.submit_runs([run])
        assert [r["id"] for r in state.active_runs("n", "bronze", "p")] == ["now"]
        return
    sent: list[str] = []
    conn = state._conn()
    conn.set_trace_callback(sent.append)  # the statements the store really sends, with their parameters
    try:
        with pytest.raises(Busy):
            state.submit_runs([run])
        assert [r["id"] for r in state.active_runs("n", "bronze", "p")] == ["now"]
    finally:
        conn.set_trace_callback(None)
    asked = [s for s in sent if s.startswith("SELECT") and "FROM runs WHERE" in s and "status IN" in s]
    assert len(asked) == 2, sent
    for statement in asked:
        detail = " | ".join(str(r["detail"]) for r in state.query(f"EXPLAIN QUERY PLAN {statement}"))
        assert "runs_pipeline_status" in detail, (statement, detail)
    assert state.one("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'runs_status'") is None
