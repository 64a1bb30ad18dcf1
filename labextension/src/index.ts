import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin,
} from "@jupyterlab/application";
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  showErrorMessage,
  ToolbarButton,
  WidgetTracker,
} from "@jupyterlab/apputils";
import { IEditorLanguageRegistry } from "@jupyterlab/codemirror";
import { IDocumentManager } from "@jupyterlab/docmanager";
import type { DocumentRegistry, IDocumentWidget } from "@jupyterlab/docregistry";
import { IFileBrowserFactory } from "@jupyterlab/filebrowser";
import { ILauncher } from "@jupyterlab/launcher";
import { IMainMenu } from "@jupyterlab/mainmenu";
import { INotebookTracker } from "@jupyterlab/notebook";
import { IStatusBar } from "@jupyterlab/statusbar";
import { folderIcon, LabIcon } from "@jupyterlab/ui-components";
import { Menu } from "@lumino/widgets";
import { ApiError, LAYERS, locateLine, problemsFromValidation, type Pipeline, type PipelineKey } from "@rat/client";
import { STRATEGIES } from "@rat/ui";
import { labPageConfig, makeRatClient } from "./client";
import { CommandIDs, PANEL_OF, cellSql, pipelineOfRow, renameFlow } from "./commands";
import { askForm, askNewName, confirm } from "./dialogs";
import { EditorDiagnostics, watchSaves, type LabCodeEditor } from "./diagnostics";
import { RatDrive } from "./drive";
import { jinjaSqlLanguage, useJinjaSql } from "./jinja";
import { RatPanel } from "./panel";
import { DiffPanel } from "./diff";
import { PreviewPanel } from "./preview";
import { DRIVE_NAME, fqName, isRatPath, localPath, pipelineFile, pipelineOfPath, samePipeline } from "./paths";
import { titleOf } from "./routes";
import { prefetchSidebar, RatSidebar } from "./sidebar";
import { RunsStatusItem } from "./status";
import "../style/index.css";
import "../style/editor.css";

