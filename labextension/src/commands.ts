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
