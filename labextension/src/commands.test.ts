import { describe, expect, it } from "vitest";
import { ApiError } from "@rat/client";
import { CommandIDs, PANEL_OF, PUBLIC_COMMANDS, cellSql, pipelineOfRow, renameFlow } from "./commands";
import { fqName, localPath, pipelineFile, pipelineOfPath, samePipeline } from "./paths";
import { treeRows, type NamespaceData } from "./tree";
import type { Pipeline } from "@rat/client";

describe("command ids", () => {
  it("are the stable public ones", () => {
    expect(PUBLIC_COMMANDS).toEqual([
      "rat:open-sidebar", "rat:new-pipeline", "rat:run-pipeline", "rat:preview-pipeline", "rat:publish-pipeline",
      "rat:open-runs", "rat:open-run", "rat:open-query", "rat:open-lineage", "rat:open-explorer",
      "rat:open-landing", "rat:open-schedules",
    ]);
    expect(new Set(Object.values(CommandIDs)).size).toBe(Object.values(CommandIDs).length);
    for (const id of Object.values(CommandIDs)) expect(id).toMatch(/^rat:[a-z-]+$/);
    expect(PANEL_OF[CommandIDs.openRuns]).toBe("/runs");
    expect(PANEL_OF[CommandIDs.openSchedules]).toBe("/schedules");
  });
});

describe("notebook cells", () => {
  it("take the SQL a cell ran, without the %%rat sql magic line", () => {
    expect(cellSql("%%rat sql\nSELECT 1\n")).toBe("SELECT 1");
    expect(cellSql("%%rat\r\nSELECT 2")).toBe("SELECT 2");
    expect(cellSql("SELECT 3 -- a RAT SQL cell")).toBe("SELECT 3 -- a RAT SQL cell");
    expect(cellSql("%%ratsql\nSELECT 4")).toBe("%%ratsql\nSELECT 4");
  });

  it("leave out the leading directives and cell annotations, as the kernel's %%rat pipeline does", () => {
    expect(cellSql("%namespace zoo\n-- @name: kept\n-- @merge_strategy: full_refresh\nSELECT 1 AS x -- @name: here\n%late"))
      .toBe("-- @merge_strategy: full_refresh\nSELECT 1 AS x -- @name: here\n%late");
    expect(cellSql("%%rat sql\n%limit 5\n-- @this: silver.x\nSELECT * FROM {{ this }}")).toBe("SELECT * FROM {{ this }}");
  });
});

describe("paths", () => {
  it("find the pipeline of a drive path", () => {
    expect(pipelineOfPath("RAT:shop/pipelines/bronze/orders/pipeline.sql")).toEqual({ ns: "shop", layer: "bronze", name: "orders" });
    expect(pipelineOfPath("RAT:shop/pipelines/bronze/orders/tests/t.sql")).toEqual({ ns: "shop", layer: "bronze", name: "orders" });
    expect(pipelineOfPath("RAT:shop/landing/raw/a.csv")).toBeNull();
    expect(pipelineOfPath("shop/pipelines/bronze")).toBeNull();
    expect(localPath("RAT:/shop/x")).toBe("shop/x");
    expect(pipelineFile({ ns: "a", layer: "gold", name: "b" }, "python")).toBe("RAT:a/pipelines/gold/b/pipeline.py");
    expect(fqName({ ns: "a", layer: "gold", name: "b" })).toBe("a.gold.b");
    expect(localPath(pipelineFile({ ns: "a", layer: "gold", name: "b" }))).toBe("a/pipelines/gold/b/pipeline.sql");
    const k = { ns: "shop", layer: "bronze", name: "orders" };
    expect(samePipeline(pipelineOfPath("RAT:shop/pipelines/bronze/orders/tests/quality/t.sql"), k)).toBe(true);
    expect(samePipeline(pipelineOfPath("RAT:shop/pipelines/bronze/other/pipeline.sql"), k)).toBe(false);
    expect(samePipeline(pipelineOfPath("RAT:shop/landing/raw/a.csv"), k)).toBe(false);
  });
});

