"""Pipelines, versions, preview/validate, metadata and quality tests (API-10..26)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.errors import Invalid, NotFound
from ..core.names import PipelineId
from .base import MAX_INT, RatAPIHandler, endpoint


def _pid(ns: str, layer: str, name: str) -> PipelineId:
    return PipelineId.of(ns, layer, name)


class PipelinesHandler(RatAPIHandler):
    summary = {"get": "List pipelines (filters namespace, layer, search; sort; pagination)",
               "post": "Create a pipeline with its files (a template when no source is given)"}

    @endpoint
    async def get(self) -> None:
        limit, offset = self.page()
        items, total = await self.call(self.ws.list_pipelines, self.arg("namespace"), self.arg("layer"),
                                       self.arg("search"), self.arg("sort"), limit, offset)
        self.write_json({"pipelines": items, "total": total, "limit": limit, "offset": offset})

    @endpoint
    async def post(self) -> None:
        body = self.body({"namespace", "layer", "name", "type", "source", "unique_key", "description", "config",
                          "merge_strategy"}, {"namespace", "layer", "name"})
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise Invalid("config must be an object")
        if body.get("merge_strategy"):
            config = {**(config or {}), "merge_strategy": body["merge_strategy"]}
        unique_key = body.get("unique_key")
        if isinstance(unique_key, str):
            unique_key = [k.strip() for k in unique_key.split(",") if k.strip()]
        if unique_key is not None and not isinstance(unique_key, list):
            raise Invalid("unique_key must be a list or a comma-separated string")
        for key in ("source", "description", "type"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise Invalid(f"{key} must be a string")
        user = getattr(self.current_user, "username", None)
        out = await self.call(self.ws.create_pipeline, body["namespace"], body["layer"], body["name"],
                              type=body.get("type") or "sql", source=body.get("source"), config=config,
                              description=body.get("description") or "", unique_key=unique_key, owner=user)
        self.created(out)


class PipelineHandler(RatAPIHandler):
    summary = {"get": "One pipeline", "put": "Update description or owner", "delete": "Soft-delete the pipeline"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.write_json(await self.call(self.ws.get_pipeline, ns, layer, name))

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"description", "owner", "type"})
        self.write_json(await self.call(self.ws.update_pipeline, ns, layer, name, **body))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str) -> None:
        await self.call(self.ws.delete_pipeline, ns, layer, name)
        self.no_content()


class PublishHandler(RatAPIHandler):
    summary = {"post": "Validate and publish the draft as a new immutable version (422 when invalid)"}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"message"})
        message = body.get("message") or ""
        if not isinstance(message, str) or len(message) > 5000:
            raise Invalid("message must be text of at most 5000 characters")
        self.write_json(await self.call(self.ws.publish_pipeline, ns, layer, name, message))


class VersionsHandler(RatAPIHandler):
    summary = {"get": "Published versions, newest first"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.ws.list_versions, ns, layer, name)
        self.write_json({"versions": items, "total": len(items)})


class VersionHandler(RatAPIHandler):
    summary = {"get": "One published version with its files (path → content hash)"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, number: str) -> None:
        if int(number) > MAX_INT:
            raise Invalid("version number is out of range")
        self.write_json(await self.call(self.ws.get_version, ns, layer, name, int(number)))


class RollbackHandler(RatAPIHandler):
    summary = {"post": "Roll back: a new version that re-pins an old one"}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"version", "message"}, {"version"})
        if isinstance(body["version"], int) and body["version"] > MAX_INT:
            raise Invalid("version must be a positive integer")
        self.write_json(await self.call(self.ws.rollback, ns, layer, name, body["version"], body.get("message") or ""))


class PreviewHandler(RatAPIHandler):
    summary = {"post": "Dry run: render and execute (draft or inline code), return rows; nothing is written"}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"code", "limit", "version", "sample_files"})
        limit = body.get("limit", self.arg_int("limit", 100, 1, 1000))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise Invalid("limit must be between 1 and 1000")
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            raise Invalid("code must be a string")
        sample_files = body.get("sample_files", True)
        if not isinstance(sample_files, bool):
            raise Invalid("sample_files must be true or false")
        # the thread only submits; the worker's answer is awaited on the event loop (no thread waits on it)
        self.write_json(await asyncio.wrap_future(await self.call(
            self.ws.preview_future, ns, layer, name, code=code, limit=limit, version=body.get("version") or "draft",
            sample_files=sample_files)))


class ValidateHandler(RatAPIHandler):
    summary = {"post": "Validate the draft (or the given files) without publishing"}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"files"})
        files = body.get("files")
        if files is not None and (not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            raise Invalid("files must map relative paths to text")
        self.write_json(await self.call(self.ws.validate_pipeline, ns, layer, name, files))


class MetadataHandler(RatAPIHandler):
    summary = {"get": "Raw pipeline.meta.yaml"}
    filename = "pipeline.meta.yaml"

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        pid = _pid(ns, layer, name)
        await self.call(self.ws.get_pipeline, ns, layer, name)
        path = pid.prefix + self.filename
        try:
            content = (await self.call(self.ws.read_file, path))["content"]
        except NotFound:
            raise NotFound(f"{self.filename} not found for {pid}") from None
        self.write_json({"path": path, "content": content})


class QualityMetadataHandler(MetadataHandler):
    summary = {"get": "Raw tests/quality.meta.yaml"}
    filename = "tests/quality.meta.yaml"


class PipelineRetentionHandler(RatAPIHandler):
    summary = {"get": "Retention: system, per-pipeline overrides and the effective values",
               "put": "Set per-pipeline retention overrides (partial)"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.write_json(await self.call(self.ws.pipeline_retention, ns, layer, name))

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        self.write_json(await self.call(self.ws.pipeline_retention, ns, layer, name, self.body()))


class TestsHandler(RatAPIHandler):
    summary = {"get": "Quality tests of a pipeline", "post": "Create a quality test"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.ws.list_tests, ns, layer, name)
        self.write_json({"tests": items, "total": len(items)})

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"name", "sql", "severity", "description"}, {"name", "sql"})
        self.created(await self.call(self.ws.save_test, ns, layer, name, body["name"], body["sql"],
                                     severity=_severity(body), description=_text(body, "description")))


class TestHandler(RatAPIHandler):
    summary = {"get": "One quality test", "put": "Replace a quality test", "delete": "Delete a quality test"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, test: str) -> None:
        self.write_json(await self.call(self.ws.get_test, ns, layer, name, test))

    @endpoint
    async def put(self, ns: str, layer: str, name: str, test: str) -> None:
        body = self.body({"sql", "severity", "description"}, {"sql"})
        self.write_json(await self.call(self.ws.save_test, ns, layer, name, test, body["sql"],
                                        severity=_severity(body), description=_text(body, "description"),
                                        create=False))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str, test: str) -> None:
        await self.call(self.ws.delete_test, ns, layer, name, test)
        self.no_content()


class TestsRunHandler(RatAPIHandler):
    summary = {"post": "Run the quality tests now against the published table; returns structured results"}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"tests", "version"})
        names = body.get("tests")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise Invalid("tests must be a list of test names")
        self.write_json(await asyncio.wrap_future(await self.call(
            self.ws.run_tests_future, ns, layer, name, body.get("version") or "draft", names)))


def _severity(body: dict[str, Any]) -> str | None:
    value = body.get("severity")
    if value is None:
        return None
    if value not in ("error", "warn", "warning"):
        raise Invalid("severity must be 'error' or 'warn'")
    return "warn" if value == "warning" else str(value)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or "\n" in value or len(value) > 5000):
        raise Invalid(f"{key} must be one line of text")
    return value
