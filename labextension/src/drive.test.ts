import { describe, expect, it } from "vitest";
import { ApiError, type FileContent, type StoredFile, type WrittenFile } from "@rat/client";
import type { ServerConnection } from "@jupyterlab/services";
import { childrenOf, RatDrive, type DriveClient } from "./drive";

/** An in-memory files API with the server's behaviour that matters to the drive: 404 for a missing file, a 400
 * with the template error for an invalid pipeline file, prefix listing of every file below a folder. */
class FakeFiles implements DriveClient {
  files = new Map<string, string>();
  calls: string[] = [];
  http = { url: (p: string, params?: Record<string, string | number>, q?: Record<string, unknown>) =>
    `/user/alice${p.replace("{path}", String(params?.path ?? ""))}${q?.download ? "?download=1" : ""}` };

  private info(path: string): StoredFile {
    return { path, size: (this.files.get(path) ?? "").length, modified: "2026-12-01T00:00:00Z", type: "other" };
  }
  async listNamespaces() {
    const names = [...new Set([...this.files.keys()].map((p) => p.split("/")[0] ?? ""))];
    return { namespaces: names.map((name) => ({ name, description: "", created_by: null, created_at: "2026-01-01T00:00:00Z" })), total: names.length };
  }
  async listFiles(prefix: string) {
    this.calls.push(`list ${prefix}`);
    return { files: [...this.files.keys()].filter((p) => p.startsWith(prefix)).map((p) => this.info(p)) };
  }
  async readFile(path: string): Promise<FileContent> {
    this.calls.push(`read ${path}`);
    const content = this.files.get(path);
    if (content === undefined) throw new ApiError(404, `file not found: ${path}`, "NOT_FOUND");
    return { ...this.info(path), content };
  }
  async writeFile(path: string, content: string): Promise<WrittenFile> {
    this.calls.push(`write ${path}`);
    if (path.endsWith("pipeline.sql") && content.includes("{{") && !content.includes("}}")) {
      throw new ApiError(400, "Jinja syntax error at line 2: unexpected end of template", "INVALID", "Bad Request",
        { line: 2 });
    }
    this.files.set(path, content);
    return { ...this.info(path), status: "written", warnings: [] };
  }
  async deleteFile(path: string): Promise<void> {
    this.calls.push(`delete ${path}`);
    if (!this.files.delete(path)) throw new ApiError(404, `file not found: ${path}`, "NOT_FOUND");
  }
}

const settings = { baseUrl: "/user/alice/" } as ServerConnection.ISettings;

function drive(): [RatDrive, FakeFiles] {
  const api = new FakeFiles();
  api.files.set("shop/pipelines/bronze/orders/pipeline.sql", "SELECT 1 AS id");
  api.files.set("shop/pipelines/bronze/orders/tests/not_null.sql", "SELECT * FROM t WHERE id IS NULL");
  api.files.set("shop/pipelines/silver/clean/pipeline.py", "df = ref('bronze.orders')");
  api.files.set("shop/landing/raw/orders.csv", "id\n1\n");
  api.files.set("web/config.yaml", "a: 1");
  return [new RatDrive(api, settings), api];
}

