import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { followRunLog, type LogLine, type QualityResult, type Run, type StreamState } from "@rat/client";
import { useApi } from "../context";
import { formatDuration, formatTime, toApiError, useData } from "../data";
import { Button } from "../components/Button";
import { ErrorBox } from "../components/ErrorBox";
import { LogViewer } from "../components/LogViewer";
import { PageHeader } from "../components/Shell";
import { Loading, StatusBadge } from "../components/Status";
import { pipelinePath } from "./Pipelines";

const LIVE = new Set(["pending", "running"]);
const PHASE_COLOURS = ["var(--rat-accent)", "var(--rat-accent-2)", "var(--rat-info)", "var(--rat-warn)"];

/** Follow a run's log over SSE, batching updates (10k lines arrive in a few frames, not 10k renders). */
export function useRunLog(runId: string): { lines: LogLine[]; state: StreamState; ended: string | null } {
  const api = useApi();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<StreamState>({ kind: "connecting" });
  const [ended, setEnded] = useState<string | null>(null);
  const buffer = useRef<LogLine[]>([]);
  useEffect(() => {
    setLines([]);
    setEnded(null);
    buffer.current = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      timer = undefined;
      const batch = buffer.current;
      buffer.current = [];
      if (batch.length) setLines((prev) => prev.concat(batch));
    };
    const stop = followRunLog(
      { url: (after) => api.runLogsStreamUrl(runId, after) },
      {
        onLog: (l) => {
          buffer.current.push(l);
          if (timer === undefined) timer = setTimeout(flush, 50);
        },
        onStatus: (s) => {
          flush();
          setEnded(s.status);
        },
        onState: setState,
      },
    );
    return () => {
      stop();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api, runId]);
  return { lines, state, ended };
}

function streamText(s: StreamState): string {
  switch (s.kind) {
    case "connecting":
      return "connecting…";
    case "live":
      return "live";
    case "reconnecting":
      return `reconnecting in ${Math.round(s.delayMs / 1000)} s (attempt ${s.attempt})`;
    case "closed":
      return s.reason === "ended" ? "complete" : s.reason === "gave-up" ? "disconnected (gave up reconnecting)" : "closed";
  }
}

