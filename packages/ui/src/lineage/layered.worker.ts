/// <reference lib="webworker" />
/**
 * The layered layout for large graphs in a worker of its own: a few kilobytes, so a 1,000-node lineage never
 * waits for ELK's 1.5 MB to download and compile (that start-up alone took longer than the layout).
 */
import { fastLayout } from './fastLayout';
import type { LayoutRequest, LayoutResponse } from './protocol';

const scope = self as unknown as { onmessage: ((e: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(message: LayoutResponse): void };

scope.onmessage = (event: MessageEvent<LayoutRequest>): void => {
  const { id, graph, grouping } = event.data;
  try {
    scope.postMessage({ id, ok: true, result: fastLayout(graph, grouping) });
  } catch (error) {
    scope.postMessage({ id, ok: false, message: error instanceof Error ? error.message : String(error) });
  }
};
