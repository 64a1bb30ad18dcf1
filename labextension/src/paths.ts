import type { PipelineKey } from "@rat/client";

/** The name of the RAT contents drive: its paths read `RAT:shop/pipelines/bronze/orders/pipeline.sql`. */
export const DRIVE_NAME = "RAT";

/** A path without its `RAT:` drive prefix (JupyterLab paths of other drives are left as they are). */
export function localPath(path: string): string {
  return path.startsWith(`${DRIVE_NAME}:`) ? path.slice(DRIVE_NAME.length + 1).replace(/^\/+/, "") : path;
}

/** The pipeline a storage path belongs to (`{ns}/pipelines/{layer}/{name}/...`), or null. */
export function pipelineOfPath(path: string): PipelineKey | null {
  const parts = localPath(path).split("/");
  if (parts.length < 4 || parts[1] !== "pipelines") return null;
  const [ns, , layer, name] = parts;
  if (!ns || !layer || !name) return null;
  return { ns, layer, name };
}

/** Whether two keys name the same pipeline (a missing one names none). */
export function samePipeline(a: PipelineKey | null, b: PipelineKey | null): boolean {
  return a !== null && b !== null && a.ns === b.ns && a.layer === b.layer && a.name === b.name;
}

/** Whether a JupyterLab path lives in the RAT drive. */
export function isRatPath(path: string): boolean {
  return path.startsWith(`${DRIVE_NAME}:`);
}

/** The drive path of a pipeline's main file. */
export function pipelineFile(k: PipelineKey, type: string = "sql"): string {
  return `${DRIVE_NAME}:${k.ns}/pipelines/${k.layer}/${k.name}/pipeline.${type === "python" ? "py" : "sql"}`;
}

/** `ns.layer.name`, as the API and the magics spell a pipeline. */
export function fqName(k: PipelineKey): string {
  return `${k.ns}.${k.layer}.${k.name}`;
}

const MIME: Record<string, string> = {
  sql: "text/x-sql",
  py: "text/x-python",
  yaml: "text/x-yaml",
  yml: "text/x-yaml",
  md: "text/markdown",
  json: "application/json",
  csv: "text/csv",
  txt: "text/plain",
  j2: "text/x-sql",
};

/** The MIME type JupyterLab's editors pick their highlighting from. */
export function mimeOf(path: string): string {
  const ext = path.includes(".") ? (path.split(".").pop() ?? "").toLowerCase() : "";
  return MIME[ext] ?? "text/plain";
}