export function PhaseTimeline({ run }: { run: Run }) {
  const total = run.phases.reduce((a, p) => a + (p.duration_ms ?? 0), 0) || 1;
  if (!run.phases.length) return <p className="rat-muted">No phase recorded yet.</p>;
  return (
    <div>
      <div className="rat-timeline" role="img" aria-label={`phases: ${run.phases.map((p) => `${p.name} ${formatDuration(p.duration_ms)}`).join(", ")}`}>
        {run.phases.map((p, i) => (
          <div key={p.name} style={{ flexGrow: Math.max(p.duration_ms ?? 0, total * 0.04), background: PHASE_COLOURS[i % PHASE_COLOURS.length] }} title={`${p.name}: ${formatDuration(p.duration_ms)}`}>
            {p.name}
          </div>
        ))}
      </div>
      <table className="rat-table" style={{ marginTop: 6 }}>
        <thead>
          <tr>
            <th scope="col">phase</th>
            <th scope="col">duration</th>
            <th scope="col">details</th>
          </tr>
        </thead>
        <tbody>
          {run.phases.map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td>
              <td>{formatDuration(p.duration_ms)}</td>
              <td className="rat-muted">{p.metadata && Object.keys(p.metadata).length ? JSON.stringify(p.metadata) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function QualityResults({ results }: { results: readonly QualityResult[] }) {
  const [open, setOpen] = useState<string | null>(null);
  if (!results.length) return <p className="rat-muted">No quality test ran.</p>;
  return (
    <table className="rat-table" aria-label="Quality results">
      <thead>
        <tr>
          <th scope="col">test</th>
          <th scope="col">result</th>
          <th scope="col">severity</th>
          <th scope="col">violations</th>
          <th scope="col">duration</th>
          <th scope="col">details</th>
        </tr>
      </thead>
      <tbody>
        {results.map((r) => (
          <tr key={r.test} data-testid={`quality-${r.test}`}>
            <td>{r.test}</td>
            <td>
              <StatusBadge status={r.status} />
            </td>
            <td>{r.severity}</td>
            <td>{r.violations}</td>
            <td>{formatDuration(r.duration_ms)}</td>
            <td>
              {r.error && <pre className="rat-status-failed">{r.error}</pre>}
              {"description" in r && r.description && <div className="rat-muted">{r.description}</div>}
              {r.sample.length > 0 && (
                <>
                  <Button variant="ghost" aria-expanded={open === r.test} onClick={() => setOpen(open === r.test ? null : r.test)}>
                    {open === r.test ? "hide sample" : `show ${r.sample.length} sample rows`}
                  </Button>
                  {open === r.test && <pre>{r.sample.map((s) => JSON.stringify(s)).join("\n")}</pre>}
                </>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One run: status cards, live log (SSE, reconnects from the last sequence number), phases, quality, cancel. */
export function RunDetail() {
  const { id = "" } = useParams();
  const api = useApi();
  const log = useRunLog(id);
  const run = useData(["run", id], () => api.getRun(id), {
    refreshInterval: (r) => (r && !LIVE.has(r.status) ? 0 : 2000),
  });
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [cancelling, setCancelling] = useState(false);
  const { mutate } = run;
  useEffect(() => {
    if (log.ended) void mutate();
  }, [log.ended, mutate]);
  const r = run.data;
  const status = log.ended ?? r?.status;

  const cancel = async (): Promise<void> => {
    setCancelling(true);
    setCancelError(null);
    try {
      await api.cancelRun(id);
      await mutate();
    } catch (e) {
      setCancelError(toApiError(e));
    } finally {
      setCancelling(false);
    }
  };

  return (
    <div className="rat-page">
      <PageHeader
        title={
          <>
            Run <code>{id.slice(0, 8)}</code> <StatusBadge status={status} />
          </>
        }
      >
        {r && (
          <Link to={pipelinePath(r)} className="rat-btn">
            {`${r.namespace}.${r.layer}.${r.name}`}
          </Link>
        )}
        {status && LIVE.has(status) && (
          <Button variant="danger" onClick={() => void cancel()} disabled={cancelling}>
            Cancel run
          </Button>
        )}
      </PageHeader>
      <ErrorBox error={run.error} title="Could not load the run" />
      <ErrorBox error={cancelError} title="Not cancelled" />
      {!r && !run.error && <Loading />}
      {r && (
        <>
          <div className="rat-cards">
            <div className="rat-card">
              <div className="rat-muted">status</div>
              <div className="rat-stat" data-testid="run-status">{status}</div>
            </div>
            <div className="rat-card">
              <div className="rat-muted">duration</div>
              <div className="rat-stat">{formatDuration(r.duration_ms)}</div>
            </div>
            <div className="rat-card">
              <div className="rat-muted">rows written</div>
              <div className="rat-stat">{r.rows_written ?? "—"}</div>
            </div>
            <div className="rat-card">
              <div className="rat-muted">trigger · version · attempt</div>
              <div>
                {r.trigger} · v{r.version} · #{r.attempt}
              </div>
              <div className="rat-muted">
                started {formatTime(r.started_at)} · ended {formatTime(r.finished_at)}
              </div>
            </div>
          </div>
          {r.error && (
            <div className="rat-error" role="alert">
              <strong>Run {r.status}: </strong>
              <pre style={{ display: "inline" }}>{r.error}</pre>
            </div>
          )}
          <section aria-labelledby="h-phases">
            <h2 id="h-phases">Phases</h2>
            <PhaseTimeline run={r} />
          </section>
          <section aria-labelledby="h-quality">
            <h2 id="h-quality">Quality</h2>
            <QualityResults results={r.quality ?? []} />
          </section>
        </>
      )}
      <section aria-labelledby="h-log">
        <h2 id="h-log">
          Log <span className="rat-muted" data-testid="stream-state">({streamText(log.state)})</span>
        </h2>
        <LogViewer lines={log.lines} height={460} />
      </section>
    </div>
  );
}
