import { jinja } from "@codemirror/lang-jinja";
import { sql } from "@codemirror/lang-sql";
import { LanguageSupport } from "@codemirror/language";
import { type EditorState, type Extension, RangeSetBuilder, StateField } from "@codemirror/state";
import { Decoration, type DecorationSet, EditorView } from "@codemirror/view";
import type { IEditorLanguage } from "@jupyterlab/codemirror";

/** The MIME type of a RAT pipeline's SQL: SQL with Jinja (`{{ ref('x') }}`, `{% if is_incremental() %}`,
 * `{# … #}`) and `-- @key: value` annotations. */
export const JINJA_SQL_MIME = "text/x-rat-jinja-sql";

export type JinjaKind = "expression" | "statement" | "comment" | "annotation";

export interface JinjaSpan {
  from: number;
  to: number;
  kind: JinjaKind;
}

// `{{ … }}`, `{% … %}`, `{# … #}` (an unclosed one runs to the end, as the user is still typing it); and the
// annotations the server reads at the top of a file (`-- @key: value`, config.ANNOTATION_RE)
const TEMPLATE = /\{\{[\s\S]*?(?:\}\}|$)|\{%[\s\S]*?(?:%\}|$)|\{#[\s\S]*?(?:#\}|$)/g;
const ANNOTATION = /^\s*(?:--|#)\s*@\w+:/;

/** Where the Jinja parts and annotations of a pipeline's SQL are, in document order. */
export function jinjaSpans(text: string): JinjaSpan[] {
  const out: JinjaSpan[] = [];
  for (const m of text.matchAll(TEMPLATE)) {
    const from = m.index ?? 0;
    const kind: JinjaKind = m[0].startsWith("{{") ? "expression" : m[0].startsWith("{%") ? "statement" : "comment";
    out.push({ from, to: from + m[0].length, kind });
  }
  // as the server reads them: in the leading block of blank and comment lines
  let at = 0;
  for (const line of text.split("\n")) {
    const stripped = line.trim();
    if (ANNOTATION.test(line)) {
      const from = at + line.length - line.trimStart().length;
      if (!out.some((s) => from >= s.from && from < s.to)) out.push({ from, to: at + line.trimEnd().length, kind: "annotation" });
    } else if (stripped && !stripped.startsWith("--") && !stripped.startsWith("#")) {
      break;
    }
    at += line.length + 1;
  }
  return out.sort((a, b) => a.from - b.from);
}

const MARKS: Record<JinjaKind, Decoration> = {
  expression: Decoration.mark({ class: "rat-lab-jinja rat-lab-jinja-expression" }),
  statement: Decoration.mark({ class: "rat-lab-jinja rat-lab-jinja-statement" }),
  comment: Decoration.mark({ class: "rat-lab-jinja rat-lab-jinja-comment" }),
  annotation: Decoration.mark({ class: "rat-lab-annotation" }),
};

function marks(state: EditorState): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  for (const s of jinjaSpans(state.doc.toString())) if (s.to > s.from) builder.add(s.from, s.to, MARKS[s.kind]);
  return builder.finish();
}

/** The Jinja parts as marks with stable classes (`rat-lab-jinja-*`, `rat-lab-annotation`), styled through the
 * theme's `--jp-*` variables: they stand out from the SQL around them in every Lab theme. */
export const jinjaMarks: Extension = StateField.define<DecorationSet>({
  create: marks,
  update: (value, tr) => (tr.docChanged ? marks(tr.state) : value),
  provide: (f) => EditorView.decorations.from(f),
});

/** SQL (its keywords, strings, comments) with Jinja parsed inside it (its tags, names, filters), as the portal's
 * editor does, plus the marks above. */
export function jinjaSqlSupport(): LanguageSupport {
  const j = jinja({ base: sql() });
  return new LanguageSupport(j.language, [j.support, jinjaMarks]);
}

/** The "Jinja SQL" language for JupyterLab's language registry. It claims no file extension: only the RAT
 * drive's `.sql` files use it (a local `.sql` file keeps Lab's SQL). */
export const jinjaSqlLanguage: IEditorLanguage = {
  name: "Jinja SQL",
  displayName: "Jinja SQL",
  alias: ["rat-sql", "jinja-sql"],
  mime: JINJA_SQL_MIME,
  extensions: [],
  load: async () => jinjaSqlSupport(),
};

/** The file editor's model, the part used here. */
interface MimeModel {
  mimeType: string;
}

/** The part of JupyterLab's language registry used here. */
interface LanguageLoader {
  getLanguage(language: string): Promise<unknown>;
}

/** Highlight a RAT drive file as Jinja SQL when it is a `.sql` file (pipeline.sql, quality tests). The editor
 * loads the language of the MIME type it was created with asynchronously and applies it when loaded: the switch
 * waits for that, or the late plain SQL would replace the Jinja SQL. */
export async function useJinjaSql(path: string, model: MimeModel | undefined, languages: LanguageLoader): Promise<boolean> {
  if (!model || !/\.sql$/i.test(path)) return false;
  const initial = model.mimeType;
  await languages.getLanguage(initial).catch(() => undefined);
  if (model.mimeType === initial) model.mimeType = JINJA_SQL_MIME;
  return model.mimeType === JINJA_SQL_MIME;
}
