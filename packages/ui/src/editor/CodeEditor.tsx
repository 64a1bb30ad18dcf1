import { useEffect, useRef } from "react";
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, type CompletionSource } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { jinja } from "@codemirror/lang-jinja";
import { python } from "@codemirror/lang-python";
import { sql } from "@codemirror/lang-sql";
import { yaml } from "@codemirror/lang-yaml";
import { HighlightStyle, bracketMatching, foldGutter, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers, type KeyBinding } from "@codemirror/view";
import type { LineProblem } from "@rat/client";

export type EditorLanguage = "sql" | "jinja-sql" | "python" | "yaml" | "text";

export function languageOf(path: string): EditorLanguage {
  if (path.endsWith(".sql")) return "jinja-sql";
  if (path.endsWith(".py")) return "python";
  if (path.endsWith(".yaml") || path.endsWith(".yml")) return "yaml";
  return "text";
}

function languageExtension(lang: EditorLanguage): Extension {
  switch (lang) {
    case "sql":
      return sql();
    case "jinja-sql":
      return jinja({ base: sql() });
    case "python":
      return python();
    case "yaml":
      return yaml();
    default:
      return [];
  }
}

const ratTheme = EditorView.theme({
  "&": { backgroundColor: "var(--rat-bg)", color: "var(--rat-fg)", fontSize: "13px", height: "100%" },
  ".cm-content": { fontFamily: "var(--rat-font)", caretColor: "var(--rat-accent)" },
  ".cm-gutters": { backgroundColor: "var(--rat-surface)", color: "var(--rat-muted)", border: "none" },
  ".cm-activeLine": { backgroundColor: "color-mix(in srgb, var(--rat-surface-2) 60%, transparent)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--rat-surface-2)" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--rat-accent)" },
  ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": { backgroundColor: "var(--rat-accent-2-bg)" },
  ".cm-tooltip": { backgroundColor: "var(--rat-surface)", border: "1px solid var(--rat-accent-2)", color: "var(--rat-fg)" },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "var(--rat-accent-2-bg)", color: "var(--rat-fg)" },
  ".cm-scroller": { fontFamily: "var(--rat-font)" },
});

/** Token colours from the theme variables (readable on both themes; CodeMirror's default style is for light
 * backgrounds only). */
export const ratHighlight = HighlightStyle.define([
  { tag: [t.keyword, t.operatorKeyword, t.modifier, t.controlKeyword], color: "var(--rat-accent-2)", fontWeight: "600" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "var(--rat-accent)" },
  { tag: [t.comment, t.lineComment, t.blockComment, t.meta], color: "var(--rat-muted)", fontStyle: "italic" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "var(--rat-info)" },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.standard(t.name)], color: "var(--rat-warn)" },
  { tag: [t.typeName, t.className, t.namespace], color: "var(--rat-info)" },
  { tag: [t.brace, t.bracket, t.paren, t.punctuation, t.operator, t.separator], color: "var(--rat-fg)" },
  { tag: [t.variableName, t.propertyName, t.name, t.labelName, t.attributeName], color: "var(--rat-fg)" },
  { tag: t.invalid, color: "var(--rat-danger)" },
]);

/** Diagnostics for CodeMirror from line problems (1-based lines; a problem without a line marks line 1). */
export function toDiagnostics(state: EditorState, problems: readonly LineProblem[]): Diagnostic[] {
  return problems.map((p) => {
    const n = Math.min(Math.max(p.line ?? 1, 1), state.doc.lines);
    const line = state.doc.line(n);
    return { from: line.from, to: Math.max(line.to, line.from), severity: p.severity, message: p.message };
  });
}

export interface CodeEditorProps {
  value: string;
  onChange?: (value: string) => void;
  language: EditorLanguage;
  /** Accessible name of the editing surface. */
  label: string;
  completions?: readonly CompletionSource[];
  problems?: readonly LineProblem[];
  keys?: readonly KeyBinding[];
  readOnly?: boolean;
  height?: number | string;
  /** Gets the view (tests, "go to line"). */
  onView?: (view: EditorView | null) => void;
}

