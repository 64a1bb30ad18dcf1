import { useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { Button } from "../components/Button";
import { DataGrid, type GridColumn } from "../components/DataGrid";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextArea, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { LayerBadge, Loading } from "../components/Status";
import { TabPanel, Tabs } from "../components/Tabs";
import { useApi } from "../context";
import { formatTime, useData } from "../data";
import { gridType, kindClass, shortType } from "../query/types";
import { formatBytes, resources, type Snapshot, type TableColumn, type TableSummary } from "../resources";

const LAYER_ORDER: Record<string, number> = { bronze: 0, silver: 1, gold: 2 };

/** Tables by namespace and layer, with row counts and sizes from the Iceberg snapshot summaries. */
export function ExplorerPage() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [params, setParams] = useSearchParams();
  const ns = params.get("namespace") ?? "";
  const layer = params.get("layer") ?? "";
  const search = params.get("q") ?? "";
  const { data, error } = useData(["tables"], () => res.tables());
  const tables = data?.tables ?? [];
  const namespaces = [...new Set(tables.map((t) => t.namespace))].sort();
  const set = (key: string, value: string): void => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  const rows = tables
    .filter((t) => (!ns || t.namespace === ns) && (!layer || t.layer === layer) &&
      (!search || `${t.namespace}.${t.layer}.${t.name}`.includes(search.toLowerCase())))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || (LAYER_ORDER[a.layer] ?? 9) - (LAYER_ORDER[b.layer] ?? 9) ||
      a.name.localeCompare(b.name));
  const columns: GridColumn<TableSummary>[] = [
    {
      id: "name", header: "Table", width: 320, value: (t) => `${t.namespace}.${t.layer}.${t.name}`,
      cell: (t) => <Link to={`/explorer/${t.namespace}/${t.layer}/${t.name}`}>{`${t.namespace}.${t.layer}.${t.name}`}</Link>,
    },
    { id: "layer", header: "Layer", width: 90, cell: (t) => <LayerBadge layer={t.layer} /> },
    { id: "row_count", header: "Rows", width: 110, type: "int64" },
    { id: "size_bytes", header: "Size", width: 100, value: (t) => t.size_bytes, cell: (t) => formatBytes(t.size_bytes) },
    { id: "updated_at", header: "Updated", width: 180, cell: (t) => formatTime(t.updated_at) },
    { id: "description", header: "Description", width: 320, cell: (t) => t.description || "" },
  ];
  return (
    <div className="rat-page">
      <PageHeader title="Explorer" />
      <div className="rat-toolbar">
        <SelectField label="Namespace" value={ns} onChange={(e) => set("namespace", e.target.value)}>
          <option value="">all</option>
          {namespaces.map((n) => <option key={n} value={n}>{n}</option>)}
        </SelectField>
        <SelectField label="Layer" value={layer} onChange={(e) => set("layer", e.target.value)}>
          <option value="">all</option>
          <option value="bronze">bronze</option>
          <option value="silver">silver</option>
          <option value="gold">gold</option>
        </SelectField>
        <TextField label="Search" value={search} onChange={(e) => set("q", e.target.value)} />
      </div>
      {error && <ErrorBox error={error} title="Could not list the tables" />}
      {!data && !error && <Loading what="Loading tables" />}
      {data && (
        <DataGrid rows={rows} columns={columns} label="Tables" height="calc(100vh - 220px)"
          rowKey={(t) => `${t.namespace}.${t.layer}.${t.name}`}
          emptyText={tables.length === 0 ? "No tables yet: a pipeline's first successful run publishes its table" : "No table matches"} />
      )}
    </div>
  );
}

type TableTab = "schema" | "preview" | "history";
const TABLE_TABS: readonly { id: TableTab; label: string }[] = [
  { id: "schema", label: "Schema" },
  { id: "preview", label: "Preview" },
  { id: "history", label: "History" },
];

