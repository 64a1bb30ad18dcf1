/**
 * The lineage graph as the API returns it, and the pure operations the lineage page needs: a
 * depth-limited neighbourhood around focused nodes (so a 1,000-node workspace opens on what matters),
 * filters, and the translation into an ELK graph with optional namespace or layer grouping.
 */

export type LineageNodeType = 'pipeline' | 'table' | 'landing';
export type LineageEdgeType = 'produces' | 'ref' | 'landing_input';
export type RunStatus = 'pending' | 'running' | 'success' | 'failed' | 'cancelled';

export interface LineageNode {
  id: string;
  type: LineageNodeType;
  namespace: string;
  layer?: string | null;
  name: string;
  quality?: { total: number } | null;
  latest_run?: { id: string; status: RunStatus | string; started_at?: string | null; duration_ms?: number | null }
    | null;
}

export interface LineageEdge {
  source: string;
  target: string;
  type: LineageEdgeType | string;
}

export interface LineageGraph {
  nodes: LineageNode[];
  edges: LineageEdge[];
}

export type Grouping = 'none' | 'namespace' | 'layer';

export const NODE_SIZE: Record<LineageNodeType, { width: number; height: number }> = {
  pipeline: { width: 220, height: 64 },
  table: { width: 200, height: 48 },
  landing: { width: 180, height: 48 },
};

/** Adjacency in both directions, built once per graph. */
export interface Adjacency {
  out: Map<string, string[]>;
  in: Map<string, string[]>;
}

export function adjacency(graph: LineageGraph): Adjacency {
  const out = new Map<string, string[]>();
  const inn = new Map<string, string[]>();
  for (const n of graph.nodes) {
    out.set(n.id, []);
    inn.set(n.id, []);
  }
  for (const e of graph.edges) {
    if (!out.has(e.source) || !out.has(e.target)) continue;
    out.get(e.source)!.push(e.target);
    inn.get(e.target)!.push(e.source);
  }
  return { out, in: inn };
}

export interface Neighbourhood {
  /** Nodes to show. */
  visible: Set<string>;
  /** Visible nodes with hidden neighbours, and how many: the page offers "expand" on them. */
  hidden: Map<string, number>;
}

/**
 * Nodes within `depth` edges (either direction) of the focus, plus every node the user expanded and its
 * direct neighbours. With no focus the whole graph is visible.
 */
export function neighbourhood(graph: LineageGraph, focus: readonly string[], depth: number,
  expanded: ReadonlySet<string> = new Set(), adj: Adjacency = adjacency(graph)): Neighbourhood {
  const visible = new Set<string>();
  const known = focus.filter((id) => adj.out.has(id));
  if (known.length === 0) {
    for (const n of graph.nodes) visible.add(n.id);
    return { visible, hidden: new Map() };
  }
  let frontier = known;
  for (const id of frontier) visible.add(id);
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const nb of [...adj.out.get(id)!, ...adj.in.get(id)!]) {
        if (!visible.has(nb)) {
          visible.add(nb);
          next.push(nb);
        }
      }
    }
    frontier = next;
  }
  // expansions may chain: expanding a node revealed by another expansion
  let grew = true;
  while (grew) {
    grew = false;
    for (const id of expanded) {
      if (!visible.has(id)) continue;
      for (const nb of [...adj.out.get(id) ?? [], ...adj.in.get(id) ?? []]) {
        if (!visible.has(nb)) {
          visible.add(nb);
          grew = true;
        }
      }
    }
  }
  const hidden = new Map<string, number>();
  for (const id of visible) {
    let count = 0;
    for (const nb of [...adj.out.get(id)!, ...adj.in.get(id)!]) if (!visible.has(nb)) count++;
    if (count > 0) hidden.set(id, count);
  }
  return { visible, hidden };
}

