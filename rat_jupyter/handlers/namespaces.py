"""Namespaces (API-06..09)."""

from __future__ import annotations

from ..core import models as m
from .base import Op, RatAPIHandler, endpoint


class NamespacesHandler(RatAPIHandler):
    ops = {"get": Op("listNamespaces", "List namespaces", m.ListNamespacesResponse),
           "post": Op("createNamespace", "Create a namespace", m.Namespace, 201, body=m.CreateNamespace)}

    @endpoint
    async def get(self) -> None:
        items = await self.call(self.ws.list_namespaces)
        self.reply({"namespaces": items, "total": len(items)})

    @endpoint
    async def post(self) -> None:
        body: m.CreateNamespace = self.body()
        user = getattr(self.current_user, "username", None)
        self.reply(await self.call(self.ws.namespaces.create, body, user))


class NamespaceHandler(RatAPIHandler):
    ops = {"get": Op("getNamespace", "One namespace", m.Namespace),
           "put": Op("updateNamespace", "Update its description", m.Namespace, body=m.UpdateNamespace),
           "delete": Op("deleteNamespace", "Delete it and everything in it", status=204)}

    @endpoint
    async def get(self, ns: str) -> None:
        self.reply(await self.call(self.ws.namespaces.get, ns))

    @endpoint
    async def put(self, ns: str) -> None:
        body: m.UpdateNamespace = self.body()
        self.reply(await self.call(self.ws.namespaces.update, ns, body))

    @endpoint
    async def delete(self, ns: str) -> None:
        await self.call(self.ws.delete_namespace, ns)
        self.no_content()
