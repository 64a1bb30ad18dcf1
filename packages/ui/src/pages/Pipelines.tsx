import { useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { LAYERS, type Layer, type Pipeline } from "@rat/client";
import { useApi } from "../context";
import { formatTime, useData } from "../data";
import { Button } from "../components/Button";
import { DataGrid, type GridColumn } from "../components/DataGrid";
import { Dialog } from "../components/Dialog";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { LayerBadge, StatusBadge } from "../components/Status";
import { STRATEGIES } from "../strategies";


export function pipelinePath(p: { namespace: string; layer: string; name: string }, tab?: string): string {
  const base = `/pipelines/${encodeURIComponent(p.namespace)}/${p.layer}/${encodeURIComponent(p.name)}`;
  return tab ? `${base}?tab=${tab}` : base;
}

/** Every pipeline (virtualized), filtered by namespace, layer and a search over names and descriptions;
 * create a namespace or a pipeline from here. */
export function Pipelines() {
  const api = useApi();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const namespace = params.get("namespace") ?? "";
  const layer = params.get("layer") ?? "";
  const search = params.get("q") ?? "";
  const pipelines = useData("pipelines:all", () => api.allPipelines());
  const namespaces = useData("namespaces", () => api.listNamespaces());
  const [dialog, setDialog] = useState<"pipeline" | "namespace" | null>(params.get("create") ? "pipeline" : null);

  const set = (key: string, value: string): void => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    next.delete("create");
    setParams(next, { replace: true });
  };

  const rows = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (pipelines.data ?? []).filter(
      (p) =>
        (!namespace || p.namespace === namespace) &&
        (!layer || p.layer === layer) &&
        (!q || `${p.namespace}.${p.layer}.${p.name} ${p.description}`.toLowerCase().includes(q)),
    );
  }, [pipelines.data, namespace, layer, search]);

  const columns: GridColumn<Pipeline>[] = [
    {
      id: "name",
      header: "pipeline",
      width: 280,
      value: (p) => `${p.namespace}.${p.layer}.${p.name}`,
      cell: (p) => <Link to={pipelinePath(p)}>{`${p.namespace}.${p.layer}.${p.name}`}</Link>,
    },
    { id: "layer", header: "layer", width: 90, cell: (p) => <LayerBadge layer={p.layer} /> },
    { id: "type", header: "type", width: 70 },
    {
      id: "published_version",
      header: "version",
      width: 110,
      value: (p) => p.published_version ?? 0,
      cell: (p) => (
        <>
          {p.published_version ? `v${p.published_version}` : "unpublished"}
          {p.draft_dirty && <span className="rat-badge rat-status-warn" style={{ marginLeft: 6 }}>draft</span>}
        </>
      ),
    },
    {
      id: "last_run",
      header: "last run",
      width: 120,
      value: (p) => p.last_run?.status ?? "",
      cell: (p) =>
        p.last_run ? (
          <Link to={`/runs/${p.last_run.id}`} aria-label={`last run: ${p.last_run.status}`}>
            <StatusBadge status={p.last_run.status} />
          </Link>
        ) : (
          <span className="rat-muted">never</span>
        ),
    },
    { id: "updated_at", header: "updated", width: 180, cell: (p) => formatTime(p.updated_at), value: (p) => p.updated_at },
    { id: "description", header: "description", width: 320 },
  ];

  return (
    <div className="rat-page">
      <PageHeader title="Pipelines">
        <Button onClick={() => setDialog("namespace")}>New namespace</Button>
        <Button variant="primary" onClick={() => setDialog("pipeline")}>
          New pipeline
        </Button>
      </PageHeader>
      <div className="rat-toolbar" role="search">
        <SelectField label="Namespace" value={namespace} onChange={(e) => set("namespace", e.target.value)}>
          <option value="">all namespaces</option>
          {namespaces.data?.namespaces.map((n) => (
            <option key={n.name} value={n.name}>
              {n.name}
            </option>
          ))}
        </SelectField>
        <SelectField label="Layer" value={layer} onChange={(e) => set("layer", e.target.value)}>
          <option value="">all layers</option>
          {LAYERS.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </SelectField>
        <TextField label="Search" type="search" value={search} placeholder="name or description" onChange={(e) => set("q", e.target.value)} />
        <span className="rat-muted" aria-live="polite">
          {pipelines.data ? `${rows.length} of ${pipelines.data.length}` : ""}
        </span>
      </div>
      <ErrorBox error={pipelines.error} title="Could not list pipelines" />
      <DataGrid
        label="Pipelines"
        rows={rows}
        columns={columns}
        rowKey={(p) => p.id}
        height="calc(100vh - 190px)"
        emptyText={pipelines.isLoading ? "Loading…" : "No pipeline matches."}
      />
      <CreateNamespaceDialog
        open={dialog === "namespace"}
        onClose={() => setDialog(null)}
        onCreated={(name) => {
          void namespaces.mutate();
          setDialog(null);
          set("namespace", name);
        }}
      />
      <CreatePipelineDialog
        open={dialog === "pipeline"}
        onClose={() => setDialog(null)}
        namespaces={namespaces.data?.namespaces.map((n) => n.name) ?? []}
        defaultNamespace={namespace}
        onCreated={(p) => {
          void pipelines.mutate();
          navigate(pipelinePath(p, "code"));
        }}
      />
    </div>
  );
}