/** One table: editable description, owner and column descriptions; preview; Iceberg snapshot history. */
export function TablePage() {
  const { ns = "", layer = "", name = "" } = useParams();
  const key = useMemo(() => ({ ns, layer, name }), [ns, layer, name]);
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [params, setParams] = useSearchParams();
  const tab = (TABLE_TABS.find((t) => t.id === params.get("tab"))?.id ?? "schema") as TableTab;
  const detail = useData(["table", ns, layer, name], () => res.table(key));
  const fq = `${ns}.${layer}.${name}`;
  return (
    <div className="rat-page">
      <PageHeader title={fq}>
        <Link className="rat-btn" to={`/query?sql=${encodeURIComponent(`SELECT * FROM ${fq} LIMIT 100`)}`}>Query</Link>
        <Link className="rat-btn" to={`/lineage?focus=${encodeURIComponent(`table:${fq}`)}`}>Lineage</Link>
        <Link className="rat-btn" to={`/pipelines/${ns}/${layer}/${name}`}>Pipeline</Link>
      </PageHeader>
      <nav className="rat-crumbs" aria-label="Breadcrumb"><Link to="/explorer">Explorer</Link> / {ns} / {layer} / {name}</nav>
      {detail.error && <ErrorBox error={detail.error} title="Could not load the table" />}
      {!detail.data && !detail.error && <Loading what="Loading the table" />}
      {detail.data && (
        <>
          <div className="rat-cards">
            <div className="rat-card rat-stat"><span className="rat-muted">Rows</span> {detail.data.row_count?.toLocaleString("en-US") ?? "—"}</div>
            <div className="rat-card rat-stat"><span className="rat-muted">Size</span> {formatBytes(detail.data.size_bytes)}</div>
            <div className="rat-card rat-stat"><span className="rat-muted">Updated</span> {formatTime(detail.data.updated_at)}</div>
            <div className="rat-card rat-stat" style={{ overflowWrap: "anywhere" }}><span className="rat-muted">Snapshot</span> {String(detail.data.snapshot_id ?? "—")}</div>
          </div>
          <TableDescription key={fq}
            description={detail.data.description} owner={detail.data.owner}
            onSave={async (description, owner) => {
              await res.setTableMetadata(key, { description, owner });
              await detail.mutate();
            }} />
          <Tabs tabs={TABLE_TABS} value={tab} label="Table views" idPrefix="table"
            onChange={(t) => setParams(t === "schema" ? {} : { tab: t }, { replace: true })} />
          <TabPanel idPrefix="table" tab={tab}>
            {tab === "schema" && (
              <SchemaEditor columns={detail.data.columns} onSave={async (column_descriptions) => {
                await res.setTableMetadata(key, { column_descriptions });
                await detail.mutate();
              }} />
            )}
            {tab === "preview" && <TablePreview tableKey={key} />}
            {tab === "history" && <TableHistory tableKey={key} />}
          </TabPanel>
        </>
      )}
    </div>
  );
}

function TableDescription({ description, owner, onSave }: {
  description: string; owner: string | null; onSave: (d: string, o: string) => Promise<void>;
}) {
  const [text, setText] = useState(description);
  const [who, setWho] = useState(owner ?? "");
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const dirty = text !== description || who !== (owner ?? "");
  return (
    <form className="rat-card" onSubmit={(e) => {
      e.preventDefault();
      setError(null);
      onSave(text, who).then(() => setSaved(true), setError);
    }}>
      <TextArea label="Description" value={text} rows={3} onChange={(e) => { setText(e.target.value); setSaved(false); }} />
      <TextField label="Owner" value={who} onChange={(e) => { setWho(e.target.value); setSaved(false); }} />
      <div className="rat-toolbar">
        <Button type="submit" variant="primary" disabled={!dirty}>Save description</Button>
        {saved && !dirty && <span role="status" className="rat-muted">Saved</span>}
      </div>
      <ErrorBox error={error} title="Could not save" />
    </form>
  );
}

