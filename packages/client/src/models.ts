/** Response and request shapes of the RAT API as the portal uses them.
 *
 * The generated `schema.d.ts` (from `openapi.json`) checks that every path the client calls exists; these models
 * describe the JSON bodies. When the typed OpenAPI document declares component schemas, these become aliases of
 * `components["schemas"][...]` so that the server's models are the single source. */

export type Layer = "bronze" | "silver" | "gold";
export const LAYERS: readonly Layer[] = ["bronze", "silver", "gold"];
export type RunStatus = "pending" | "running" | "success" | "failed" | "cancelled";
export const RUN_STATUSES: readonly RunStatus[] = ["pending", "running", "success", "failed", "cancelled"];
export type LogLevel = "debug" | "info" | "warn" | "warning" | "error";

export interface Namespace {
  name: string;
  description: string;
  created_by: string | null;
  created_at: string;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  created_at: string;
  finished_at: string | null;
}

export interface Pipeline {
  id: string;
  namespace: string;
  layer: Layer;
  name: string;
  type: string;
  description: string;
  owner: string | null;
  created_at: string;
  updated_at: string;
  draft_dirty: boolean;
  published_version: number | null;
  published_at: string | null;
  retention_config: unknown;
  s3_path: string;
  last_run?: RunSummary | null;
}

export interface Phase {
  name: string;
  duration_ms: number | null;
  metadata: Record<string, unknown>;
}

export interface QualityResult {
  test: string;
  severity: string;
  description: string;
  violations: number;
  sample: Record<string, unknown>[];
  error: string | null;
  status: "pass" | "fail" | "error" | string;
  duration_ms: number | null;
}

export interface Run {
  id: string;
  pipeline_id: string;
  namespace: string;
  layer: Layer;
  name: string;
  status: RunStatus;
  trigger: string;
  version: string;
  batch_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  rows_written: number | null;
  error: string | null;
  phases: Phase[];
  attempt: number;
  snapshot_id: string | null;
  owner: string | null;
  quality?: QualityResult[];
}

export interface LogLine {
  seq: number;
  timestamp: string;
  level: LogLevel;
  message: string;
}

export interface RunLogs {
  logs: LogLine[];
  status: RunStatus;
}

export interface Page {
  total: number;
  limit: number;
  offset: number;
}

export interface StoredFile {
  path: string;
  size: number;
  modified: string;
  type?: string;
}

export interface FileContent extends StoredFile {
  content: string;
}

export interface Version {
  pipeline_id: string;
  version: number;
  message: string;
  files: Record<string, string>;
  created_at: string;
  rolled_back_from: number | null;
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export interface PreviewResult {
  columns: ColumnInfo[];
  rows: Record<string, unknown>[];
  total_row_count: number;
  explain_output: string;
  warnings: string[];
  error: string | null;
  compiled_sql: string;
  phases: Phase[];
}

export interface FileValidation {
  path: string;
  valid: boolean;
  errors: string[];
  warnings: string[];
}

export interface Validation {
  valid: boolean;
  files: FileValidation[];
}

export interface QualityTest {
  name: string;
  sql: string;
  severity: string;
  description: string;
  tags: string[];
  remediation: string;
  published: boolean;
  path: string;
}

export interface TestRun {
  results: QualityResult[];
  passed: number;
  failed: number;
  total: number;
}

export interface SchemaTable {
  namespace: string;
  layer: Layer;
  name: string;
  columns: ColumnInfo[];
}

export type RetentionValues = Record<string, number>;

export interface PipelineRetention {
  system: RetentionValues;
  overrides: RetentionValues | null;
  effective: RetentionValues;
}

export interface CreatePipeline {
  namespace: string;
  layer: Layer;
  name: string;
  type?: "sql" | "python";
  description?: string;
  source?: string;
  merge_strategy?: string;
  unique_key?: string[] | string;
}

export interface StartedRun {
  run_id: string;
  status: RunStatus;
  runs: Run[];
}
