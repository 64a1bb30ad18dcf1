import { Link, useSearchParams } from "react-router-dom";
import { RUN_STATUSES, type Run } from "@rat/client";
import { useApi } from "../context";
import { formatDuration, formatTime, useData, usePageVisible } from "../data";
import { DataGrid, type GridColumn } from "../components/DataGrid";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { StatusBadge } from "../components/Status";
import { pipelinePath } from "./Pipelines";

export const RUNS_REFRESH_MS = 5000;

/** Runs, newest first: status, trigger, duration and end time. Refreshes every 5 s while the tab is visible
 * (hidden tabs do not poll). */
export function Runs({ refreshMs = RUNS_REFRESH_MS }: { refreshMs?: number }) {
  const api = useApi();
  const visible = usePageVisible();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const namespace = params.get("namespace") ?? "";
  const pipeline = params.get("pipeline") ?? "";
  const runs = useData(
    ["runs", status, namespace, pipeline],
    () => api.listRuns({ status, namespace, pipeline, limit: 200, sort: "-created_at" }),
    { refreshInterval: visible ? refreshMs : 0, keepPreviousData: true },
  );
  const set = (k: string, v: string): void => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };
  const columns: GridColumn<Run>[] = [
    { id: "id", header: "run", width: 110, cell: (r) => <Link to={`/runs/${r.id}`}>{r.id.slice(0, 8)}</Link> },
    {
      id: "pipeline",
      header: "pipeline",
      width: 280,
      value: (r) => `${r.namespace}.${r.layer}.${r.name}`,
      cell: (r) => <Link to={pipelinePath(r)}>{`${r.namespace}.${r.layer}.${r.name}`}</Link>,
    },
    { id: "status", header: "status", width: 110, cell: (r) => <StatusBadge status={r.status} /> },
    { id: "trigger", header: "trigger", width: 130 },
    { id: "created_at", header: "queued", width: 180, cell: (r) => formatTime(r.created_at) },
    { id: "duration_ms", header: "duration", width: 100, type: "int", cell: (r) => formatDuration(r.duration_ms) },
    { id: "finished_at", header: "ended", width: 180, cell: (r) => formatTime(r.finished_at) },
    { id: "rows_written", header: "rows", width: 90, type: "bigint" },
    { id: "error", header: "error", width: 360, cell: (r) => <span className="rat-status-failed">{r.error ?? ""}</span> },
  ];
  return (
    <div className="rat-page">
      <PageHeader title="Runs">
        <span className="rat-muted" aria-live="polite">
          {visible ? `auto-refresh every ${refreshMs / 1000} s` : "paused while hidden"}
          {runs.data ? ` · ${runs.data.total} runs` : ""}
        </span>
      </PageHeader>
      <div className="rat-toolbar" role="search">
        <SelectField label="Status" value={status} onChange={(e) => set("status", e.target.value)}>
          <option value="">any status</option>
          {RUN_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
        <TextField label="Namespace" value={namespace} onChange={(e) => set("namespace", e.target.value)} />
        <TextField label="Pipeline name" value={pipeline} onChange={(e) => set("pipeline", e.target.value)} />
      </div>
      <ErrorBox error={runs.error} title="Could not list runs" />
      <DataGrid label="Runs" rows={runs.data?.runs ?? []} columns={columns} rowKey={(r) => r.id} height="calc(100vh - 190px)" emptyText={runs.isLoading ? "Loading…" : "No run."} />
    </div>
  );
}
