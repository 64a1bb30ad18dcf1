import { ReactWidget } from "@jupyterlab/apputils";
import type { Message } from "@lumino/messaging";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useRef, useState } from "react";
import { flushSync } from "react-dom";
import type { Pipeline, PipelineKey, RatClient } from "@rat/client";
import { StatusBadge } from "@rat/ui";
import { treeRows, type NamespaceData, type TreeRow } from "./tree";

export interface SidebarActions {
  openPipeline: (p: Pipeline) => void;
  runPipeline: (k: PipelineKey) => void;
  deletePipeline: (k: PipelineKey) => Promise<boolean>;
  newPipeline: (ns?: string, layer?: string) => Promise<boolean>;
  newNamespace: () => Promise<boolean>;
  openTable: (ns: string, layer: string, name: string) => void;
  openZone: (ns: string, zone: string) => void;
}

const ROW_H = 24;

/** What the server's tree route answers: every namespace with its pipeline count, and the expanded ones (the
 * one asked for, else the only one) with their pipelines, tables and landing zones. */
export type WorkspaceTree = Awaited<ReturnType<typeof fetchTree>>;

/** The sidebar's one request: the tree, or one namespace of it (`namespace`) when it is opened. */
export function fetchTree(api: RatClient, namespace?: string) {
  return api.http.call("GET", "/rat/api/v1/tree", { query: namespace ? { namespace } : {} });
}

/** The request started when the extension activates, before the sidebar is first shown (used once). */
export interface SidebarPrefetch {
  tree?: Promise<WorkspaceTree>;
  /** Its answer once it has arrived (the sidebar's first render starts from it). */
  value?: WorkspaceTree;
  /** When it was sent and when its answer arrived (performance.now()), for the browser benchmark. */
  sentAt?: number;
  answeredAt?: number;
}

/** Start loading what the sidebar shows first, at plugin activation rather than when it is first shown. */
export function prefetchSidebar(api: RatClient): SidebarPrefetch {
  const out: SidebarPrefetch = { sentAt: performance.now() };
  out.tree = fetchTree(api);
  out.tree.then((value) => {
    out.value = value;
    out.answeredAt = performance.now();
  }, () => undefined);
  return out;
}

/** A namespace of the tree answer as the sidebar keeps it (parts absent until it is expanded). */
export function namespaceData(n: WorkspaceTree["namespaces"][number]): NamespaceData {
  if (!n.pipelines) return { count: n.pipeline_count };
  return { count: n.pipeline_count, pipelines: n.pipelines, tables: n.tables ?? [], zones: n.zones ?? [] };
}

/** The sidebar's state from a tree answer: the namespaces sorted, what is known of each, the only one open. */
export function treeState(tree: WorkspaceTree): { names: string[]; data: Map<string, NamespaceData>; open: Set<string> } {
  const names = tree.namespaces.map((n) => n.name).sort();
  const data = new Map(tree.namespaces.map((n) => [n.name, namespaceData(n)]));
  return { names, data, open: new Set(names.length === 1 && names[0] ? [names[0]] : []) };
}

/** The RAT tree: one request for the namespaces (with the only namespace's contents), one per namespace when it
 * is opened (a search loads the rest). Rows are virtualized: 1,000 pipelines render a screenful of rows. */
