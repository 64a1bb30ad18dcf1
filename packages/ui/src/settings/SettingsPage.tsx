import { useMemo, useState } from "react";
import { Button } from "../components/Button";
import { ErrorBox } from "../components/ErrorBox";
import { PageHeader } from "../components/Shell";
import { Loading } from "../components/Status";
import { useApi } from "../context";
import { formatTime, useData } from "../data";
import { resources, type Readiness, type RetentionConfig } from "../resources";
import { errorFrom } from "../landing/upload";

/** What each retention setting does (the reaper applies every one of them). */
const RETENTION_HELP: Record<string, string> = {
  runs_max_per_pipeline: "Runs kept per pipeline (older ones are pruned)",
  runs_max_age_days: "Runs older than this are pruned (days)",
  logs_max_age_days: "Run logs older than this are deleted (days)",
  quality_results_max_per_test: "Quality results kept per test",
  soft_delete_purge_days: "Deleted pipelines are purged after (days)",
  stuck_run_timeout_minutes: "A pending or running run older than this is failed (minutes)",
  audit_log_max_age_days: "Audit entries kept (days)",
  orphan_branch_max_age_hours: "Leftover run branches dropped after (hours)",
  reaper_interval_minutes: "The reaper runs every (minutes)",
  iceberg_snapshot_max_age_days: "Iceberg snapshots expire after (days)",
  iceberg_orphan_file_max_age_days: "Unreferenced data files are deleted after (days)",
};

/** Backends in use, readiness, the retention settings and the reaper. */
export function SettingsPage() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const features = useData(["features"], () => res.features());
  // /health/ready answers 503 with the failing checks: read the body either way
  const ready = useData(["ready"], async (): Promise<Readiness> => {
    const r = await fetch(api.http.url("/rat/api/v1/health/ready"), { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body: unknown = await r.json().catch(() => undefined);
    if (typeof body === "object" && body !== null && "checks" in body) return body as Readiness;
    throw errorFrom(r.status, r.statusText, body);
  });
  const f = features.data;
  return (
    <div className="rat-page">
      <PageHeader title="Settings" />
      <section aria-labelledby="backends-h">
        <h2 id="backends-h">Backends in use</h2>
        {features.error && <ErrorBox error={features.error} title="Could not read the features" />}
        {!f && !features.error && <Loading what="Loading" />}
        {f && (
          <table className="rat-table" aria-label="Backends">
            <tbody>
              <tr><th scope="row">Version</th><td>{f.version} ({f.edition})</td></tr>
              <tr><th scope="row">Storage</th><td>{f.storage}</td></tr>
              <tr><th scope="row">Iceberg catalog</th><td>{f.catalog}</td></tr>
              <tr><th scope="row">Executor</th><td>{f.executor.type}, {f.executor.concurrency} concurrent runs</td></tr>
              <tr><th scope="row">Scheduler</th><td>{f.scheduler ? "running in this server" : "off"}</td></tr>
            </tbody>
          </table>
        )}
        {ready.error && <ErrorBox error={ready.error} title="Could not read the readiness" />}
        {ready.data && (
          <table className="rat-table" aria-label="Readiness checks">
            <caption>Readiness: {ready.data.status === "ready" ? "ready" : "NOT ready"}</caption>
            <tbody>
              {Object.entries(ready.data.checks).map(([k, v]) => (
                <tr key={k}><th scope="row">{k}</th><td className={v === "ok" ? "rat-status-success" : "rat-status-failed"}>{v}</td></tr>
              ))}
            </tbody>
          </table>
        )}
        <Button onClick={() => { void features.mutate(); void ready.mutate(); }}>Refresh</Button>
      </section>
      <Retention />
      <Reaper />
    </div>
  );
}

function Retention() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const config = useData(["retention"], () => res.retentionConfig());
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const current = config.data ?? {};
  const changed: RetentionConfig = {};
  for (const [k, v] of Object.entries(edits)) if (String(current[k]) !== v) changed[k] = Number(v);
  const save = async (): Promise<void> => {
    setError(null);
    setSaved(false);
    try {
      await config.mutate(await res.setRetentionConfig(changed), { revalidate: false });
      setEdits({});
      setSaved(true);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form aria-labelledby="retention-h" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <h2 id="retention-h">Retention</h2>
      {config.error && <ErrorBox error={config.error} title="Could not read the retention settings" />}
      {config.data && (
        <table className="rat-table" aria-label="Retention settings">
          <tbody>
            {Object.keys(current).sort().map((k) => (
              <tr key={k}>
                <th scope="row"><label htmlFor={`ret-${k}`}>{k}</label></th>
                <td>
                  <input id={`ret-${k}`} className="rat-input" type="number" min={0} step={1} value={edits[k] ?? String(current[k])}
                    onChange={(e) => { setEdits({ ...edits, [k]: e.target.value }); setSaved(false); }} />
                </td>
                <td className="rat-muted">{RETENTION_HELP[k] ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="rat-toolbar">
        <Button type="submit" variant="primary" disabled={Object.keys(changed).length === 0}>Save retention</Button>
        {saved && <span role="status" className="rat-muted">Saved</span>}
      </div>
      <ErrorBox error={error} title="Could not save the retention settings" />
    </form>
  );
}

function Reaper() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const status = useData(["reaper"], () => res.reaperStatus());
  const [result, setResult] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const s = status.data;
  return (
    <section aria-labelledby="reaper-h">
      <h2 id="reaper-h">Reaper</h2>
      {status.error && <ErrorBox error={status.error} title="Could not read the reaper status" />}
      {s && (
        <>
          <p>Last run: {formatTime(s.last_run_at)} · runs every {s.interval_minutes} minutes</p>
          <Stats title="Last run pruned" stats={s.stats} />
          {Object.keys(s.errors ?? {}).length > 0 && <Stats title="Errors of the last run" stats={s.errors} />}
        </>
      )}
      <Button variant="primary" disabled={busy} onClick={() => {
        setBusy(true);
        setError(null);
        res.runReaper().then((r) => { setResult(r); void status.mutate(); }, setError).finally(() => setBusy(false));
      }}>{busy ? "Running…" : "Run now"}</Button>
      {result && <Stats title="This run" stats={result} />}
      <ErrorBox error={error} title="The reaper failed" />
    </section>
  );
}

function Stats({ title, stats }: { title: string; stats: Record<string, unknown> }) {
  const entries = Object.entries(stats ?? {});
  return (
    <table className="rat-table" aria-label={title}>
      <caption>{title}</caption>
      <tbody>
        {entries.map(([k, v]) => <tr key={k}><th scope="row">{k}</th><td>{typeof v === "object" ? JSON.stringify(v) : String(v)}</td></tr>)}
        {entries.length === 0 && <tr><td className="rat-muted">nothing</td></tr>}
      </tbody>
    </table>
  );
}
