"""Namespaces: the top-level folders every pipeline, landing zone and table lives in.

Owns creating, describing and deleting one; deleting removes its files, its tables and every row that names
it (refused while one of its runs is active, atomically with run submission in the state store).
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ..models import CreateNamespace, UpdateNamespace
from ..names import validate_namespace
from .base import Service


class NamespaceService(Service):
    def list(self) -> list[dict[str, Any]]:
        return self.state.list_namespaces()

    def get(self, name: str) -> dict[str, Any]:
        return self.state.get_namespace(validate_namespace(name))

    def create(self, req: CreateNamespace, created_by: str | None = None) -> dict[str, Any]:
        return self.state.create_namespace(validate_namespace(req.name), req.description, created_by)

    def ensure(self, name: str) -> dict[str, Any]:
        """The namespace, created when it does not exist yet (the demo and notebooks)."""
        try:
            return self.get(name)
        except NotFound:
            return self.create(CreateNamespace(name=name))

    def update(self, name: str, req: UpdateNamespace) -> dict[str, Any]:
        return self.state.update_namespace(validate_namespace(name), req.description)

    def delete(self, name: str) -> None:
        validate_namespace(name)
        self.state.get_namespace(name)
        self.state.delete_namespace(name)  # refuses while a run is active, atomically with run submission
        self.ws.graph.changed()
        self.storage.delete_prefix(f"{name}/")
        self.ws.catalog.drop_namespace(name)
