"""The dependency graph: what each pipeline reads, the DAG of live pipelines, and selections.

What a pipeline reads (``ref()`` targets, landing zones) is parsed from its files once and recorded on its
row whenever they change, so building the graph reads rows, never every pipeline's files. The graph itself is
cached per (namespace, version) and checked with one aggregate query: a run submission does not slow down
as pipelines are added. Any pipeline change here bumps a generation; a change in another process sharing the
state store changes the rows' fingerprint; either rebuilds the graph.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from ..dag import DAG
from ..errors import Invalid, NotFound, RatError
from ..names import PipelineId, validate_layer, validate_namespace
from ..pipelines import dependencies as parse_dependencies
from ..pipelines import digest, load_spec
from .base import Service

if TYPE_CHECKING:
    from ..workspace import Workspace

Deps = tuple[list[PipelineId], list[tuple[str, str]]]


class GraphService(Service):
    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self._lock = threading.RLock()
        self._parse_cache: dict[tuple[PipelineId, str], Deps] = {}
        # (namespace, version) -> (key it was built under, graph, live pipelines); see :meth:`dag`
        self._dag_cache: dict[tuple[str | None, str], tuple[Any, DAG[PipelineId], frozenset[PipelineId]]] = {}
        self._generation = 0  # bumped by this process's own pipeline changes

    # -- what a pipeline reads ----------------------------------------------------------------------
    def deps(self, pid: PipelineId, files: dict[str, str]) -> Deps:
        """The pipelines and landing zones ``files`` read (parsed once per distinct content)."""
        key = (pid, digest(repr(sorted(files.items()))))
        if key not in self._parse_cache:
            self._parse_cache[key] = parse_dependencies(load_spec(pid, files))
        return self._parse_cache[key]

    def record(self, pid: PipelineId, row_id: str, files: dict[str, str], *, published: bool = False) -> None:
        """Store what a pipeline reads, so building the DAG never re-parses every pipeline."""
        try:
            refs, zones = self.deps(pid, files)
        except RatError:
            return
        fields: dict[str, Any] = {"published_deps": json.dumps([str(r) for r in refs])} if published else {
            "deps": json.dumps([str(r) for r in refs]), "zones": json.dumps([f"{z[0]}.{z[1]}" for z in zones])}
        self.state.update_pipeline(row_id, **fields)
        self.changed()

    def changed(self) -> None:
        """A pipeline changed in this process: the cached graphs are stale."""
        with self._lock:
            self._generation += 1

    def _row_deps(self, row: dict[str, Any], version: str) -> list[PipelineId]:
        if not (version == "published" and row["published_version"]):
            return self.draft_deps(row)[0]
        if row.get("published_deps") is None:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            files = self.ws.files.published(pid)[0]
            self.record(pid, row["id"], files, published=True)
            return self.deps(pid, files)[0]
        return [PipelineId(*r.split(".")) for r in json.loads(row["published_deps"])]

    def draft_deps(self, row: dict[str, Any]) -> Deps:
        """What the draft reads, from the recorded columns (parsed from the files only if never recorded)."""
        if row.get("deps") is not None and row.get("zones") is not None:
            refs = [PipelineId(*r.split(".")) for r in json.loads(row["deps"])]
            zones = [tuple(z.split(".", 1)) for z in json.loads(row["zones"])]
            return refs, zones  # type: ignore[return-value]
        pid = PipelineId(row["namespace"], row["layer"], row["name"])
        files = self.ws.files.draft(pid)
        self.record(pid, row["id"], files)
        try:
            return self.deps(pid, files)
        except RatError:
            return [], []

    # -- the graph ----------------------------------------------------------------------------------
    def dag(self, namespace: str | None = None, version: str = "published",
            extra: dict[PipelineId, dict[str, str]] | None = None, strict: bool = True) -> DAG[PipelineId]:
        """The dependency graph of live pipelines (published version, falling back to the draft).

        Without ``extra`` the graph comes from a cache (read it, never change it): checking it costs one
        aggregate query, not a read of every pipeline, so submitting a run does not slow down as pipelines
        are added.
        """
        if extra is None:
            graph = self.cached(namespace, version)[0]
            if strict:
                graph.topological()  # raises CycleError naming a cycle
            return graph
        return self._build(self.state.list_pipelines(namespace)[0], version, extra, strict)

    def cached(self, namespace: str | None, version: str) -> tuple[DAG[PipelineId], frozenset[PipelineId]]:
        """The graph and live pipelines, rebuilt only when a pipeline changed: here (the generation) or in
        another process sharing the state store (the pipeline rows' fingerprint). The key is read before the
        rows, so a change that lands while building only causes one more rebuild."""
        key = (self._generation, self.state.pipelines_fingerprint())
        with self._lock:
            hit = self._dag_cache.get((namespace, version))
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        rows, _ = self.state.list_pipelines(namespace)
        graph = self._build(rows, version, None, False)
        live = frozenset(PipelineId(r["namespace"], r["layer"], r["name"]) for r in rows)
        with self._lock:
            if len(self._dag_cache) > 64:
                self._dag_cache.clear()
            self._dag_cache[(namespace, version)] = (key, graph, live)
        return graph, live

    def _build(self, rows: list[dict[str, Any]], version: str, extra: dict[PipelineId, dict[str, str]] | None,
               strict: bool) -> DAG[PipelineId]:
        graph: DAG[PipelineId] = DAG()
        for row in rows:
            pid = PipelineId(row["namespace"], row["layer"], row["name"])
            try:
                refs = self.deps(pid, extra[pid])[0] if extra and pid in extra else self._row_deps(row, version)
            except RatError:
                if strict and extra and pid in extra:
                    raise
                refs = []
            graph.add(pid, refs)
        if strict:
            graph.topological()  # raises CycleError naming a cycle
        return graph

    def select(self, selector: str, version: str = "published") -> tuple[list[PipelineId], DAG[PipelineId]]:
        """Resolve a selection to pipelines in DAG order, critical path first (``DAG.critical_first``): the
        order its runs are created, so claimed and started, in.

        ``ns.layer.name`` (one), ``ns.layer.name+`` (and downstream), ``+ns.layer.name`` (and upstream),
        ``ns.*`` or ``ns.layer.*`` (all of a namespace or layer).
        """
        if not isinstance(selector, str) or not selector.strip():
            raise Invalid("selection is required")
        text = selector.strip()
        down, up = text.endswith("+"), text.startswith("+")
        core = text.strip("+")
        graph, live = self.cached(None, version)
        if core.endswith(".*"):
            parts = core[:-2].split(".")
            ns = validate_namespace(parts[0])
            layer = validate_layer(parts[1]) if len(parts) == 2 else None
            if len(parts) > 2:
                raise Invalid(f"'{selector}' is not a selection")
            chosen = {p for p in live if p.namespace == ns and (layer is None or p.layer == layer)}
            if not chosen:
                raise NotFound(f"no pipelines match '{selector}'")
            roots = set(chosen)
        else:
            pid = PipelineId.parse(core)
            self.state.get_pipeline(*pid.table_identifier)
            chosen = roots = {pid}
        for root in roots:
            if down:
                chosen = chosen | graph.closure_down(root)
            if up:
                chosen = chosen | graph.closure_up(root)
        return graph.critical_first(chosen & live), graph
