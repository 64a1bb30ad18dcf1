/**
 * Calls and JSON shapes of the resources behind the query console, explorer, lineage, landing, schedules and
 * settings pages. Paths are checked against the generated OpenAPI paths (`ApiPath`); the shapes follow
 * docs/api.md and become aliases of the generated component schemas once the typed document declares them.
 */
import type { Layer, QueryResult, RatClient } from '@rat/client';
import type { LineageGraph } from './lineage/graph';

export type { QueryResult };

export interface TableSummary {
  namespace: string;
  layer: Layer;
  name: string;
  row_count: number | null;
  size_bytes: number | null;
  snapshot_id: string | number | null;
  updated_at: string | null;
  description: string;
  owner: string | null;
}

export interface TableColumn {
  name: string;
  type: string;
  required: boolean;
  description: string | null;
}

export interface TableDetail extends TableSummary {
  columns: TableColumn[];
  partition_spec: unknown;
  location?: string;
}

export interface Snapshot {
  snapshot_id: string | number;
  parent_id: string | number | null;
  timestamp: string;
  operation: string;
  added_records: number | null;
  deleted_records: number | null;
  total_records: number | null;
}

export interface TableMetadata {
  description?: string;
  owner?: string | null;
  column_descriptions?: Record<string, string>;
}

export interface Zone {
  namespace: string;
  name: string;
  description: string;
  owner: string | null;
  expected_schema: string;
  processed_max_age_days: number;
  auto_purge: boolean | number;
  created_at: string;
  file_count: number;
  total_bytes: number;
}

export interface LandingFile {
  id: string;
  namespace: string;
  zone: string;
  filename: string;
  path: string;
  size_bytes: number;
  content_type: string | null;
  uploaded_at: string;
}

export interface Sample {
  path: string;
  size: number;
  modified: string;
}

export interface Lifecycle {
  processed_max_age_days: number;
  auto_purge: boolean;
}

export interface Schedule {
  id: string;
  namespace: string;
  layer: Layer;
  pipeline: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  last_fired_at: string | null;
  next_run_at: string | null;
  last_run_id: string | null;
  created_at: string;
  updated_at: string;
}

export type TriggerType = 'cron' | 'cron_dependency' | 'pipeline_success' | 'landing_zone_upload' | 'file_pattern'
  | 'webhook';
export const TRIGGER_TYPES: readonly TriggerType[] = ['cron', 'cron_dependency', 'pipeline_success',
  'landing_zone_upload', 'file_pattern', 'webhook'];

export interface Trigger {
  id: string;
  namespace: string;
  layer: Layer;
  pipeline: string;
  type: TriggerType;
  config: Record<string, unknown>;
  enabled: boolean;
  cooldown_seconds: number;
  last_triggered_at?: string | null;
  next_run_at?: string | null;
  created_at: string;
  /** Only in the answer to the create call of a webhook trigger: shown once, never stored. */
  webhook_token?: string;
  webhook_url?: string;
  token_prefix?: string;
}

export interface Features {
  edition: string;
  version: string;
  scheduler: boolean;
  executor: { type: string; concurrency: number };
  storage: string;
  catalog: string;
  [flag: string]: unknown;
}

export interface Readiness {
  status: 'ready' | 'not_ready';
  checks: Record<string, string>;
}

export type RetentionConfig = Record<string, number>;

export interface ReaperStatus {
  last_run_at: string | null;
  stats: Record<string, unknown>;
  errors: Record<string, unknown>;
  interval_minutes: number;
}

type TableKey = { ns: string; layer: string; name: string };
const T = '/rat/api/v1/tables/{ns}/{layer}/{name}' as const;
const Z = '/rat/api/v1/landing-zones/{ns}/{zone}' as const;

