/**
 * Lineage layout with ELK. `layoutGraph` is what the Web Worker runs; ELK (a 1.5 MB chunk) is imported on
 * first use, so pages other than Lineage never download it.
 */
import { fastLayout } from './fastLayout';
import { fromElk, toElk, type ElkNodeIn, type ElkNodeOut, type Grouping, type LayoutResult, type LineageGraph }
  from './graph';

export interface ElkLike {
  layout(graph: ElkNodeIn): Promise<ElkNodeOut>;
}

let elkPromise: Promise<ElkLike> | null = null;

/** ELK in the current thread (the bundled build runs synchronously when it has no worker of its own). */
export function loadElk(): Promise<ElkLike> {
  elkPromise ??= import('elkjs/lib/elk.bundled.js').then((m) => {
    const ELK = m.default;
    return new ELK() as unknown as ElkLike;
  });
  return elkPromise;
}

/** Above this many nodes the built-in layered layout runs instead of ELK (see fastLayout.ts for why). */
export const ELK_MAX_NODES = 300;

export type Engine = 'auto' | 'elk' | 'layered';

export async function layoutGraph(graph: LineageGraph, grouping: Grouping, elk?: ElkLike | (() => Promise<ElkLike>),
  engineChoice: Engine = 'auto'): Promise<LayoutResult> {
  if (engineChoice === 'layered' || (engineChoice === 'auto' && graph.nodes.length > ELK_MAX_NODES)) {
    return fastLayout(graph, grouping);
  }
  const engine = typeof elk === 'function' ? await elk() : elk ?? await loadElk();
  const started = performance.now();
  const out = await engine.layout(toElk(graph, grouping));
  return fromElk(out, graph, performance.now() - started);
}
