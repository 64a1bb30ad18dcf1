/** The shapes of the RAT API, taken from the generated `schema.d.ts` (so from the server's pydantic models via
 * `openapi.json`): when the server changes a model, `npm run gen:api` regenerates the types and the compiler
 * points at every place in the UI that must follow. Request bodies keep hand-written types where the document
 * marks defaulted fields as required. */
import type { components } from "./schema";

type S = components["schemas"];

export type Layer = "bronze" | "silver" | "gold";
export const LAYERS: readonly Layer[] = ["bronze", "silver", "gold"];
export type RunStatus = S["Run"]["status"];
export const RUN_STATUSES: readonly RunStatus[] = ["pending", "running", "success", "failed", "cancelled", "skipped"];
export type LogLevel = string;

export type Namespace = S["Namespace"];
export type RunSummary = S["LastRun"];
/** A pipeline as listed (with its last run) or described (without). */
export type Pipeline = S["Pipeline"] & { last_run?: S["LastRun"] | null };
export type Phase = S["Phase"];
/** A test outcome as a run stores it, or as "run the tests now" returns it. */
export type QualityResult = S["QualityResult"] | S["TestResult"];
export type Run = S["Run"] & { quality?: S["QualityResult"][] };
export type LogLine = S["RunLogEvent"];
export type RunLogs = S["RunLogs"];
export type RunStatusEvent = S["RunStatusEvent"];
export interface Page {
  total: number;
  limit: number;
  offset: number;
}
export type StoredFile = S["FileEntry"];
export type WrittenFile = S["WrittenFile"];
export type FileContent = S["FileContent"];
export type Version = S["PipelineVersion"];
export type ColumnInfo = S["Column"];
export type PreviewResult = S["PreviewResult"];
export type QueryResult = S["QueryResult"];
export type FileValidation = S["FileReport"];
export type Validation = S["ValidationReport"];
export type QualityTest = S["QualityTest"];
export type TestRun = S["TestRunResult"];
export type SchemaTable = S["TableSchema"];
export type RetentionValues = Record<string, number>;
export type PipelineRetention = S["PipelineRetention"];
export type PublishResult = S["PublishResult"];
export type RollbackResult = S["RollbackResult"];
export type StartedRun = S["CreateRunResponse"];
export type CancelledRun = S["CancelRunResponse"];

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
