import type { Pipeline } from "@rat/client";

/** What the sidebar knows about one namespace (its parts loaded when the namespace is first opened). */
export interface NamespaceData {
  /** How many pipelines it has (known before its pipelines are loaded). */
  count?: number;
  pipelines?: Pipeline[];
  tables?: { namespace: string; layer: string; name: string }[];
  zones?: { namespace: string; name: string }[];
  error?: string;
}

export type TreeRow =
  | { kind: "namespace"; key: string; depth: 0; ns: string; open: boolean; count?: number }
  | { kind: "group"; key: string; depth: 1; ns: string; group: string; label: string; open: boolean; count: number }
  | { kind: "pipeline"; key: string; depth: 2; pipeline: Pipeline }
  | { kind: "table"; key: string; depth: 2; ns: string; layer: string; name: string }
  | { kind: "zone"; key: string; depth: 2; ns: string; name: string }
  | { kind: "note"; key: string; depth: 1 | 2; text: string };

const LAYER_ORDER = ["bronze", "silver", "gold"];

function matches(text: string, q: string): boolean {
  return text.toLowerCase().includes(q);
}

/** The visible rows of the tree: namespaces → layers → pipelines, then the namespace's tables and landing
 * zones; a search keeps matching leaves (and opens their parents). Pure, so it is unit-tested and stays cheap
 * for thousands of pipelines (only the rows in view are rendered). */
export function treeRows(
  namespaces: readonly string[],
  data: ReadonlyMap<string, NamespaceData>,
  open: ReadonlySet<string>,
  search: string,
): TreeRow[] {
  const q = search.trim().toLowerCase();
  const rows: TreeRow[] = [];
  for (const ns of namespaces) {
    const d = data.get(ns);
    // loaded: its pipelines (or the error) arrived; before, only its pipeline count may be known
    const loaded = d?.pipelines !== undefined || d?.error !== undefined;
    const nsOpen = open.has(ns) || (q !== "" && loaded);
    const pipelines = (d?.pipelines ?? []).filter((p) => !q || matches(`${p.namespace}.${p.layer}.${p.name}`, q));
    const tables = (d?.tables ?? []).filter((t) => !q || matches(`${t.namespace}.${t.layer}.${t.name}`, q));
    const zones = (d?.zones ?? []).filter((z) => !q || matches(`${z.namespace}.${z.name}`, q));
    if (q && loaded && pipelines.length + tables.length + zones.length === 0 && !matches(ns, q)) continue;
    rows.push({ kind: "namespace", key: ns, depth: 0, ns, open: nsOpen, count: d?.pipelines?.length ?? d?.count });
    if (!nsOpen) continue;
    if (d?.error) {
      rows.push({ kind: "note", key: `${ns}/error`, depth: 1, text: d.error });
      continue;
    }
    if (!d?.pipelines) {
      rows.push({ kind: "note", key: `${ns}/loading`, depth: 1, text: "Loading…" });
      continue;
    }
    const layers = [...new Set(pipelines.map((p) => p.layer))].sort(
      (a, b) => (LAYER_ORDER.indexOf(a) + 1 || 99) - (LAYER_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b),
    );
    for (const layer of layers) {
      const key = `${ns}/layer/${layer}`;
      const inLayer = pipelines.filter((p) => p.layer === layer);
      const isOpen = q !== "" || !open.has(`${key}:closed`);
      rows.push({ kind: "group", key, depth: 1, ns, group: layer, label: layer, open: isOpen, count: inLayer.length });
      if (isOpen) {
        for (const p of inLayer) rows.push({ kind: "pipeline", key: `${key}/${p.name}`, depth: 2, pipeline: p });
      }
    }
    if (pipelines.length === 0 && !q) rows.push({ kind: "note", key: `${ns}/empty`, depth: 1, text: "No pipelines yet" });
    if (tables.length) {
      const key = `${ns}/tables`;
      const isOpen = q !== "" || open.has(key);
      rows.push({ kind: "group", key, depth: 1, ns, group: "tables", label: "tables", open: isOpen, count: tables.length });
      if (isOpen) {
        for (const t of tables) {
          rows.push({ kind: "table", key: `${key}/${t.layer}.${t.name}`, depth: 2, ns, layer: t.layer, name: t.name });
        }
      }
    }
    if (zones.length) {
      const key = `${ns}/zones`;
      const isOpen = q !== "" || open.has(key);
      rows.push({ kind: "group", key, depth: 1, ns, group: "zones", label: "landing zones", open: isOpen, count: zones.length });
      if (isOpen) for (const z of zones) rows.push({ kind: "zone", key: `${key}/${z.name}`, depth: 2, ns, name: z.name });
    }
  }
  return rows;
}
