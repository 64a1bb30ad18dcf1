"""Schedules, triggers and the webhook receiver over REST (the webhook is the one route without Jupyter auth)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .conftest import wait_run

pytestmark = pytest.mark.both_profiles


async def _setup_pipeline(api) -> None:
    assert (await api("POST", "namespaces", {"name": "sched"}))[0] == 201
    status, body = await api("POST", "pipelines", {"namespace": "sched", "layer": "bronze", "name": "a",
                                                   "source": "SELECT 1 AS v"})
    assert status == 201, body
    assert (await api("POST", "pipelines/sched/bronze/a/publish", {}))[0] == 200


async def test_schedule_crud_and_validation(api) -> None:
    await _setup_pipeline(api)
    status, s = await api("POST", "schedules", {"namespace": "sched", "layer": "bronze", "pipeline": "a",
                                                "cron": "*/15 * * * *", "timezone": "Europe/Paris"})
    assert status == 201, s
    assert (await api("GET", f"schedules/{s['id']}"))[1]["cron"] == "*/15 * * * *"
    status, listed = await api("GET", "schedules")
    assert status == 200 and listed["total"] == 1
    status, updated = await api("PUT", f"schedules/{s['id']}", {"enabled": False})
    assert status == 200 and updated["enabled"] is False
    for body, code in (({"cron": "61 * * * *"}, "INVALID_ARGUMENT"), ({"cron": "0 * * * *", "timezone": "Nope/X"},
                                                                       "INVALID_ARGUMENT"),
                       ({"cron": "0 * * * *", "pipeline": "missing"}, "INVALID_ARGUMENT")):
        status, err = await api("POST", "schedules", {"namespace": "sched", "layer": "bronze", "pipeline": "a",
                                                      **body})
        assert (status, err["code"]) == (400, code), err
        assert err["message"]
    assert (await api("DELETE", f"schedules/{s['id']}"))[0] == 204
    assert (await api("GET", f"schedules/{s['id']}"))[0] == 404


async def test_webhook_needs_its_own_token_not_jupyters(api, jp_base_url: str, http_server_port) -> None:
    await _setup_pipeline(api)
    status, trig = await api("POST", "pipelines/sched/bronze/a/triggers", {"type": "webhook"})
    assert status == 201, trig
    token = trig["webhook_token"]
    url = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}rat/api/v1/webhooks"
    client = AsyncHTTPClient()

    async def call(headers: dict[str, str]) -> tuple[int, dict]:
        resp = await client.fetch(HTTPRequest(url, method="POST", body="{}", headers=headers), raise_error=False)
        return resp.code, json.loads(resp.body or b"{}")

    status, body = await call({"X-Webhook-Token": "f" * 64})
    assert (status, body["code"]) == (404, "NOT_FOUND")
    status, body = await call({})
    assert status == 400
    status, body = await call({"Authorization": f"Bearer {token}"})
    assert status == 201 and body["run_id"], body
    run = await wait_run(api, body["run_id"])  # up to 60 s: a loaded machine runs it slowly
    assert run["status"] == "success" and run["trigger"].startswith("trigger:webhook:")
    listed = (await api("GET", "pipelines/sched/bronze/a/triggers"))[1]["triggers"]
    assert "webhook_token" not in listed[0] and listed[0]["last_run_id"] == body["run_id"]
    status, err = await api("POST", "pipelines/sched/bronze/a/triggers",
                            {"type": "file_pattern", "config": {"namespace": "sched", "zone_name": "nope",
                                                                "pattern": "*.csv"}})
    assert status == 400 and "not found" in err["message"]
