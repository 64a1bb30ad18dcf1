import { type EditorState, type Extension, RangeSet, RangeSetBuilder, StateEffect, StateField, type Text } from "@codemirror/state";
import { Decoration, type DecorationSet, EditorView, GutterMarker, gutter } from "@codemirror/view";
import { locateLine, type LineProblem } from "@rat/client";

/** A problem placed on a line of the document (1-based), as the server reported it. */
export interface LineDiagnostic {
  line: number;
  message: string;
  severity: "error" | "warning";
}

/** A diagnostic as the editor keeps it: at the start of its line, mapped through edits. */
interface Placed {
  pos: number;
  message: string;
  severity: "error" | "warning";
}

/** Replace the editor's diagnostics (an empty list clears them). */
export const setDiagnostics = StateEffect.define<readonly LineDiagnostic[]>();

function place(doc: Text, list: readonly LineDiagnostic[]): Placed[] {
  return list
    .filter((d) => Number.isInteger(d.line) && d.line >= 1)
    .map((d) => ({ pos: doc.line(Math.min(d.line, doc.lines)).from, message: d.message, severity: d.severity }))
    .sort((a, b) => a.pos - b.pos);
}

/** The diagnostics in view: set by `setDiagnostics`, kept on their line while the user edits around them. */
export const diagnosticsField = StateField.define<readonly Placed[]>({
  create: () => [],
  update(value, tr) {
    let next = value;
    if (tr.docChanged && next.length) {
      next = next.map((d) => ({ ...d, pos: tr.state.doc.lineAt(tr.changes.mapPos(d.pos, -1)).from }));
    }
    for (const e of tr.effects) if (e.is(setDiagnostics)) next = place(tr.state.doc, e.value);
    return next;
  },
});

/** The diagnostics of a state with their current (1-based) line. */
export function diagnosticsOf(state: EditorState): LineDiagnostic[] {
  return state.field(diagnosticsField, false)?.map((d) => ({
    line: state.doc.lineAt(d.pos).number, message: d.message, severity: d.severity,
  })) ?? [];
}

/** All messages per line start, so a line with several problems shows them all on hover. */
function byLine(list: readonly Placed[]): Map<number, Placed[]> {
  const lines = new Map<number, Placed[]>();
  for (const d of list) lines.set(d.pos, [...(lines.get(d.pos) ?? []), d]);
  return lines;
}

function worst(list: readonly Placed[]): "error" | "warning" {
  return list.some((d) => d.severity === "error") ? "error" : "warning";
}

function text(list: readonly Placed[]): string {
  return list.map((d) => d.message).join("\n");
}

class ProblemMarker extends GutterMarker {
  constructor(readonly severity: "error" | "warning", readonly message: string) {
    super();
  }
  override eq(other: GutterMarker): boolean {
    return other instanceof ProblemMarker && other.severity === this.severity && other.message === this.message;
  }
  override toDOM(): Node {
    const el = document.createElement("span");
    el.className = `rat-lab-diag-marker rat-lab-diag-${this.severity}`;
    el.title = this.message;
    el.setAttribute("aria-label", `${this.severity}: ${this.message}`);
    el.textContent = this.severity === "error" ? "●" : "▲";
    return el;
  }
}

/** Keeps the gutter's width when no line has a problem (so the text does not move when one appears). */
class SpacerMarker extends GutterMarker {
  override toDOM(): Node {
    const el = document.createElement("span");
    el.className = "rat-lab-diag-spacer";
    el.textContent = "●";
    return el;
  }
}

function lineDecorations(state: EditorState): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  for (const [pos, list] of byLine(state.field(diagnosticsField))) {
    const severity = worst(list);
    const message = text(list);
    builder.add(pos, pos, Decoration.line({
      class: `rat-lab-diag-line rat-lab-diag-${severity}`,
      attributes: { title: message, "data-rat-diagnostic": message },
    }));
  }
  const lines = builder.finish();
  // the line's text underlined (a mark needs text: an empty line has its highlight only)
  const marks = new RangeSetBuilder<Decoration>();
  for (const [pos, list] of byLine(state.field(diagnosticsField))) {
    const end = state.doc.lineAt(pos).to;
    if (end > pos) marks.add(pos, end, Decoration.mark({ class: `rat-lab-diag-underline rat-lab-diag-${worst(list)}` }));
  }
  return RangeSet.join([lines, marks.finish()]);
}

/** The CodeMirror part: the field, a gutter with a marker per line with a problem (its message as tooltip),
 * and the line highlighted and underlined. Built on `@codemirror/state` and `@codemirror/view` only, the
 * instances JupyterLab shares, so it plugs into Lab's editors. */
