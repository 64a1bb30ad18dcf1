import type { LogLine, RunStatus } from "./models";

export interface LogStreamHandlers {
  onLog: (line: LogLine) => void;
  onStatus?: (status: { status: RunStatus; error: string | null; rows_written: number | null }) => void;
  /** Connection state for the UI ("live", "reconnecting in 4 s", "gave up"). */
  onState?: (state: StreamState) => void;
}

export type StreamState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "reconnecting"; attempt: number; delayMs: number }
  | { kind: "closed"; reason: "ended" | "gave-up" | "stopped" };

export interface LogStreamOptions {
  /** Builds the stream URL for "after this sequence number". */
  url: (after: number) => string;
  after?: number;
  maxAttempts?: number;
  /** Injected for tests. */
  EventSourceImpl?: typeof EventSource;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** Backoff 1 s, 2 s, 4 s ... capped at 30 s. */
export function backoff(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** Follow a run's log over SSE. The login cookie authenticates (EventSource cannot send headers). A dropped
 * connection reconnects with `?after=<last seq seen>`, so no line is lost or shown twice; the stream ends for
 * good on the server's `status` event. Returns a function that closes it. */
export function followRunLog(options: LogStreamOptions, handlers: LogStreamHandlers): () => void {
  const ES = options.EventSourceImpl ?? globalThis.EventSource;
  const setTimer = options.setTimer ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
  const maxAttempts = options.maxAttempts ?? 10;
  let last = options.after ?? 0;
  let attempt = 0;
  let source: EventSource | undefined;
  let timer: unknown;
  let done = false;

  const close = (reason: "ended" | "gave-up" | "stopped"): void => {
    done = true;
    source?.close();
    source = undefined;
    if (timer !== undefined) clearTimer(timer);
    handlers.onState?.({ kind: "closed", reason });
  };

  const connect = (): void => {
    if (done) return;
    handlers.onState?.({ kind: "connecting" });
    const es = new ES(options.url(last), { withCredentials: true });
    source = es;
    es.addEventListener("open", () => {
      attempt = 0;
      handlers.onState?.({ kind: "live" });
    });
    es.addEventListener("log", (ev) => {
      const line = JSON.parse((ev as MessageEvent<string>).data) as LogLine;
      if (line.seq <= last) return; // a replay after reconnecting
      last = line.seq;
      handlers.onLog(line);
    });
    es.addEventListener("status", (ev) => {
      handlers.onStatus?.(JSON.parse((ev as MessageEvent<string>).data));
      close("ended");
    });
    es.addEventListener("error", () => {
      // Both a network drop and the server closing after its 30 min cap land here; EventSource would retry
      // from its own Last-Event-ID, but we control the backoff and the resume point.
      es.close();
      if (done) return;
      attempt += 1;
      if (attempt > maxAttempts) {
        close("gave-up");
        return;
      }
      const delayMs = backoff(attempt);
      handlers.onState?.({ kind: "reconnecting", attempt, delayMs });
      timer = setTimer(connect, delayMs);
    });
  };

  connect();
  return () => close("stopped");
}

/** The last sequence number delivered; exposed for tests and for resuming elsewhere. */
export type { LogLine };
