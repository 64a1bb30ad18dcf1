"""The workspace tree a browser sidebar shows: namespaces, and for the namespaces it opens their pipelines
(with the latest run of each), table names and landing zone names, in one answer.

A sidebar that asked for the namespaces, then each namespace's pipelines page by page, its tables (which load
every table's snapshot) and its zones waited for several round trips in series; this answers with what it
draws. Only the namespaces asked for (or the only one there is) are expanded, so a workspace of many
namespaces still loads lazily.
"""

from __future__ import annotations

from typing import Any

from ..names import validate_namespace
from .base import Service


class TreeService(Service):
    def tree(self, namespace: str | None = None) -> dict[str, Any]:
        """Every namespace with its pipeline count; ``namespace`` (else the only namespace) expanded."""
        if namespace is not None:
            validate_namespace(namespace)
            namespaces = [self.state.get_namespace(namespace)]  # raises NotFound for an unknown one
        else:
            namespaces = self.state.list_namespaces()  # ordered by name
        expand = {namespace} if namespace is not None else ({namespaces[0]["name"]} if len(namespaces) == 1
                                                             else set())
        counts = self.state.pipeline_counts()
        out = []
        for n in namespaces:
            item: dict[str, Any] = {"name": n["name"], "description": n.get("description") or "",
                                    "pipeline_count": counts.get(n["name"], 0), "pipelines": None, "tables": None,
                                    "zones": None}
            if n["name"] in expand:
                item["pipelines"] = self.ws.pipelines.list(n["name"])[0]
                item["tables"] = [{"namespace": p.namespace, "layer": p.layer, "name": p.name}
                                  for p in self.ws.catalog.list_tables(n["name"])]
                item["zones"] = [{"namespace": z["namespace"], "name": z["name"]}
                                 for z in self.state.list_zones(n["name"])]
            out.append(item)
        return {"namespaces": out}
