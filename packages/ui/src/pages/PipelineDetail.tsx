import { useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import type { PipelineKey } from "@rat/client";
import { useApi } from "../context";
import { formatDuration, formatTime, toApiError, useData } from "../data";
import { Button } from "../components/Button";
import { ErrorBox } from "../components/ErrorBox";
import { PageHeader } from "../components/Shell";
import { LayerBadge, Loading, StatusBadge } from "../components/Status";
import { TabPanel, Tabs } from "../components/Tabs";
import { CodeTab, RollbackControl } from "./pipeline/CodeTab";
import { QualityTab } from "./pipeline/QualityTab";
import { SettingsTab } from "./pipeline/SettingsTab";

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "code", label: "Code" },
  { id: "quality", label: "Quality" },
  { id: "settings", label: "Settings" },
] as const;
type Tab = (typeof TABS)[number]["id"];

/** One pipeline at `/pipelines/:ns/:layer/:name?tab=overview|code|quality|settings`. */
export function PipelineDetail() {
  const { ns = "", layer = "", name = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const tabParam = params.get("tab");
  const tab: Tab = TABS.some((t) => t.id === tabParam) ? (tabParam as Tab) : "overview";
  const api = useApi();
  const navigate = useNavigate();
  const key: PipelineKey = { ns, layer, name };
  const pipeline = useData(["pipeline", ns, layer, name], () => api.getPipeline(key));
  const [runError, setRunError] = useState<unknown>(null);
  const p = pipeline.data;
  const refresh = (): void => void pipeline.mutate();

  const run = async (): Promise<void> => {
    setRunError(null);
    try {
      const started = await api.startRun(key);
      navigate(`/runs/${started.run_id}`);
    } catch (e) {
      setRunError(toApiError(e));
    }
  };

  return (
    <div className="rat-page">
      <PageHeader
        title={
          <>
            <Link to="/pipelines" className="rat-crumbs">
              pipelines
            </Link>{" "}
            / {`${ns}.${layer}.${name}`}
          </>
        }
      >
        {p && <LayerBadge layer={p.layer} />}
        {p && <span className="rat-badge">{p.published_version ? `v${p.published_version}` : "unpublished"}</span>}
        {p?.draft_dirty && <span className="rat-badge rat-status-warn">unpublished changes</span>}
        <Button variant="primary" onClick={() => void run()} disabled={!p?.published_version} title={p?.published_version ? "Run the published version" : "Publish first"}>
          Run
        </Button>
      </PageHeader>
      <ErrorBox error={pipeline.error} title="Could not load the pipeline" />
      <ErrorBox error={runError} title="Run not started" />
      <Tabs
        tabs={TABS}
        value={tab}
        label="Pipeline"
        idPrefix="pipeline"
        onChange={(t) => {
          const next = new URLSearchParams(params);
          next.set("tab", t);
          setParams(next, { replace: true });
        }}
      />
      <TabPanel idPrefix="pipeline" tab={tab}>
        {!p ? (
          !pipeline.error && <Loading />
        ) : tab === "overview" ? (
          <Overview pkey={key} onChanged={refresh} />
        ) : tab === "code" ? (
          <CodeTab pipeline={p} onChanged={refresh} />
        ) : tab === "quality" ? (
          <QualityTab pipeline={p} />
        ) : (
          <SettingsTab pipeline={p} onChanged={refresh} />
        )}
      </TabPanel>
    </div>
  );
}

function Overview({ pkey, onChanged }: { pkey: PipelineKey; onChanged: () => void }) {
  const api = useApi();
  const pipeline = useData(["pipeline", pkey.ns, pkey.layer, pkey.name], () => api.getPipeline(pkey));
  const runs = useData(["runs", "pipeline", pkey.ns, pkey.layer, pkey.name], () =>
    api.listRuns({ namespace: pkey.ns, layer: pkey.layer, pipeline: pkey.name, limit: 10, sort: "-created_at" }),
  );
  const p = pipeline.data;
  if (!p) return null;
  return (
    <div className="rat-page">
      <table className="rat-table" aria-label="Pipeline metadata" style={{ maxWidth: 720 }}>
        <tbody>
          {[
            ["type", p.type],
            ["description", p.description || "—"],
            ["owner", p.owner ?? "—"],
            ["published", p.published_version ? `v${p.published_version} at ${formatTime(p.published_at)}` : "never"],
            ["draft", p.draft_dirty ? "has unpublished changes" : "same as published"],
            ["created", formatTime(p.created_at)],
            ["updated", formatTime(p.updated_at)],
            ["files", p.s3_path],
          ].map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <section aria-labelledby="h-p-runs">
        <h2 id="h-p-runs">Recent runs</h2>
        <ErrorBox error={runs.error} title="Could not list runs" />
        <table className="rat-table">
          <thead>
            <tr>
              <th scope="col">run</th>
              <th scope="col">status</th>
              <th scope="col">trigger</th>
              <th scope="col">duration</th>
              <th scope="col">ended</th>
            </tr>
          </thead>
          <tbody>
            {runs.data?.runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/runs/${r.id}`}>{r.id.slice(0, 8)}</Link>
                </td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{r.trigger}</td>
                <td>{formatDuration(r.duration_ms)}</td>
                <td>{formatTime(r.finished_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {p.published_version ? <RollbackControl pkey={pkey} current={p.published_version} onDone={onChanged} /> : null}
    </div>
  );
}