const RAT_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
<path class="jp-icon3" fill="#616161" d="M4 18c0-5 3.5-9 8.5-9 2.2 0 4 .8 5.3 2.1L21 9.5l-.6 3.4c.4.9.6 1.9.6 3 0
.7-.6 1.3-1.3 1.3H14l-2 2.8-1-2.8H5.3C4.6 17.2 4 17.6 4 18zm12.2-4.3a1 1 0 1 0 0-2 1 1 0 0 0 0 2zM2 20h20v1.5H2z"/>
</svg>`;
export const ratIcon = new LabIcon({ name: "rat-jupyter:rat", svgstr: RAT_SVG });

/** The part of JupyterLab's code editor used here (the file editor's `editor`). */
interface CursorEditor {
  setCursorPosition(position: { line: number; column: number }): void;
  focus(): void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A validation report's errors, `path: message` each. */
function validationLines(files: readonly { path: string; errors: readonly string[] }[] | undefined): string[] {
  return (files ?? []).flatMap((f) => f.errors.map((m) => `${f.path}: ${m}`));
}

/** Validation messages of a refused publish (422 with details.validation), one per line. */
function validationText(e: unknown): string {
  if (!(e instanceof ApiError)) return message(e);
  const d = e.details as { validation?: { files?: { path: string; errors: string[] }[] } } | undefined;
  const lines = validationLines(d?.validation?.files);
  return lines.length ? `${e.message}\n${lines.join("\n")}` : e.message;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "rat-jupyter:plugin",
  description: "RAT in JupyterLab: a drive over the platform's storage, a sidebar, commands and panels",
  autoStart: true,
  requires: [IDocumentManager, IFileBrowserFactory],
  optional: [ICommandPalette, IMainMenu, ILayoutRestorer, ILauncher, IStatusBar, INotebookTracker, IEditorLanguageRegistry],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    browserFactory: IFileBrowserFactory,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    restorer: ILayoutRestorer | null,
    launcher: ILauncher | null,
    statusBar: IStatusBar | null,
    notebooks: INotebookTracker | null,
    languages: IEditorLanguageRegistry | null,
  ) => {
    const settings = app.serviceManager.serverSettings;
    const api = makeRatClient(settings);
    const config = labPageConfig(settings);
    const { commands, shell } = app;

    // -- the drive, and a file browser on it
    const drive = new RatDrive(api, settings);
    app.serviceManager.contents.addDrive(drive);
    // the drive's editors: validation problems at their line, pipeline SQL highlighted as Jinja SQL
    const diagnostics = new EditorDiagnostics();
    languages?.addLanguage(jinjaSqlLanguage);
    const files = browserFactory.createFileBrowser("rat-files", { driveName: DRIVE_NAME, refreshInterval: 30_000 });
    files.id = "rat-files";
    files.title.icon = folderIcon;
    files.title.caption = "RAT storage (pipelines, tests, configs, landing files)";
    files.title.label = "";
    files.addClass("rat-lab-files");
    shell.add(files, "left", { rank: 151 });

    const openPipeline = (k: PipelineKey, type?: string): void => {
      const open = (t: string): void => void docManager.openOrReveal(pipelineFile(k, t));
      if (type) open(type);
      else api.getPipeline(k).then((p) => open(p.type), () => open("sql"));
    };

    // -- panels (the portal's pages as main-area widgets), restored on reload
    const tracker = new WidgetTracker<MainAreaWidget<RatPanel>>({ namespace: "rat-panels" });
    const openPanel = (path: string): MainAreaWidget<RatPanel> => {
      const existing = tracker.find((w) => w.content.path === path);
      if (existing) {
        shell.activateById(existing.id);
        return existing;
      }
      const content = new RatPanel({ api, config, path, openPipeline });
      const widget = new MainAreaWidget({ content });
      widget.id = `rat-panel-${Math.random().toString(36).slice(2, 10)}`;
      widget.title.label = titleOf(path);
      widget.title.icon = ratIcon;
      widget.title.closable = true;
      content.pathChanged.connect((_s, p) => {
        widget.title.label = titleOf(p);
        void tracker.save(widget);
      });
      void tracker.add(widget);
      shell.add(widget, "main");
      shell.activateById(widget.id);
      return widget;
    };
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openPanel,
        args: (w) => ({ path: w.content.path }),
        name: (w) => w.content.path,
      });
    }

    // -- sidebar
    const early = prefetchSidebar(api);
    const sidebar: RatSidebar = new RatSidebar(api, {
      openPipeline: (p: Pipeline) => openPipeline({ ns: p.namespace, layer: p.layer, name: p.name }, p.type),
      runPipeline: (k) => void commands.execute(CommandIDs.runPipeline, { ...keyArgs(k) }),
      deletePipeline: async (k) => {
        if (!(await confirm("Delete pipeline", `Delete ${fqName(k)}? Its files and table are removed.`))) return false;
        try {
          await api.deletePipeline(k);
          return true;
        } catch (e) {
          await showErrorMessage("Could not delete the pipeline", message(e));
          return false;
        }
      },
      newPipeline: async (ns, layer) => Boolean(await commands.execute(CommandIDs.newPipeline, { namespace: ns ?? "", layer: layer ?? "" })),
      newNamespace: async () => {
        const v = await askForm("New namespace", [{ name: "name", label: "Name", placeholder: "shop" },
          { name: "description", label: "Description" }], "Create");
        if (!v?.name) return false;
        try {
          await api.createNamespace(v.name, v.description ?? "");
          return true;
        } catch (e) {
          await showErrorMessage("Could not create the namespace", message(e));
          return false;
        }
      },
      openTable: (ns, layer, name) => void openPanel(`/explorer/${ns}/${layer}/${name}`),
      openZone: (ns, zone) => void openPanel(`/landing/${ns}/${zone}`),
    }, early);
    sidebar.title.icon = ratIcon;
    // JupyterLab ready → sidebar populated, for the browser benchmark (bench/results.md)
    let readyAt: number | null = null;
    let populatedAt: number | null = null;
    const report = (): void => {
      if (readyAt !== null && populatedAt !== null) {
        const w = window as unknown as { __ratSidebarReadyMs?: number; __ratSidebarTimes?: object };
        w.__ratSidebarReadyMs = Math.max(0, populatedAt - readyAt);
        w.__ratSidebarTimes = { restored: readyAt, shown: sidebar.shownAt, populated: populatedAt,
          sent: early.sentAt, answered: early.answeredAt };
      }
    };
    void app.restored.then(() => {
      readyAt = performance.now();
      report();
    });
    sidebar.onPopulated = () => {
      populatedAt = performance.now();
      report();
    };
    shell.add(sidebar, "left", { rank: 150 });
    restorer?.add(sidebar, "rat-sidebar");

    // -- which pipeline a command is about: its arguments, else the file in view
    const keyArgs = (k: PipelineKey): Record<string, string> => ({ namespace: k.ns, layer: k.layer, name: k.name });
    const currentDoc = (): IDocumentWidget | null => {
      const w = shell.currentWidget;
      if (!w) return null;
      const ctx = docManager.contextForWidget(w);
      return ctx ? (w as IDocumentWidget) : null;
    };
    // Whether the open context menu was opened in the RAT storage browser (reset once the menu has closed and
    // its command has started, which reads it synchronously).
    let contextFromFiles = false;
    document.addEventListener("contextmenu", (e) => {
      contextFromFiles = e.target instanceof Node && files.node.contains(e.target);
    }, true);
    app.contextMenu.menu.aboutToClose.connect(() => {
      setTimeout(() => {
        contextFromFiles = false;
      }, 0);
    });
    const target = (args: Record<string, unknown>): PipelineKey | null => {
      const ns = typeof args.namespace === "string" ? args.namespace : "";
      const layer = typeof args.layer === "string" ? args.layer : "";
      const name = typeof args.name === "string" ? args.name : "";
      if (ns && layer && name) return { ns, layer, name };
      if (typeof args.path === "string") return pipelineOfPath(args.path);
      // from the context menu of the RAT storage browser: its selected item
      if (contextFromFiles) {
        const selected = files.selectedItems().next();
        if (!selected.done) return pipelineOfPath(selected.value.path);
      }
      const doc = currentDoc();
      return doc ? pipelineOfPath(doc.context.path) : null;
    };
    /** Save the open file of that pipeline first, so a run or preview sees what is on screen. */
    const saveIfDirty = async (k: PipelineKey): Promise<void> => {
      const doc = currentDoc();
      if (doc && doc.context.model.dirty && samePipeline(pipelineOfPath(doc.context.path), k)) {
        await doc.context.save();
      }
    };

    const runOne = async (k: PipelineKey, downstream: boolean): Promise<void> => {
      try {
        await saveIfDirty(k);
        const started = await api.http.call("POST", "/rat/api/v1/runs", {
          body: { namespace: k.ns, layer: k.layer, pipeline: k.name, trigger: "jupyterlab", version: "draft", downstream },
        });
        Notification.info(`Run ${started.run_id.slice(0, 8)} of ${fqName(k)} ${started.status}` +
          (started.runs.length > 1 ? ` (+${started.runs.length - 1} downstream)` : ""), { autoClose: 4000 });
        openPanel(`/runs/${started.run_id}`);
        sidebar.refresh();
      } catch (e) {
        await showErrorMessage(`Could not run ${fqName(k)}`, message(e));
      }
    };

    const need = async (args: Record<string, unknown>, what: string): Promise<PipelineKey | null> => {
      const k = target(args);
      if (!k) await showErrorMessage(`Nothing to ${what}`, "Open a pipeline file from the RAT drive, or pick a pipeline in the RAT sidebar.");
      return k;
    };
    /** A command on one pipeline (from its arguments, else the file in view): with none, a dialog says how to
     * pick one; a failure shows the server's message under `failed(k)`. */
    const pipelineCommand = (id: string, options: {
      label: string;
      caption?: string;
      what: string;
      failed: (k: PipelineKey) => string;
      errorText?: (e: unknown) => string;
    }, run: (k: PipelineKey) => Promise<void>): void => {
      const { label, caption, what, failed, errorText = message } = options;
      commands.addCommand(id, {
        label,
        caption,
        execute: async (args) => {
          const k = await need(args, what);
          if (!k) return;
          try {
            await run(k);
          } catch (e) {
            await showErrorMessage(failed(k), errorText(e));
          }
        },
      });
    };

    commands.addCommand(CommandIDs.openPanel, {
      label: (args) => titleOf(typeof args.path === "string" ? args.path : "/"),
      execute: (args) => openPanel(typeof args.path === "string" ? args.path : "/"),
    });
    commands.addCommand(CommandIDs.openSidebar, {
      label: "Open the RAT Sidebar",
      icon: ratIcon,
      execute: () => shell.activateById(sidebar.id),
    });
    commands.addCommand(CommandIDs.openFiles, {
      label: "Open the RAT Storage Browser",
      execute: () => shell.activateById(files.id),
    });
    /** The namespaces a form offers; null (after saying why) when they cannot be listed. */
    const namespaceNames = async (): Promise<string[] | null> => {
      try {
        return (await api.listNamespaces()).namespaces.map((n) => n.name);
      } catch (e) {
        await showErrorMessage("Could not list the namespaces", message(e));
        return null;
      }
    };
    commands.addCommand(CommandIDs.newPipeline, {
      label: "New RAT Pipeline…",
      execute: async (args) => {
        const namespaces = await namespaceNames();
        if (!namespaces) return false;
        if (!namespaces.length) {
          await showErrorMessage("No namespace yet", "Create a namespace first (the NS+ button of the RAT sidebar).");
          return false;
        }
        const ns = typeof args.namespace === "string" && args.namespace ? args.namespace : undefined;
        const layer = typeof args.layer === "string" && args.layer ? args.layer : undefined;
        const order = (list: readonly string[], first?: string): string[] =>
          first && list.includes(first) ? [first, ...list.filter((x) => x !== first)] : [...list];
        const v = await askForm("New pipeline", [
          { name: "namespace", label: "Namespace", options: order(namespaces, ns) },
          { name: "layer", label: "Layer", options: order(LAYERS, layer) },
          { name: "name", label: "Name", placeholder: "orders" },
          { name: "type", label: "Type", options: ["sql", "python"] },
          { name: "merge_strategy", label: "Strategy", options: STRATEGIES },
        ], "Create");
        if (!v?.name || !v.namespace || !v.layer) return false;
        try {
          const p = await api.createPipeline({
            namespace: v.namespace, layer: v.layer as (typeof LAYERS)[number], name: v.name,
            type: v.type === "python" ? "python" : "sql", merge_strategy: v.merge_strategy || undefined,
          });
          sidebar.refresh();
          openPipeline({ ns: p.namespace, layer: p.layer, name: p.name }, p.type);
          return true;
        } catch (e) {
          await showErrorMessage("Could not create the pipeline", message(e));
          return false;
        }
      },
    });
    const couldNotRun = (k: PipelineKey): string => `Could not run ${fqName(k)}`;  // runOne reports its own failures
    pipelineCommand(CommandIDs.runPipeline, {
      label: "Run RAT Pipeline", caption: "Run the pipeline (its draft) and follow it in the runs panel", what: "run",
      failed: couldNotRun,
    }, (k) => runOne(k, false));
    pipelineCommand(CommandIDs.runWithDownstream, { label: "Run RAT Pipeline with Downstream", what: "run",
      failed: couldNotRun }, (k) => runOne(k, true));
    const previewFailed = (k: PipelineKey): string => `Preview of ${fqName(k)} failed`;
    pipelineCommand(CommandIDs.previewPipeline, { label: "Preview RAT Pipeline", what: "preview", failed: previewFailed },
      async (k) => {
        const doc = currentDoc();
        const code = doc && samePipeline(pipelineOfPath(doc.context.path), k) &&
          /\/pipeline\.(sql|py)$/.test(doc.context.path) ? doc.context.model.toString() : undefined;
        const result = await api.preview(k, code, 100);
        if (result.error) {
          // a pipeline that fails to render or run is a 200 with `error`: show DuckDB's message and its line
          const line = code !== undefined ? locateLine(result.error, code) : undefined;
          if (doc && code !== undefined) diagnostics.show(localPath(doc.context.path), [{ line, message: result.error, severity: "error" }]);
          await showErrorMessage(previewFailed(k), line ? `line ${line}: ${result.error}` : result.error);
          return;
        }
        if (doc && code !== undefined) diagnostics.clear(localPath(doc.context.path));
        const content = new PreviewPanel(fqName(k), result);
        const widget = new MainAreaWidget({ content });
        widget.title.label = `Preview ${fqName(k)}`;
        widget.title.icon = ratIcon;
        shell.add(widget, "main", { mode: "split-bottom" });
      });
    pipelineCommand(CommandIDs.validatePipeline, { label: "Validate RAT Pipeline", what: "validate",
      failed: (k) => `Could not validate ${fqName(k)}` }, async (k) => {
      await saveIfDirty(k);
      const v = await api.validate(k);
      diagnostics.showReport(localPath(pipelineFile(k)).replace(/\/[^/]+$/, ""), problemsFromValidation(v));
      if (v.valid) Notification.success(`${fqName(k)} is valid`, { autoClose: 3000 });
      else await showErrorMessage(`${fqName(k)} is not valid`, validationLines(v.files).join("\n"));
    });
    pipelineCommand(CommandIDs.publishPipeline, { label: "Publish RAT Pipeline…", what: "publish",
      failed: (k) => `Could not publish ${fqName(k)}`, errorText: validationText }, async (k) => {
      const v = await askForm(`Publish ${fqName(k)}`, [{ name: "message", label: "Message", placeholder: "what changed" }], "Publish");
      if (!v) return;
      await saveIfDirty(k);
      const r = await api.publish(k, v.message ?? "");
      Notification.success(`Published ${fqName(k)} as version ${r.version}`, { autoClose: 4000 });
      sidebar.refresh();
    });
    commands.addCommand(CommandIDs.diffPipeline, {
      label: "Diff RAT File with Published",
      execute: async (args) => {
        const doc = currentDoc();
        const path = typeof args.path === "string" ? args.path : doc?.context.path ?? "";
        const k = pipelineOfPath(path);
        if (!k || !doc || doc.context.path !== path) {
          await showErrorMessage("Nothing to diff", "Open a pipeline's file from the RAT drive first.");
          return;
        }
        const rel = localPath(path).split("/").slice(4).join("/");
        try {
          const p = await api.getPipeline(k);
          if (!p.published_version) {
            await showErrorMessage(`${fqName(k)} is not published yet`, "Publish it first; the diff compares with the published version.");
            return;
          }
          const v = await api.version(k, p.published_version);
          const published = v.contents?.[rel] ?? v.contents?.[localPath(path)] ?? "";
          const content = new DiffPanel(`${fqName(k)} ${rel} (v${p.published_version} → draft)`, published,
            doc.context.model.toString());
          const widget = new MainAreaWidget({ content });
          widget.title.label = `Diff ${rel}`;
          widget.title.icon = ratIcon;
          shell.add(widget, "main", { mode: "split-right" });
        } catch (e) {
          await showErrorMessage(`Could not diff ${fqName(k)}`, message(e));
        }
      },
    });
    commands.addCommand(CommandIDs.openRun, {
      label: "Open a RAT Run…",
      execute: async (args) => {
        let id = typeof args.id === "string" ? args.id : "";
        if (!id) {
          const r = await InputDialog.getText({ title: "Open run", label: "Run id" });
          id = r.button.accept && r.value ? r.value.trim() : "";
        }
        if (id) openPanel(`/runs/${id}`);
      },
    });
    const openers: [string, string][] = [
      [CommandIDs.openRuns, "RAT Runs"],
      [CommandIDs.openQuery, "RAT Query Console"],
      [CommandIDs.openLineage, "RAT Lineage"],
      [CommandIDs.openExplorer, "RAT Explorer"],
      [CommandIDs.openLanding, "RAT Landing Zones"],
      [CommandIDs.openSchedules, "RAT Schedules"],
      [CommandIDs.openSettings, "RAT Settings"],
    ];
    for (const [id, label] of openers) {
      commands.addCommand(id, {
        label: (args) => (args.isLauncher ? label.replace(/^RAT /, "") : label),
        icon: ratIcon,
        execute: (args) => {
          const base = PANEL_OF[id] ?? "/";
          const sql = typeof args.sql === "string" ? `?sql=${encodeURIComponent(args.sql)}` : "";
          const focus = typeof args.focus === "string" ? `?focus=${encodeURIComponent(args.focus)}` : "";
          return openPanel(base + (sql || focus));
        },
      });
    }

    // -- notebook integration
    const activeCellSql = (): string | null => {
      const cell = notebooks?.activeCell;
      if (!cell || cell.model.type !== "code") return null;
      const sql = cellSql(cell.model.sharedModel.getSource());
      return sql || null;
    };
    commands.addCommand(CommandIDs.saveCellAsPipeline, {
      label: "Save Cell as RAT Pipeline…",
      isEnabled: () => activeCellSql() !== null,
      execute: async () => {
        const sql = activeCellSql();
        if (!sql) return;
        const namespaces = await namespaceNames();
        if (!namespaces) return;
        const v = await askForm("Save cell as pipeline", [
          { name: "namespace", label: "Namespace", options: namespaces },
          { name: "layer", label: "Layer", options: LAYERS },
          { name: "name", label: "Name", placeholder: "orders_clean" },
          { name: "merge_strategy", label: "Strategy", options: STRATEGIES },
        ], "Save");
        if (!v?.name || !v.namespace || !v.layer) return;
        const k = { ns: v.namespace, layer: v.layer, name: v.name };
        try {
          try {
            await api.createPipeline({ namespace: k.ns, layer: k.layer as (typeof LAYERS)[number], name: k.name,
              type: "sql", source: sql, merge_strategy: v.merge_strategy || undefined });
          } catch (e) {
            if (!(e instanceof ApiError) || e.status !== 409) throw e;
            // it exists: the cell becomes its new SQL
            await api.writeFile(localPath(pipelineFile(k, "sql")), sql);
          }
          sidebar.refresh();
          Notification.success(`Saved the cell as ${fqName(k)}`, {
            autoClose: 6000,
            actions: [
              { label: "Run", callback: () => void runOne(k, false) },
              { label: "Open", callback: () => openPipeline(k, "sql") },
            ],
          });
        } catch (e) {
          await showErrorMessage("Could not save the cell as a pipeline", message(e));
        }
      },
    });
    pipelineCommand(CommandIDs.openPipelineInNotebook, { label: "Open RAT Pipeline in Notebook",
      what: "open in a notebook", failed: (k) => `Could not open ${fqName(k)} in a notebook` }, async (k) => {
      // the server's notebook (the kernel's own builder): RAT SQL for a SQL pipeline, Python for a Python one,
      // test cells that run as they are, and the metadata that saves a cell back to its file
      const { notebook } = await api.http.call("GET", "/rat/api/v1/pipelines/{ns}/{layer}/{name}/notebook", {
        params: { ns: k.ns, layer: k.layer, name: k.name },
      });
      const path = `rat-${fqName(k)}.ipynb`;
      await app.serviceManager.contents.save(path, { type: "notebook", format: "json", content: notebook });
      await docManager.openOrReveal(path);
    });
    // -- rename, from the sidebar's context menu (the row right-clicked) or for the pipeline in view
    commands.addCommand(CommandIDs.renamePipeline, {
      label: "Rename…",
      caption: "Rename the pipeline with its files, table, runs, schedules and triggers",
      execute: async (args) => {
        const k = pipelineOfRow(app.contextMenuHitTest((n) => n.classList.contains("rat-lab-row-pipeline")) ?? null) ??
          (await need(args, "rename"));
        if (!k) return null;
        const renamed = await renameFlow(k, {
          ask: askNewName,
          rename: (p, name) => api.http.call("POST", "/rat/api/v1/pipelines/{ns}/{layer}/{name}/rename", {
            params: { ns: p.ns, layer: p.layer, name: p.name }, body: { name } }),
          fail: showErrorMessage,
        });
        if (renamed) {
          Notification.success(`Renamed ${fqName(k)} to ${fqName(renamed)}`, { autoClose: 4000 });
          sidebar.refresh();
        }
        return renamed;
      },
    });
    app.contextMenu.addItem({ command: CommandIDs.renamePipeline, selector: "#rat-sidebar .rat-lab-row-pipeline", rank: 10 });
    if (notebooks) {
      app.contextMenu.addItem({ command: CommandIDs.saveCellAsPipeline, selector: ".jp-Notebook .jp-CodeCell", rank: 60 });
    }

    // -- keyboard shortcuts (run / preview the pipeline in view)
    commands.addKeyBinding({ command: CommandIDs.runPipeline, keys: ["Accel Alt R"], selector: ".jp-FileEditor" });
    commands.addKeyBinding({ command: CommandIDs.previewPipeline, keys: ["Accel Alt P"], selector: ".jp-FileEditor" });

    // -- toolbar and context menu of pipeline files
    const fileActions: [string, string, string][] = [
      [CommandIDs.runPipeline, "Run", "Run the pipeline (Ctrl+Alt+R)"],
      [CommandIDs.runWithDownstream, "Run +downstream", "Run the pipeline and everything downstream"],
      [CommandIDs.previewPipeline, "Preview", "Preview the rows it would write (Ctrl+Alt+P)"],
      [CommandIDs.validatePipeline, "Validate", "Validate the pipeline's files"],
      [CommandIDs.publishPipeline, "Publish", "Publish the draft as a new version"],
      [CommandIDs.diffPipeline, "Diff", "Compare with the published version"],
      [CommandIDs.openPipelineInNotebook, "Notebook", "Open the pipeline in a notebook (its source and quality tests as cells)"],
    ];
    app.docRegistry.addWidgetExtension("Editor", {
      createNew: (widget: IDocumentWidget, context: DocumentRegistry.IContext<DocumentRegistry.IModel>) => {
        if (!isRatPath(context.path)) return;
        const content = widget.content as unknown as { editor?: Partial<LabCodeEditor>; model?: { mimeType: string } };
        if (languages) void useJinjaSql(context.path, content.model, languages);
        if (content.editor?.editor && content.editor.injectExtension) {
          watchSaves(diagnostics, localPath(context.path), content.editor as LabCodeEditor, context,
            () => drive.problems.get(localPath(context.path)), (m) => void Notification.error(m, { autoClose: 8000 }));
        }
        // a refused save puts the cursor on the line the server named
        context.saveState.connect((_ctx, state) => {
          if (state !== "failed") return;
          const line = drive.problems.get(localPath(context.path))?.line;
          const editor = (widget.content as unknown as { editor?: CursorEditor }).editor;
          if (line && editor) {
            editor.setCursorPosition({ line: line - 1, column: 0 });
            editor.focus();
          }
        });
        if (!pipelineOfPath(context.path)) return;
        fileActions.forEach(([command, label, tooltip], i) => {
          const button = new ToolbarButton({
            label,
            tooltip,
            className: `rat-lab-tb rat-lab-tb-${command.replace(/^rat:/, "")}`,
            onClick: () => void commands.execute(command, { path: context.path }),
          });
          widget.toolbar.insertItem(10 + i, `rat-${label}`, button);
        });
        return undefined;
      },
    });
    const editorSelector = ".jp-FileEditor";
    fileActions.forEach(([command], i) => {
      app.contextMenu.addItem({ command, selector: editorSelector, rank: 50 + i });
      app.contextMenu.addItem({ command, selector: "#rat-files .jp-DirListing-item[data-isdir='false']", rank: 50 + i });
    });

    // -- palette, menu, launcher, status bar
    const all = [
      CommandIDs.openSidebar, CommandIDs.openFiles, CommandIDs.newPipeline, CommandIDs.runPipeline,
      CommandIDs.runWithDownstream, CommandIDs.previewPipeline, CommandIDs.validatePipeline,
      CommandIDs.publishPipeline, CommandIDs.diffPipeline, CommandIDs.openRuns, CommandIDs.openRun, CommandIDs.openQuery,
      CommandIDs.openLineage, CommandIDs.openExplorer, CommandIDs.openLanding, CommandIDs.openSchedules,
      CommandIDs.openSettings, CommandIDs.saveCellAsPipeline, CommandIDs.openPipelineInNotebook,
    ];
    if (palette) for (const command of all) palette.addItem({ command, category: "RAT" });
    if (mainMenu) {
      const menu = new Menu({ commands });
      menu.id = "rat-menu";
      menu.title.label = "RAT";
      for (const command of all) menu.addItem({ command });
      mainMenu.addMenu(menu, true, { rank: 80 });
    }
    launcher?.add({ command: CommandIDs.openQuery, category: "RAT", rank: 1, args: { isLauncher: true } });
    launcher?.add({ command: CommandIDs.openRuns, category: "RAT", rank: 2, args: { isLauncher: true } });
    launcher?.add({ command: CommandIDs.openLineage, category: "RAT", rank: 3, args: { isLauncher: true } });
    if (statusBar) {
      const item = new RunsStatusItem(api, () => void commands.execute(CommandIDs.openRuns));
      statusBar.registerStatusItem("rat-jupyter:running-runs", { item, align: "left", rank: 50 });
    }
  },
};

export default plugin;
