import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { CompletionSource } from "@codemirror/autocomplete";
import type { EditorView } from "@codemirror/view";
import {
  ApiError,
  lineOf,
  locateLine,
  problemFromError,
  problemsFromValidation,
  type LineProblem,
  type Pipeline,
  type PipelineKey,
  type PreviewResult,
  type Version,
} from "@rat/client";
import { useApi } from "../../context";
import { formatDuration, toApiError, useData } from "../../data";
import { Button } from "../../components/Button";
import { DataGrid, type GridColumn } from "../../components/DataGrid";
import { Dialog } from "../../components/Dialog";
import { ErrorBox } from "../../components/ErrorBox";
import { TextArea } from "../../components/Field";
import { CodeEditor, languageOf } from "../../editor/CodeEditor";
import { ANNOTATIONS, TEST_ANNOTATIONS, annotationCompletion, columnCompletion, refCompletion } from "../../editor/completion";
import { diffLines, sha256Hex } from "../../editor/diff";

interface Buffer {
  saved: string;
  text: string;
}

const PIPELINE_FILES = ["pipeline.sql", "pipeline.py"];

/** The editor: file tree, tabs, CodeMirror with ref()/annotation/column completion, Mod-S save,
 * Mod-Shift-Enter preview of the unsaved text, problems inline at their line, publish, diff, rollback. */
