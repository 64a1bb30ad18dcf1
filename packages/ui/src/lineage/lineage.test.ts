import { describe, expect, it } from 'vitest';
import { LayoutClient, LayoutSuperseded, workerFor } from './client';
import { NODE_SIZE, groupOf, matching, neighbourhood, subgraph, syntheticGraph, toElk, type LineageGraph } from './graph';
import { fastLayout } from './fastLayout';
import { ELK_MAX_NODES, layoutGraph } from './layout';
import type { LayoutRequest, LayoutResponse, WorkerLike } from './protocol';

const demo: LineageGraph = {
  nodes: [
    { id: 'landing:shop.raw', type: 'landing', namespace: 'shop', name: 'raw' },
    { id: 'pipeline:shop.bronze.orders', type: 'pipeline', namespace: 'shop', layer: 'bronze', name: 'orders',
      quality: { total: 1 }, latest_run: { id: 'r1', status: 'success' } },
    { id: 'table:shop.bronze.orders', type: 'table', namespace: 'shop', layer: 'bronze', name: 'orders' },
    { id: 'pipeline:shop.silver.clean', type: 'pipeline', namespace: 'shop', layer: 'silver', name: 'clean' },
    { id: 'table:shop.silver.clean', type: 'table', namespace: 'shop', layer: 'silver', name: 'clean' },
    { id: 'pipeline:shop.gold.revenue', type: 'pipeline', namespace: 'shop', layer: 'gold', name: 'revenue' },
    { id: 'table:shop.gold.revenue', type: 'table', namespace: 'shop', layer: 'gold', name: 'revenue' },
    { id: 'table:ops.bronze.orphan', type: 'table', namespace: 'ops', layer: 'bronze', name: 'orphan' },
  ],
  edges: [
    { source: 'landing:shop.raw', target: 'pipeline:shop.bronze.orders', type: 'landing_input' },
    { source: 'pipeline:shop.bronze.orders', target: 'table:shop.bronze.orders', type: 'produces' },
    { source: 'table:shop.bronze.orders', target: 'pipeline:shop.silver.clean', type: 'ref' },
    { source: 'pipeline:shop.silver.clean', target: 'table:shop.silver.clean', type: 'produces' },
    { source: 'table:shop.silver.clean', target: 'pipeline:shop.gold.revenue', type: 'ref' },
    { source: 'pipeline:shop.gold.revenue', target: 'table:shop.gold.revenue', type: 'produces' },
  ],
};

