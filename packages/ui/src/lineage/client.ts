/**
 * Main-thread side of the layout worker: one worker per page, created on first use, answers matched to
 * requests by id. A newer request supersedes older ones (their promises reject with `superseded`), so a
 * user clicking "expand" quickly never sees an old layout land after a new one.
 */
import type { Grouping, LayoutResult, LineageGraph } from './graph';
import { ELK_MAX_NODES, type Engine } from './layout';
import type { LayoutResponse, WorkerLike } from './protocol';

export class LayoutSuperseded extends Error {
  constructor() {
    super('superseded by a newer layout');
    this.name = 'LayoutSuperseded';
  }
}

export type WorkerKind = 'elk' | 'layered';

/** Which worker lays a graph out: ELK for small graphs (nicer), the layered layout above ELK_MAX_NODES. */
export function workerFor(nodes: number, engine: Engine): WorkerKind {
  if (engine === 'elk' || engine === 'layered') return engine;
  return nodes > ELK_MAX_NODES ? 'layered' : 'elk';
}

function browserWorker(kind: WorkerKind): WorkerLike {
  const w = kind === 'elk'
    ? new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module', name: 'rat-lineage-elk' })
    : new Worker(new URL('./layered.worker.ts', import.meta.url), { type: 'module', name: 'rat-lineage-layered' });
  return w as unknown as WorkerLike;
}

export class LayoutClient {
  private workers = new Map<WorkerKind, WorkerLike>();
  private next = 1;
  private pending = new Map<number, { resolve: (r: LayoutResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly makeWorker: (kind: WorkerKind) => WorkerLike = browserWorker) {}

  layout(graph: LineageGraph, grouping: Grouping, engine: Engine = 'auto'): Promise<LayoutResult> {
    const worker = this.ensure(workerFor(graph.nodes.length, engine));
    for (const [id, p] of this.pending) {
      p.reject(new LayoutSuperseded());
      this.pending.delete(id);
    }
    const id = this.next++;
    return new Promise<LayoutResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, graph, grouping, engine });
    });
  }

  dispose(): void {
    for (const w of this.workers.values()) w.terminate();
    this.workers.clear();
    for (const p of this.pending.values()) p.reject(new LayoutSuperseded());
    this.pending.clear();
  }

  private ensure(kind: WorkerKind): WorkerLike {
    const existing = this.workers.get(kind);
    if (existing) return existing;
    const w = this.makeWorker(kind);
    w.onmessage = (event: MessageEvent<LayoutResponse>) => {
      const msg = event.data;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`lineage layout failed: ${msg.message}`));
    };
    w.onerror = (event: ErrorEvent) => {
      for (const p of this.pending.values()) p.reject(new Error(`lineage layout worker failed: ${event.message}`));
      this.pending.clear();
      this.workers.delete(kind);
    };
    this.workers.set(kind, w);
    return w;
  }
}
