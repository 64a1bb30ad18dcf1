import type { Completion, CompletionContext, CompletionResult, CompletionSource } from "@codemirror/autocomplete";
import { STRATEGIES } from "../strategies";

/** Annotation keys a pipeline file understands (`-- @key: value`), with the values some of them take. */
export const ANNOTATIONS: Record<string, readonly string[]> = {
  merge_strategy: STRATEGIES,
  unique_key: [],
  watermark_column: [],
  description: [],
  materialized: ["table"],
  archive_landing_zones: ["true", "false"],
  partition_column: [],
  partition_by: [],
  scd_valid_from: [],
  scd_valid_to: [],
  max_retries: [],
  retry_delay_seconds: [],
  on_schema_change: ["append_new_columns", "sync_all_columns", "fail"],
  hard_deletes: ["ignore", "delete", "invalidate"],
  null_keys: ["reject", "allow"],
};

/** Quality-test annotations. */
export const TEST_ANNOTATIONS: Record<string, readonly string[]> = {
  severity: ["error", "warn"],
  description: [],
  tags: [],
  remediation: [],
};

export const JINJA_NAMES: readonly Completion[] = [
  { label: "ref", type: "function", apply: "ref('')", detail: "another pipeline's table" },
  { label: "this", type: "variable", detail: "this pipeline's table" },
  { label: "landing_zone", type: "function", apply: "landing_zone('')", detail: "files of a landing zone" },
  { label: "is_incremental", type: "function", apply: "is_incremental()" },
  { label: "watermark_value", type: "variable" },
  { label: "run_started_at", type: "variable" },
];

/** Inside `ref('…` (either quote): complete the names of the other pipelines, `ns.layer.name` and, for the
 * current namespace, the shorter `layer.name`. */
export function refCompletion(targets: () => readonly string[], currentNamespace?: () => string | undefined): CompletionSource {
  return (ctx: CompletionContext): CompletionResult | null => {
    const m = ctx.matchBefore(/ref\(\s*['"][\w.]*/);
    if (!m) return null;
    const quote = Math.max(m.text.lastIndexOf("'"), m.text.lastIndexOf('"'));
    const from = m.from + quote + 1;
    const ns = currentNamespace?.();
    const options: Completion[] = [];
    for (const t of targets()) {
      options.push({ label: t, type: "class", detail: "pipeline", boost: 1 });
      if (ns && t.startsWith(`${ns}.`)) {
        options.push({ label: t.slice(ns.length + 1), type: "class", detail: `in ${ns}`, boost: 2 });
      }
    }
    return { from, options, validFor: /^[\w.]*$/ };
  };
}

/** At `-- @` (SQL) or `# @` (Python): annotation keys; after `@key: `, the values that key accepts. */
export function annotationCompletion(keys: Record<string, readonly string[]> = ANNOTATIONS): CompletionSource {
  return (ctx: CompletionContext): CompletionResult | null => {
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    const value = /^\s*(--|#)\s*@(\w+):\s*([\w,]*)$/.exec(before);
    if (value) {
      const choices = keys[value[2] ?? ""] ?? [];
      if (!choices.length) return null;
      return {
        from: ctx.pos - (value[3]?.length ?? 0),
        options: choices.map((c) => ({ label: c, type: "enum" })),
        validFor: /^\w*$/,
      };
    }
    const key = /^\s*(--|#)\s*@(\w*)$/.exec(before);
    if (!key) return null;
    return {
      from: ctx.pos - (key[2]?.length ?? 0),
      options: Object.keys(keys).map((k) => ({ label: k, type: "keyword", apply: `${k}: `, detail: "annotation" })),
      validFor: /^\w*$/,
    };
  };
}

export interface ColumnTable {
  namespace: string;
  layer: string;
  name: string;
  columns: readonly { name: string; type: string }[];
}

/** The pipelines a text refers to through `ref('…')`, as full `ns.layer.name` (short forms use `namespace`). */
export function referencedTables(text: string, namespace?: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/ref\(\s*['"]([\w.]+)['"]\s*\)/g)) {
    const t = m[1] ?? "";
    const parts = t.split(".");
    if (parts.length === 3) out.add(t);
    else if (parts.length === 2 && namespace) out.add(`${namespace}.${t}`);
  }
  return [...out];
}

/** Column names: of the tables the text references first (with their table as detail), then every other table's
 * columns and the Jinja helpers. Not inside `ref('…')` or a comment's annotation. */
export function columnCompletion(tables: () => readonly ColumnTable[], namespace?: () => string | undefined): CompletionSource {
  return (ctx: CompletionContext): CompletionResult | null => {
    const word = ctx.matchBefore(/\w+/);
    if (!word && !ctx.explicit) return null;
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    if (/ref\(\s*['"][\w.]*$/.test(before) || /^\s*(--|#)\s*@/.test(before)) return null;
    const used = new Set(referencedTables(ctx.state.doc.toString(), namespace?.()));
    const options: Completion[] = [];
    const seen = new Set<string>();
    for (const t of tables()) {
      const full = `${t.namespace}.${t.layer}.${t.name}`;
      const mine = used.has(full);
      for (const c of t.columns) {
        const key = `${c.name}|${mine}`;
        if (seen.has(key)) continue;
        seen.add(key);
        options.push({ label: c.name, type: "property", detail: `${c.type} · ${t.layer}.${t.name}`, boost: mine ? 5 : -5 });
      }
    }
    options.push(...JINJA_NAMES);
    return { from: word ? word.from : ctx.pos, options, validFor: /^\w*$/ };
  };
}