/** The subgraph on a node set (edges with both ends visible). */
export function subgraph(graph: LineageGraph, keep: ReadonlySet<string>): LineageGraph {
  return {
    nodes: graph.nodes.filter((n) => keep.has(n.id)),
    edges: graph.edges.filter((e) => keep.has(e.source) && keep.has(e.target)),
  };
}

/** Nodes whose namespace, layer or name contains the text (case-insensitive); all for an empty text. */
export function matching(graph: LineageGraph, text: string): LineageNode[] {
  const q = text.trim().toLowerCase();
  if (!q) return graph.nodes;
  return graph.nodes.filter((n) => `${n.namespace}.${n.layer ?? ''}.${n.name}`.toLowerCase().includes(q));
}

/** The group a node is drawn in, or null when ungrouped. */
export function groupOf(node: LineageNode, grouping: Grouping): string | null {
  if (grouping === 'namespace') return `ns:${node.namespace}`;
  if (grouping === 'layer') return `layer:${node.type === 'landing' ? 'landing' : node.layer ?? 'other'}`;
  return null;
}

const LAYER_ORDER: Record<string, number> = { landing: 0, bronze: 1, silver: 2, gold: 3 };

// -------------------------------------------------------------------------------------------------------
// ELK

export interface ElkNodeIn {
  id: string;
  width?: number;
  height?: number;
  children?: ElkNodeIn[];
  edges?: { id: string; sources: string[]; targets: string[] }[];
  layoutOptions?: Record<string, string>;
  labels?: { text: string }[];
}

export interface ElkNodeOut {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  children?: ElkNodeOut[];
}

/** Layout options: careful for small graphs, cheap for large ones (greedy switch and network simplex are
 * the costly phases; 500 nodes must lay out well under a second). */
export function elkOptions(nodeCount: number): Record<string, string> {
  const base: Record<string, string> = {
    'elk.algorithm': 'layered',
    'elk.direction': 'RIGHT',
    'elk.layered.spacing.nodeNodeBetweenLayers': '60',
    'elk.spacing.nodeNode': '18',
    'elk.edgeRouting': 'POLYLINE',
    'elk.spacing.componentComponent': '40',
  };
  if (nodeCount <= 150) return { ...base, 'elk.layered.thoroughness': '7' };
  return {
    ...base,
    'elk.layered.thoroughness': '1',
    'elk.layered.layering.strategy': 'LONGEST_PATH',
    'elk.layered.crossingMinimization.greedySwitch.type': 'OFF',
    'elk.layered.nodePlacement.strategy': 'SIMPLE',
  };
}

/**
 * The ELK input for a graph. Grouping nests nodes in one compound node per namespace or per layer (edges
 * across groups are laid out together, INCLUDE_CHILDREN); without grouping the graph is flat.
 */
export function toElk(graph: LineageGraph, grouping: Grouping): ElkNodeIn {
  const options = elkOptions(graph.nodes.length);
  const leaf = (n: LineageNode): ElkNodeIn => ({ id: n.id, ...NODE_SIZE[n.type] });
  const edges = graph.edges.map((e, i) => ({ id: `e${i}`, sources: [e.source], targets: [e.target] }));
  if (grouping === 'none') return { id: 'root', layoutOptions: options, children: graph.nodes.map(leaf), edges };
  const groups = new Map<string, ElkNodeIn>();
  for (const n of graph.nodes) {
    const gid = groupOf(n, grouping)!;
    let g = groups.get(gid);
    if (!g) {
      g = { id: gid, children: [], layoutOptions: { 'elk.padding': '[top=36,left=16,bottom=16,right=16]' } };
      groups.set(gid, g);
    }
    g.children!.push(leaf(n));
  }
  const ordered = [...groups.values()].sort((a, b) => groupRank(a.id) - groupRank(b.id) || a.id.localeCompare(b.id));
  return {
    id: 'root', layoutOptions: { ...options, 'elk.hierarchyHandling': 'INCLUDE_CHILDREN' },
    children: ordered, edges,
  };
}

