import { useMemo, useState } from "react";
import type { CompletionSource } from "@codemirror/autocomplete";
import type { Pipeline, PipelineKey, QualityTest, TestRun } from "@rat/client";
import { useApi } from "../../context";
import { toApiError, useData } from "../../data";
import { Button } from "../../components/Button";
import { ErrorBox } from "../../components/ErrorBox";
import { SelectField, TextField } from "../../components/Field";
import { StatusBadge } from "../../components/Status";
import { CodeEditor } from "../../editor/CodeEditor";
import { TEST_ANNOTATIONS, annotationCompletion } from "../../editor/completion";
import { QualityResults } from "../RunDetail";

const TEMPLATE = "-- rows returned are violations\nSELECT * FROM {{ this }} WHERE 1 = 0\n";

/** Quality tests: list with severity and published/draft badges, edit, create, delete, and run them now
 * against the published table with structured results. */
export function QualityTab({ pipeline }: { pipeline: Pipeline }) {
  const api = useApi();
  const key: PipelineKey = { ns: pipeline.namespace, layer: pipeline.layer, name: pipeline.name };
  const tests = useData(["tests", key.ns, key.layer, key.name], () => api.listTests(key));
  const [editing, setEditing] = useState<{ name: string; sql: string; severity: string; isNew: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [results, setResults] = useState<TestRun | null>(null);
  const [running, setRunning] = useState(false);
  const completions = useMemo<CompletionSource[]>(() => [annotationCompletion(TEST_ANNOTATIONS)], []);

  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await fn();
      await tests.mutate();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const runAll = async (): Promise<void> => {
    setRunning(true);
    setError(null);
    try {
      setResults(await api.runTests(key));
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setRunning(false);
    }
  };
  const edit = (t: QualityTest): void => setEditing({ name: t.name, sql: t.sql, severity: t.severity, isNew: false });

  return (
    <div className="rat-page">
      <div className="rat-toolbar">
        <Button variant="primary" onClick={() => setEditing({ name: "", sql: TEMPLATE, severity: "error", isNew: true })}>
          New test
        </Button>
        <Button onClick={() => void runAll()} disabled={running || !tests.data?.total}>
          {running ? "Running…" : "Run all tests"}
        </Button>
      </div>
      <ErrorBox error={tests.error ?? error} title="Quality tests" />
      <table className="rat-table" aria-label="Quality tests">
        <thead>
          <tr>
            <th scope="col">test</th>
            <th scope="col">severity</th>
            <th scope="col">state</th>
            <th scope="col">description</th>
            <th scope="col">
              <span className="rat-visually-hidden">actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tests.data?.tests.map((t) => (
            <tr key={t.name}>
              <td>{t.name}</td>
              <td>
                <StatusBadge status={t.severity === "error" ? "error" : "warn"} />
              </td>
              <td>{t.published ? "published" : <span className="rat-badge rat-status-warn">draft</span>}</td>
              <td className="rat-muted">{t.description}</td>
              <td className="rat-row">
                <Button onClick={() => edit(t)} aria-label={`Edit ${t.name}`}>
                  Edit
                </Button>
                <Button variant="danger" aria-label={`Delete ${t.name}`} onClick={() => void act(() => api.deleteTest(key, t.name))}>
                  Delete
                </Button>
              </td>
            </tr>
          ))}
          {tests.data?.total === 0 && (
            <tr>
              <td colSpan={5} className="rat-muted">
                No quality test yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {editing && (
        <section className="rat-card" aria-labelledby="h-test-edit">
          <h2 id="h-test-edit">{editing.isNew ? "New test" : `Edit ${editing.name}`}</h2>
          <div className="rat-row">
            {editing.isNew && <TextField label="Test name" value={editing.name} onChange={(e) => setEditing({ ...editing, name: e.target.value })} />}
            <SelectField label="Severity" value={editing.severity} onChange={(e) => setEditing({ ...editing, severity: e.target.value })}>
              <option value="error">error (fails the run)</option>
              <option value="warn">warn</option>
            </SelectField>
          </div>
          <CodeEditor
            value={editing.sql}
            onChange={(sql) => setEditing((e) => (e ? { ...e, sql } : e))}
            language="jinja-sql"
            label="Test SQL"
            completions={completions}
            height={180}
          />
          <div className="rat-dialog-actions">
            <Button onClick={() => setEditing(null)}>Cancel</Button>
            <Button
              variant="primary"
              onClick={() =>
                void act(async () => {
                  if (editing.isNew) await api.createTest(key, { name: editing.name.trim(), sql: editing.sql, severity: editing.severity });
                  else await api.updateTest(key, editing.name, { sql: editing.sql, severity: editing.severity });
                  setEditing(null);
                })
              }
            >
              Save test
            </Button>
          </div>
        </section>
      )}
      {results && (
        <section aria-labelledby="h-test-results">
          <h2 id="h-test-results">
            Results: {results.passed} passed, {results.failed} failed of {results.total}
          </h2>
          <QualityResults results={results.results} />
        </section>
      )}
    </div>
  );
}
