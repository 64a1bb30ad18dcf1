/**
 * A layered (Sugiyama-style) layout in plain TypeScript for large lineage graphs, where ELK's careful phases
 * cost seconds on a cold worker (measured: about 1.5 s of CPU for the first 500-node layout, most of it ELK's
 * start-up and crossing minimisation). Longest-path layers (layer columns kept in landing → bronze → silver →
 * gold order), barycenter ordering sweeps, and rows aligned to their neighbours: linear in the edges per sweep,
 * a few milliseconds at 1,000 nodes. Small graphs still go to ELK (see `layoutGraph`).
 */
import { groupLabel, groupOf, NODE_SIZE, type Grouping, type LayoutResult, type LineageGraph, type LineageNode } from './graph';

const LAYER_RANK: Record<string, number> = { landing: 0, bronze: 1, silver: 2, gold: 3 };
const GAP_X = 60;
const GAP_Y = 18;
const BAND_GAP = 40;
const PAD = 16;
const LABEL = 20;
const SWEEPS = 6;

function layerOf(n: LineageNode): number {
  return n.type === 'landing' ? 0 : LAYER_RANK[n.layer ?? ''] ?? 4;
}

/**
 * Ranks by longest path from the sources, visiting ready nodes lowest layer first so that each layer starts
 * after every rank the layers before it used (columns read landing → bronze → silver → gold). Cycles are cut.
 */
function ranks(graph: LineageGraph, preds: Map<string, string[]>, succs: Map<string, string[]>): Map<string, number> {
  const indeg = new Map<string, number>();
  for (const [id, ps] of preds) indeg.set(id, ps.length);
  const layer = new Map(graph.nodes.map((n) => [n.id, layerOf(n)]));
  const buckets: string[][] = [[], [], [], [], []];
  const heads = [0, 0, 0, 0, 0];
  for (const n of graph.nodes) if (indeg.get(n.id) === 0) buckets[layer.get(n.id)!]!.push(n.id);
  const rank = new Map<string, number>();
  const maxOfLayer = [-1, -1, -1, -1, -1];
  let remaining = graph.nodes.length;
  let scan = 0;
  while (remaining > 0) {
    let l = buckets.findIndex((bucket, i) => heads[i]! < bucket.length);
    if (l < 0) {
      // only cycles are left: cut one by taking its first unranked node
      while (rank.has(graph.nodes[scan]!.id)) scan++;
      const id = graph.nodes[scan]!.id;
      l = layer.get(id)!;
      buckets[l]!.push(id);
    }
    const id = buckets[l]![heads[l]!++]!;
    if (rank.has(id)) continue;
    let r = Math.max(-1, ...maxOfLayer.slice(0, l)) + 1;
    for (const p of preds.get(id)!) if (rank.has(p)) r = Math.max(r, rank.get(p)! + 1);
    rank.set(id, r);
    maxOfLayer[l] = Math.max(maxOfLayer[l]!, r);
    remaining--;
    for (const s of succs.get(id)!) {
      const d = indeg.get(s)! - 1;
      indeg.set(s, d);
      if (d === 0 && !rank.has(s)) buckets[layer.get(s)!]!.push(s);
    }
  }
  return rank;
}