describe("RatDrive", () => {
  it("lists namespaces at the root and implicit folders below", async () => {
    const [d] = drive();
    const root = await d.get("");
    expect(root.type).toBe("directory");
    expect((root.content as { name: string }[]).map((m) => m.name)).toEqual(["shop", "web"]);
    const shop = await d.get("shop");
    expect((shop.content as { name: string; type: string }[]).map((m) => [m.name, m.type])).toEqual([
      ["landing", "directory"],
      ["pipelines", "directory"],
    ]);
    const orders = await d.get("shop/pipelines/bronze/orders");
    expect((orders.content as { name: string; type: string }[]).map((m) => [m.name, m.type])).toEqual([
      ["tests", "directory"],
      ["pipeline.sql", "file"],
    ]);
  });

  it("opens files as text with the MIME type editors highlight by", async () => {
    const [d] = drive();
    const sql = await d.get("shop/pipelines/bronze/orders/pipeline.sql");
    expect(sql).toMatchObject({ type: "file", format: "text", content: "SELECT 1 AS id", mimetype: "text/x-sql" });
    expect((await d.get("shop/pipelines/silver/clean/pipeline.py")).mimetype).toBe("text/x-python");
    expect((await d.get("web/config.yaml")).mimetype).toBe("text/x-yaml");
    const noContent = await d.get("shop/pipelines/bronze/orders/pipeline.sql", { content: false });
    expect(noContent.content).toBeNull();
  });

  it("saves through the API and reports the change", async () => {
    const [d, api] = drive();
    const seen: string[] = [];
    d.fileChanged.connect((_s, a) => seen.push(`${a.type} ${a.newValue?.path}`));
    const m = await d.save("shop/pipelines/bronze/orders/pipeline.sql", { type: "file", format: "text", content: "SELECT 2 AS id" });
    expect(m.path).toBe("shop/pipelines/bronze/orders/pipeline.sql");
    expect(api.files.get("shop/pipelines/bronze/orders/pipeline.sql")).toBe("SELECT 2 AS id");
    expect(seen).toEqual(["save shop/pipelines/bronze/orders/pipeline.sql"]);
  });

  it("refuses an invalid pipeline file with the server's message and line, writing nothing", async () => {
    const [d, api] = drive();
    await expect(d.save("shop/pipelines/bronze/orders/pipeline.sql", { type: "file", content: "SELECT\n{{ ref(" }))
      .rejects.toThrow("Could not save shop/pipelines/bronze/orders/pipeline.sql (line 2): Jinja syntax error at line 2");
    expect(api.files.get("shop/pipelines/bronze/orders/pipeline.sql")).toBe("SELECT 1 AS id");
    expect(d.problems.get("shop/pipelines/bronze/orders/pipeline.sql")?.line).toBe(2);
    await d.save("shop/pipelines/bronze/orders/pipeline.sql", { type: "file", content: "SELECT 3 AS id" });
    expect(d.problems.has("shop/pipelines/bronze/orders/pipeline.sql")).toBe(false);
  });

  it("a missing file is an error naming it, not an empty folder", async () => {
    const [d] = drive();
    await expect(d.get("shop/pipelines/bronze/nope/pipeline.sql", { type: "file" })).rejects.toThrow(
      "Could not open shop/pipelines/bronze/nope/pipeline.sql: file not found");
  });

  it("creates untitled files with free names, renames, copies and deletes folders file by file", async () => {
    const [d, api] = drive();
    const a = await d.newUntitled({ path: "shop/docs", type: "file", ext: ".md" });
    const b = await d.newUntitled({ path: "shop/docs", type: "file", ext: ".md" });
    expect([a.path, b.path]).toEqual(["shop/docs/untitled.md", "shop/docs/untitled1.md"]);
    await d.rename("shop/docs/untitled.md", "shop/docs/notes.md");
    expect(api.files.has("shop/docs/untitled.md")).toBe(false);
    expect(api.files.has("shop/docs/notes.md")).toBe(true);
    const c = await d.copy("shop/docs/notes.md", "shop/docs");
    expect(c.path).toBe("shop/docs/notes-Copy.md");
    await d.delete("shop/docs");
    expect([...api.files.keys()].filter((p) => p.startsWith("shop/docs/"))).toEqual([]);
    await expect(d.newUntitled({ path: "shop", type: "directory" })).rejects.toThrow("Folders in RAT storage");
    await expect(d.save("shop/x.ipynb", { type: "notebook", content: {} })).rejects.toThrow("notebooks");
  });

  it("downloads through the API's raw bytes", async () => {
    const [d] = drive();
    expect(await d.getDownloadUrl("shop/landing/raw/orders.csv")).toBe("/user/alice/rat/api/v1/files/shop/landing/raw/orders.csv?download=1");
  });

  it("childrenOf keeps the newest modification per folder and sorts folders first", () => {
    const f = (path: string, modified: string): StoredFile => ({ path, size: 1, modified, type: "other" });
    const out = childrenOf("a", [f("a/z.sql", "1"), f("a/b/x", "2"), f("a/b/y", "5"), f("ab/q", "9")]);
    expect(out.map((m) => [m.name, m.type, m.last_modified])).toEqual([
      ["b", "directory", "5"],
      ["z.sql", "file", "1"],
    ]);
  });
});
