import { Http, type HttpOptions, type Query } from "./http";
import type {
  CancelledRun,
  CreatePipeline,
  FileContent,
  Namespace,
  Page,
  Pipeline,
  PipelineRetention,
  PreviewResult,
  PublishResult,
  QualityTest,
  RollbackResult,
  Run,
  RunLogs,
  SchemaTable,
  StartedRun,
  StoredFile,
  TestRun,
  Validation,
  Version,
  WrittenFile,
} from "./models";

export interface PipelineKey {
  ns: string;
  layer: string;
  name: string;
}

const P = "/rat/api/v1/pipelines/{ns}/{layer}/{name}" as const;

/** The RAT API as the UIs call it. Every method rejects with an `ApiError` carrying the server's message. */
export class RatClient {
  readonly http: Http;

  constructor(options: HttpOptions) {
    this.http = new Http(options);
  }

  private key(k: PipelineKey): Record<string, string> {
    return { ns: k.ns, layer: k.layer, name: k.name };
  }

  // -- namespaces
  listNamespaces(): Promise<{ namespaces: Namespace[]; total: number }> {
    return this.http.call("GET", "/rat/api/v1/namespaces");
  }
  createNamespace(name: string, description = ""): Promise<Namespace> {
    return this.http.call("POST", "/rat/api/v1/namespaces", { body: { name, description } });
  }

  // -- pipelines
  listPipelines(query: Query = {}): Promise<{ pipelines: Pipeline[] } & Page> {
    return this.http.call("GET", "/rat/api/v1/pipelines", { query: { limit: 200, ...query } });
  }
  /** Every pipeline, following pages (the list endpoint caps a page at 200). */
  async allPipelines(query: Query = {}): Promise<Pipeline[]> {
    const out: Pipeline[] = [];
    for (let offset = 0; ; offset += 200) {
      const page = await this.listPipelines({ ...query, limit: 200, offset });
      out.push(...page.pipelines);
      if (page.pipelines.length === 0 || out.length >= page.total) return out;
    }
  }
  createPipeline(body: CreatePipeline): Promise<Pipeline> {
    return this.http.call("POST", "/rat/api/v1/pipelines", { body });
  }
  getPipeline(k: PipelineKey): Promise<Pipeline> {
    return this.http.call("GET", P, { params: this.key(k) });
  }
  updatePipeline(k: PipelineKey, body: { description?: string; owner?: string }): Promise<Pipeline> {
    return this.http.call("PUT", P, { params: this.key(k), body });
  }
  deletePipeline(k: PipelineKey): Promise<void> {
    return this.http.call("DELETE", P, { params: this.key(k) });
  }
  publish(k: PipelineKey, message: string): Promise<PublishResult> {
    return this.http.call("POST", `${P}/publish`, { params: this.key(k), body: { message } });
  }
  versions(k: PipelineKey): Promise<{ versions: Version[]; total: number }> {
    return this.http.call("GET", `${P}/versions`, { params: this.key(k) });
  }
  version(k: PipelineKey, number: number): Promise<Version> {
    return this.http.call("GET", `${P}/versions/{number}`, { params: { ...this.key(k), number } });
  }
  rollback(k: PipelineKey, version: number, message = ""): Promise<RollbackResult> {
    return this.http.call("POST", `${P}/rollback`, { params: this.key(k), body: { version, message } });
  }
  preview(k: PipelineKey, code?: string, limit = 100): Promise<PreviewResult> {
    return this.http.call("POST", `${P}/preview`, { params: this.key(k), body: { code, limit } });
  }
  validate(k: PipelineKey, files?: Record<string, string>): Promise<Validation> {
    return this.http.call("POST", `${P}/validate`, { params: this.key(k), body: { files } });
  }
  retention(k: PipelineKey): Promise<PipelineRetention> {
    return this.http.call("GET", `${P}/retention`, { params: this.key(k) });
  }
  setRetention(k: PipelineKey, values: Record<string, number | null>): Promise<PipelineRetention> {
    return this.http.call("PUT", `${P}/retention`, { params: this.key(k), body: values });
  }
  listTests(k: PipelineKey): Promise<{ tests: QualityTest[]; total: number }> {
    return this.http.call("GET", `${P}/tests`, { params: this.key(k) });
  }
  createTest(k: PipelineKey, body: { name: string; sql: string; severity?: string; description?: string }):
    Promise<QualityTest> {
    return this.http.call("POST", `${P}/tests`, { params: this.key(k), body });
  }
  updateTest(k: PipelineKey, test: string, body: { sql: string; severity?: string; description?: string }):
    Promise<QualityTest> {
    return this.http.call("PUT", `${P}/tests/{test}`, { params: { ...this.key(k), test }, body });
  }
  deleteTest(k: PipelineKey, test: string): Promise<void> {
    return this.http.call("DELETE", `${P}/tests/{test}`, { params: { ...this.key(k), test } });
  }
  runTests(k: PipelineKey, tests?: string[]): Promise<TestRun> {
    return this.http.call("POST", `${P}/tests/run`, { params: this.key(k), body: { tests } });
  }

  // -- files
  listFiles(prefix: string, exclude: string[] = []): Promise<{ files: StoredFile[] }> {
    return this.http.call("GET", "/rat/api/v1/files", { query: { prefix, exclude: exclude.join(",") } });
  }
  readFile(path: string): Promise<FileContent> {
    return this.http.call("GET", "/rat/api/v1/files/{path}", { params: { path } });
  }
  writeFile(path: string, content: string): Promise<WrittenFile> {
    return this.http.call("PUT", "/rat/api/v1/files/{path}", { params: { path }, body: { content } });
  }
  deleteFile(path: string): Promise<void> {
    return this.http.call("DELETE", "/rat/api/v1/files/{path}", { params: { path } });
  }

  // -- runs
  listRuns(query: Query = {}): Promise<{ runs: Run[] } & Page> {
    return this.http.call("GET", "/rat/api/v1/runs", { query });
  }
  startRun(k: PipelineKey, trigger = "manual"): Promise<StartedRun> {
    return this.http.call("POST", "/rat/api/v1/runs", {
      body: { namespace: k.ns, layer: k.layer, pipeline: k.name, trigger },
    });
  }
  getRun(id: string): Promise<Run> {
    return this.http.call("GET", "/rat/api/v1/runs/{run_id}", { params: { run_id: id } });
  }
  cancelRun(id: string): Promise<CancelledRun> {
    return this.http.call("POST", "/rat/api/v1/runs/{run_id}/cancel", { params: { run_id: id } });
  }
  runLogs(id: string, after = 0): Promise<RunLogs> {
    return this.http.call("GET", "/rat/api/v1/runs/{run_id}/logs", { params: { run_id: id }, query: { after } });
  }
  /** URL of the run's log stream (server-sent events), resuming after a sequence number. */
  runLogsStreamUrl(id: string, after = 0): string {
    return this.http.url("/rat/api/v1/runs/{run_id}/logs", { run_id: id }, { after: after || undefined });
  }

  // -- tables
  schema(): Promise<{ tables: SchemaTable[]; total: number }> {
    return this.http.call("GET", "/rat/api/v1/schema");
  }
}