/** CodeMirror 6, themed with the --rat-* variables. The caller's key bindings (Mod-S, Mod-Shift-Enter…) come
 * before the defaults; Escape leaves the editor so the keyboard can move on (Tab indents inside it). */
export function CodeEditor({ value, onChange, language, label, completions = [], problems = [], keys = [], readOnly = false, height = 360, onView }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const keysRef = useRef(keys);
  keysRef.current = keys;
  const compartments = useRef({ lang: new Compartment(), complete: new Compartment(), ro: new Compartment() });

  useEffect(() => {
    if (!host.current) return;
    const c = compartments.current;
    const dynamicKeys = keymap.of([
      {
        key: "Escape",
        run: (v) => {
          v.contentDOM.blur();
          return true;
        },
      },
    ]);
    const callerKeys = EditorView.domEventHandlers({
      keydown: (event, v) => {
        for (const k of keysRef.current) {
          if (k.key && matches(event, k.key) && k.run?.(v)) {
            event.preventDefault();
            return true;
          }
        }
        return false;
      },
    });
    const state = EditorState.create({
      doc: value,
      extensions: [
        callerKeys,
        lineNumbers(),
        foldGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        highlightActiveLine(),
        syntaxHighlighting(ratHighlight),
        lintGutter(),
        dynamicKeys,
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, indentWithTab]),
        c.lang.of(languageExtension(language)),
        c.complete.of(autocompletion({ override: completions.length ? [...completions] : null, activateOnTyping: true })),
        c.ro.of(EditorState.readOnly.of(readOnly)),
        EditorView.contentAttributes.of({ "aria-label": label, "aria-multiline": "true" }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
        }),
        ratTheme,
      ],
    });
    const v = new EditorView({ state, parent: host.current });
    view.current = v;
    onView?.(v);
    return () => {
      v.destroy();
      view.current = null;
      onView?.(null);
    };
    // the view is created once; later prop changes go through the compartments below
    // eslint-disable-next-line
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.lang.reconfigure(languageExtension(language)) });
  }, [language]);

  useEffect(() => {
    view.current?.dispatch({
      effects: compartments.current.complete.reconfigure(
        autocompletion({ override: completions.length ? [...completions] : null, activateOnTyping: true }),
      ),
    });
  }, [completions]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.ro.reconfigure(EditorState.readOnly.of(readOnly)) });
  }, [readOnly]);

  useEffect(() => {
    const v = view.current;
    if (v) v.dispatch(setDiagnostics(v.state, toDiagnostics(v.state, problems)));
  }, [problems, value]);

  return <div ref={host} className="rat-editor" style={{ height }} data-language={language} />;
}

/** Does a keyboard event match a CodeMirror key name like "Mod-Shift-Enter"? */
export function matches(event: KeyboardEvent, spec: string): boolean {
  const parts = spec.split("-");
  const key = parts.pop() ?? "";
  const mac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
  const want = { mod: false, shift: false, alt: false, ctrl: false, meta: false };
  for (const p of parts) {
    if (p === "Mod") want.mod = true;
    else if (p === "Shift") want.shift = true;
    else if (p === "Alt") want.alt = true;
    else if (p === "Ctrl") want.ctrl = true;
    else if (p === "Meta" || p === "Cmd") want.meta = true;
  }
  const mod = mac ? event.metaKey : event.ctrlKey;
  if (want.mod && !mod) return false;
  if (!want.mod && !want.ctrl && event.ctrlKey) return false;
  if (!want.mod && !want.meta && event.metaKey) return false;
  if (want.shift !== event.shiftKey) return false;
  if (want.alt !== event.altKey) return false;
  return event.key.toLowerCase() === key.toLowerCase();
}