export function diagnosticsExtension(): Extension {
  return [
    diagnosticsField,
    EditorView.decorations.compute([diagnosticsField, "doc"], lineDecorations),
    gutter({
      class: "rat-lab-diag-gutter",
      markers: (view) => {
        const builder = new RangeSetBuilder<GutterMarker>();
        for (const [pos, list] of byLine(view.state.field(diagnosticsField))) {
          builder.add(pos, pos, new ProblemMarker(worst(list), text(list)));
        }
        return builder.finish();
      },
      initialSpacer: () => new SpacerMarker(),
    }),
  ];
}

/** Where a problem goes in `source`: DuckDB quotes the offending line (`LINE 3: FROM x`), found in the file
 * (its numbers count the statement it ran, which can differ); otherwise the line the server named. */
export function lineOfProblem(problem: LineProblem, source: string): number | undefined {
  if (/LINE\s+\d+:/.test(problem.message)) return locateLine(problem.message, source) ?? problem.line;
  return problem.line;
}

/** The diagnostics of `problems` that belong to `file` and name a line of `source`. */
export function diagnosticsFor(problems: readonly LineProblem[], file: string, source: string): LineDiagnostic[] {
  const out: LineDiagnostic[] = [];
  for (const p of problems) {
    if (p.file !== undefined && p.file !== file && !file.endsWith(`/${p.file}`)) continue;
    const line = lineOfProblem(p, source);
    if (line !== undefined) out.push({ line, message: p.message, severity: p.severity });
  }
  return out;
}

/** The part of JupyterLab's `CodeMirrorEditor` used here. */
export interface LabCodeEditor {
  readonly editor: EditorView;
  injectExtension(ext: Extension): void;
}

/** The editors of open RAT files by path, so a save or the Validate command can mark the lines of every file
 * it reports on. */
export class EditorDiagnostics {
  private readonly views = new Map<string, Set<EditorView>>();

  /** Add the diagnostics to an editor of `path`; returns the function that forgets it (when it closes). */
  attach(path: string, editor: LabCodeEditor): () => void {
    editor.injectExtension(diagnosticsExtension());
    const view = editor.editor;
    const set = this.views.get(path) ?? new Set<EditorView>();
    set.add(view);
    this.views.set(path, set);
    return () => {
      set.delete(view);
      if (!set.size) this.views.delete(path);
    };
  }

  /** Show `problems` in every open editor of `path` (replacing what it showed); returns those placed at a line. */
  show(path: string, problems: readonly LineProblem[]): LineDiagnostic[] {
    let placed: LineDiagnostic[] = [];
    for (const view of this.views.get(path) ?? []) {
      placed = diagnosticsFor(problems, path, view.state.doc.toString());
      view.dispatch({ effects: setDiagnostics.of(placed) });
    }
    return placed;
  }

  clear(path: string): void {
    this.show(path, []);
  }

  /** The open paths below `prefix` (a pipeline's folder), for a validation report of its files. */
  pathsUnder(prefix: string): string[] {
    const p = prefix.endsWith("/") ? prefix : `${prefix}/`;
    return [...this.views.keys()].filter((k) => k.startsWith(p));
  }

  /** Show a validation report on the open files of the pipeline at `folder` (drive path of its folder): each
   * file gets its own problems, and a file without any is cleared. */
  showReport(folder: string, problems: readonly LineProblem[]): LineDiagnostic[] {
    const prefix = folder.endsWith("/") ? folder : `${folder}/`;
    const all: LineDiagnostic[] = [];
    for (const path of this.pathsUnder(prefix)) {
      const rel = path.slice(prefix.length);
      all.push(...this.show(path, problems.filter((p) => p.file === rel)));
    }
    return all;
  }
}

/** The parts of a document context used here (JupyterLab's `DocumentRegistry.IContext`). */
export interface SavingContext {
  readonly saveState: { connect(fn: (sender: unknown, state: string) => void): unknown };
  readonly disposed: { connect(fn: () => void): unknown };
}

/** Follow the saves of an editor of `path`: a refused save marks the line it names (and tells `notify`, with the
 * line), a save that goes through clears the marks. */
export function watchSaves(diagnostics: EditorDiagnostics, path: string, editor: LabCodeEditor, context: SavingContext,
  problemOf: () => LineProblem | undefined, notify: (message: string) => void): void {
  const detach = diagnostics.attach(path, editor);
  context.disposed.connect(detach);
  context.saveState.connect((_ctx, state) => {
    if (state === "completed") diagnostics.clear(path);
    if (state !== "failed") return;
    const problem = problemOf();
    if (!problem) return;
    const [placed] = diagnostics.show(path, [{ ...problem, file: path }]);
    const name = path.split("/").pop() ?? path;
    notify(placed ? `${name}, line ${placed.line}: ${problem.message}` : `${name}: ${problem.message}`);
  });
}