export function CodeTab({ pipeline, onChanged }: { pipeline: Pipeline; onChanged: () => void }) {
  const api = useApi();
  const key: PipelineKey = { ns: pipeline.namespace, layer: pipeline.layer, name: pipeline.name };
  const prefix = pipeline.s3_path;
  const files = useData(["files", prefix], () => api.listFiles(prefix));
  const all = useData("pipelines:all", () => api.allPipelines());
  const schema = useData("schema", () => api.schema());
  const [open, setOpen] = useState<string[]>([]);
  const [active, setActive] = useState<string | null>(null);
  const [buffers, setBuffers] = useState<Record<string, Buffer>>({});
  const [problems, setProblems] = useState<LineProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState("");
  const [preview, setPreview] = useState<PreviewResult | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [publishOpen, setPublishOpen] = useState(false);
  const [diffOpen, setDiffOpen] = useState(false);
  const viewRef = useRef<EditorView | null>(null);

  const paths = useMemo(
    () => (files.data?.files ?? []).map((f) => f.path.slice(prefix.length)).sort((a, b) => depth(a) - depth(b) || a.localeCompare(b)),
    [files.data, prefix],
  );
  const mainFile = paths.find((p) => PIPELINE_FILES.includes(p));

  const openFile = useCallback(
    async (path: string): Promise<void> => {
      setOpen((o) => (o.includes(path) ? o : [...o, path]));
      setActive(path);
      if (buffers[path]) return;
      try {
        const f = await api.readFile(prefix + path);
        setBuffers((b) => (b[path] ? b : { ...b, [path]: { saved: f.content, text: f.content } }));
      } catch (e) {
        setError(toApiError(e));
      }
    },
    [api, buffers, prefix],
  );

  useEffect(() => {
    if (active === null && mainFile) void openFile(mainFile);
  }, [active, mainFile, openFile]);

  const buffer = active ? buffers[active] : undefined;
  const dirty = Object.entries(buffers).filter(([, b]) => b.text !== b.saved).map(([p]) => p);

  const targets = useMemo(
    () => (all.data ?? []).filter((p) => p.id !== pipeline.id).map((p) => `${p.namespace}.${p.layer}.${p.name}`),
    [all.data, pipeline.id],
  );
  const targetsRef = useRef(targets);
  targetsRef.current = targets;
  const tablesRef = useRef(schema.data?.tables ?? []);
  tablesRef.current = schema.data?.tables ?? [];
  const isTest = active?.startsWith("tests/") ?? false;
  const completions = useMemo<CompletionSource[]>(
    () => [
      refCompletion(() => targetsRef.current, () => pipeline.namespace),
      annotationCompletion(isTest ? TEST_ANNOTATIONS : ANNOTATIONS),
      columnCompletion(() => tablesRef.current, () => pipeline.namespace),
    ],
    [isTest, pipeline.namespace],
  );

  const validate = async (): Promise<void> => {
    const v = await api.validate(key);
    setProblems(problemsFromValidation(v));
    setStatus(v.valid ? "valid" : "has problems");
  };

  const save = async (): Promise<boolean> => {
    const toSave = dirty.length ? dirty : active ? [active] : [];
    setError(null);
    try {
      for (const path of toSave) {
        const b = buffers[path];
        if (!b) continue;
        await api.writeFile(prefix + path, b.text);
        setBuffers((all2) => ({ ...all2, [path]: { saved: b.text, text: all2[path]?.text ?? b.text } }));
      }
      setStatus(`saved ${toSave.join(", ")}`);
      await validate();
      onChanged();
      return true;
    } catch (e) {
      const err = toApiError(e);
      setError(err);
      setProblems([problemFromError(err, active ?? undefined)]);
      setStatus("not saved");
      return false;
    }
  };

  const runPreview = async (): Promise<void> => {
    const code = mainFile ? buffers[mainFile]?.text : undefined;
    setPreviewing(true);
    setError(null);
    try {
      const r = await api.preview(key, code, 100);
      setPreview(r);
      if (r.error) {
        const source = code ?? (mainFile ? buffers[mainFile]?.saved : undefined) ?? "";
        setProblems([{ file: mainFile, line: locateLine(r.error, source), message: r.error, severity: "error" }]);
        setStatus("preview failed");
      } else {
        setProblems(r.warnings.map((w) => ({ file: mainFile, line: lineOf(w), message: w, severity: "warning" as const })));
        setStatus(`preview: ${r.rows.length} of ${r.total_row_count} rows`);
      }
    } catch (e) {
      const err = toApiError(e);
      setError(err);
      setProblems([problemFromError(err, mainFile)]);
    } finally {
      setPreviewing(false);
    }
  };

  // keys call the latest closures
  const saveRef = useRef(save);
  saveRef.current = save;
  const previewRef = useRef(runPreview);
  previewRef.current = runPreview;
  const keys = useMemo(
    () => [
      { key: "Mod-s", run: () => (void saveRef.current(), true) },
      { key: "Mod-Shift-Enter", run: () => (void previewRef.current(), true) },
    ],
    [],
  );

  const fileProblems = problems.filter((p) => !p.file || p.file === active);
  const goto = (p: LineProblem): void => {
    const v = viewRef.current;
    if (!v || !p.line) return;
    const line = v.state.doc.line(Math.min(p.line, v.state.doc.lines));
    v.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
    v.focus();
  };

  return (
    <div className="rat-page" style={{ gap: 8 }}>
      <div className="rat-toolbar">
        <Button onClick={() => void save()} title="Save (Mod-S)" aria-keyshortcuts="Control+S Meta+S">
          Save{dirty.length ? ` (${dirty.length})` : ""}
        </Button>
        <Button onClick={() => void runPreview()} disabled={previewing} title="Preview the unsaved text (Mod-Shift-Enter)" aria-keyshortcuts="Control+Shift+Enter Meta+Shift+Enter">
          {previewing ? "Previewing…" : "Preview"}
        </Button>
        <Button onClick={() => void validate().catch((e: unknown) => setError(toApiError(e)))}>Validate</Button>
        <Button onClick={() => setDiffOpen((d) => !d)} aria-pressed={diffOpen} disabled={!pipeline.published_version}>
          Diff vs published
        </Button>
        <Button variant="primary" onClick={() => setPublishOpen(true)}>
          Publish…
        </Button>
        <span className="rat-muted" role="status" aria-live="polite" data-testid="editor-status">
          {status}
        </span>
      </div>
      <ErrorBox error={error} title="Editor" />
      <ErrorBox error={files.error} title="Could not list files" />
      <div className="rat-split">
        <nav className="rat-tree" aria-label="Pipeline files">
          {paths.map((p) => (
            <button key={p} type="button" aria-current={p === active} onClick={() => void openFile(p)} style={{ paddingLeft: 10 + depth(p) * 12 }}>
              {p}
              {buffers[p] && buffers[p].text !== buffers[p].saved ? " •" : ""}
            </button>
          ))}
        </nav>
        <div style={{ minWidth: 0 }}>
          <div className="rat-filetabs" role="group" aria-label="Open files">
            {open.map((p) => (
              <div key={p} className="rat-filetab" data-active={p === active}>
                <button type="button" aria-current={p === active} onClick={() => setActive(p)}>
                  {p}
                  {buffers[p] && buffers[p].text !== buffers[p].saved ? " •" : ""}
                </button>
                <button
                  type="button"
                  aria-label={`Close ${p}`}
                  onClick={() => {
                    const rest = open.filter((o) => o !== p);
                    setOpen(rest);
                    if (active === p) setActive(rest[rest.length - 1] ?? null);
                  }}
                >
                  ×
                </button>
              </div>
            ))}
          </div>
          {active && buffer ? (
            <CodeEditor
              value={buffer.text}
              language={languageOf(active)}
              label={`Code of ${active}`}
              onChange={(text) => setBuffers((b) => ({ ...b, [active]: { saved: b[active]?.saved ?? "", text } }))}
              completions={completions}
              problems={fileProblems}
              keys={keys}
              height={380}
              onView={(v) => {
                viewRef.current = v;
              }}
            />
          ) : (
            <div className="rat-editor rat-muted" style={{ padding: 12 }}>
              {files.isLoading ? "Loading…" : "Open a file from the tree."}
            </div>
          )}
          {fileProblems.length > 0 && (
            <ul className="rat-problems" aria-label="Problems" data-testid="problems">
              {fileProblems.map((p, i) => (
                <li key={i} className={`rat-problem-${p.severity}`}>
                  <button type="button" onClick={() => goto(p)}>
                    {p.line ? `line ${p.line}: ` : ""}
                    {p.message}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      {diffOpen && <DiffPanel pipeline={pipeline} pkey={key} buffers={buffers} paths={paths} onRolledBack={onChanged} />}
      {preview && <PreviewPanel result={preview} />}
      <PublishDialog
        open={publishOpen}
        onClose={() => setPublishOpen(false)}
        pkey={key}
        dirty={dirty}
        save={save}
        onPublished={(msg) => {
          setStatus(msg);
          setProblems([]);
          onChanged();
        }}
        onProblems={setProblems}
      />
    </div>
  );
}

function depth(p: string): number {
  return p.split("/").length - 1;
}

export function PreviewPanel({ result }: { result: PreviewResult }) {
  const columns: GridColumn<Record<string, unknown>>[] = result.columns.map((c) => ({ id: c.name, header: c.name, type: c.type, width: 150 }));
  return (
    <section aria-labelledby="h-preview" className="rat-card">
      <h2 id="h-preview">Preview</h2>
      {result.error ? (
        <div className="rat-error" role="alert">
          <strong>Preview failed: </strong>
          <pre>{result.error}</pre>
        </div>
      ) : (
        <>
          <p className="rat-muted" data-testid="preview-count">
            showing {result.rows.length} of {result.total_row_count} rows
            {result.phases.length ? ` · ${result.phases.map((p) => `${p.name} ${formatDuration(p.duration_ms)}`).join(" · ")}` : ""}
          </p>
          <DataGrid label="Preview rows" rows={result.rows} columns={columns} rowNumbers height={260} />
        </>
      )}
      {result.warnings.length > 0 && (
        <ul>
          {result.warnings.map((w) => (
            <li key={w} className="rat-status-warn">
              {w}
            </li>
          ))}
        </ul>
      )}
      <details>
        <summary>Compiled SQL</summary>
        <pre>{result.compiled_sql}</pre>
      </details>
      {result.explain_output && (
        <details>
          <summary>EXPLAIN</summary>
          <pre>{result.explain_output}</pre>
        </details>
      )}
    </section>
  );
}

function PublishDialog({
  open,
  onClose,
  pkey,
  dirty,
  save,
  onPublished,
  onProblems,
}: {
  open: boolean;
  onClose: () => void;
  pkey: PipelineKey;
  dirty: string[];
  save: () => Promise<boolean>;
  onPublished: (message: string) => void;
  onProblems: (p: LineProblem[]) => void;
}) {
  const api = useApi();
  const [message, setMessage] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const publish = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      if (dirty.length && !(await save())) {
        setError(new ApiError(0, "the unsaved files could not be saved; nothing was published", "NOT_SAVED"));
        return;
      }
      const out = await api.publish(pkey, message);
      const v = typeof out.version === "number" ? out.version : undefined;
      setMessage("");
      onPublished(v ? `published v${v}` : "published");
      onClose();
    } catch (e) {
      const err = toApiError(e);
      setError(err);
      const details = err.details as { validation?: Parameters<typeof problemsFromValidation>[0] } | undefined;
      if (details?.validation) onProblems(problemsFromValidation(details.validation));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Publish"
      open={open}
      onClose={onClose}
      actions={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" onClick={() => void publish()} disabled={busy}>
            {dirty.length ? "Save and publish" : "Publish"}
          </Button>
        </>
      }
    >
      <p className="rat-muted">Publishing validates the draft and makes it a new immutable version that runs use.</p>
      {dirty.length > 0 && <p className="rat-notice">Unsaved: {dirty.join(", ")} — they are saved first.</p>}
      <TextArea label="Message" value={message} rows={3} onChange={(e) => setMessage(e.target.value)} />
      <ErrorBox error={error} title="Not published" />
    </Dialog>
  );
}

function DiffPanel({
  pipeline,
  pkey,
  buffers,
  paths,
  onRolledBack,
}: {
  pipeline: Pipeline;
  pkey: PipelineKey;
  buffers: Record<string, Buffer>;
  paths: string[];
  onRolledBack: () => void;
}) {
  const api = useApi();
  const n = pipeline.published_version ?? 0;
  const version = useData(n ? ["version", pkey.ns, pkey.layer, pkey.name, n] : null, () => api.version(pkey, n));
  const [changed, setChanged] = useState<Record<string, "same" | "changed" | "added" | "removed" | "unknown">>({});
  const contents = (version.data as (Version & { contents?: Record<string, string> }) | undefined)?.contents;

  useEffect(() => {
    const v = version.data;
    if (!v) return;
    let stop = false;
    void (async () => {
      const out: Record<string, "same" | "changed" | "added" | "removed" | "unknown"> = {};
      for (const p of new Set([...paths, ...Object.keys(v.files)])) {
        if (!(p in v.files)) out[p] = "added";
        else if (!paths.includes(p)) out[p] = "removed";
        else {
          const b = buffers[p];
          const text = b ? b.text : (await api.readFile(pipeline.s3_path + p).catch(() => null))?.content;
          const h = text === undefined ? undefined : await sha256Hex(text);
          out[p] = h === undefined ? "unknown" : h === v.files[p] ? "same" : "changed";
        }
      }
      if (!stop) setChanged(out);
    })();
    return () => {
      stop = true;
    };
  }, [version.data, buffers, paths, api, pipeline.s3_path]);

  return (
    <section aria-labelledby="h-diff" className="rat-card">
      <h2 id="h-diff">Changes since v{n}</h2>
      <ErrorBox error={version.error} title="Could not load the published version" />
      <ul>
        {Object.entries(changed).map(([p, s]) => (
          <li key={p}>
            <code>{p}</code> <span className={`rat-badge rat-status-${s === "same" ? "success" : "warn"}`}>{s}</span>
          </li>
        ))}
      </ul>
      {contents &&
        Object.entries(changed)
          .filter(([, s]) => s === "changed")
          .map(([p]) => (
            <div key={p}>
              <h3>{p}</h3>
              <div className="rat-diff" role="region" aria-label={`Diff of ${p}`}>
                {diffLines(contents[p] ?? "", buffers[p]?.text ?? "").map((d, i) => (
                  <div key={i} className={d.kind === "same" ? "" : `rat-diff-${d.kind}`}>
                    {d.kind === "add" ? "+ " : d.kind === "del" ? "- " : "  "}
                    {d.text}
                  </div>
                ))}
              </div>
            </div>
          ))}
      {!contents && <p className="rat-muted">Line diffs need the published contents from the server; shown: which files changed.</p>}
      <RollbackControl pkey={pkey} current={n} onDone={onRolledBack} />
    </section>
  );
}

export function RollbackControl({ pkey, current, onDone }: { pkey: PipelineKey; current: number; onDone: () => void }) {
  const api = useApi();
  const versions = useData(["versions", pkey.ns, pkey.layer, pkey.name], () => api.versions(pkey));
  const [target, setTarget] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const roll = async (): Promise<void> => {
    if (!target) return;
    setBusy(true);
    setError(null);
    try {
      await api.rollback(pkey, target, `rollback to v${target}`);
      setTarget(null);
      await versions.mutate();
      onDone();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <h3>Versions</h3>
      <ErrorBox error={versions.error} title="Could not list versions" />
      <table className="rat-table">
        <thead>
          <tr>
            <th scope="col">version</th>
            <th scope="col">message</th>
            <th scope="col">published</th>
            <th scope="col">
              <span className="rat-visually-hidden">actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {versions.data?.versions.map((v) => (
            <tr key={v.version}>
              <td>
                v{v.version}
                {v.rolled_back_from ? ` (from v${v.rolled_back_from})` : ""}
                {v.version === current ? " · current" : ""}
              </td>
              <td>{v.message}</td>
              <td>{new Date(v.created_at).toLocaleString()}</td>
              <td>
                {v.version !== current && (
                  <Button onClick={() => setTarget(v.version)} aria-label={`Roll back to v${v.version}`}>
                    Roll back
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Dialog
        title={`Roll back to v${target ?? ""}`}
        open={target !== null}
        onClose={() => setTarget(null)}
        actions={
          <>
            <Button onClick={() => setTarget(null)}>Cancel</Button>
            <Button variant="danger" onClick={() => void roll()} disabled={busy}>
              Roll back
            </Button>
          </>
        }
      >
        <p>A new version re-pins v{target}; the draft files are restored to it too (unsaved edits are lost).</p>
        <ErrorBox error={error} title="Not rolled back" />
      </Dialog>
    </div>
  );
}