function overlaps(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

describe('neighbourhood', () => {
  it('shows everything without a focus', () => {
    expect(neighbourhood(demo, [], 1).visible.size).toBe(demo.nodes.length);
  });

  it('limits to the depth around the focus in both directions and counts hidden neighbours', () => {
    const n = neighbourhood(demo, ['pipeline:shop.silver.clean'], 1);
    expect([...n.visible].sort()).toEqual(['pipeline:shop.silver.clean', 'table:shop.bronze.orders',
      'table:shop.silver.clean']);
    expect(n.hidden.get('table:shop.bronze.orders')).toBe(1);
    expect(n.hidden.get('table:shop.silver.clean')).toBe(1);
    expect(n.hidden.has('pipeline:shop.silver.clean')).toBe(false);
  });

  it('expanding a frontier node reveals its neighbours, and expansions chain', () => {
    const once = neighbourhood(demo, ['pipeline:shop.silver.clean'], 1, new Set(['table:shop.bronze.orders']));
    expect(once.visible.has('pipeline:shop.bronze.orders')).toBe(true);
    const twice = neighbourhood(demo, ['pipeline:shop.silver.clean'], 1,
      new Set(['table:shop.bronze.orders', 'pipeline:shop.bronze.orders']));
    expect(twice.visible.has('landing:shop.raw')).toBe(true);
    expect(twice.hidden.has('landing:shop.raw')).toBe(false);
  });

  it('filters by text and keeps only edges inside a subgraph', () => {
    expect(matching(demo, 'REVENUE').map((n) => n.id)).toEqual(['pipeline:shop.gold.revenue', 'table:shop.gold.revenue']);
    const sub = subgraph(demo, new Set(['pipeline:shop.gold.revenue', 'table:shop.gold.revenue']));
    expect(sub.edges).toHaveLength(1);
  });
});

describe('ELK layout', () => {
  it('lays the DAG out left to right without overlapping nodes', async () => {
    const r = await layoutGraph(demo, 'none');
    expect(Object.keys(r.positions)).toHaveLength(demo.nodes.length);
    for (const e of demo.edges) expect(r.positions[e.source]!.x).toBeLessThan(r.positions[e.target]!.x);
    const boxes = demo.nodes.map((n) => ({ ...r.positions[n.id]!, w: NODE_SIZE[n.type].width, h: NODE_SIZE[n.type].height }));
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      expect(overlaps(boxes[i]!, boxes[j]!)).toBe(false);
    }
    expect(r.groups).toEqual([]);
  });

  it.each(['namespace', 'layer'] as const)('groups by %s: every node inside its group box', async (grouping) => {
    const r = await layoutGraph(demo, grouping);
    const boxes = new Map(r.groups.map((g) => [g.id, g.box]));
    expect(boxes.size).toBe(grouping === 'namespace' ? 2 : 4);
    for (const n of demo.nodes) {
      const box = boxes.get(groupOf(n, grouping)!)!;
      const p = r.positions[n.id]!;
      expect(p.x).toBeGreaterThanOrEqual(box.x);
      expect(p.y).toBeGreaterThanOrEqual(box.y);
      expect(p.x + NODE_SIZE[n.type].width).toBeLessThanOrEqual(box.x + box.width + 0.5);
    }
    if (grouping === 'layer') {
      const x = (id: string) => r.groups.find((g) => g.id === id)!.box.x;
      expect(x('layer:landing')).toBeLessThan(x('layer:bronze'));
      expect(x('layer:silver')).toBeLessThan(x('layer:gold'));
    }
  });

  it('uses the cheap options for large graphs', () => {
    const big = syntheticGraph(250);
    expect(big.nodes.length).toBeGreaterThan(500);
    expect(toElk(big, 'none').layoutOptions!['elk.layered.thoroughness']).toBe('1');
    expect(toElk(demo, 'none').layoutOptions!['elk.layered.thoroughness']).toBe('7');
  });

  it('lays out a mid-size graph with ELK when asked', async () => {
    const g = syntheticGraph(70);
    const r = await layoutGraph(g, 'none', undefined, 'elk');
    expect(r.engine).toBe('elk');
    expect(Object.keys(r.positions)).toHaveLength(g.nodes.length);
  }, 60_000);

  it('picks ELK for small graphs and the layered layout above the threshold', async () => {
    expect((await layoutGraph(demo, 'none')).engine).toBe('elk');
    const big = syntheticGraph(Math.ceil(ELK_MAX_NODES / 2) + 10);
    expect((await layoutGraph(big, 'none')).engine).toBe('layered');
  });
});

function assertClean(g: LineageGraph, r: Awaited<ReturnType<typeof layoutGraph>>): void {
  expect(Object.keys(r.positions)).toHaveLength(g.nodes.length);
  for (const e of g.edges) expect(r.positions[e.source]!.x).toBeLessThan(r.positions[e.target]!.x);
  // no overlaps: sort by x column then y, compare neighbours in the same column
  const boxes = g.nodes.map((n) => ({ id: n.id, ...r.positions[n.id]!, w: NODE_SIZE[n.type].width, h: NODE_SIZE[n.type].height }));
  const cols = new Map<number, typeof boxes>();
  for (const b of boxes) cols.set(b.x, [...(cols.get(b.x) ?? []), b]);
  const xs = [...cols.keys()].sort((a, b) => a - b);
  for (let i = 1; i < xs.length; i++) expect(xs[i]! - xs[i - 1]!).toBeGreaterThanOrEqual(200);
  for (const col of cols.values()) {
    col.sort((a, b) => a.y - b.y);
    for (let i = 1; i < col.length; i++) expect(col[i]!.y).toBeGreaterThanOrEqual(col[i - 1]!.y + col[i - 1]!.h);
  }
}