function groupRank(id: string): number {
  return id.startsWith('layer:') ? LAYER_ORDER[id.slice(6)] ?? 9 : 0;
}

/** The label of a group id: the namespace, or the layer. */
export function groupLabel(id: string): string {
  return id.replace(/^(ns|layer):/, '');
}

export interface Box { x: number; y: number; width: number; height: number }

export interface LayoutResult {
  /** Top-left corner of every node, absolute. */
  positions: Record<string, { x: number; y: number }>;
  /** Group rectangles (absolute), when grouped. */
  groups: { id: string; label: string; box: Box }[];
  width: number;
  height: number;
  /** Milliseconds the layout took (inside the worker). */
  elapsedMs: number;
  /** ELK for small graphs, the built-in layered layout for large ones. */
  engine: 'elk' | 'layered';
}

/** Flatten ELK's nested output into absolute positions and group boxes. */
export function fromElk(out: ElkNodeOut, graph: LineageGraph, elapsedMs: number): LayoutResult {
  const positions: Record<string, { x: number; y: number }> = {};
  const groups: LayoutResult['groups'] = [];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const walk = (node: ElkNodeOut, ox: number, oy: number): void => {
    for (const child of node.children ?? []) {
      const x = ox + (child.x ?? 0);
      const y = oy + (child.y ?? 0);
      if (child.children && child.children.length > 0) {
        groups.push({
          id: child.id, label: groupLabel(child.id),
          box: { x, y, width: child.width ?? 0, height: child.height ?? 0 },
        });
        walk(child, x, y);
      } else if (byId.has(child.id)) {
        positions[child.id] = { x, y };
      }
    }
  };
  walk(out, 0, 0);
  return { positions, groups, width: out.width ?? 0, height: out.height ?? 0, elapsedMs, engine: 'elk' };
}

/** A synthetic lineage graph for benchmarks and tests: `layers` columns of pipelines, each reading 1–3 tables. */
export function syntheticGraph(pipelines: number, namespaces = 4, seed = 7): LineageGraph {
  let s = seed;
  const rand = (): number => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
  const layers = ['bronze', 'silver', 'gold'];
  const nodes: LineageNode[] = [];
  const edges: LineageEdge[] = [];
  const tablesByLayer: string[][] = [[], [], []];
  const perLayer = Math.ceil(pipelines / layers.length);
  let made = 0;
  for (let li = 0; li < layers.length && made < pipelines; li++) {
    for (let i = 0; i < perLayer && made < pipelines; i++, made++) {
      const ns = `ns${i % namespaces}`;
      const layer = layers[li]!;
      const name = `p${li}_${i}`;
      const pid = `pipeline:${ns}.${layer}.${name}`;
      const tid = `table:${ns}.${layer}.${name}`;
      nodes.push({
        id: pid, type: 'pipeline', namespace: ns, layer, name, quality: { total: i % 3 },
        latest_run: { id: `r${made}`, status: i % 11 === 0 ? 'failed' : 'success' },
      });
      nodes.push({ id: tid, type: 'table', namespace: ns, layer, name });
      edges.push({ source: pid, target: tid, type: 'produces' });
      if (li === 0) {
        const zone = `landing:${ns}.zone${i % 5}`;
        if (!nodes.some((n) => n.id === zone)) nodes.push({ id: zone, type: 'landing', namespace: ns, name: `zone${i % 5}` });
        edges.push({ source: zone, target: pid, type: 'landing_input' });
      } else {
        const upstream = tablesByLayer[li - 1]!;
        const count = 1 + Math.floor(rand() * 3);
        const chosen = new Set<string>();
        for (let k = 0; k < count && upstream.length > 0; k++) chosen.add(upstream[Math.floor(rand() * upstream.length)]!);
        for (const t of chosen) edges.push({ source: t, target: pid, type: 'ref' });
      }
      tablesByLayer[li]!.push(tid);
    }
  }
  return { nodes, edges };
}