export function Sidebar({ api, actions, refresh, onPopulated, prefetch }:
  { api: RatClient; actions: SidebarActions; refresh: number; onPopulated?: () => void; prefetch?: SidebarPrefetch }) {
  // an answer already in (the request started at activation) is the first render's state: no round of effects
  const [initial] = useState(() => (prefetch?.value ? treeState(prefetch.value) : null));
  const [namespaces, setNamespaces] = useState<string[] | null>(initial?.names ?? null);
  const [error, setError] = useState<string | null>(null);
  const [data, setData] = useState<Map<string, NamespaceData>>(initial?.data ?? new Map());
  const [open, setOpen] = useState<Set<string>>(initial?.open ?? new Set());
  const [search, setSearch] = useState("");
  const [tick, setTick] = useState(0);
  const loading = useRef(new Set<string>());
  const generation = useRef(0);
  const scroller = useRef<HTMLDivElement>(null);

  const load = useCallback(
    async (ns: string) => {
      if (loading.current.has(ns)) return;
      loading.current.add(ns);
      // answers of a load started before a refresh are dropped (the refresh loads again)
      const gen = generation.current;
      try {
        const tree = await fetchTree(api, ns);
        if (gen !== generation.current) return;
        const n = tree.namespaces.find((x) => x.name === ns);
        // rendered at once, not when the scheduler next gets the (busy) main thread
        flushSync(() => setData((m) => new Map(m).set(ns, n ? namespaceData(n) : { pipelines: [], tables: [], zones: [] })));
      } catch (e) {
        if (gen === generation.current) {
          setData((m) => new Map(m).set(ns, { error: e instanceof Error ? e.message : String(e) }));
        }
      } finally {
        if (gen === generation.current) loading.current.delete(ns);
      }
    },
    [api],
  );

  useEffect(() => {
    let live = true;
    generation.current += 1;
    loading.current.clear();
    const early = prefetch?.tree;
    const rendered = prefetch?.value !== undefined;  // the first render already holds that answer
    if (prefetch) {
      prefetch.tree = undefined;
      prefetch.value = undefined;
    }
    if (early && rendered) return;
    (early ?? fetchTree(api))
      .then((tree) => {
        if (!live) return;
        const { names, data: next } = treeState(tree);
        // rendered at once (effects included), not when the scheduler next gets Lab's busy main thread
        flushSync(() => {
          setNamespaces(names);
          setError(null);
          setData(next);
          // the namespaces already open are reloaded; a single namespace opens by itself
          setOpen((o) => (names.length === 1 && names[0] ? new Set([...o, names[0]]) : o));
        });
      })
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [api, refresh, tick]);

  useEffect(() => {
    if (!namespaces) return;
    for (const ns of namespaces) {
      const d = data.get(ns);
      if ((open.has(ns) || search.trim()) && !d?.pipelines && !d?.error) void load(ns);
    }
  }, [namespaces, open, search, data, load]);

  const reported = useRef(false);
  useEffect(() => {
    if (reported.current || !namespaces || !onPopulated) return;
    if ([...open].every((ns) => !namespaces.includes(ns) || data.get(ns)?.pipelines || data.get(ns)?.error)) {
      reported.current = true;
      onPopulated();
    }
  }, [namespaces, open, data, onPopulated]);

  const rows = namespaces ? treeRows(namespaces, data, open, search) : [];
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_H,
    overscan: 12,
  });

  const toggle = (key: string): void =>
    setOpen((o) => {
      const n = new Set(o);
      if (n.has(key)) n.delete(key);
      else n.add(key);
      return n;
    });

  const activate = (r: TreeRow): void => {
    if (r.kind === "namespace") toggle(r.ns);
    else if (r.kind === "group") toggle(r.group === "tables" || r.group === "zones" ? r.key : `${r.key}:closed`);
    else if (r.kind === "pipeline") actions.openPipeline(r.pipeline);
    else if (r.kind === "table") actions.openTable(r.ns, r.layer, r.name);
    else if (r.kind === "zone") actions.openZone(r.ns, r.name);
  };

  const reload = (): void => setTick((t) => t + 1);

  return (
    <div className="rat-lab-sidebar">
      <div className="rat-lab-sidebar-head">
        <span className="rat-lab-sidebar-title">RAT</span>
        <button className="rat-lab-icon" title="New pipeline" aria-label="New pipeline"
          onClick={() => void actions.newPipeline().then((ok) => ok && reload())}>+</button>
        <button className="rat-lab-icon" title="New namespace" aria-label="New namespace"
          onClick={() => void actions.newNamespace().then((ok) => ok && reload())}>NS+</button>
        <button className="rat-lab-icon" title="Refresh" aria-label="Refresh" onClick={reload}>⟳</button>
      </div>
      <input
        className="jp-mod-styled rat-lab-search"
        type="search"
        placeholder="Search pipelines, tables, zones"
        aria-label="Search pipelines, tables, zones"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {error && <div className="rat-lab-error" role="alert">{error}</div>}
      {!namespaces && !error && <div className="rat-lab-note">Loading…</div>}
      {namespaces?.length === 0 && <div className="rat-lab-note">No namespaces yet: create one with NS+.</div>}
      <div ref={scroller} className="rat-lab-tree" role="tree" aria-label="RAT namespaces and pipelines">
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((v) => {
            const r = rows[v.index];
            if (!r) return null;
            return (
              <div
                key={r.key}
                className={`rat-lab-row rat-lab-row-${r.kind}`}
                role="treeitem"
                aria-level={r.depth + 1}
                aria-expanded={r.kind === "namespace" || r.kind === "group" ? r.open : undefined}
                data-key={r.key}
                data-ns={r.kind === "pipeline" ? r.pipeline.namespace : undefined}
                data-layer={r.kind === "pipeline" ? r.pipeline.layer : undefined}
                data-name={r.kind === "pipeline" ? r.pipeline.name : undefined}
                tabIndex={0}
                style={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW_H,
                  transform: `translateY(${v.start}px)`, paddingLeft: 6 + r.depth * 14 }}
                onClick={() => activate(r)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    e.preventDefault();
                    activate(r);
                  }
                }}
              >
                <Row row={r} actions={actions} onChanged={reload} />
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function Row({ row: r, actions, onChanged }: { row: TreeRow; actions: SidebarActions; onChanged: () => void }) {
  const stop = (fn: () => void) => (e: React.MouseEvent) => {
    e.stopPropagation();
    fn();
  };
  switch (r.kind) {
    case "namespace":
      return (
        <>
          <span className="rat-lab-caret">{r.open ? "▾" : "▸"}</span>
          <span className="rat-lab-label">{r.ns}</span>
          {r.count !== undefined && <span className="rat-lab-count">{r.count}</span>}
          <button className="rat-lab-icon rat-lab-hover" title={`New pipeline in ${r.ns}`} aria-label={`New pipeline in ${r.ns}`}
            onClick={stop(() => void actions.newPipeline(r.ns).then((ok) => ok && onChanged()))}>+</button>
        </>
      );
    case "group":
      return (
        <>
          <span className="rat-lab-caret">{r.open ? "▾" : "▸"}</span>
          <span className={`rat-lab-label rat-lab-group-${r.group}`}>{r.label}</span>
          <span className="rat-lab-count">{r.count}</span>
        </>
      );
    case "pipeline": {
      const p = r.pipeline;
      const k = { ns: p.namespace, layer: p.layer, name: p.name };
      return (
        <>
          <span className="rat-lab-label" title={`${p.namespace}.${p.layer}.${p.name} (${p.type})`}>{p.name}</span>
          {p.draft_dirty && <span className="rat-lab-dirty" title="Draft differs from the published version">●</span>}
          <StatusBadge status={p.last_run?.status} />
          <button className="rat-lab-icon rat-lab-hover" title={`Run ${p.name}`} aria-label={`Run ${p.name}`}
            onClick={stop(() => actions.runPipeline(k))}>▶</button>
          <button className="rat-lab-icon rat-lab-hover" title={`Delete ${p.name}`} aria-label={`Delete ${p.name}`}
            onClick={stop(() => void actions.deletePipeline(k).then((ok) => ok && onChanged()))}>✕</button>
        </>
      );
    }
    case "table":
      return <span className="rat-lab-label">{`${r.layer}.${r.name}`}</span>;
    case "zone":
      return <span className="rat-lab-label">{r.name}</span>;
    case "note":
      return <span className="rat-lab-note">{r.text}</span>;
  }
}

/** The sidebar as a Lumino widget; `refresh()` reloads it (after a run finishes, a pipeline is created…). */
export class RatSidebar extends ReactWidget {
  private generation = 0;

  /** Called once, when the namespaces (and any namespace opened by itself) are on screen. */
  onPopulated?: () => void;

  constructor(private readonly api: RatClient, private readonly actions: SidebarActions,
    private readonly prefetch?: SidebarPrefetch) {
    super();
    this.id = "rat-sidebar";
    this.addClass("rat-lab");
    this.title.caption = "RAT";
  }

  /** When the sidebar was first shown (performance.now()), for the browser benchmark. */
  shownAt: number | null = null;

  protected override onAfterShow(msg: Message): void {
    if (this.shownAt === null) this.shownAt = performance.now();
    super.onAfterShow(msg);
  }

  refresh(): void {
    this.generation += 1;
    this.update();
  }

  /** Rendered synchronously: a concurrent React render waits for the main thread, which JupyterLab keeps busy
   * while it starts (hundreds of milliseconds on a loaded machine). */
  protected override onUpdateRequest(msg: Message): void {
    flushSync(() => super.onUpdateRequest(msg));
  }

  protected render(): JSX.Element {
    return <Sidebar api={this.api} actions={this.actions} refresh={this.generation} onPopulated={this.onPopulated}
      prefetch={this.prefetch} />;
  }
}