function SchemaEditor({ columns, onSave }: { columns: TableColumn[]; onSave: (d: Record<string, string>) => Promise<void> }) {
  const initial = useMemo(() => Object.fromEntries(columns.map((c) => [c.name, c.description ?? ""])), [columns]);
  const [edits, setEdits] = useState<Record<string, string>>(initial);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => setEdits(initial), [initial]);
  const changed = Object.fromEntries(Object.entries(edits).filter(([k, v]) => v !== initial[k]));
  return (
    <form onSubmit={(e) => {
      e.preventDefault();
      setError(null);
      onSave(changed).then(() => setSaved(true), setError);
    }}>
      <table className="rat-table">
        <thead>
          <tr><th scope="col">Column</th><th scope="col">Type</th><th scope="col">Required</th><th scope="col">Description</th></tr>
        </thead>
        <tbody>
          {columns.map((c) => (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td className={`rat-type-${kindClass(c.type)}`}>{shortType(c.type)}</td>
              <td>{c.required ? "yes" : "no"}</td>
              <td>
                <input className="rat-input" aria-label={`Description of column ${c.name}`} value={edits[c.name] ?? ""}
                  onChange={(e) => { setEdits({ ...edits, [c.name]: e.target.value }); setSaved(false); }} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="rat-toolbar">
        <Button type="submit" variant="primary" disabled={Object.keys(changed).length === 0}>Save column descriptions</Button>
        {saved && Object.keys(changed).length === 0 && <span role="status" className="rat-muted">Saved</span>}
      </div>
      <ErrorBox error={error} title="Could not save" />
    </form>
  );
}

function TablePreview({ tableKey }: { tableKey: { ns: string; layer: string; name: string } }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const { data, error } = useData(["table-preview", tableKey.ns, tableKey.layer, tableKey.name], () => res.preview(tableKey, 200));
  if (error) return <ErrorBox error={error} title="Could not preview" />;
  if (!data) return <Loading what="Loading rows" />;
  const columns: GridColumn<Record<string, unknown>>[] = data.columns.map((c) => ({
    id: c.name, header: `${c.name} · ${shortType(c.type)}`, type: gridType(c.type), width: 160,
  }));
  return (
    <>
      <p className="rat-muted" role="status">{data.truncated
        ? `first ${data.total_rows.toLocaleString("en-US")}${data.matched_rows === null ? "" : ` of ${data.matched_rows.toLocaleString("en-US")}`} rows`
        : `${data.total_rows} rows`}</p>
      <DataGrid rows={data.rows} columns={columns} label="Preview rows" rowNumbers height={420} />
    </>
  );
}

function TableHistory({ tableKey }: { tableKey: { ns: string; layer: string; name: string } }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const { data, error } = useData(["table-history", tableKey.ns, tableKey.layer, tableKey.name], () => res.history(tableKey));
  if (error) return <ErrorBox error={error} title="Could not load the history" />;
  if (!data) return <Loading what="Loading snapshots" />;
  const columns: GridColumn<Snapshot>[] = [
    { id: "timestamp", header: "Committed", width: 190, cell: (s) => formatTime(s.timestamp) },
    { id: "operation", header: "Operation", width: 110 },
    { id: "added_records", header: "Added", width: 100, type: "int64" },
    { id: "deleted_records", header: "Deleted", width: 100, type: "int64" },
    { id: "total_records", header: "Total", width: 110, type: "int64" },
    { id: "snapshot_id", header: "Snapshot", width: 200, value: (s) => String(s.snapshot_id) },
    { id: "parent_id", header: "Parent", width: 200, value: (s) => (s.parent_id === null ? null : String(s.parent_id)) },
  ];
  return <DataGrid rows={data.snapshots} columns={columns} label="Snapshots" height={360} emptyText="No snapshots" />;
}
