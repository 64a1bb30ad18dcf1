import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { closeCompletion, type CompletionSource } from "@codemirror/autocomplete";
import { keywordCompletionSource, PostgreSQL, schemaCompletionSource, type SQLNamespace } from "@codemirror/lang-sql";
import type { EditorView } from "@codemirror/view";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { SchemaTable } from "@rat/client";
import { Button } from "../components/Button";
import { DataGrid, type GridColumn } from "../components/DataGrid";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { Loading } from "../components/Status";
import { CodeEditor } from "../editor/CodeEditor";
import { useApi } from "../context";
import { useData } from "../data";
import { resources, type QueryResult } from "../resources";
import { csvFileName, downloadCsv, toCsv } from "./csv";
import { gridType, shortType } from "./types";
import "./query.css";

const DRAFT_KEY = "rat.query.draft";
const LIMITS = [100, 1000, 10_000, 100_000] as const;

/** Schema for CodeMirror's SQL completion: `ns.layer.table` and `layer.table` paths, columns as leaves. */
export function completionSchema(tables: readonly SchemaTable[]): SQLNamespace {
  const root: Record<string, Record<string, Record<string, string[]>>> = {};
  for (const t of tables) {
    const ns = (root[t.namespace] ??= {});
    const layer = (ns[t.layer] ??= {});
    layer[t.name] = t.columns.map((c) => c.name);
  }
  return root as SQLNamespace;
}

/** "showing N of M rows (truncated)": M is the server's count of the whole result; when the server could not
 * count it within the statement timeout, M is only known to be more than the limit. */
export function resultSummary(r: QueryResult): string {
  const n = r.total_rows.toLocaleString("en-US");
  const time = `${r.duration_ms.toLocaleString("en-US")} ms`;
  if (r.truncated) {
    if (r.matched_rows !== null) {
      return `showing ${n} of ${r.matched_rows.toLocaleString("en-US")} rows (truncated at the limit) · ${time}`;
    }
    return `showing ${n} of more than ${r.limit.toLocaleString("en-US")} rows (truncated at the limit) · ${time}`;
  }
  return `${n} row${r.total_rows === 1 ? "" : "s"} · ${time}`;
}

/** The query console: schema tree, SQL editor with table/column completion, Ctrl/Cmd+Enter, typed results. */
export function QueryPage() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [params] = useSearchParams();
  const [sql, setSql] = useState<string>(
    () => params.get("sql") ?? localStorage.getItem(DRAFT_KEY) ?? "SELECT 42 AS answer",
  );
  const [limit, setLimit] = useState<number>(1000);
  const [result, setResult] = useState<QueryResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const view = useRef<EditorView | null>(null);
  const sqlRef = useRef(sql);
  sqlRef.current = sql;
  const schema = useData("schema", () => api.schema());

  useEffect(() => {
    localStorage.setItem(DRAFT_KEY, sql);
  }, [sql]);
  useEffect(() => () => abort.current?.abort(), []);

  const run = useCallback(async () => {
    const text = sqlRef.current;
    if (!text.trim()) return;
    if (view.current) closeCompletion(view.current);
    abort.current?.abort();
    const ctrl = new AbortController();
    abort.current = ctrl;
    setRunning(true);
    setError(null);
    try {
      const r = await res.query(text, limit, ctrl.signal);
      setResult(r);
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      setError(e);
      setResult(null);
    } finally {
      if (abort.current === ctrl) setRunning(false);
    }
  }, [res, limit]);

  const completions = useMemo<CompletionSource[]>(() => {
    const tables = schema.data?.tables ?? [];
    return [schemaCompletionSource({ schema: completionSchema(tables), dialect: PostgreSQL }),
      keywordCompletionSource(PostgreSQL, true)];
  }, [schema.data]);

  const insert = (text: string): void => {
    const v = view.current;
    if (!v) {
      setSql((s) => `${s}${text}`);
      return;
    }
    const { from, to } = v.state.selection.main;
    v.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
    v.focus();
  };

  const columns = useMemo<GridColumn<Record<string, unknown>>[]>(
    () =>
      (result?.columns ?? []).map((c) => ({
        id: c.name,
        header: `${c.name} · ${shortType(c.type)}`,
        type: gridType(c.type),
        width: Math.min(320, Math.max(110, c.name.length * 9 + shortType(c.type).length * 7 + 24)),
      })),
    [result],
  );

  const exportCsv = (): void => {
    if (!result) return;
    downloadCsv(toCsv(result.columns, result.rows), csvFileName("query"));
  };

  return (
    <div className="rat-page rat-query">
      <PageHeader title="Query">
        <span className="rat-muted">Read-only SQL over the published tables</span>
      </PageHeader>
      <div className="rat-query-layout">
        <aside className="rat-query-schema" aria-label="Tables">
          <h2 className="rat-query-h2">Tables</h2>
          {schema.error && <ErrorBox error={schema.error} title="Could not load the schema" />}
          {!schema.data && !schema.error && <Loading what="Loading tables" />}
          {schema.data && <SchemaTree tables={schema.data.tables} onInsert={insert} />}
        </aside>
        <section className="rat-query-main" aria-label="Editor and results">
          <CodeEditor
            value={sql}
            onChange={setSql}
            language="sql"
            label="SQL query (Ctrl+Enter or Cmd+Enter runs it)"
            completions={completions}
            keys={[{ key: "Mod-Enter", run: () => { void run(); return true; } }]}
            height={200}
            onView={(v) => {
              view.current = v;
            }}
          />
          <div className="rat-toolbar">
            <Button variant="primary" onClick={() => void run()} disabled={running} aria-keyshortcuts="Control+Enter Meta+Enter">
              {running ? "Running…" : "Run"}
            </Button>
            <SelectField label="Row limit" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
              {LIMITS.map((l) => (
                <option key={l} value={l}>
                  {l.toLocaleString("en-US")}
                </option>
              ))}
            </SelectField>
            <Button onClick={exportCsv} disabled={!result || result.rows.length === 0}>
              Export CSV
            </Button>
            <span className="rat-spacer" />
            <span className="rat-muted" role="status" aria-live="polite" data-testid="query-summary">
              {running ? "running…" : result ? resultSummary(result) : ""}
            </span>
          </div>
          {error !== null && <ErrorBox error={error} title="Query failed" />}
          {result && (
            <DataGrid
              rows={result.rows}
              columns={columns}
              label="Query results"
              height="calc(100vh - 420px)"
              rowNumbers
              emptyText="The query returned no rows"
            />
          )}
        </section>
      </div>
    </div>
  );
}

