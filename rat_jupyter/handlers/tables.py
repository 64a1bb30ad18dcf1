"""Query service and tables (API-44..49)."""

from __future__ import annotations

from ..core.errors import Invalid
from .base import RatAPIHandler, endpoint


class QueryHandler(RatAPIHandler):
    summary = {"post": "Run one read-only SELECT over catalog tables (row cap, timeout, memory limit)"}

    @endpoint
    async def post(self) -> None:
        body = self.body({"sql", "namespace", "limit"}, {"sql"})
        if not isinstance(body["sql"], str):
            raise Invalid("sql must be a string")
        limit = body.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise Invalid("limit must be an integer")
        self.write_json(await self.call(self.ws.query, body["sql"], body.get("namespace"), limit))


class SchemaHandler(RatAPIHandler):
    summary = {"get": "Every table with its columns"}

    @endpoint
    async def get(self) -> None:
        tables = await self.call(self.ws.schema, self.arg("namespace"))
        self.write_json({"tables": tables, "total": len(tables)})


class TablesHandler(RatAPIHandler):
    summary = {"get": "List tables with row counts and sizes (filters namespace, layer)"}

    @endpoint
    async def get(self) -> None:
        tables = await self.call(self.ws.list_tables, self.arg("namespace"), self.arg("layer"))
        self.write_json({"tables": tables, "total": len(tables)})


class TableHandler(RatAPIHandler):
    summary = {"get": "One table: columns with descriptions, row count, metadata"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.write_json(await self.call(self.ws.describe_table, ns, layer, name))


class TablePreviewHandler(RatAPIHandler):
    summary = {"get": "First rows of a table (limit default 50, max 1000)"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        limit = self.arg_int("limit", 50, 1, 1000)
        self.write_json(await self.call(self.ws.preview_table, ns, layer, name, limit))


class TableMetadataHandler(RatAPIHandler):
    summary = {"put": "Update description, owner and column descriptions (partial)"}

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        body = self.body({"description", "owner", "column_descriptions"})
        owner = body.get("owner")
        if owner is not None and (not isinstance(owner, str) or len(owner) > 200):
            raise Invalid("owner must be text")
        self.write_json(await self.call(self.ws.update_table_metadata, ns, layer, name,
                                        description=body.get("description"), owner=owner,
                                        column_descriptions=body.get("column_descriptions")))


class TableHistoryHandler(RatAPIHandler):
    summary = {"get": "Iceberg snapshots of main, newest first"}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        history = await self.call(self.ws.table_history, ns, layer, name)
        self.write_json({"snapshots": history, "total": len(history)})