/** The calls of these pages over the shared client's transport (XSRF, ApiError with the server's message). */
export function resources(api: RatClient) {
  const h = api.http;
  const tk = (k: TableKey) => ({ ns: k.ns, layer: k.layer, name: k.name });
  return {
    query: (sql: string, limit: number, signal?: AbortSignal) =>
      h.request<QueryResult>('POST', '/rat/api/v1/query', { body: { sql, limit }, signal }),
    tables: (namespace?: string) =>
      h.request<{ tables: TableSummary[]; total: number }>('GET', '/rat/api/v1/tables', { query: { namespace } }),
    table: (k: TableKey) => h.request<TableDetail>('GET', T, { params: tk(k) }),
    preview: (k: TableKey, limit = 100) =>
      h.request<QueryResult>('GET', `${T}/preview`, { params: tk(k), query: { limit } }),
    history: (k: TableKey) => h.request<{ snapshots: Snapshot[]; total: number }>('GET', `${T}/history`,
      { params: tk(k) }),
    setTableMetadata: (k: TableKey, body: TableMetadata) =>
      h.request<TableMetadata>('PUT', `${T}/metadata`, { params: tk(k), body }),

    lineage: (namespace?: string) =>
      h.request<LineageGraph>('GET', '/rat/api/v1/lineage', { query: { namespace } }),

    zones: () => h.request<{ zones: Zone[]; total: number }>('GET', '/rat/api/v1/landing-zones',
      { query: { limit: 200 } }),
    zone: (ns: string, zone: string) => h.request<Zone>('GET', Z, { params: { ns, zone } }),
    createZone: (namespace: string, name: string, description: string) =>
      h.request<Zone>('POST', '/rat/api/v1/landing-zones', { body: { namespace, name, description } }),
    updateZone: (ns: string, zone: string, body: { description?: string; owner?: string; expected_schema?: string }) =>
      h.request<Zone>('PUT', Z, { params: { ns, zone }, body }),
    deleteZone: (ns: string, zone: string) => h.request<void>('DELETE', Z, { params: { ns, zone } }),
    zoneFiles: (ns: string, zone: string) =>
      h.request<{ files: LandingFile[]; total: number }>('GET', `${Z}/files`, { params: { ns, zone },
        query: { limit: 200 } }),
    deleteZoneFile: (ns: string, zone: string, id: string) =>
      h.request<void>('DELETE', `${Z}/files/{file_id}`, { params: { ns, zone, file_id: id } }),
    zoneFilesUrl: (ns: string, zone: string) => h.url(`${Z}/files`, { ns, zone }),
    samplesUrl: (ns: string, zone: string) => h.url(`${Z}/samples`, { ns, zone }),
    samples: (ns: string, zone: string) =>
      h.request<{ samples: Sample[]; total: number }>('GET', `${Z}/samples`, { params: { ns, zone } }),
    deleteSample: (ns: string, zone: string, filename: string) =>
      h.request<void>('DELETE', `${Z}/samples/{filename}`, { params: { ns, zone, filename } }),
    lifecycle: (ns: string, zone: string) => h.request<Lifecycle>('GET', `${Z}/lifecycle`, { params: { ns, zone } }),
    setLifecycle: (ns: string, zone: string, body: Partial<Lifecycle>) =>
      h.request<Lifecycle>('PUT', `${Z}/lifecycle`, { params: { ns, zone }, body }),
    fileDownloadUrl: (path: string) => h.url('/rat/api/v1/files/{path}', { path }, { download: 1 }),

    schedules: () => h.request<{ schedules: Schedule[]; total: number }>('GET', '/rat/api/v1/schedules',
      { query: { limit: 200 } }),
    createSchedule: (body: { namespace: string; layer: string; pipeline: string; cron: string; timezone: string;
      enabled: boolean }) => h.request<Schedule>('POST', '/rat/api/v1/schedules', { body }),
    updateSchedule: (id: string, body: { cron?: string; timezone?: string; enabled?: boolean }) =>
      h.request<Schedule>('PUT', '/rat/api/v1/schedules/{schedule_id}', { params: { schedule_id: id }, body }),
    deleteSchedule: (id: string) =>
      h.request<void>('DELETE', '/rat/api/v1/schedules/{schedule_id}', { params: { schedule_id: id } }),
    triggers: (k: TableKey) => h.request<{ triggers: Trigger[]; total: number }>('GET',
      '/rat/api/v1/pipelines/{ns}/{layer}/{name}/triggers', { params: tk(k) }),
    createTrigger: (k: TableKey, body: { type: TriggerType; config: Record<string, unknown>; enabled: boolean;
      cooldown_seconds: number }) =>
      h.request<Trigger>('POST', '/rat/api/v1/pipelines/{ns}/{layer}/{name}/triggers', { params: tk(k), body }),
    updateTrigger: (k: TableKey, id: string, body: { enabled?: boolean; cooldown_seconds?: number;
      config?: Record<string, unknown> }) =>
      h.request<Trigger>('PUT', '/rat/api/v1/pipelines/{ns}/{layer}/{name}/triggers/{trigger_id}',
        { params: { ...tk(k), trigger_id: id }, body }),
    deleteTrigger: (k: TableKey, id: string) =>
      h.request<void>('DELETE', '/rat/api/v1/pipelines/{ns}/{layer}/{name}/triggers/{trigger_id}',
        { params: { ...tk(k), trigger_id: id } }),

    features: () => h.request<Features>('GET', '/rat/api/v1/features'),
    /** 503 still carries the checks: the caller shows them instead of an error. */
    readiness: () => h.request<Readiness>('GET', '/rat/api/v1/health/ready'),
    retentionConfig: () => h.request<RetentionConfig>('GET', '/rat/api/v1/admin/retention/config'),
    setRetentionConfig: (changes: RetentionConfig) =>
      h.request<RetentionConfig>('PUT', '/rat/api/v1/admin/retention/config', { body: changes }),
    reaperStatus: () => h.request<ReaperStatus>('GET', '/rat/api/v1/admin/retention/status'),
    runReaper: () => h.request<Record<string, unknown>>('POST', '/rat/api/v1/admin/retention/run'),
  };
}

export type Resources = ReturnType<typeof resources>;

/** Bytes for people: 1.5 MB. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
