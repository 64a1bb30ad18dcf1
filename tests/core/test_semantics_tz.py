"""Timestamps round-trip exactly on a server whose time zone is not UTC (docs/strategies.md §5).

The workspace's worker processes are started with ``TZ`` set, exactly as a server started with
``TZ=Europe/Paris jupyter lab`` would run them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, republish, run_one

# 2026-03-29 01:30 UTC is 03:30 in Paris (the DST switch night); 02:30 local does not exist there.
TZ_UTC = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
NAIVE = datetime(2026, 3, 29, 2, 30, 0, 654321)
SQL_VALUES = ("SELECT * FROM (VALUES (1, TIMESTAMPTZ '2026-03-29 03:30:00.123456+02', "
              "TIMESTAMP '2026-03-29 02:30:00.654321')) t(id, tz, naive)")


@pytest.fixture(scope="module", params=["Europe/Paris", "America/Los_Angeles"])
def tz_workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        ws = Workspace.open(Settings(data_dir=tmp_path_factory.mktemp("tz"), concurrency=1), warm=True)
        assert ws.pool.wait_ready(120)
        ws.create_namespace("tz")
        yield ws
        ws.close()
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def read_back(ws: Workspace, name: str) -> list[dict]:
    return sorted(ws.read_table("tz", "silver", name).to_pylist(), key=lambda r: r["id"])


def check(row: dict) -> None:
    assert row["tz"].astimezone(UTC) == TZ_UTC and row["tz"].utcoffset().total_seconds() == 0
    assert row["naive"] == NAIVE and row["naive"].tzinfo is None


@pytest.mark.parametrize("strategy", ["full_refresh", "incremental", "scd2"])
def test_sql_timestamps_round_trip(tz_workspace: Workspace, strategy: str) -> None:
    ws = tz_workspace
    name = f"sql_{strategy}"
    make_pipeline(ws, "tz", "silver", name, f"-- @merge_strategy: {strategy}\n-- @unique_key: id\n" + SQL_VALUES)
    r = run_one(ws, "tz", "silver", name)
    assert r.status == "success", r.error
    (row,) = read_back(ws, name)
    check(row)
    table = ws.catalog.load(ws.pid("tz", "silver", name))
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert types["tz"] == "timestamptz" and types["naive"] == "timestamp"
    got = ws.query(f'SELECT tz::VARCHAR AS tz, naive::VARCHAR AS naive FROM tz.silver."{name}"')["rows"]
    assert got == [{"tz": "2026-03-29 01:30:00.123456+00", "naive": "2026-03-29 02:30:00.654321"}]


def test_pandas_zoned_and_nanosecond_timestamps_round_trip(tz_workspace: Workspace) -> None:
    code = ("import pandas as pd\n"
            "result = pd.DataFrame({'id': [1],\n"
            "    'tz': pd.to_datetime(['2026-03-29 03:30:00.123456789']).tz_localize('Europe/Paris'),\n"
            "    'naive': pd.to_datetime(['2026-03-29 02:30:00.654321999'])})\n")
    make_pipeline(tz_workspace, "tz", "silver", "py", "# @merge_strategy: incremental\n# @unique_key: id\n" + code,
                  type="python")
    r = run_one(tz_workspace, "tz", "silver", "py")
    assert r.status == "success", r.error
    (row,) = read_back(tz_workspace, "py")
    check(row)  # nanoseconds truncated to microseconds


def test_timestamptz_watermark_renders_in_utc(tz_workspace: Workspace) -> None:
    header = "-- @merge_strategy: incremental\n-- @unique_key: id\n-- @watermark_column: tz\n"
    make_pipeline(tz_workspace, "tz", "silver", "wm", header + SQL_VALUES)
    assert run_one(tz_workspace, "tz", "silver", "wm").status == "success"
    republish(tz_workspace, "tz", "silver", "wm", header + "SELECT 2 AS id, '{{ watermark_value }}' AS w, "
              "TIMESTAMPTZ '{{ watermark_value }}' AS tz, TIMESTAMP '2026-01-01' AS naive")
    r = run_one(tz_workspace, "tz", "silver", "wm")
    assert r.status == "success", r.error
    rows = read_back(tz_workspace, "wm")
    assert rows[1]["w"] == "2026-03-29 01:30:00.123456+00"
    assert rows[1]["tz"].astimezone(UTC) == TZ_UTC
