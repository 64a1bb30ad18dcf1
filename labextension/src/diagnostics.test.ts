import { describe, expect, it } from "vitest";
import { EditorState, StateEffect } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { ApiError, problemFromError, problemsFromValidation } from "@rat/client";
import {
  diagnosticsExtension, diagnosticsFor, diagnosticsOf, EditorDiagnostics, lineOfProblem, setDiagnostics, watchSaves,
  type LabCodeEditor,
} from "./diagnostics";

const SQL = "-- @merge_strategy: full_refresh\nSELECT id,\n  name\nFROM {{ ref('bronze.orders') }}";

/** A Lab-like code editor: a real EditorView, extensions injected as JupyterLab's CodeMirrorEditor does. */
function labEditor(doc: string): LabCodeEditor & { view: EditorView } {
  const view = new EditorView({ state: EditorState.create({ doc }), parent: document.body });
  return { view, editor: view, injectExtension: (ext) => view.dispatch({ effects: StateEffect.appendConfig.of(ext) }) };
}

/** A signal with connect/emit, the part of Lumino's Signal the glue uses. */
class FakeSignal<T> {
  private fns: ((sender: unknown, v: T) => void)[] = [];
  connect(fn: (sender: unknown, v: T) => void): void {
    this.fns.push(fn);
  }
  emit(v: T): void {
    for (const fn of this.fns) fn(null, v);
  }
}

describe("diagnostics field", () => {
  it("places a problem at the start of its line and keeps it there while lines are added above", () => {
    let state = EditorState.create({ doc: SQL, extensions: diagnosticsExtension() });
    state = state.update({ effects: setDiagnostics.of([{ line: 3, message: "bad column", severity: "error" }]) }).state;
    expect(diagnosticsOf(state)).toEqual([{ line: 3, message: "bad column", severity: "error" }]);
    state = state.update({ changes: { from: 0, insert: "-- a comment\n" } }).state;
    expect(diagnosticsOf(state)[0]?.line).toBe(4);
    // edits on the line itself keep it on that line
    const at = state.doc.line(4).from;
    state = state.update({ changes: { from: at, insert: "  " } }).state;
    expect(diagnosticsOf(state)[0]?.line).toBe(4);
  });

  it("clamps a line past the end to the last line, ignores lines below 1, and clears with an empty list", () => {
    let state = EditorState.create({ doc: "SELECT 1\nFROM x", extensions: diagnosticsExtension() });
    state = state.update({ effects: setDiagnostics.of([
      { line: 9, message: "late", severity: "warning" }, { line: 0, message: "nowhere", severity: "error" },
    ]) }).state;
    expect(diagnosticsOf(state)).toEqual([{ line: 2, message: "late", severity: "warning" }]);
    state = state.update({ effects: setDiagnostics.of([]) }).state;
    expect(diagnosticsOf(state)).toEqual([]);
  });
});

describe("which line a server problem goes to", () => {
  it("uses the line a template error names (details.line)", () => {
    const p = problemFromError(new ApiError(400, "unexpected '}'", "INVALID", "", { line: 4 }), "x/pipeline.sql");
    expect(lineOfProblem(p, SQL)).toBe(4);
  });

  it("finds the line DuckDB quotes in the user's file, whatever number it gives", () => {
    const message = "Parser Error: syntax error at or near \"FORM\"\n\nLINE 1: FORM orders";
    const p = { message, line: 1, severity: "error" as const };
    expect(lineOfProblem(p, "SELECT 1\n\nFORM orders")).toBe(3);
  });

  it("keeps a validation report's problems of the file they name, with their line", () => {
    const report = { files: [
      { path: "pipeline.sql", errors: ["template error at line 2: unexpected end"], warnings: [] },
      { path: "config.yaml", errors: ["bad yaml at line 1"], warnings: [] },
      { path: "pipeline.sql", errors: ["no line here"], warnings: [] },
    ] };
    const got = diagnosticsFor(problemsFromValidation(report), "ns/pipelines/bronze/o/pipeline.sql", SQL);
    expect(got).toEqual([{ line: 2, message: "template error at line 2: unexpected end", severity: "error" }]);
  });
});

describe("EditorDiagnostics on a real editor view", () => {
  // the gutter's markers are drawn after a layout, which jsdom does not do: the browser test checks them
  it("highlights and underlines the line, with the message on hover, then clears", () => {
    const diag = new EditorDiagnostics();
    const ed = labEditor(SQL);
    diag.attach("ns/pipelines/bronze/o/pipeline.sql", ed);
    diag.showReport("ns/pipelines/bronze/o", [{ file: "pipeline.sql", line: 2, message: "boom", severity: "error" }]);
    const dom = ed.view.dom;
    const line = dom.querySelector(".cm-line.rat-lab-diag-line");
    expect(line?.getAttribute("title")).toBe("boom");
    expect(line?.textContent).toBe("SELECT id,");
    expect(dom.querySelector(".rat-lab-diag-underline")?.textContent).toBe("SELECT id,");
    diag.showReport("ns/pipelines/bronze/o", []);
    expect(dom.querySelector(".rat-lab-diag-line")).toBeNull();
    ed.view.destroy();
  });

  it("a refused save marks its line and notifies with it; the next good save clears; closing forgets", () => {
    const diag = new EditorDiagnostics();
    const ed = labEditor("SELECT 1,\n{{ ref('x' }}");
    const saveState = new FakeSignal<string>();
    const disposed = new FakeSignal<void>();
    const notes: string[] = [];
    const problem = problemFromError(new ApiError(400, "expected ')' (line 2)", "INVALID"), "ns/pipelines/b/o/pipeline.sql");
    watchSaves(diag, "ns/pipelines/b/o/pipeline.sql", ed, { saveState, disposed: { connect: (fn) => disposed.connect(() => fn()) } },
      () => problem, (m) => notes.push(m));
    saveState.emit("started");
    saveState.emit("failed");
    expect(diagnosticsOf(ed.view.state)).toEqual([{ line: 2, message: "expected ')' (line 2)", severity: "error" }]);
    expect(notes).toEqual(["pipeline.sql, line 2: expected ')' (line 2)"]);
    saveState.emit("completed");
    expect(diagnosticsOf(ed.view.state)).toEqual([]);
    disposed.emit();
    expect(diag.pathsUnder("ns/pipelines/b/o")).toEqual([]);
    ed.view.destroy();
  });
});