describe("sidebar tree", () => {
  const p = (ns: string, layer: string, name: string): Pipeline =>
    ({ namespace: ns, layer, name, type: "sql", last_run: null } as unknown as Pipeline);
  const data = new Map<string, NamespaceData>([
    ["shop", { pipelines: [p("shop", "silver", "clean"), p("shop", "bronze", "orders")], tables: [], zones: [{ namespace: "shop", name: "raw" }] }],
  ]);

  it("shows namespaces closed, then layers in medallion order when opened", () => {
    expect(treeRows(["shop", "web"], data, new Set(), "").map((r) => r.key)).toEqual(["shop", "web"]);
    const open = treeRows(["shop", "web"], data, new Set(["shop", "web"]), "").map((r) => r.key);
    expect(open).toEqual([
      "shop", "shop/layer/bronze", "shop/layer/bronze/orders", "shop/layer/silver", "shop/layer/silver/clean",
      "shop/zones", "web", "web/loading",
    ]);
  });

  it("a namespace whose pipelines have not arrived yet shows as loading, even with its tables in", () => {
    const partial = new Map<string, NamespaceData>([["web", { tables: [{ namespace: "web", layer: "gold", name: "t" }] }]]);
    expect(treeRows(["web"], partial, new Set(["web"]), "").map((r) => r.key)).toEqual(["web", "web/loading"]);
  });

  it("shows a namespace's pipeline count before its pipelines are loaded", () => {
    const counted = new Map<string, NamespaceData>([["big", { count: 1000 }]]);
    const [row] = treeRows(["big"], counted, new Set(), "");
    expect(row).toMatchObject({ kind: "namespace", key: "big", count: 1000, open: false });
    expect(treeRows(["big"], counted, new Set(["big"]), "").map((r) => r.key)).toEqual(["big", "big/loading"]);
    expect(treeRows(["big"], counted, new Set(), "p0").map((r) => r.key)).toEqual(["big"]);
  });

  it("searches leaves and opens their parents", () => {
    const rows = treeRows(["shop", "web"], data, new Set(), "orde").map((r) => r.key);
    expect(rows).toEqual(["shop", "shop/layer/bronze", "shop/layer/bronze/orders", "web"]);
  });

  it("stays linear for a thousand pipelines", () => {
    const many = Array.from({ length: 1000 }, (_, i) => p("big", ["bronze", "silver", "gold"][i % 3] ?? "gold", `p${i}`));
    const d = new Map<string, NamespaceData>([["big", { pipelines: many }]]);
    const t0 = performance.now();
    const rows = treeRows(["big"], d, new Set(["big"]), "");
    expect(rows.length).toBe(1 + 3 + 1000);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe("renaming from the sidebar", () => {
  const k = { ns: "shop", layer: "bronze", name: "raw" };

  it("finds the pipeline of the row right-clicked (or of an element inside it), nothing elsewhere", () => {
    document.body.innerHTML = `<div class="rat-lab-row rat-lab-row-pipeline" data-ns="shop" data-layer="bronze"
      data-name="raw"><span class="rat-lab-label">raw</span></div><div class="rat-lab-row rat-lab-row-table"></div>`;
    expect(pipelineOfRow(document.querySelector(".rat-lab-label"))).toEqual(k);
    expect(pipelineOfRow(document.querySelector(".rat-lab-row-pipeline"))).toEqual(k);
    expect(pipelineOfRow(document.querySelector(".rat-lab-row-table"))).toBeNull();
    expect(pipelineOfRow(null)).toBeNull();
  });

  it("renames to the name asked for and answers the new key", async () => {
    const calls: string[] = [];
    const out = await renameFlow(k, {
      ask: async () => " landed ",
      rename: async (p, name) => calls.push(`${p.ns}.${p.layer}.${p.name}->${name}`),
      fail: async () => calls.push("fail"),
    });
    expect(out).toEqual({ ...k, name: "landed" });
    expect(calls).toEqual(["shop.bronze.raw->landed"]);
  });

  it("does nothing when cancelled or the name is unchanged", async () => {
    const calls: string[] = [];
    const steps = (name: string | null) => ({ ask: async () => name,
      rename: async () => calls.push("rename"), fail: async () => calls.push("fail") });
    expect(await renameFlow(k, steps(null))).toBeNull();
    expect(await renameFlow(k, steps(""))).toBeNull();
    expect(await renameFlow(k, steps("raw"))).toBeNull();
    expect(calls).toEqual([]);
  });

  it("shows the server's refusal with its message", async () => {
    const shown: string[] = [];
    const refusal = new ApiError(409,
      "pipeline shop.bronze.raw is referenced by shop.silver.clean: change their ref() first", "CONFLICT");
    const out = await renameFlow(k, {
      ask: async () => "landed",
      rename: async () => { throw refusal; },
      fail: async (title, message) => shown.push(`${title}: ${message}`),
    });
    expect(out).toBeNull();
    expect(shown).toEqual(["Could not rename shop.bronze.raw: pipeline shop.bronze.raw is referenced by " +
      "shop.silver.clean: change their ref() first"]);
  });
});
