import { useEffect, useState } from "react";
import { useNavigate } from "react-router-dom";
import type { Pipeline, PipelineKey } from "@rat/client";
import { useApi } from "../../context";
import { toApiError, useData } from "../../data";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { ErrorBox } from "../../components/ErrorBox";
import { TextField } from "../../components/Field";
import { CodeEditor } from "../../editor/CodeEditor";

/** Description, config.yaml, per-pipeline retention overrides, delete. */
export function SettingsTab({ pipeline, onChanged }: { pipeline: Pipeline; onChanged: () => void }) {
  const api = useApi();
  const navigate = useNavigate();
  const key: PipelineKey = { ns: pipeline.namespace, layer: pipeline.layer, name: pipeline.name };
  const [description, setDescription] = useState(pipeline.description);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");
  const configPath = `${pipeline.s3_path}config.yaml`;
  const config = useData(["config", configPath], () => api.readFile(configPath).then((f) => f.content).catch(() => ""));
  const [configText, setConfigText] = useState<string | null>(null);
  const retention = useData(["retention", key.ns, key.layer, key.name], () => api.retention(key));
  const [overrides, setOverrides] = useState<Record<string, string>>({});
  const [confirmDelete, setConfirmDelete] = useState(false);

  useEffect(() => {
    const o = retention.data?.overrides ?? {};
    setOverrides(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)])));
  }, [retention.data]);

  const run = async (fn: () => Promise<unknown>, done: string): Promise<void> => {
    setError(null);
    setNote("");
    try {
      await fn();
      setNote(done);
      onChanged();
    } catch (e) {
      setError(toApiError(e));
    }
  };

  return (
    <div className="rat-page">
      <ErrorBox error={error} title="Not saved" />
      {note && (
        <p className="rat-notice" role="status">
          {note}
        </p>
      )}
      <section className="rat-card" aria-labelledby="h-desc">
        <h2 id="h-desc">Description</h2>
        <div className="rat-row">
          <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} style={{ minWidth: 420 }} />
          <Button onClick={() => void run(() => api.updatePipeline(key, { description }), "description saved")}>Save description</Button>
        </div>
      </section>
      <section className="rat-card" aria-labelledby="h-config">
        <h2 id="h-config">config.yaml</h2>
        <p className="rat-muted">Merge strategy, unique key, partitioning, retries… (annotations in the SQL override it).</p>
        <CodeEditor value={configText ?? config.data ?? ""} onChange={setConfigText} language="yaml" label="config.yaml" height={160} />
        <Button onClick={() => void run(() => api.writeFile(configPath, configText ?? config.data ?? ""), "config.yaml saved (publish to use it)")}>
          Save config.yaml
        </Button>
      </section>
      <section className="rat-card" aria-labelledby="h-ret">
        <h2 id="h-ret">Retention</h2>
        <ErrorBox error={retention.error} title="Could not load retention" />
        <table className="rat-table">
          <thead>
            <tr>
              <th scope="col">setting</th>
              <th scope="col">system</th>
              <th scope="col">override</th>
              <th scope="col">effective</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(retention.data?.system ?? {}).map(([k, v]) => (
              <tr key={k}>
                <td>{k}</td>
                <td>{v}</td>
                <td>
                  <input
                    className="rat-input"
                    aria-label={`Override ${k}`}
                    inputMode="numeric"
                    value={overrides[k] ?? ""}
                    placeholder="—"
                    onChange={(e) => setOverrides({ ...overrides, [k]: e.target.value })}
                  />
                </td>
                <td>{(retention.data?.effective as Record<string, number> | undefined)?.[k]}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Button
          onClick={() =>
            void run(async () => {
              const body: Record<string, number | null> = {};
              for (const k of Object.keys(retention.data?.system ?? {})) {
                const raw = (overrides[k] ?? "").trim();
                body[k] = raw === "" ? null : Number(raw);
              }
              await api.setRetention(key, body);
              await retention.mutate();
            }, "retention saved")
          }
        >
          Save retention
        </Button>
      </section>
      <section className="rat-card" aria-labelledby="h-danger">
        <h2 id="h-danger">Delete</h2>
        <Button variant="danger" onClick={() => setConfirmDelete(true)}>
          Delete pipeline
        </Button>
      </section>
      <Dialog
        title={`Delete ${pipeline.namespace}.${pipeline.layer}.${pipeline.name}?`}
        open={confirmDelete}
        onClose={() => setConfirmDelete(false)}
        actions={
          <>
            <Button onClick={() => setConfirmDelete(false)}>Cancel</Button>
            <Button
              variant="danger"
              onClick={() =>
                void (async () => {
                  try {
                    await api.deletePipeline(key);
                    navigate("/pipelines");
                  } catch (e) {
                    setError(toApiError(e));
                    setConfirmDelete(false);
                  }
                })()
              }
            >
              Delete
            </Button>
          </>
        }
      >
        <p>The pipeline is soft-deleted (purged after the retention period); its table stays.</p>
      </Dialog>
    </div>
  );
}
