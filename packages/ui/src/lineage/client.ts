/**
 * Main-thread side of the layout worker: one worker per page, created on first use, answers matched to
 * requests by id. A newer request supersedes older ones (their promises reject with `superseded`), so a
 * user clicking "expand" quickly never sees an old layout land after a new one.
 */
import type { Grouping, LayoutResult, LineageGraph } from './graph';
import type { LayoutResponse, WorkerLike } from './protocol';

export class LayoutSuperseded extends Error {
  constructor() {
    super('superseded by a newer layout');
    this.name = 'LayoutSuperseded';
  }
}

function browserWorker(): WorkerLike {
  return new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module', name: 'rat-lineage-layout' }) as
    unknown as WorkerLike;
}

export class LayoutClient {
  private worker: WorkerLike | null = null;
  private next = 1;
  private pending = new Map<number, { resolve: (r: LayoutResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly makeWorker: () => WorkerLike = browserWorker) {}

  layout(graph: LineageGraph, grouping: Grouping): Promise<LayoutResult> {
    const worker = this.ensure();
    for (const [id, p] of this.pending) {
      p.reject(new LayoutSuperseded());
      this.pending.delete(id);
    }
    const id = this.next++;
    return new Promise<LayoutResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, graph, grouping });
    });
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new LayoutSuperseded());
    this.pending.clear();
  }

  private ensure(): WorkerLike {
    if (this.worker) return this.worker;
    const w = this.makeWorker();
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
      this.worker = null;
    };
    this.worker = w;
    return w;
  }
}