export function fastLayout(graph: LineageGraph, grouping: Grouping): LayoutResult {
  const started = performance.now();
  const ids = new Set(graph.nodes.map((n) => n.id));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  for (const n of graph.nodes) {
    preds.set(n.id, []);
    succs.set(n.id, []);
  }
  for (const e of graph.edges) {
    if (!ids.has(e.source) || !ids.has(e.target) || e.source === e.target) continue;
    succs.get(e.source)!.push(e.target);
    preds.get(e.target)!.push(e.source);
  }
  const rank = ranks(graph, preds, succs);
  const maxRank = Math.max(0, ...rank.values());
  // bands: one per namespace when grouped by namespace, else one
  const bandKey = (n: LineageNode): string => (grouping === 'namespace' ? groupOf(n, 'namespace')! : '');
  const bands = new Map<string, LineageNode[][]>();
  for (const n of graph.nodes) {
    const key = bandKey(n);
    if (!bands.has(key)) bands.set(key, Array.from({ length: maxRank + 1 }, () => []));
    bands.get(key)![rank.get(n.id)!]!.push(n);
  }
  const colX: number[] = [];
  const colW: number[] = new Array(maxRank + 1).fill(0);
  for (const n of graph.nodes) colW[rank.get(n.id)!] = Math.max(colW[rank.get(n.id)!]!, NODE_SIZE[n.type].width);
  let x = 0;
  for (let r = 0; r <= maxRank; r++) {
    colX[r] = x;
    x += colW[r]! + GAP_X;
  }

  const positions: LayoutResult['positions'] = {};
  const groups: LayoutResult['groups'] = [];
  const order = new Map<string, number>();
  let bandTop = 0;
  const sortedBands = [...bands.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  for (const [key, cols] of sortedBands) {
    // barycenter sweeps, down then up
    cols.forEach((col) => col.forEach((n, i) => order.set(n.id, i)));
    const bary = (n: LineageNode, side: Map<string, string[]>): number => {
      const ns = side.get(n.id)!.filter((m) => order.has(m) && bandKey(byId.get(m)!) === key);
      if (ns.length === 0) return order.get(n.id)!;
      let s = 0;
      for (const m of ns) s += order.get(m)!;
      return s / ns.length;
    };
    for (let sweep = 0; sweep < SWEEPS; sweep++) {
      const down = sweep % 2 === 0;
      for (let k = 0; k <= maxRank; k++) {
        const r = down ? k : maxRank - k;
        const col = cols[r]!;
        const b = new Map(col.map((n) => [n.id, bary(n, down ? preds : succs)]));
        col.sort((a, c) => b.get(a.id)! - b.get(c.id)! || order.get(a.id)! - order.get(c.id)!);
        col.forEach((n, i) => order.set(n.id, i));
      }
    }
    // rows: each node wants the mean centre of its placed neighbours; order kept, overlaps pushed down
    const top = bandTop + (grouping === 'namespace' ? PAD + LABEL + 16 : 0);
    const centre = new Map<string, number>();
    for (let r = 0; r <= maxRank; r++) {
      const col = cols[r]!;
      let y = top;
      const want = col.map((n) => {
        const ps = preds.get(n.id)!.filter((p) => centre.has(p));
        return ps.length ? ps.reduce((s, p) => s + centre.get(p)!, 0) / ps.length - NODE_SIZE[n.type].height / 2 : -Infinity;
      });
      col.forEach((n, i) => {
        const h = NODE_SIZE[n.type].height;
        y = Math.max(y, want[i]!);
        positions[n.id] = { x: colX[r]!, y };
        centre.set(n.id, y + h / 2);
        y += h + GAP_Y;
      });
    }
    let bottom = top;
    let left = Infinity;
    let right = -Infinity;
    for (const col of cols) for (const n of col) {
      const p = positions[n.id]!;
      bottom = Math.max(bottom, p.y + NODE_SIZE[n.type].height);
      left = Math.min(left, p.x);
      right = Math.max(right, p.x + NODE_SIZE[n.type].width);
    }
    if (grouping === 'namespace') {
      groups.push({ id: key, label: groupLabel(key), box: { x: left - PAD, y: bandTop, width: right - left + 2 * PAD, height: bottom + PAD - bandTop } });
    }
    bandTop = bottom + PAD + BAND_GAP;
  }
  if (grouping === 'layer') {
    const bounds = new Map<string, { l: number; t: number; r: number; b: number }>();
    for (const n of graph.nodes) {
      const p = positions[n.id]!;
      const id = groupOf(n, 'layer')!;
      const s = NODE_SIZE[n.type];
      const b = bounds.get(id);
      if (!b) bounds.set(id, { l: p.x, t: p.y, r: p.x + s.width, b: p.y + s.height });
      else {
        b.l = Math.min(b.l, p.x);
        b.t = Math.min(b.t, p.y);
        b.r = Math.max(b.r, p.x + s.width);
        b.b = Math.max(b.b, p.y + s.height);
      }
    }
    for (const [id, b] of bounds) {
      groups.push({ id, label: groupLabel(id), box: { x: b.l - PAD, y: b.t - PAD - LABEL - 8, width: b.r - b.l + 2 * PAD, height: b.b - b.t + 2 * PAD + LABEL + 8 } });
    }
  }
  let width = 0;
  let height = 0;
  for (const n of graph.nodes) {
    const p = positions[n.id]!;
    width = Math.max(width, p.x + NODE_SIZE[n.type].width);
    height = Math.max(height, p.y + NODE_SIZE[n.type].height);
  }
  return { positions, groups, width, height, elapsedMs: performance.now() - started, engine: 'layered' };
}
