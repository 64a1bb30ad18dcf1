import type { PipelineKey } from "@rat/client";

/** The stable command ids of the RAT extension: tests, menus and users' own shortcuts rely on them. */
export const CommandIDs = {
  openSidebar: "rat:open-sidebar",
  newPipeline: "rat:new-pipeline",
  runPipeline: "rat:run-pipeline",
  runWithDownstream: "rat:run-pipeline-downstream",
  previewPipeline: "rat:preview-pipeline",
  validatePipeline: "rat:validate-pipeline",
  publishPipeline: "rat:publish-pipeline",
  diffPipeline: "rat:diff-pipeline",
  openRuns: "rat:open-runs",
  openRun: "rat:open-run",
  openQuery: "rat:open-query",
  openLineage: "rat:open-lineage",
  openExplorer: "rat:open-explorer",
  openLanding: "rat:open-landing",
  openSchedules: "rat:open-schedules",
  openSettings: "rat:open-settings",
  openPanel: "rat:open-panel",
  openFiles: "rat:open-files",
  saveCellAsPipeline: "rat:save-cell-as-pipeline",
  openPipelineInNotebook: "rat:open-pipeline-in-notebook",
  renamePipeline: "rat:rename-pipeline",
} as const;

/** The ids the issue names as the public surface (checked by unit and browser tests). */
export const PUBLIC_COMMANDS: readonly string[] = [
  CommandIDs.openSidebar,
  CommandIDs.newPipeline,
  CommandIDs.runPipeline,
  CommandIDs.previewPipeline,
  CommandIDs.publishPipeline,
  CommandIDs.openRuns,
  CommandIDs.openRun,
  CommandIDs.openQuery,
  CommandIDs.openLineage,
  CommandIDs.openExplorer,
  CommandIDs.openLanding,
  CommandIDs.openSchedules,
];

/** The panel path each "open" command shows. */
export const PANEL_OF: Readonly<Record<string, string>> = {
  [CommandIDs.openRuns]: "/runs",
  [CommandIDs.openQuery]: "/query",
  [CommandIDs.openLineage]: "/lineage",
  [CommandIDs.openExplorer]: "/explorer",
  [CommandIDs.openLanding]: "/landing",
  [CommandIDs.openSchedules]: "/schedules",
  [CommandIDs.openSettings]: "/settings",
};

// What configures a cell rather than a pipeline, among its leading lines: the RAT SQL kernel's `%` directives
// and the cell-only annotations (the kernel's rule, rat_jupyter/kernel/notebooks.py `cell_to_file`).
const DIRECTIVE_LINE = /^\s*%\w+/;
const CELL_ANNOTATION = /^\s*--\s*@(name|limit|namespace|this)\s*:/;

/** The SQL a notebook cell ran, as a pipeline saves it: a RAT SQL cell or a `%%rat sql` cell without its magic
 * line, without the leading directives and cell-only annotations that configure the notebook (`%namespace`,
 * `-- @name:` …), so the saved pipeline runs exactly the SQL the cell ran. */
export function cellSql(source: string): string {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  const first = (lines[0] ?? "").trim();
  if (/^%%rat(\s+sql)?\b/.test(first)) lines.shift();
  let leading = true;
  const kept = lines.filter((line) => {
    if (!leading) return true;
    if (DIRECTIVE_LINE.test(line) || CELL_ANNOTATION.test(line)) return false;
    const text = line.trim();
    if (text && !text.startsWith("--")) leading = false;
    return true;
  });
  return kept.join("\n").trim();
}

/** The pipeline of a sidebar row (the element right-clicked, or one inside it); null for any other element. */
export function pipelineOfRow(el: Element | null): PipelineKey | null {
  const row = el?.closest<HTMLElement>(".rat-lab-row-pipeline");
  const { ns, layer, name } = row?.dataset ?? {};
  return ns && layer && name ? { ns, layer, name } : null;
}

/** What renaming needs from JupyterLab and the server (injected, so the flow is unit-tested). */
export interface RenameSteps {
  /** The new name from the user; null when cancelled. */
  ask: (k: PipelineKey) => Promise<string | null>;
  rename: (k: PipelineKey, name: string) => Promise<unknown>;
  fail: (title: string, message: string) => Promise<unknown>;
}

/** Ask for a new name and rename: the renamed pipeline's key, or null when cancelled, unchanged, or refused by
 * the server (its message shown: the pipelines that ref() it, the runs in progress, the name taken…). */
export async function renameFlow(k: PipelineKey, steps: RenameSteps): Promise<PipelineKey | null> {
  const name = (await steps.ask(k))?.trim();
  if (!name || name === k.name) return null;
  try {
    await steps.rename(k, name);
    return { ...k, name };
  } catch (e) {
    await steps.fail(`Could not rename ${k.ns}.${k.layer}.${k.name}`, e instanceof Error ? e.message : String(e));
    return null;
  }
}
