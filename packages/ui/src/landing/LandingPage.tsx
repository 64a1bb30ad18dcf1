import { useMemo, useRef, useState, type DragEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Button } from "../components/Button";
import { DataGrid, type GridColumn } from "../components/DataGrid";
import { Dialog } from "../components/Dialog";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextArea, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { Loading } from "../components/Status";
import { useApi } from "../context";
import { formatTime, useData } from "../data";
import { formatBytes, resources, type LandingFile, type Sample, type Zone } from "../resources";
import { uploadFile } from "./upload";
import "./landing.css";

/** Landing zones: where raw files arrive before a bronze pipeline reads them. */
export function LandingPage() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const zones = useData(["zones"], () => res.zones());
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Zone | null>(null);
  const [error, setError] = useState<unknown>(null);
  const columns: GridColumn<Zone>[] = [
    {
      id: "name", header: "Zone", width: 260, value: (z) => `${z.namespace}.${z.name}`,
      cell: (z) => <Link to={`/landing/${z.namespace}/${z.name}`}>{`${z.namespace}.${z.name}`}</Link>,
    },
    { id: "file_count", header: "Files", width: 90, type: "int64" },
    { id: "total_bytes", header: "Size", width: 100, value: (z) => z.total_bytes, cell: (z) => formatBytes(z.total_bytes) },
    { id: "description", header: "Description", width: 320 },
    { id: "created_at", header: "Created", width: 180, cell: (z) => formatTime(z.created_at) },
    {
      id: "actions", header: "Actions", width: 110, sortable: false,
      cell: (z) => <Button variant="danger" aria-label={`Delete zone ${z.namespace}.${z.name}`} onClick={() => setDeleting(z)}>Delete</Button>,
    },
  ];
  return (
    <div className="rat-page">
      <PageHeader title="Landing zones">
        <Button variant="primary" onClick={() => setCreating(true)}>New zone</Button>
      </PageHeader>
      {zones.error && <ErrorBox error={zones.error} title="Could not list the zones" />}
      <ErrorBox error={error} title="Could not delete the zone" />
      {!zones.data && !zones.error && <Loading what="Loading zones" />}
      {zones.data && (
        <DataGrid rows={zones.data.zones} columns={columns} label="Landing zones" height="calc(100vh - 200px)"
          rowKey={(z) => `${z.namespace}.${z.name}`} emptyText="No landing zones yet" />
      )}
      <CreateZoneDialog open={creating} onClose={() => setCreating(false)} onCreated={() => void zones.mutate()} />
      <Dialog title={`Delete zone ${deleting ? `${deleting.namespace}.${deleting.name}` : ""}?`} open={deleting !== null}
        onClose={() => setDeleting(null)}
        actions={<>
          <Button onClick={() => setDeleting(null)}>Keep it</Button>
          <Button variant="danger" onClick={() => {
            if (!deleting) return;
            setError(null);
            res.deleteZone(deleting.namespace, deleting.name).then(() => void zones.mutate(), setError)
              .finally(() => setDeleting(null));
          }}>Delete zone and files</Button>
        </>}>
        <p>Its {deleting?.file_count ?? 0} files and its samples are deleted too.</p>
      </Dialog>
    </div>
  );
}

function CreateZoneDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: () => void }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const navigate = useNavigate();
  const namespaces = useData(open ? ["namespaces"] : null, () => api.listNamespaces());
  const [ns, setNs] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const namespace = ns || namespaces.data?.namespaces[0]?.name || "";
  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const z = await res.createZone(namespace, name.trim(), description);
      onCreated();
      onClose();
      navigate(`/landing/${z.namespace}/${z.name}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="New landing zone" open={open} onClose={onClose}
      actions={<>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="primary" disabled={busy || !namespace || !name.trim()} onClick={() => void submit()}>Create zone</Button>
      </>}>
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {namespaces.error && <ErrorBox error={namespaces.error} title="Could not list the namespaces" />}
        <SelectField label="Namespace" value={namespace} onChange={(e) => setNs(e.target.value)}>
          {(namespaces.data?.namespaces ?? []).map((n) => <option key={n.name} value={n.name}>{n.name}</option>)}
        </SelectField>
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} pattern="[a-z][a-z0-9_]*"
          placeholder="raw_orders" required />
        <TextArea label="Description" value={description} onChange={(e) => setDescription(e.target.value)} rows={2} />
        <ErrorBox error={error} title="Could not create the zone" />
      </form>
    </Dialog>
  );
}

interface UploadItem {
  id: number;
  name: string;
  loaded: number;
  total: number;
  state: "uploading" | "done" | "failed";
  error?: unknown;
}

/** One zone: drag-and-drop upload with progress, its files, samples, description and lifecycle. */
export function ZonePage() {
  const { ns = "", zone = "" } = useParams();
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const info = useData(["zone", ns, zone], () => res.zone(ns, zone));
  const files = useData(["zone-files", ns, zone], () => res.zoneFiles(ns, zone));
  const [uploads, setUploads] = useState<UploadItem[]>([]);
  const [over, setOver] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const input = useRef<HTMLInputElement>(null);
  const nextId = useRef(1);

  const upload = (list: FileList | File[]): void => {
    for (const file of Array.from(list)) {
      const id = nextId.current++;
      const item: UploadItem = { id, name: file.name, loaded: 0, total: file.size, state: "uploading" };
      setUploads((u) => [item, ...u].slice(0, 50));
      const patch = (p: Partial<UploadItem>): void => setUploads((u) => u.map((x) => (x.id === id ? { ...x, ...p } : x)));
      uploadFile<LandingFile>(res.zoneFilesUrl(ns, zone), file, (p) => patch({ loaded: p.loaded, total: p.total })).then(
        () => {
          patch({ state: "done" });
          void files.mutate();
          void info.mutate();
        },
        (e: unknown) => patch({ state: "failed", error: e }),
      );
    }
  };
  const onDrop = (e: DragEvent<HTMLDivElement>): void => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer.files.length > 0) upload(e.dataTransfer.files);
  };
  const columns: GridColumn<LandingFile>[] = [
    { id: "filename", header: "File", width: 280 },
    { id: "size_bytes", header: "Size", width: 100, value: (f) => f.size_bytes, cell: (f) => formatBytes(f.size_bytes) },
    { id: "uploaded_at", header: "Uploaded", width: 180, cell: (f) => formatTime(f.uploaded_at) },
    { id: "path", header: "Stored as", width: 360 },
    {
      id: "actions", header: "Actions", width: 190, sortable: false,
      cell: (f) => (
        <span className="rat-row">
          <a href={res.fileDownloadUrl(f.path)} download={f.filename} aria-label={`Download ${f.filename}`}>Download</a>
          <Button variant="danger" aria-label={`Delete ${f.filename}`} onClick={() => {
            setError(null);
            res.deleteZoneFile(ns, zone, f.id).then(() => { void files.mutate(); void info.mutate(); }, setError);
          }}>Delete</Button>
        </span>
      ),
    },
  ];
  return (
    <div className="rat-page">
      <PageHeader title={`${ns}.${zone}`} />
      <nav className="rat-crumbs" aria-label="Breadcrumb"><Link to="/landing">Landing zones</Link> / {ns} / {zone}</nav>
      {info.error && <ErrorBox error={info.error} title="Could not load the zone" />}
      {info.data && (
        <p className="rat-muted">
          {info.data.file_count} file{info.data.file_count === 1 ? "" : "s"} · {formatBytes(info.data.total_bytes)} · read it in SQL
          with <code>{`{{ landing_zone('${zone}') }}`}</code>
        </p>
      )}
      <div
        className={`rat-dropzone${over ? " rat-dropzone-over" : ""}`}
        data-testid="dropzone"
        onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop files here to upload them to {ns}.{zone}</p>
        <Button onClick={() => input.current?.click()}>Choose files…</Button>
        <input ref={input} type="file" multiple hidden aria-label="Files to upload"
          onChange={(e) => { if (e.target.files) upload(e.target.files); e.target.value = ""; }} />
      </div>
      {uploads.length > 0 && (
        <ul className="rat-uploads" aria-label="Uploads">
          {uploads.map((u) => (
            <li key={u.id}>
              <span className="rat-upload-name">{u.name}</span>
              <progress max={u.total || 1} value={u.loaded} aria-label={`Upload of ${u.name}`} />
              <span className="rat-muted">
                {u.state === "uploading" ? `${Math.round((100 * u.loaded) / (u.total || 1))}%` : u.state === "done" ? "uploaded" : "failed"}
              </span>
              {u.state === "failed" && <ErrorBox error={u.error} title={`Upload of ${u.name} failed`} />}
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} title="Could not delete the file" />
      <h2>Files</h2>
      {files.error && <ErrorBox error={files.error} title="Could not list the files" />}
      {files.data && (
        <DataGrid rows={files.data.files} columns={columns} label={`Files in ${ns}.${zone}`} height={320}
          rowKey={(f) => f.id} emptyText="No files yet" />
      )}
      <div className="rat-landing-cols">
        <Samples ns={ns} zone={zone} />
        {info.data && <ZoneSettings zone={info.data} onSaved={() => void info.mutate()} />}
      </div>
    </div>
  );
}

function Samples({ ns, zone }: { ns: string; zone: string }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const samples = useData(["samples", ns, zone], () => res.samples(ns, zone));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const name = (s: Sample): string => s.path.split("/").pop() ?? s.path;
  return (
    <section className="rat-card" aria-labelledby="samples-h">
      <h2 id="samples-h">Samples</h2>
      <p className="rat-muted">Small curated files that pipeline previews read instead of the whole zone.</p>
      {samples.error && <ErrorBox error={samples.error} title="Could not list the samples" />}
      <ul className="rat-samples">
        {(samples.data?.samples ?? []).map((s) => (
          <li key={s.path}>
            <a href={res.fileDownloadUrl(s.path)} download={name(s)}>{name(s)}</a> <span className="rat-muted">{formatBytes(s.size)}</span>
            <Button variant="ghost" aria-label={`Delete sample ${name(s)}`} onClick={() => {
              setError(null);
              res.deleteSample(ns, zone, name(s)).then(() => void samples.mutate(), setError);
            }}>Delete</Button>
          </li>
        ))}
        {samples.data && samples.data.samples.length === 0 && <li className="rat-muted">No samples</li>}
      </ul>
      <Button disabled={busy} onClick={() => input.current?.click()}>Add sample…</Button>
      <input ref={input} type="file" hidden aria-label="Sample file to add" onChange={(e) => {
        const file = e.target.files?.[0];
        e.target.value = "";
        if (!file) return;
        setBusy(true);
        setError(null);
        uploadFile(res.samplesUrl(ns, zone), file, () => undefined)
          .then(() => void samples.mutate(), setError).finally(() => setBusy(false));
      }} />
      <ErrorBox error={error} title="Samples" />
    </section>
  );
}

function ZoneSettings({ zone, onSaved }: { zone: Zone; onSaved: () => void }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [description, setDescription] = useState(zone.description);
  const [schema, setSchema] = useState(zone.expected_schema);
  const [days, setDays] = useState(String(zone.processed_max_age_days));
  const [purge, setPurge] = useState(Boolean(zone.auto_purge));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = async (): Promise<void> => {
    setError(null);
    setSaved(false);
    try {
      await res.updateZone(zone.namespace, zone.name, { description, expected_schema: schema });
      await res.setLifecycle(zone.namespace, zone.name, { processed_max_age_days: Number(days), auto_purge: purge });
      setSaved(true);
      onSaved();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form className="rat-card" aria-labelledby="zone-settings-h" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <h2 id="zone-settings-h">Settings and lifecycle</h2>
      <TextArea label="Description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
      <TextArea label="Expected schema (documentation)" rows={3} value={schema} onChange={(e) => setSchema(e.target.value)} />
      <TextField label="Keep processed files (days)" type="number" min={1} max={3650} value={days}
        onChange={(e) => setDays(e.target.value)} />
      <label className="rat-check">
        <input type="checkbox" checked={purge} onChange={(e) => setPurge(e.target.checked)} />
        Purge processed files older than that automatically
      </label>
      <div className="rat-toolbar">
        <Button type="submit" variant="primary">Save settings</Button>
        {saved && <span role="status" className="rat-muted">Saved</span>}
      </div>
      <ErrorBox error={error} title="Could not save" />
    </form>
  );
}
