"""Validation exists once: a request sent over REST and the same request made through the ``Workspace``
keyword methods (what a notebook calls) are parsed by the same request model with the same parser, so they
fail with the same code and the same message — and succeed the same way through the facade's services."""

from __future__ import annotations

from typing import Any

import pytest

from rat_jupyter.core.errors import RatError
from rat_jupyter.core.models import CreatePipeline

from .conftest import Api, create_pipeline

pytestmark = pytest.mark.rat_config(concurrency=1)


def _facade_error(call: Any) -> tuple[int, str, str]:
    with pytest.raises(RatError) as info:
        call()
    return info.value.status, info.value.code, info.value.message


async def _rest_error(api: Api, method: str, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
    status, reply = await api(method, path, body)
    return status, reply["code"], reply["message"]


async def test_rest_and_the_facade_refuse_the_same_input_with_the_same_error(api: Api, jp_serverapp: Any) -> None:
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    assert (await api("POST", "namespaces", {"name": "same"}))[0] == 201
    await create_pipeline(api, "same", "bronze", "a", "SELECT 1 AS id")
    cases: list[tuple[tuple[str, str, dict[str, Any]], Any]] = [
        (("POST", "pipelines", {"namespace": "same", "layer": "bronze", "name": "b", "description": "d" * 5001}),
         lambda: ws.create_pipeline("same", "bronze", "b", description="d" * 5001)),
        (("POST", "pipelines", {"namespace": "same", "layer": "bronze", "name": "b", "type": "java"}),
         lambda: ws.create_pipeline("same", "bronze", "b", type="java")),
        (("PUT", "pipelines/same/bronze/a", {"colour": "red"}),
         lambda: ws.update_pipeline("same", "bronze", "a", colour="red")),
        (("PUT", "pipelines/same/bronze/a", {"type": "python"}),
         lambda: ws.update_pipeline("same", "bronze", "a", type="python")),
        (("POST", "pipelines/same/bronze/a/rollback", {"version": 0}),
         lambda: ws.rollback("same", "bronze", "a", 0)),
        (("POST", "pipelines/same/bronze/a/tests", {"name": "t", "sql": "SELECT 1", "severity": "fatal"}),
         lambda: ws.save_test("same", "bronze", "a", "t", "SELECT 1", severity="fatal")),
        (("POST", "pipelines/same/bronze/a/tests", {"name": "t", "sql": "   "}),
         lambda: ws.save_test("same", "bronze", "a", "t", "   ")),
        (("PUT", "landing-zones/same/nowhere/lifecycle", {"processed_max_age_days": 0}),
         lambda: ws.zone_lifecycle("same", "nowhere", processed_max_age_days=0)),
        (("POST", "runs", {"namespace": "same", "layer": "bronze", "pipeline": "a", "trigger": "t" * 101}),
         lambda: ws.create_run("same", "bronze", "a", trigger="t" * 101)),
    ]
    for (method, path, body), facade in cases:
        rest = await _rest_error(api, method, path, body)
        assert 400 <= rest[0] < 500, (path, body, rest)
        assert _facade_error(facade) == rest, (path, body)


async def test_the_services_are_what_the_facade_and_the_handlers_call(api: Api, jp_serverapp: Any) -> None:
    ws = jp_serverapp.web_app.settings["rat_workspace"]
    assert (await api("POST", "namespaces", {"name": "svc"}))[0] == 201
    req = CreatePipeline(namespace="svc", layer="silver", name="direct", source="SELECT 2 AS id",
                         merge_strategy="full_refresh", unique_key="id")
    created = ws.pipelines.create(req, "alice")
    assert created["owner"] == "alice" and sorted(created["files_created"]) == [
        "svc/pipelines/silver/direct/config.yaml", "svc/pipelines/silver/direct/pipeline.sql"]
    config = ws.files.read("svc/pipelines/silver/direct/config.yaml")["content"]
    assert "merge_strategy: full_refresh" in config and "- id" in config
    status, body = await api("GET", "pipelines/svc/silver/direct")
    assert status == 200 and body == {**ws.get_pipeline("svc", "silver", "direct"), **body}
    status, body = await api("POST", "pipelines", {"namespace": "svc", "layer": "silver", "name": "rest",
                                                   "source": "SELECT 3 AS id", "merge_strategy": "full_refresh"})
    assert status == 201
    assert "merge_strategy: full_refresh" in ws.read_file("svc/pipelines/silver/rest/config.yaml")["content"]