type TreeRow = { kind: "table"; key: string; table: SchemaTable } | { kind: "column"; key: string; name: string; type: string };

/** The rows the schema tree shows: every matching table, and the columns of the expanded ones. */
export function treeRows(tables: readonly SchemaTable[], open: ReadonlySet<string>, filter: string): TreeRow[] {
  const q = filter.trim().toLowerCase();
  const rows: TreeRow[] = [];
  for (const t of tables) {
    const key = `${t.namespace}.${t.layer}.${t.name}`;
    if (q && !key.includes(q)) continue;
    rows.push({ kind: "table", key, table: t });
    if (open.has(key)) {
      for (const c of t.columns) rows.push({ kind: "column", key: `${key}.${c.name}`, name: c.name, type: c.type });
    }
  }
  return rows;
}

const TREE_ROW = 26;

/** Namespace.layer.table › columns, virtualized (a warehouse may hold thousands of tables); a click inserts the
 * qualified name (or the column) at the cursor. */
function SchemaTree({ tables, onInsert }: { tables: readonly SchemaTable[]; onInsert: (text: string) => void }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [filter, setFilter] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => treeRows(tables, open, filter), [tables, open, filter]);
  const virtualizer = useVirtualizer({
    count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => TREE_ROW, overscan: 10,
    initialRect: { width: 260, height: 600 },
  });
  const toggle = (key: string): void =>
    setOpen((s) => {
      const next = new Set(s);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  if (tables.length === 0) return <p className="rat-muted">No tables yet: run a pipeline to publish one.</p>;
  return (
    <div>
      <label className="rat-field">
        <span>Filter tables</span>
        <input className="rat-input" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </label>
      <div ref={scroller} className="rat-query-tree" style={{ maxHeight: "calc(100vh - 260px)", overflow: "auto" }}>
        <ul style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((v) => {
            const row = rows[v.index]!;
            const style = { position: "absolute" as const, top: 0, left: 0, right: 0, height: TREE_ROW, transform: `translateY(${v.start}px)` };
            if (row.kind === "column") {
              return (
                <li key={row.key} style={{ ...style, paddingLeft: 22 }}>
                  <button type="button" className="rat-query-insert" title={`Insert ${row.name}`} onClick={() => onInsert(row.name)}>
                    {row.name} <span className="rat-muted">{row.type.toLowerCase()}</span>
                  </button>
                </li>
              );
            }
            const expanded = open.has(row.key);
            return (
              <li key={row.key} style={style} className="rat-query-tree-row">
                <button type="button" className="rat-query-twisty" aria-expanded={expanded}
                  aria-label={`${expanded ? "Hide" : "Show"} columns of ${row.key}`} onClick={() => toggle(row.key)}>
                  {expanded ? "▾" : "▸"}
                </button>
                <button type="button" className="rat-query-insert" title={`Insert ${row.key}`} onClick={() => onInsert(row.key)}>
                  {row.key}
                </button>
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}
