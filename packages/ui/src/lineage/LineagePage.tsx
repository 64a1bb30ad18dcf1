import { memo, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import {
  Background, Controls, Handle, MarkerType, MiniMap, Position, ReactFlow, ReactFlowProvider, useReactFlow,
  type Edge, type Node, type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { Button } from "../components/Button";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { Loading, StatusBadge } from "../components/Status";
import { useApi } from "../context";
import { useData } from "../data";
import { resources } from "../resources";
import { LayoutClient, LayoutSuperseded } from "./client";
import type { Engine } from "./layout";
import {
  adjacency, matching, neighbourhood, NODE_SIZE, subgraph, syntheticGraph,
  type Grouping, type LayoutResult, type LineageGraph, type LineageNode,
} from "./graph";
import "./lineage.css";

interface LineageNodeData extends Record<string, unknown> {
  node: LineageNode;
  hidden: number;
  onExpand: (id: string) => void;
  href: string;
}

interface GroupData extends Record<string, unknown> {
  label: string;
}

/** Where a click on a node goes: the pipeline page, the table in the explorer, the landing zone. */
export function nodeHref(n: LineageNode): string {
  if (n.type === "pipeline") return `/pipelines/${n.namespace}/${n.layer}/${n.name}`;
  if (n.type === "table") return `/explorer/${n.namespace}/${n.layer}/${n.name}`;
  return `/landing/${n.namespace}/${n.name}`;
}

function label(n: LineageNode): string {
  return n.type === "landing" ? `${n.namespace}.${n.name}` : `${n.namespace}.${n.layer}.${n.name}`;
}

const LineageNodeView = memo(function LineageNodeView({ data }: NodeProps<Node<LineageNodeData>>) {
  const n = data.node;
  const run = n.latest_run;
  const tests = n.quality?.total ?? 0;
  return (
    <div className={`rat-lin-node rat-lin-${n.type}`} style={NODE_SIZE[n.type]}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="rat-lin-kind">{n.type === "landing" ? "landing zone" : `${n.type} · ${n.layer ?? ""}`}</div>
      <Link className="rat-lin-name nodrag" to={data.href} title={label(n)}>{n.type === "landing" ? n.name : n.name}</Link>
      {n.type === "pipeline" && (
        <div className="rat-lin-badges">
          <StatusBadge status={run?.status ?? "never run"} />
          <span className="rat-badge" title={`${tests} quality test${tests === 1 ? "" : "s"}`}>tests {tests}</span>
        </div>
      )}
      {data.hidden > 0 && (
        <button type="button" className="rat-lin-expand nodrag" onClick={() => data.onExpand(n.id)}
          aria-label={`Show ${data.hidden} more neighbour${data.hidden === 1 ? "" : "s"} of ${label(n)}`}>
          +{data.hidden}
        </button>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

function GroupView({ data }: NodeProps<Node<GroupData>>) {
  return <div className="rat-lin-group-label">{data.label}</div>;
}

const NODE_TYPES = { lineage: LineageNodeView, group: GroupView };

/** The lineage DAG: pipelines, tables and landing zones; grouping, a depth-limited neighbourhood, expand. */
export function LineagePage() {
  return (
    <ReactFlowProvider>
      <LineageInner />
    </ReactFlowProvider>
  );
}

function LineageInner() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [params, setParams] = useSearchParams();
  const namespace = params.get("namespace") ?? "";
  const grouping = (["none", "namespace", "layer"].includes(params.get("group") ?? "") ? params.get("group") : "layer") as Grouping;
  const focus = params.get("focus") ?? "";
  const depth = Math.min(6, Math.max(1, Number(params.get("depth") ?? 2) || 2));
  // measurement hooks: a synthetic graph of N nodes, and the engine forced (elk | layered)
  const synthetic = Number(params.get("synthetic") ?? 0);
  const engine = (["elk", "layered"].includes(params.get("engine") ?? "") ? params.get("engine") : "auto") as Engine;
  const [search, setSearch] = useState("");
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const navigate = useNavigate();
  const flow = useReactFlow();
  const layoutClient = useRef<LayoutClient | null>(null);
  const [layout, setLayout] = useState<{ result: LayoutResult; graph: LineageGraph; hidden: Map<string, number> } | null>(null);
  const [layoutError, setLayoutError] = useState<unknown>(null);
  const [layoutMs, setLayoutMs] = useState<number | null>(null);

  const data = useData(["lineage", namespace, synthetic], async () =>
    synthetic > 0 ? syntheticGraph(Math.max(1, Math.round((synthetic - 20) / 2))) : res.lineage(namespace || undefined));
  const graph = data.data;
  const allNamespaces = useData(["namespaces"], () => api.listNamespaces());
  const adj = useMemo(() => (graph ? adjacency(graph) : null), [graph]);

  const set = (changes: Record<string, string>): void => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setParams(next, { replace: true });
  };

  useEffect(() => setExpanded(new Set()), [focus, namespace]);
  useEffect(() => () => layoutClient.current?.dispose(), []);

  // visible subgraph → layout in the worker → nodes for React Flow
  useEffect(() => {
    if (!graph || !adj) return;
    const hood = neighbourhood(graph, focus ? [focus] : [], depth, expanded, adj);
    const sub = subgraph(graph, hood.visible);
    layoutClient.current ??= new LayoutClient();
    const started = performance.now();
    setLayoutError(null);
    layoutClient.current.layout(sub, grouping, engine).then(
      (result) => {
        setLayout({ result, graph: sub, hidden: hood.hidden });
        setLayoutMs(performance.now() - started);
      },
      (e: unknown) => {
        if (!(e instanceof LayoutSuperseded)) setLayoutError(e);
      },
    );
  }, [graph, adj, focus, depth, expanded, grouping, engine]);

  const onExpand = useMemo(() => (id: string) => setExpanded((s) => new Set(s).add(id)), []);

  const { nodes, edges } = useMemo(() => {
    if (!layout) return { nodes: [] as Node[], edges: [] as Edge[] };
    const out: Node[] = layout.result.groups.map((g) => ({
      id: g.id, type: "group", position: { x: g.box.x, y: g.box.y }, data: { label: g.label },
      style: { width: g.box.width, height: g.box.height }, selectable: false, draggable: false, focusable: false,
      className: "rat-lin-group", zIndex: -1,
    }));
    for (const n of layout.graph.nodes) {
      const p = layout.result.positions[n.id];
      if (!p) continue;
      out.push({
        id: n.id, type: "lineage", position: p, draggable: false, connectable: false,
        ariaLabel: `${n.type} ${label(n)}${n.latest_run ? `, last run ${n.latest_run.status}` : ""}`,
        data: { node: n, hidden: layout.hidden.get(n.id) ?? 0, onExpand, href: nodeHref(n) } satisfies LineageNodeData,
        width: NODE_SIZE[n.type].width, height: NODE_SIZE[n.type].height,
      });
    }
    const es: Edge[] = layout.graph.edges.map((e, i) => ({
      id: `e${i}`, source: e.source, target: e.target, className: `rat-lin-edge-${e.type}`,
      markerEnd: { type: MarkerType.ArrowClosed }, focusable: false,
    }));
    return { nodes: out, edges: es };
  }, [layout, onExpand]);

  useEffect(() => {
    if (nodes.length === 0) return;
    const id = requestAnimationFrame(() => void flow.fitView({ padding: 0.1, maxZoom: 1.2 }));
    return () => cancelAnimationFrame(id);
  }, [nodes, flow]);

  const matches = graph && search.trim() ? matching(graph, search).slice(0, 30) : [];
  const namespaces = (allNamespaces.data?.namespaces ?? []).map((n) => n.name).sort();
  const focusNode = graph?.nodes.find((n) => n.id === focus);

  return (
    <div className="rat-page rat-lineage">
      <PageHeader title="Lineage">
        <span className="rat-muted" role="status" data-testid="lineage-status" data-layout-ms={layoutMs?.toFixed(1) ?? ""}
          data-engine-ms={layout?.result.elapsedMs.toFixed(1) ?? ""} data-engine={layout?.result.engine ?? ""} data-nodes={layout?.graph.nodes.length ?? 0}>
          {layout ? `${layout.graph.nodes.length} nodes · ${layout.graph.edges.length} edges · layout ${Math.round(layoutMs ?? 0)} ms` : ""}
        </span>
      </PageHeader>
      <div className="rat-toolbar">
        <SelectField label="Namespace" value={namespace} onChange={(e) => set({ namespace: e.target.value, focus: "" })}>
          <option value="">all</option>
          {namespaces.map((n) => <option key={n} value={n}>{n}</option>)}
        </SelectField>
        <SelectField label="Group by" value={grouping} onChange={(e) => set({ group: e.target.value })}>
          <option value="layer">layer</option>
          <option value="namespace">namespace</option>
          <option value="none">nothing</option>
        </SelectField>
        <SelectField label="Depth" value={depth} onChange={(e) => set({ depth: e.target.value })} disabled={!focus}>
          {[1, 2, 3, 4, 5, 6].map((d) => <option key={d} value={d}>{d}</option>)}
        </SelectField>
        <div className="rat-lin-search">
          <TextField label="Focus on" placeholder="name of a pipeline, table or zone" value={search}
            onChange={(e) => setSearch(e.target.value)} />
          {matches.length > 0 && (
            <ul className="rat-lin-matches" aria-label="Matching nodes">
              {matches.map((n) => (
                <li key={n.id}>
                  <button type="button" onClick={() => { set({ focus: n.id }); setSearch(""); }}>
                    {n.type} {label(n)}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        {focus && (
          <Button onClick={() => set({ focus: "" })}>
            Show everything{focusNode ? ` (focused on ${label(focusNode)})` : ""}
          </Button>
        )}
      </div>
      {data.error && <ErrorBox error={data.error} title="Could not load the lineage" />}
      {layoutError !== null && <ErrorBox error={layoutError} title="Could not lay out the graph" />}
      {!graph && !data.error && <Loading what="Loading the lineage" />}
      {graph && graph.nodes.length === 0 && <p className="rat-muted">Nothing yet: create a pipeline or a landing zone.</p>}
      {graph && graph.nodes.length > 0 && (
        <div className="rat-lin-canvas" aria-label="Lineage graph" role="region">
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={NODE_TYPES}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable
            onlyRenderVisibleElements
            minZoom={0.05}
            proOptions={{ hideAttribution: true }}
            onNodeClick={(e, node) => {
              // the expand button and the name link handle their own clicks
              if ((e.target as HTMLElement).closest("button, a")) return;
              const d = node.data as Partial<LineageNodeData>;
              if (d.href) navigate(d.href);
            }}
          >
            <Background />
            <Controls showInteractive={false} />
            {nodes.length <= 600 && <MiniMap pannable zoomable ariaLabel="Lineage overview" />}
          </ReactFlow>
        </div>
      )}
    </div>
  );
}
