import { describe, expect, it } from "vitest";
import { CompletionContext, type CompletionResult, type CompletionSource } from "@codemirror/autocomplete";
import { EditorState } from "@codemirror/state";
import { annotationCompletion, columnCompletion, referencedTables, refCompletion } from "./completion";
import { diffLines } from "./diff";

/** Run a completion source with the cursor at `|`. */
function complete(source: CompletionSource, text: string, explicit = false): CompletionResult | null {
  const pos = text.indexOf("|");
  const doc = text.replace("|", "");
  const state = EditorState.create({ doc, selection: { anchor: pos } });
  return source(new CompletionContext(state, pos, explicit)) as CompletionResult | null;
}

const targets = ["shop.bronze.orders", "shop.silver.orders", "other.gold.kpis"];

describe("ref() completion", () => {
  it("offers every pipeline, and the short layer.name form in the current namespace", () => {
    const r = complete(refCompletion(() => targets, () => "shop"), "SELECT * FROM {{ ref('sil|') }}");
    expect(r).not.toBeNull();
    const labels = r?.options.map((o) => o.label) ?? [];
    expect(labels).toEqual(expect.arrayContaining(["shop.silver.orders", "silver.orders", "other.gold.kpis"]));
    expect(labels).not.toContain("gold.kpis");
    expect(r?.from).toBe("SELECT * FROM {{ ref('".length);
  });

  it("works with double quotes and stays quiet outside ref()", () => {
    expect(complete(refCompletion(() => targets), 'ref("|')?.from).toBe(5);
    expect(complete(refCompletion(() => targets), "SELECT ord|")).toBeNull();
  });
});

describe("annotation completion", () => {
  it("completes keys after -- @ and values after the key", () => {
    const keys = complete(annotationCompletion(), "-- @mer|");
    expect(keys?.options.map((o) => o.label)).toContain("merge_strategy");
    expect(keys?.from).toBe(4);
    const values = complete(annotationCompletion(), "-- @merge_strategy: in|");
    expect(values?.options.map((o) => o.label)).toEqual(expect.arrayContaining(["incremental", "scd2"]));
    expect(values?.from).toBe("-- @merge_strategy: ".length);
    expect(complete(annotationCompletion(), "# @|")?.options.length).toBeGreaterThan(5);
    expect(complete(annotationCompletion(), "SELECT 1 -- @|")).toBeNull();
    expect(complete(annotationCompletion(), "-- @unique_key: |")).toBeNull();
  });
});

describe("column completion", () => {
  const tables = [
    { namespace: "shop", layer: "bronze", name: "orders", columns: [{ name: "order_id", type: "BIGINT" }, { name: "amount", type: "DECIMAL" }] },
    { namespace: "shop", layer: "gold", name: "kpis", columns: [{ name: "revenue", type: "DOUBLE" }] },
  ];
  it("ranks columns of the referenced tables first and adds the Jinja helpers", () => {
    const r = complete(columnCompletion(() => tables, () => "shop"), "SELECT am| FROM {{ ref('bronze.orders') }}");
    const byLabel = new Map(r?.options.map((o) => [o.label, o]) ?? []);
    expect(byLabel.get("amount")?.boost).toBe(5);
    expect(byLabel.get("revenue")?.boost).toBe(-5);
    expect(byLabel.get("amount")?.detail).toBe("DECIMAL · bronze.orders");
    expect(byLabel.has("ref")).toBe(true);
    expect(r?.from).toBe(7);
  });
  it("stays out of ref() strings and annotations", () => {
    expect(complete(columnCompletion(() => tables), "ref('ord|")).toBeNull();
    expect(complete(columnCompletion(() => tables), "-- @desc|")).toBeNull();
  });
  it("reads the referenced tables", () => {
    expect(referencedTables("{{ ref('a.b.c') }} {{ ref(\"silver.x\") }} {{ ref('bad') }}", "ns")).toEqual(["a.b.c", "ns.silver.x"]);
  });
});

describe("diffLines", () => {
  it("marks added and removed lines with their numbers", () => {
    const d = diffLines("a\nb\nc", "a\nc\nd");
    expect(d.map((x) => `${x.kind}:${x.text}`)).toEqual(["same:a", "del:b", "same:c", "add:d"]);
    expect(d[3]?.newLine).toBe(3);
    expect(diffLines("x", "x").every((l) => l.kind === "same")).toBe(true);
  });
});
