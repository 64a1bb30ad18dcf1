"""Namespaces (API-06..09)."""

from __future__ import annotations

from .base import RatAPIHandler, endpoint


class NamespacesHandler(RatAPIHandler):
    summary = {"get": "List namespaces", "post": "Create a namespace"}

    @endpoint
    async def get(self) -> None:
        items = await self.call(self.ws.list_namespaces)
        self.write_json({"namespaces": items, "total": len(items)})

    @endpoint
    async def post(self) -> None:
        body = self.body({"name", "description"}, {"name"})
        user = getattr(self.current_user, "username", None)
        self.created(await self.call(self.ws.create_namespace, body["name"], body.get("description") or "", user))


class NamespaceHandler(RatAPIHandler):
    summary = {"get": "One namespace", "put": "Update its description", "delete": "Delete it and everything in it"}

    @endpoint
    async def get(self, ns: str) -> None:
        from ..core.names import validate_namespace

        self.write_json(await self.call(self.ws.state.get_namespace, validate_namespace(ns)))

    @endpoint
    async def put(self, ns: str) -> None:
        body = self.body({"description"}, {"description"})
        self.write_json(await self.call(self.ws.update_namespace, ns, str(body["description"])))

    @endpoint
    async def delete(self, ns: str) -> None:
        await self.call(self.ws.delete_namespace, ns)
        self.no_content()
