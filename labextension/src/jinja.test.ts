import { describe, expect, it } from "vitest";
import { ensureSyntaxTree } from "@codemirror/language";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { JINJA_SQL_MIME, jinjaSpans, jinjaSqlLanguage, jinjaSqlSupport, useJinjaSql } from "./jinja";

const SQL = [
  "-- @merge_strategy: incremental",
  "-- @unique_key: id",
  "SELECT id, amount -- a comment",
  "FROM {{ ref('bronze.orders') }}",
  "{% if is_incremental() %}WHERE ts > (SELECT max(ts) FROM {{ this }}){% endif %}",
  "{# a note #}",
  "-- @not_an_annotation: below the SQL",
].join("\n");

describe("jinjaSpans", () => {
  it("finds expressions, statements, comments and the leading annotations", () => {
    const got = jinjaSpans(SQL).map((s) => [s.kind, SQL.slice(s.from, s.to)]);
    expect(got).toEqual([
      ["annotation", "-- @merge_strategy: incremental"],
      ["annotation", "-- @unique_key: id"],
      ["expression", "{{ ref('bronze.orders') }}"],
      ["statement", "{% if is_incremental() %}"],
      ["expression", "{{ this }}"],
      ["statement", "{% endif %}"],
      ["comment", "{# a note #}"],
    ]);
  });

  it("runs an unclosed tag to the end (the user is typing it) and leaves plain SQL alone", () => {
    expect(jinjaSpans("SELECT 1")).toEqual([]);
    expect(jinjaSpans("SELECT {{ ref('x'")).toEqual([{ from: 7, to: 17, kind: "expression" }]);
  });
});

describe("the Jinja SQL language", () => {
  it("is registered by MIME type without claiming .sql files", async () => {
    expect(jinjaSqlLanguage.mime).toBe(JINJA_SQL_MIME);
    expect(jinjaSqlLanguage.extensions).toEqual([]);
    expect(await jinjaSqlLanguage.load?.()).toBeDefined();
  });

  it("parses Jinja tags and the SQL between them", () => {
    const state = EditorState.create({ doc: SQL, extensions: jinjaSqlSupport() });
    const tree = ensureSyntaxTree(state, state.doc.length, 5000);
    const at = (text: string): string => tree?.resolveInner(SQL.indexOf(text) + 1, 1).name ?? "";
    // Jinja's own nodes, and SQL's inside the text between tags
    expect(at("ref(")).toBe("VariableName");
    expect(at("SELECT id")).toBe("Keyword");
    expect(at("-- a comment")).toBe("LineComment");
  });

  it("marks the Jinja parts in a real editor with classes of their own", () => {
    const view = new EditorView({ state: EditorState.create({ doc: SQL, extensions: jinjaSqlSupport() }), parent: document.body });
    const texts = (sel: string): string[] => [...view.dom.querySelectorAll(sel)].map((e) => e.textContent ?? "");
    expect(texts(".rat-lab-jinja-expression")).toContain("{{ ref('bronze.orders') }}");
    expect(texts(".rat-lab-jinja-statement")).toContain("{% if is_incremental() %}");
    expect(texts(".rat-lab-jinja-comment")).toEqual(["{# a note #}"]);
    expect(texts(".rat-lab-annotation")).toEqual(["-- @merge_strategy: incremental", "-- @unique_key: id"]);
    view.destroy();
  });

  it("switches only a RAT drive .sql file's editor to Jinja SQL, once its first language is loaded", async () => {
    const model = { mimeType: "text/x-sql" };
    const loaded: string[] = [];
    const languages = { getLanguage: async (m: string) => {
      loaded.push(m);
      expect(model.mimeType).toBe("text/x-sql");  // not switched before the first one is in
      return null;
    } };
    expect(await useJinjaSql("RAT:ns/pipelines/bronze/o/config.yaml", model, languages)).toBe(false);
    expect(model.mimeType).toBe("text/x-sql");
    expect(await useJinjaSql("RAT:ns/pipelines/bronze/o/pipeline.sql", model, languages)).toBe(true);
    expect(loaded).toEqual(["text/x-sql"]);
    expect(model.mimeType).toBe(JINJA_SQL_MIME);
  });
});
