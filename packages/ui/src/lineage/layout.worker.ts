/// <reference lib="webworker" />
/**
 * The lineage layout off the main thread. This module (and ELK with it, statically imported: a worker chunk
 * cannot be split further in Vite's worker build) is only fetched when the Lineage page creates the worker,
 * so no other page pays for the 1.5 MB layout engine.
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import { layoutGraph, type ElkLike } from './layout';
import type { LayoutRequest, LayoutResponse } from './protocol';

const elk = new ELK() as unknown as ElkLike;
const scope = self as unknown as { onmessage: ((e: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(message: LayoutResponse): void };

scope.onmessage = (event: MessageEvent<LayoutRequest>): void => {
  const { id, graph, grouping, engine } = event.data;
  layoutGraph(graph, grouping, elk, engine ?? 'auto').then(
    (result) => scope.postMessage({ id, ok: true, result }),
    (error: unknown) => scope.postMessage({ id, ok: false, message: error instanceof Error ? error.message : String(error) }),
  );
};