describe('layered layout (large graphs)', () => {
  it.each([500, 1000, 2000])('%i nodes: edges left to right, no overlaps, in milliseconds', (n) => {
    const g = syntheticGraph((n - 20) / 2);
    const r = fastLayout(g, 'none');
    assertClean(g, r);
    expect(r.elapsedMs).toBeLessThan(1000);
    console.log(`layered layout, ${g.nodes.length} nodes: ${r.elapsedMs.toFixed(1)} ms`);
  });

  it('groups by layer in columns landing → bronze → silver → gold, every node inside its box', () => {
    const g = syntheticGraph(300);
    const r = fastLayout(g, 'layer');
    assertClean(g, r);
    const box = new Map(r.groups.map((x) => [x.id, x.box]));
    expect([...box.keys()].sort()).toEqual(['layer:bronze', 'layer:gold', 'layer:landing', 'layer:silver']);
    const right = (id: string) => box.get(id)!.x + box.get(id)!.width;
    expect(right('layer:landing')).toBeLessThanOrEqual(box.get('layer:bronze')!.x);
    expect(right('layer:bronze')).toBeLessThanOrEqual(box.get('layer:silver')!.x);
    expect(right('layer:silver')).toBeLessThanOrEqual(box.get('layer:gold')!.x);
    for (const n of g.nodes) {
      const b = box.get(groupOf(n, 'layer')!)!;
      const p = r.positions[n.id]!;
      expect(p.x >= b.x && p.y >= b.y && p.x + NODE_SIZE[n.type].width <= b.x + b.width &&
        p.y + NODE_SIZE[n.type].height <= b.y + b.height).toBe(true);
    }
  });

  it('groups by namespace in bands that do not overlap', () => {
    const g = syntheticGraph(300, 4);
    const r = fastLayout(g, 'namespace');
    assertClean(g, r);
    const bands = r.groups.map((x) => x.box).sort((a, b) => a.y - b.y);
    expect(bands).toHaveLength(4);
    for (let i = 1; i < bands.length; i++) expect(bands[i]!.y).toBeGreaterThanOrEqual(bands[i - 1]!.y + bands[i - 1]!.height);
    for (const n of g.nodes) {
      const b = r.groups.find((x) => x.id === groupOf(n, 'namespace'))!.box;
      expect(r.positions[n.id]!.y).toBeGreaterThanOrEqual(b.y);
    }
  });

  it('orders nodes to cut crossings: a chain stays on one row', () => {
    const r = fastLayout(demo, 'none');
    const y = (id: string) => r.positions[id]!.y + NODE_SIZE[demo.nodes.find((n) => n.id === id)!.type].height / 2;
    expect(Math.abs(y('pipeline:shop.silver.clean') - y('table:shop.silver.clean'))).toBeLessThan(1);
  });

  it('survives a cycle (a bad graph must still draw)', () => {
    const cyclic: LineageGraph = {
      nodes: demo.nodes,
      edges: [...demo.edges, { source: 'table:shop.gold.revenue', target: 'pipeline:shop.bronze.orders', type: 'ref' }],
    };
    const r = fastLayout(cyclic, 'none');
    expect(Object.keys(r.positions)).toHaveLength(cyclic.nodes.length);
  });
});

/** The worker's message protocol, run in this thread (vitest has no Worker). */
function inThreadWorker(delays: number[] = []): WorkerLike {
  const w: WorkerLike = {
    onmessage: null,
    onerror: null,
    postMessage(req: LayoutRequest) {
      const delay = delays.shift() ?? 0;
      void layoutGraph(req.graph, req.grouping).then(async (result) => {
        await new Promise((r) => setTimeout(r, delay));
        w.onmessage?.({ data: { id: req.id, ok: true, result } as LayoutResponse } as MessageEvent<LayoutResponse>);
      });
    },
    terminate() {},
  };
  return w;
}

describe('LayoutClient', () => {
  it('answers each request and supersedes older ones', async () => {
    const client = new LayoutClient(() => inThreadWorker([50, 0]));
    const first = client.layout(demo, 'none');
    const second = client.layout(demo, 'namespace');
    await expect(first).rejects.toBeInstanceOf(LayoutSuperseded);
    const r = await second;
    expect(r.groups.length).toBe(2);
    client.dispose();
  });

  it('sends small graphs to the ELK worker and large ones to the layered worker', async () => {
    const made: string[] = [];
    const client = new LayoutClient((kind) => { made.push(kind); return inThreadWorker(); });
    await client.layout(demo, 'none');
    await client.layout(syntheticGraph(200), 'none');
    await client.layout(demo, 'layer');
    expect(made).toEqual(['elk', 'layered']);
    expect(workerFor(10, 'layered')).toBe('layered');
    expect(workerFor(1000, 'elk')).toBe('elk');
    client.dispose();
  });

  it('reports a failed layout with its message', async () => {
    const failing: WorkerLike = {
      onmessage: null, onerror: null, terminate() {},
      postMessage(req) {
        queueMicrotask(() => failing.onmessage?.({ data: { id: req.id, ok: false, message: 'boom' } } as MessageEvent<LayoutResponse>));
      },
    };
    await expect(new LayoutClient(() => failing).layout(demo, 'none')).rejects.toThrow('lineage layout failed: boom');
  });
});