export function CreateNamespaceDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (name: string) => void }) {
  const api = useApi();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const ns = await api.createNamespace(name.trim(), description);
      setName("");
      setDescription("");
      onCreated(ns.name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="New namespace" open={open} onClose={onClose}>
      <form onSubmit={submit} className="rat-page" style={{ gap: 10 }}>
        <TextField label="Name" value={name} required onChange={(e) => setName(e.target.value)} pattern="[a-z][a-z0-9_]*" />
        <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} />
        <ErrorBox error={error} title="Not created" />
        <div className="rat-dialog-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={busy || !name.trim()}>
            Create namespace
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function CreatePipelineDialog({
  open,
  onClose,
  namespaces,
  defaultNamespace,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  namespaces: readonly string[];
  defaultNamespace?: string;
  onCreated: (p: Pipeline) => void;
}) {
  const api = useApi();
  const [ns, setNs] = useState(defaultNamespace ?? "");
  const [newNs, setNewNs] = useState("");
  const [name, setName] = useState("");
  const [layer, setLayer] = useState<Layer>("bronze");
  const [type, setType] = useState<"sql" | "python">("sql");
  const [strategy, setStrategy] = useState("full_refresh");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const target = ns === "__new__" ? newNs.trim() : ns || namespaces[0] || "";

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (ns === "__new__" || !namespaces.includes(target)) await api.createNamespace(target);
      const p = await api.createPipeline({ namespace: target, layer, name: name.trim(), type, description, merge_strategy: strategy });
      setName("");
      onCreated(p);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="New pipeline" open={open} onClose={onClose}>
      <form onSubmit={submit} className="rat-page" style={{ gap: 10 }}>
        <SelectField label="Namespace" value={ns || (namespaces.length ? namespaces[0] : "__new__")} onChange={(e) => setNs(e.target.value)}>
          {namespaces.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
          <option value="__new__">+ new namespace…</option>
        </SelectField>
        {(ns === "__new__" || namespaces.length === 0) && (
          <TextField label="New namespace name" value={newNs} onChange={(e) => { setNs("__new__"); setNewNs(e.target.value); }} required />
        )}
        <TextField label="Pipeline name" value={name} required onChange={(e) => setName(e.target.value)} />
        <div className="rat-row">
          <SelectField label="Layer" value={layer} onChange={(e) => setLayer(e.target.value as Layer)}>
            {LAYERS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </SelectField>
          <SelectField label="Type" value={type} onChange={(e) => setType(e.target.value as "sql" | "python")}>
            <option value="sql">sql</option>
            <option value="python">python</option>
          </SelectField>
          <SelectField label="Merge strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
            {STRATEGIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </SelectField>
        </div>
        <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} />
        <ErrorBox error={error} title="Not created" />
        <div className="rat-dialog-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={busy || !name.trim() || !target}>
            Create pipeline
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
