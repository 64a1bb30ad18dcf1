"""The store protocols (``stores/protocols.py``) and the named queries behind them, on SQLite and PostgreSQL.

The core services type their state store as these protocols; ``SqlState`` must keep satisfying them with the
very same signatures, and each named query must mean the same on both databases.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rat_jupyter.stores.postgres_state import PostgresState
from rat_jupyter.stores.protocols import PROTOCOLS
from rat_jupyter.stores.state import SQLiteState, SqlState, new_id, open_state
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401

_db = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlState]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"protocols_{next(_db)}")
    store = open_state(url)
    yield store
    store.close()


def _methods(protocol: type) -> list[str]:
    return sorted(name for klass in protocol.__mro__ if klass not in (object,) and klass.__name__ != "Protocol"
                  for name, value in vars(klass).items() if callable(value) and not name.startswith("_"))


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_sql_state_implements_each_protocol_with_the_same_signatures(protocol: type) -> None:
    names = _methods(protocol)
    assert 2 <= len(names) <= 20, names  # small interfaces: a handful of methods each
    for cls in (SqlState, SQLiteState, PostgresState):
        for name in names:
            ours, theirs = inspect.signature(getattr(cls, name)), inspect.signature(getattr(protocol, name))
            assert str(ours).replace(" ", "") == str(theirs).replace(" ", ""), f"{cls.__name__}.{name}"


def test_a_real_store_is_an_instance_of_every_protocol(state: SqlState) -> None:
    assert [p.__name__ for p in PROTOCOLS if not isinstance(state, p)] == []


def _run(state: SqlState, name: str, status: str, created: str, finished: str | None = None) -> str:
    run_id = new_id()
    state.create_run({"id": run_id, "namespace": "ns", "layer": "bronze", "name": name, "status": status,
                      "trigger": "t", "created_at": created, "finished_at": finished})
    return run_id


def test_schedule_and_trigger_queries(state: SqlState) -> None:
    stamp = "2026-03-01T10:00:00.000000+00:00"
    for i, (ns, enabled, due) in enumerate([("a", 1, "2026-03-01T09:00"), ("a", 0, "2026-03-01T09:00"),
                                            ("b", 1, "2026-03-02T00:00")]):
        state.insert_row("schedules", {"id": f"s{i}", "namespace": ns, "layer": "bronze", "pipeline": "p",
                                       "cron": "0 * * * *", "enabled": enabled, "next_run_at": due,
                                       "created_at": f"{stamp}{i}", "updated_at": stamp})
    assert state.get_schedule_row("s0")["namespace"] == "a" and state.get_schedule_row("nope") is None
    rows, total = state.list_schedule_rows("a", 1, 1)
    assert total == 2 and [r["id"] for r in rows] == ["s1"]
    assert state.list_schedule_rows(None, 50, 0)[1] == 3
    assert state.due_schedule_ids("2026-03-01T10:00") == ["s0"]  # enabled and due only
    assert sorted(state.schedule_ids()) == ["s0", "s1", "s2"]

    def trigger(tid: str, type_: str, config: dict, **extra: object) -> None:
        state.insert_row("triggers", {"id": tid, "namespace": "ns", "layer": "silver", "pipeline": "p", "type": type_,
                                      "config": json.dumps(config), "created_at": stamp, "updated_at": stamp,
                                      **extra})

    up = {"namespace": "ns", "layer": "bronze", "pipeline": "a"}
    trigger("t1", "pipeline_success", up)
    trigger("t2", "webhook", {}, token_hash="abc")
    trigger("t3", "cron", {"cron_expr": "* * * * *", "timezone": "UTC"}, next_run_at="2026-03-01T09:00")
    trigger("t4", "file_pattern", {"namespace": "ns", "zone_name": "z", "pattern": "*"}, pending_since=stamp)
    assert [r["id"] for r in state.list_trigger_rows("ns", "silver", "p")] == ["t1", "t2", "t3", "t4"]
    assert state.get_trigger_row("t2")["token_hash"] == "abc"
    assert [r["id"] for r in state.triggers_of_type("pipeline_success", config=json.dumps(up))] == ["t1"]
    assert state.triggers_of_type("pipeline_success", config=json.dumps({**up, "pipeline": "b"})) == []
    assert [r["id"] for r in state.triggers_of_type("landing_zone_upload", "file_pattern")] == ["t4"]
    assert state.webhook_trigger("abc")["id"] == "t2" and state.webhook_trigger("abd") is None
    assert state.due_cron_trigger_ids("2026-03-01T10:00") == ["t3"]
    assert [r["id"] for r in state.pending_triggers()] == ["t4"]

    _run(state, "a", "success", "2026-03-01T08:00", finished="2026-03-01T08:05")
    _run(state, "a", "failed", "2026-03-01T09:00", finished="2026-03-01T09:05")
    assert state.succeeded_since("ns", "bronze", "a", "2026-03-01T08:00")
    assert not state.succeeded_since("ns", "bronze", "a", "2026-03-01T08:05")  # the later run failed
    assert not state.succeeded_since("ns", "bronze", "b", "")


def test_retention_queries(state: SqlState) -> None:
    state.create_namespace("ns")
    p = state.create_pipeline("ns", "bronze", "a", "sql")
    state.create_pipeline("ns", "bronze", "b", "sql")
    state.update_pipeline(p["id"], retention_config=json.dumps({"runs_max_per_pipeline": 2}))
    assert state.retention_overrides() == {("ns", "bronze", "a"): {"runs_max_per_pipeline": 2}}
    old = _run(state, "a", "success", "2026-01-01T00:00")
    new = _run(state, "a", "failed", "2026-02-01T00:00")
    other = _run(state, "b", "cancelled", "2026-01-15T00:00")
    _run(state, "a", "running", "2026-03-01T00:00")  # not finished: never ranked for pruning
    assert [r["id"] for r in state.finished_runs_newest_first()] == [new, old, other]
    assert {r["id"] for r in state.runs_created_before("2026-01-20")} == {old, other}
    for run_id in (old, new, other):
        state.append_logs(run_id, [("t", "info", "line")] * 2)
    assert state.delete_pipeline_logs_before("ns", "bronze", "a", "2026-01-20") == 2  # old's, not other's
    assert state.get_logs(old) == [] and len(state.get_logs(other)) == 2
    assert state.delete_run_logs(other) == 2 and len(state.get_logs(new)) == 2

    state.save_quality_results(new, "ns", "bronze", "a", [{"test": "t", "severity": "error", "status": "pass"}]
                               * 1201)
    ranked = state.quality_results_newest_first()
    assert len(ranked) == 1201 and {r["test"] for r in ranked} == {"t"}
    assert state.delete_quality_results([r["id"] for r in ranked[1:]]) == 1200  # in chunks of 500
    assert len(state.quality_results_newest_first()) == 1

    state.audit("post", "/old")
    assert state.delete_audit_before("2000-01-01") == 0
    assert state.delete_audit_before("9999-01-01") == 1 and state.list_audit()[1] == 0


def test_run_counts_and_ping(state: SqlState) -> None:
    assert state.run_counts() == {}
    for status in ("success", "success", "failed"):
        _run(state, "a", status, "2026-01-01T00:00")
    assert state.run_counts() == {"success": 2, "failed": 1}
    assert all(isinstance(n, int) for n in state.run_counts().values())
    state.ping()
