"""Query service and tables (API-44..49)."""

from __future__ import annotations

from ..core import models as m
from ..core.names import PipelineId
from .base import Op, RatAPIHandler, endpoint


class QueryHandler(RatAPIHandler):
    ops = {"post": Op("runQuery", "Run one read-only SELECT over catalog tables (row cap, timeout, memory limit)",
                      m.QueryResult, body=m.RunQuery)}

    @endpoint
    async def post(self) -> None:
        body: m.RunQuery = self.body()
        self.reply(await self.call(self.ws.query, body.sql, body.namespace, body.limit))


class SchemaHandler(RatAPIHandler):
    ops = {"get": Op("getSchema", "Every table with its columns", m.SchemaResponse, query=m.NamespaceFilter)}

    @endpoint
    async def get(self) -> None:
        args: m.NamespaceFilter = self.args()
        tables = await self.call(self.ws.schema, args.namespace)
        self.reply({"tables": tables, "total": len(tables)})


class TablesHandler(RatAPIHandler):
    ops = {"get": Op("listTables", "List tables with row counts and sizes (filters namespace, layer)",
                     m.ListTablesResponse, query=m.TablesQuery)}

    @endpoint
    async def get(self) -> None:
        args: m.TablesQuery = self.args()
        tables = await self.call(self.ws.list_tables, args.namespace, args.layer)
        self.reply({"tables": tables, "total": len(tables)})


class TableHandler(RatAPIHandler):
    ops = {"get": Op("getTable", "One table: columns with descriptions, row count, metadata", m.TableDetail)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        self.reply(await self.call(self.ws.describe_table, ns, layer, name))


class TablePreviewHandler(RatAPIHandler):
    ops = {"get": Op("previewTable", "First rows of a table (limit default 50, max 1000)", m.QueryResult,
                     query=m.TablePreviewQuery)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        args: m.TablePreviewQuery = self.args()
        self.reply(await self.call(self.ws.preview_table, ns, layer, name, args.limit))


class TableMetadataHandler(RatAPIHandler):
    ops = {"put": Op("updateTableMetadata", "Update description, owner and column descriptions (partial)",
                     m.TableMetadata, body=m.UpdateTableMetadata)}

    @endpoint
    async def put(self, ns: str, layer: str, name: str) -> None:
        body: m.UpdateTableMetadata = self.body()
        self.reply(await self.call(self.ws.tables.update_metadata, PipelineId.of(ns, layer, name), body))


class TableHistoryHandler(RatAPIHandler):
    ops = {"get": Op("getTableHistory", "Iceberg snapshots of main, newest first", m.TableHistory)}

    @endpoint
    async def get(self, ns: str, layer: str, name: str) -> None:
        history = await self.call(self.ws.table_history, ns, layer, name)
        self.reply({"snapshots": history, "total": len(history)})
