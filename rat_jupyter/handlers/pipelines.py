"""Pipelines, versions, preview/validate, metadata and quality tests (API-10..26)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..core import models as m
from ..core.errors import Invalid, NotFound
from ..core.names import PipelineId
from .base import Op, RatAPIHandler, endpoint


def _pid(ns: str, layer: str, name: str) -> PipelineId:
    return PipelineId.of(ns, layer, name)


class PipelinesHandler(RatAPIHandler):
    ops = {"get": Op("listPipelines", "List pipelines (filters namespace, layer, search; sort; pagination)",
                     m.ListPipelinesResponse, query=m.ListPipelinesQuery),
           "post": Op("createPipeline", "Create a pipeline with its files (a template when no source is given)",
                      m.CreatedPipeline, 201, body=m.CreatePipeline)}

    @endpoint
    async def get(self) -> None:
        q: m.ListPipelinesQuery = self.args()
        items, total = await self.call(self.ws.list_pipelines, q.namespace, q.layer, q.search, q.sort, q.limit,
                                       q.offset)
        self.reply({"pipelines": items, "total": total, "limit": q.limit, "offset": q.offset})

    @endpoint
    async def post(self) -> None:
        body: m.CreatePipeline = self.body()
        user = getattr(self.current_user, "username", None)
        self.reply(await self.call(self.ws.pipelines.create, body, user))


class PipelineHandler(RatAPIHandler):
    ops = {"get": Op("getPipeline", "One pipeline", m.Pipeline),
           "put": Op("updatePipeline", "Update description or owner", m.Pipeline, body=m.UpdatePipeline),
           "delete": Op("deletePipeline", "Soft-delete the pipeline", status=204)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.reply(await self.call(self.ws.get_pipeline, ns, layer, name))

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        body: m.UpdatePipeline = self.body()
        self.reply(await self.call(self.ws.pipelines.update, _pid(ns, layer, name), body))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str) -> None:
        await self.call(self.ws.delete_pipeline, ns, layer, name)
        self.no_content()


class RenameHandler(RatAPIHandler):
    ops = {"post": Op("renamePipeline", "Rename a pipeline with its files, Iceberg table (history kept), runs, "
                                        "schedules and triggers; 409 while other pipelines ref() it, a run of it "
                                        "is pending or running, or the new name exists", m.Pipeline,
                      body=m.RenamePipeline)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.RenamePipeline = self.body()
        self.reply(await self.call(self.ws.renames.rename, _pid(ns, layer, name), body))


class TreeHandler(RatAPIHandler):
    ops = {"get": Op("getTree", "What a sidebar shows in one answer: every namespace with its pipeline count, "
                                "and for the one asked for (else the only one) its pipelines with their latest "
                                "run, table names and landing zone names", m.WorkspaceTree, query=m.TreeQuery)}

    @endpoint
    async def get(self) -> None:
        args: m.TreeQuery = self.args()
        self.reply(await self.call(self.ws.tree.tree, args.namespace))


class PublishHandler(RatAPIHandler):
    ops = {"post": Op("publishPipeline", "Validate and publish the draft as a new immutable version (422 when "
                                         "invalid)", m.PublishResult, body=m.PublishPipeline)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.PublishPipeline = self.body()
        self.reply(await self.call(self.ws.versions.publish, _pid(ns, layer, name), body))


class VersionsHandler(RatAPIHandler):
    ops = {"get": Op("listPipelineVersions", "Published versions, newest first", m.ListVersionsResponse)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.ws.list_versions, ns, layer, name)
        self.reply({"versions": items, "total": len(items)})


class VersionHandler(RatAPIHandler):
    ops = {"get": Op("getPipelineVersion", "One published version with its files (path → content hash)",
                     m.PipelineVersion)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, number: str) -> None:
        if int(number) > m.MAX_INT:
            raise Invalid("version number is out of range")
        self.reply(await self.call(self.ws.get_version, ns, layer, name, int(number)))


class RollbackHandler(RatAPIHandler):
    ops = {"post": Op("rollbackPipeline", "Roll back: a new version that re-pins an old one", m.RollbackResult,
                      body=m.RollbackPipeline)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.RollbackPipeline = self.body()
        self.reply(await self.call(self.ws.versions.rollback, _pid(ns, layer, name), body))


class PreviewHandler(RatAPIHandler):
    ops = {"post": Op("previewPipeline", "Dry run: render and execute (draft or inline code), return rows; nothing "
                                         "is written", m.PreviewResult, body=m.PreviewPipeline, query=m.PreviewQuery)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.PreviewPipeline = self.body()
        # the thread only submits; the worker's answer is awaited on the event loop (no thread waits on it)
        self.reply(await asyncio.wrap_future(await self.call(
            self.ws.previews.preview, _pid(ns, layer, name), body, self.args().limit)))


class ValidateHandler(RatAPIHandler):
    ops = {"post": Op("validatePipeline", "Validate the draft (or the given files) without publishing",
                      m.ValidationReport, body=m.ValidatePipeline)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.ValidatePipeline = self.body()
        self.reply(await self.call(self.ws.versions.validate, _pid(ns, layer, name), body.files))


class MetadataHandler(RatAPIHandler):
    ops = {"get": Op("getPipelineMetadata", "Raw pipeline.meta.yaml", m.MetadataFile)}
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
        self.reply({"path": path, "content": content})


class NotebookHandler(RatAPIHandler):
    ops = {"get": Op("getPipelineNotebook", "A notebook on the pipeline: its source and quality tests as cells "
                                            "(RAT SQL for SQL pipelines), ready to iterate", m.PipelineNotebook,
                     query=m.PipelineNotebookQuery)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        args: m.PipelineNotebookQuery = self.args()
        nb = await self.call(_pipeline_notebook, self.ws, ns, layer, name, args.version, args.kernel)
        self.reply({"name": f"{name}.{layer}.{ns}.ipynb", "notebook": dict(nb)})


def _pipeline_notebook(ws: Any, ns: str, layer: str, name: str, version: str, kernel: str | None) -> Any:
    """The notebook, built in the request's thread: the notebook builder (and nbformat's v4 helpers) is
    imported by the first request, not at start, and that import does not hold the event loop either."""
    from ..kernel.notebooks import pipeline_notebook

    return pipeline_notebook(ns, layer, name, workspace=ws, version=version, kernel=kernel)


class QualityMetadataHandler(MetadataHandler):
    ops = {"get": Op("getQualityMetadata", "Raw tests/quality.meta.yaml", m.MetadataFile)}
    filename = "tests/quality.meta.yaml"


class PipelineRetentionHandler(RatAPIHandler):
    ops = {"get": Op("getPipelineRetention", "Retention: system, per-pipeline overrides and the effective values",
                     m.PipelineRetention),
           "put": Op("updatePipelineRetention", "Set per-pipeline retention overrides (partial)",
                     m.PipelineRetention, body=m.PipelineRetentionOverrides)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.reply(await self.call(self.ws.pipeline_retention, ns, layer, name))

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        body: m.PipelineRetentionOverrides = self.body()
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(await self.call(self.ws.pipeline_retention, ns, layer, name, changes))


class TestsHandler(RatAPIHandler):
    ops = {"get": Op("listTests", "Quality tests of a pipeline", m.ListTestsResponse),
           "post": Op("createTest", "Create a quality test", m.QualityTest, 201, body=m.CreateTest)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        items = await self.call(self.ws.list_tests, ns, layer, name)
        self.reply({"tests": items, "total": len(items)})

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.CreateTest = self.body()
        self.reply(await self.call(self.ws.quality.save, _pid(ns, layer, name), body.name, body))


class TestHandler(RatAPIHandler):
    ops = {"get": Op("getTest", "One quality test", m.QualityTest),
           "put": Op("updateTest", "Replace a quality test", m.QualityTest, body=m.UpdateTest),
           "delete": Op("deleteTest", "Delete a quality test", status=204)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str, test: str) -> None:
        self.reply(await self.call(self.ws.get_test, ns, layer, name, test))

    @endpoint
    async def put(self, ns: str, layer: str, name: str, test: str) -> None:
        body: m.UpdateTest = self.body()
        self.reply(await self.call(self.ws.quality.save, _pid(ns, layer, name), test, body, create=False))

    @endpoint
    async def delete(self, ns: str, layer: str, name: str, test: str) -> None:
        await self.call(self.ws.delete_test, ns, layer, name, test)
        self.no_content()


class TestsRunHandler(RatAPIHandler):
    ops = {"post": Op("runTests", "Run the quality tests now against the published table; returns structured "
                                  "results", m.TestRunResult, body=m.RunTests)}

    @endpoint
    async def post(self, ns: str, layer: str, name: str) -> None:
        body: m.RunTests = self.body()
        self.reply(await asyncio.wrap_future(await self.call(self.ws.previews.run_tests, _pid(ns, layer, name),
                                                             body)))
