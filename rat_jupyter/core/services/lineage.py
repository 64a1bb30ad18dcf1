"""Lineage: the graph of pipelines, the tables they produce and read, and the landing zones they read,
with each pipeline's latest run and test count — what the portal's lineage view draws.

Built from the recorded dependencies (``graph.py``), never by parsing every pipeline's files.
"""

from __future__ import annotations

from typing import Any

from ..names import PipelineId, validate_namespace
from ..pipelines import TEST_DIR
from .base import Service


class LineageService(Service):
    def graph(self, namespace: str | None = None) -> dict[str, Any]:
        """Pipelines, their tables and landing zones, with the latest run and test count of each pipeline."""
        if namespace:
            validate_namespace(namespace)
        rows, _ = self.state.list_pipelines(namespace)
        latest = self.state.latest_runs()
        nodes: dict[str, dict[str, Any]] = {}
        edges: list[dict[str, str]] = []
        for row in rows:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            refs, zones = self.ws.graph.draft_deps(row)
            run = latest.get(pid.table_identifier)
            tests = sum(1 for f in self.storage.list(pid.prefix + TEST_DIR) if f.path.endswith(".sql"))
            nodes[f"pipeline:{pid}"] = {
                "id": f"pipeline:{pid}", "type": "pipeline", "namespace": pid.namespace, "layer": pid.layer,
                "name": pid.name, "quality": {"total": tests},
                "latest_run": None if run is None else
                {k: run[k] for k in ("id", "status", "started_at", "duration_ms")}}
            nodes.setdefault(f"table:{pid}", _table_node(pid))
            edges.append({"source": f"pipeline:{pid}", "target": f"table:{pid}", "type": "produces"})
            for ref in refs:
                nodes.setdefault(f"table:{ref}", _table_node(ref))
                edges.append({"source": f"table:{ref}", "target": f"pipeline:{pid}", "type": "ref"})
            for zns, zone in zones:
                key = f"landing:{zns}.{zone}"
                nodes.setdefault(key, {"id": key, "type": "landing", "namespace": zns, "name": zone})
                edges.append({"source": key, "target": f"pipeline:{pid}", "type": "landing_input"})
        for zone in self.state.list_zones(namespace):
            key = f"landing:{zone['namespace']}.{zone['name']}"
            nodes.setdefault(key, {"id": key, "type": "landing", "namespace": zone["namespace"], "name": zone["name"]})
        return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": edges}


def _table_node(pid: PipelineId) -> dict[str, Any]:
    return {"id": f"table:{pid}", "type": "table", "namespace": pid.namespace, "layer": pid.layer, "name": pid.name}
