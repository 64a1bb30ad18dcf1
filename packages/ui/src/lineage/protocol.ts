import type { Grouping, LayoutResult, LineageGraph } from './graph';
import type { Engine } from './layout';

export interface LayoutRequest {
  id: number;
  graph: LineageGraph;
  grouping: Grouping;
  engine?: Engine;
}

export type LayoutResponse =
  | { id: number; ok: true; result: LayoutResult }
  | { id: number; ok: false; message: string };

/** What the client needs of a Worker (a real one in the browser; tests pass an in-thread stand-in). */
export interface WorkerLike {
  postMessage(message: LayoutRequest): void;
  onmessage: ((event: MessageEvent<LayoutResponse>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}
