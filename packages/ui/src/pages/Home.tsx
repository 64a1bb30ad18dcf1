import { Link } from "react-router-dom";
import { LAYERS, type Run } from "@rat/client";
import { useApi } from "../context";
import { formatDuration, formatTime, useData, usePageVisible } from "../data";
import { ErrorBox } from "../components/ErrorBox";
import { PageHeader } from "../components/Shell";
import { LayerBadge, Loading, StatusBadge } from "../components/Status";

const DAY_MS = 24 * 3600 * 1000;

/** Dashboard: namespaces, pipelines per layer, runs of the last 24 h, recent runs and pipelines. */
export function Home() {
  const api = useApi();
  const visible = usePageVisible();
  const ns = useData("namespaces", () => api.listNamespaces());
  const pipelines = useData("pipelines:all", () => api.allPipelines());
  const since = new Date(Date.now() - DAY_MS).toISOString();
  const runs = useData(["runs:home"], () => api.listRuns({ started_after: since, limit: 200, sort: "-created_at" }), {
    refreshInterval: visible ? 10_000 : 0,
  });
  const recent: Run[] = (runs.data?.runs ?? []).slice(0, 10);
  const count = (s: string): number => (runs.data?.runs ?? []).filter((r) => r.status === s).length;
  const perNs = new Map<string, number>();
  for (const p of pipelines.data ?? []) perNs.set(p.namespace, (perNs.get(p.namespace) ?? 0) + 1);

  return (
    <div className="rat-page">
      <PageHeader title="RAT">
        <Link to="/pipelines?create=1" className="rat-btn primary">
          New pipeline
        </Link>
        <Link to="/query" className="rat-btn">
          Query
        </Link>
      </PageHeader>
      <ErrorBox error={ns.error ?? pipelines.error ?? runs.error} title="Could not load the dashboard" />
      <section aria-labelledby="h-counts">
        <h2 id="h-counts">Overview</h2>
        <div className="rat-cards">
          <div className="rat-card">
            <div className="rat-muted">namespaces</div>
            <div className="rat-stat" data-testid="count-namespaces">{ns.data?.total ?? "…"}</div>
          </div>
          {LAYERS.map((l) => (
            <div className="rat-card" key={l}>
              <div className="rat-muted">
                <LayerBadge layer={l} /> pipelines
              </div>
              <div className="rat-stat">{pipelines.data ? pipelines.data.filter((p) => p.layer === l).length : "…"}</div>
            </div>
          ))}
          <div className="rat-card">
            <div className="rat-muted">runs in the last 24 h</div>
            <div className="rat-stat">{runs.data?.total ?? "…"}</div>
            <div>
              <span className="rat-status-success">{count("success")} ok</span> ·{" "}
              <span className="rat-status-failed">{count("failed")} failed</span>
            </div>
          </div>
        </div>
      </section>
      <section aria-labelledby="h-ns">
        <h2 id="h-ns">Namespaces</h2>
        {ns.isLoading ? (
          <Loading />
        ) : (ns.data?.namespaces.length ?? 0) === 0 ? (
          <p className="rat-muted">
            No namespace yet. <Link to="/pipelines?create=1">Create a pipeline</Link> to start one.
          </p>
        ) : (
          <table className="rat-table">
            <thead>
              <tr>
                <th scope="col">namespace</th>
                <th scope="col">pipelines</th>
                <th scope="col">description</th>
              </tr>
            </thead>
            <tbody>
              {ns.data?.namespaces.map((n) => (
                <tr key={n.name}>
                  <td>
                    <Link to={`/pipelines?namespace=${encodeURIComponent(n.name)}`}>{n.name}</Link>
                  </td>
                  <td>{perNs.get(n.name) ?? 0}</td>
                  <td className="rat-muted">{n.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="h-runs">
        <h2 id="h-runs">Recent runs</h2>
        {recent.length === 0 ? (
          <p className="rat-muted">No run in the last 24 hours.</p>
        ) : (
          <table className="rat-table">
            <thead>
              <tr>
                <th scope="col">run</th>
                <th scope="col">pipeline</th>
                <th scope="col">status</th>
                <th scope="col">duration</th>
                <th scope="col">ended</th>
              </tr>
            </thead>
            <tbody>
              {recent.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/runs/${r.id}`}>{r.id.slice(0, 8)}</Link>
                  </td>
                  <td>
                    <Link to={`/pipelines/${r.namespace}/${r.layer}/${r.name}`}>{`${r.namespace}.${r.layer}.${r.name}`}</Link>
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>{formatDuration(r.duration_ms)}</td>
                  <td>{formatTime(r.finished_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="h-recent-p">
        <h2 id="h-recent-p">Recently changed pipelines</h2>
        <ul>
          {[...(pipelines.data ?? [])]
            .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
            .slice(0, 8)
            .map((p) => (
              <li key={p.id}>
                <Link to={`/pipelines/${p.namespace}/${p.layer}/${p.name}`}>{`${p.namespace}.${p.layer}.${p.name}`}</Link>{" "}
                <span className="rat-muted">{formatTime(p.updated_at)}</span>
              </li>
            ))}
        </ul>
      </section>
    </div>
  );
}
