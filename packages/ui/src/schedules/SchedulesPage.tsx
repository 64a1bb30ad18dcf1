import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { Pipeline } from "@rat/client";
import { Button } from "../components/Button";
import { Dialog } from "../components/Dialog";
import { ErrorBox } from "../components/ErrorBox";
import { SelectField, TextField } from "../components/Field";
import { PageHeader } from "../components/Shell";
import { Loading } from "../components/Status";
import { useApi } from "../context";
import { formatTime, useData } from "../data";
import { resources, TRIGGER_TYPES, type Schedule, type Trigger, type TriggerType } from "../resources";
import { CRON_SHORTCUTS, cronProblem, formatFireTime, nextFireTimes } from "./cron";
import "../landing/landing.css";

const pid = (p: { namespace: string; layer: string; name?: string; pipeline?: string }): string =>
  `${p.namespace}.${p.layer}.${p.name ?? p.pipeline ?? ""}`;

function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function zoneNames(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return ["UTC", ...(intl.supportedValuesOf?.("timeZone") ?? [])];
  } catch {
    return ["UTC"];
  }
}

/** The next five fire times of an expression, as the server computes them, or why it would refuse it. */
export function FireTimes({ cron, timezone, now }: { cron: string; timezone: string; now?: Date }) {
  const problem = cronProblem(cron, timezone);
  if (problem) return <p className="rat-muted" role="status" data-testid="cron-problem">{problem}</p>;
  const times = nextFireTimes(cron, timezone, now ?? new Date(), 5);
  return (
    <div role="status" aria-live="polite">
      <span className="rat-muted">Next fire times ({timezone}):</span>
      <ol className="rat-schedule-times" data-testid="fire-times">
        {times.map((t) => <li key={t.getTime()}><time dateTime={t.toISOString()}>{formatFireTime(t, timezone)}</time></li>)}
        {times.length === 0 && <li>never (no such date)</li>}
      </ol>
    </div>
  );
}

/** A cron field with the shortcut buttons and a time-zone field (IANA names, the browser's zone first). */
function CronInput({ cron, setCron, timezone, setTimezone, idPrefix }: {
  cron: string; setCron: (c: string) => void; timezone: string; setTimezone: (t: string) => void; idPrefix: string;
}) {
  const zones = useMemo(zoneNames, []);
  return (
    <>
      <TextField label="Cron (minute hour day month weekday)" value={cron} onChange={(e) => setCron(e.target.value)}
        spellCheck={false} required />
      <div className="rat-row" role="group" aria-label="Cron shortcuts">
        {CRON_SHORTCUTS.map((s) => (
          <Button key={s.cron} variant="ghost" onClick={() => setCron(s.cron)} aria-pressed={cron === s.cron}>{s.label}</Button>
        ))}
      </div>
      <p className="rat-muted">
        Standard cron: weekday 0 and 7 are Sunday (names work too: <code>mon-fri</code>); when both a day of the month
        and a weekday are given, either one fires; <code>@daily</code>, <code>@hourly</code>… are accepted.
      </p>
      <TextField label="Time zone" value={timezone} onChange={(e) => setTimezone(e.target.value)} list={`${idPrefix}-zones`}
        spellCheck={false} />
      <datalist id={`${idPrefix}-zones`}>{zones.map((z) => <option key={z} value={z} />)}</datalist>
    </>
  );
}

/** Cron schedules and the event triggers of every pipeline. */
export function SchedulesPage() {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const schedules = useData(["schedules"], () => res.schedules());
  const pipelines = useData(["pipelines-all"], () => api.allPipelines());
  const features = useData(["features"], () => res.features());
  const [error, setError] = useState<unknown>(null);
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), 30_000);
    return () => clearInterval(t);
  }, []);
  return (
    <div className="rat-page">
      <PageHeader title="Schedules" />
      <p className="rat-notice" role="note">
        Schedules and triggers run inside the Jupyter server: nothing fires while no server with RAT is running. After a
        restart, slots missed while it was down run once (not once per missed slot), and a pipeline that is still running
        is not started again.
        {features.data && !features.data.scheduler && <strong> The scheduler is not running on this server.</strong>}
      </p>
      {features.error && <ErrorBox error={features.error} title="Could not read the server's features" />}
      <h2>Cron schedules</h2>
      {schedules.error && <ErrorBox error={schedules.error} title="Could not list the schedules" />}
      <ErrorBox error={error} title="Could not change the schedule" />
      {!schedules.data && !schedules.error && <Loading what="Loading schedules" />}
      {schedules.data && (
        <table className="rat-table" aria-label="Cron schedules">
          <thead>
            <tr>
              <th scope="col">Pipeline</th><th scope="col">Cron</th><th scope="col">Time zone</th>
              <th scope="col">Enabled</th><th scope="col">Next run (server)</th><th scope="col">Last fired</th>
              <th scope="col">Next five</th><th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {schedules.data.schedules.map((s) => (
              <ScheduleRow key={s.id} schedule={s} now={now} onError={setError} onChanged={() => void schedules.mutate()} />
            ))}
            {schedules.data.schedules.length === 0 && <tr><td colSpan={8} className="rat-muted">No schedules yet</td></tr>}
          </tbody>
        </table>
      )}
      {pipelines.error && <ErrorBox error={pipelines.error} title="Could not list the pipelines" />}
      <CreateSchedule pipelines={pipelines.data ?? []} onCreated={() => void schedules.mutate()} />
      <Triggers pipelines={pipelines.data ?? []} />
    </div>
  );
}

function ScheduleRow({ schedule: s, now, onError, onChanged }: {
  schedule: Schedule; now: Date; onError: (e: unknown) => void; onChanged: () => void;
}) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [open, setOpen] = useState(false);
  // shown at once, put back if the server refuses
  const [enabled, setEnabled] = useState(s.enabled);
  useEffect(() => setEnabled(s.enabled), [s.enabled]);
  const name = pid(s);
  return (
    <tr>
      <td>{name}</td>
      <td><code>{s.cron}</code></td>
      <td>{s.timezone}</td>
      <td>
        <input type="checkbox" checked={enabled} aria-label={`Schedule of ${name} enabled`} onChange={(e) => {
          const on = e.target.checked;
          onError(null);
          setEnabled(on);
          res.updateSchedule(s.id, { enabled: on }).then(onChanged, (err: unknown) => {
            setEnabled(!on);
            onError(err);
          });
        }} />
      </td>
      <td>{enabled ? formatTime(s.next_run_at) : "disabled"}</td>
      <td>{formatTime(s.last_fired_at)}</td>
      <td>
        <Button variant="ghost" aria-expanded={open} onClick={() => setOpen(!open)}
          aria-label={`${open ? "Hide" : "Show"} the next five fire times of ${name}`}>{open ? "hide" : "show"}</Button>
        {open && <FireTimes cron={s.cron} timezone={s.timezone} now={now} />}
      </td>
      <td>
        <Button variant="danger" aria-label={`Delete the schedule of ${name}`} onClick={() => {
          onError(null);
          res.deleteSchedule(s.id).then(onChanged, onError);
        }}>Delete</Button>
      </td>
    </tr>
  );
}

function PipelineSelect({ pipelines, value, onChange, label }: {
  pipelines: readonly Pipeline[]; value: string; onChange: (v: string) => void; label: string;
}) {
  return (
    <SelectField label={label} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">choose a pipeline</option>
      {pipelines.map((p) => <option key={p.id} value={pid(p)}>{pid(p)}</option>)}
    </SelectField>
  );
}

function CreateSchedule({ pipelines, onCreated }: { pipelines: readonly Pipeline[]; onCreated: () => void }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [pipeline, setPipeline] = useState("");
  const [cron, setCron] = useState("0 2 * * *");
  const [timezone, setTimezone] = useState(browserZone);
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Schedule | null>(null);
  const submit = async (): Promise<void> => {
    setError(null);
    setCreated(null);
    const [namespace = "", layer = "", name = ""] = pipeline.split(".");
    try {
      const s = await res.createSchedule({ namespace, layer, pipeline: name, cron: cron.trim(), timezone: timezone.trim(), enabled });
      setCreated(s);
      onCreated();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form className="rat-card" aria-labelledby="new-schedule-h" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <h2 id="new-schedule-h">New schedule</h2>
      <PipelineSelect pipelines={pipelines} value={pipeline} onChange={setPipeline} label="Pipeline" />
      <CronInput cron={cron} setCron={setCron} timezone={timezone} setTimezone={setTimezone} idPrefix="schedule" />
      <label className="rat-check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
      <FireTimes cron={cron} timezone={timezone} />
      <div className="rat-toolbar">
        <Button type="submit" variant="primary" disabled={!pipeline}>Create schedule</Button>
        {created && <span role="status">Created: next run {formatTime(created.next_run_at)}</span>}
      </div>
      <ErrorBox error={error} title="Could not create the schedule" />
    </form>
  );
}

const TRIGGER_LABELS: Record<TriggerType, string> = {
  cron: "cron — on a schedule",
  cron_dependency: "cron_dependency — on a schedule, if an upstream pipeline succeeded since",
  pipeline_success: "pipeline_success — when another pipeline succeeds",
  landing_zone_upload: "landing_zone_upload — on every upload to a zone",
  file_pattern: "file_pattern — on uploads whose name matches a pattern",
  webhook: "webhook — when an outside system calls a URL with a token",
};

function describeTrigger(t: Trigger): string {
  const c = t.config;
  switch (t.type) {
    case "cron": return `${String(c.cron_expr)} (${String(c.timezone ?? "UTC")})`;
    case "cron_dependency": return `${String(c.cron_expr)} (${String(c.timezone ?? "UTC")}) after ${(c.dependencies as string[] | undefined)?.join(", ") ?? ""}`;
    case "pipeline_success": return `after ${String(c.namespace)}.${String(c.layer)}.${String(c.pipeline)} succeeds`;
    case "landing_zone_upload": return `upload to ${String(c.namespace)}.${String(c.zone_name)}`;
    case "file_pattern": return `upload to ${String(c.namespace)}.${String(c.zone_name)} matching ${String(c.pattern)}`;
    case "webhook": return `POST rat/api/v1/webhooks · token ${t.token_prefix ?? ""}…`;
    default: return JSON.stringify(c);
  }
}

function Triggers({ pipelines }: { pipelines: readonly Pipeline[] }) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const [params, setParams] = useSearchParams();
  const pipeline = params.get("pipeline") ?? "";
  const [namespace = "", layer = "", name = ""] = pipeline.split(".");
  const key = { ns: namespace, layer, name };
  const triggers = useData(pipeline ? ["triggers", pipeline] : null, () => res.triggers(key));
  const [error, setError] = useState<unknown>(null);
  const [token, setToken] = useState<Trigger | null>(null);
  return (
    <section aria-labelledby="triggers-h">
      <h2 id="triggers-h">Triggers</h2>
      <PipelineSelect pipelines={pipelines} value={pipeline} label="Triggers of pipeline"
        onChange={(v) => setParams(v ? { pipeline: v } : {}, { replace: true })} />
      {triggers.error && <ErrorBox error={triggers.error} title="Could not list the triggers" />}
      <ErrorBox error={error} title="Could not change the trigger" />
      {pipeline && triggers.data && (
        <table className="rat-table" aria-label={`Triggers of ${pipeline}`}>
          <thead>
            <tr><th scope="col">Type</th><th scope="col">When</th><th scope="col">Cooldown</th><th scope="col">Enabled</th>
              <th scope="col">Last fired</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {triggers.data.triggers.map((t) => (
              <tr key={t.id}>
                <td>{t.type}</td>
                <td>{describeTrigger(t)}</td>
                <td>{t.cooldown_seconds ? `${t.cooldown_seconds} s` : "—"}</td>
                <td>
                  <input type="checkbox" checked={t.enabled} aria-label={`Trigger ${t.type} enabled`} onChange={(e) => {
                    setError(null);
                    res.updateTrigger(key, t.id, { enabled: e.target.checked }).then(() => void triggers.mutate(), setError);
                  }} />
                </td>
                <td>{formatTime(t.last_triggered_at)}</td>
                <td>
                  <Button variant="danger" aria-label={`Delete trigger ${t.type}`} onClick={() => {
                    setError(null);
                    res.deleteTrigger(key, t.id).then(() => void triggers.mutate(), setError);
                  }}>Delete</Button>
                </td>
              </tr>
            ))}
            {triggers.data.triggers.length === 0 && <tr><td colSpan={6} className="rat-muted">No triggers</td></tr>}
          </tbody>
        </table>
      )}
      {pipeline && (
        <CreateTrigger pipelineKey={key} pipelines={pipelines} self={pipeline} onCreated={(t) => {
          void triggers.mutate();
          if (t.webhook_token) setToken(t);
        }} />
      )}
      <Dialog title="Webhook token" open={token !== null} onClose={() => setToken(null)}
        actions={<Button variant="primary" onClick={() => setToken(null)}>I have stored it</Button>}>
        <p><strong>Shown once:</strong> the server keeps only its hash. Call the webhook with it:</p>
        <p className="rat-token" data-testid="webhook-token">{token?.webhook_token}</p>
        <Button onClick={() => void navigator.clipboard?.writeText(token?.webhook_token ?? "")}>Copy token</Button>
        <pre className="rat-token">{`curl -X POST -H "X-Webhook-Token: ${token?.webhook_token ?? ""}" ${location.origin}${api.http.root}/rat/api/v1/webhooks`}</pre>
      </Dialog>
    </section>
  );
}

function CreateTrigger({ pipelineKey, pipelines, self, onCreated }: {
  pipelineKey: { ns: string; layer: string; name: string }; pipelines: readonly Pipeline[]; self: string;
  onCreated: (t: Trigger) => void;
}) {
  const api = useApi();
  const res = useMemo(() => resources(api), [api]);
  const zones = useData(["zones"], () => res.zones());
  const [type, setType] = useState<TriggerType>("cron");
  const [cron, setCron] = useState("0 * * * *");
  const [timezone, setTimezone] = useState(browserZone);
  const [upstream, setUpstream] = useState("");
  const [deps, setDeps] = useState<string[]>([]);
  const [zone, setZone] = useState("");
  const [pattern, setPattern] = useState("*.csv");
  const [cooldown, setCooldown] = useState("0");
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const others = pipelines.filter((p) => pid(p) !== self);
  const zoneList = zones.data?.zones ?? [];
  const config = (): Record<string, unknown> => {
    const [zns = "", zname = ""] = zone.split(".");
    const [uns = "", ulayer = "", uname = ""] = upstream.split(".");
    switch (type) {
      case "cron": return { cron_expr: cron.trim(), timezone: timezone.trim() };
      case "cron_dependency": return { cron_expr: cron.trim(), timezone: timezone.trim(), dependencies: deps };
      case "pipeline_success": return { namespace: uns, layer: ulayer, pipeline: uname };
      case "landing_zone_upload": return { namespace: zns, zone_name: zname };
      case "file_pattern": return { namespace: zns, zone_name: zname, pattern };
      default: return {};
    }
  };
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      const t = await res.createTrigger(pipelineKey, { type, config: config(), enabled, cooldown_seconds: Number(cooldown) || 0 });
      onCreated(t);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form className="rat-card" aria-labelledby="new-trigger-h" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <h3 id="new-trigger-h">New trigger for {self}</h3>
      <SelectField label="Type" value={type} onChange={(e) => setType(e.target.value as TriggerType)}>
        {TRIGGER_TYPES.map((t) => <option key={t} value={t}>{TRIGGER_LABELS[t]}</option>)}
      </SelectField>
      {(type === "cron" || type === "cron_dependency") && (
        <>
          <CronInput cron={cron} setCron={setCron} timezone={timezone} setTimezone={setTimezone} idPrefix="trigger" />
          <FireTimes cron={cron} timezone={timezone} />
        </>
      )}
      {type === "cron_dependency" && (
        <fieldset>
          <legend>Runs only if one of these succeeded since the last time it fired</legend>
          {others.map((p) => (
            <label key={p.id} className="rat-check">
              <input type="checkbox" checked={deps.includes(pid(p))}
                onChange={(e) => setDeps(e.target.checked ? [...deps, pid(p)] : deps.filter((d) => d !== pid(p)))} />
              {pid(p)}
            </label>
          ))}
          {others.length === 0 && <p className="rat-muted">No other pipelines</p>}
        </fieldset>
      )}
      {type === "pipeline_success" && (
        <PipelineSelect pipelines={others} value={upstream} onChange={setUpstream} label="Upstream pipeline" />
      )}
      {(type === "landing_zone_upload" || type === "file_pattern") && (
        <SelectField label="Landing zone" value={zone} onChange={(e) => setZone(e.target.value)}>
          <option value="">choose a zone</option>
          {zoneList.map((z) => <option key={`${z.namespace}.${z.name}`} value={`${z.namespace}.${z.name}`}>{`${z.namespace}.${z.name}`}</option>)}
        </SelectField>
      )}
      {type === "file_pattern" && (
        <TextField label="File name pattern (glob on the original name)" value={pattern} onChange={(e) => setPattern(e.target.value)} />
      )}
      {type === "webhook" && <p className="rat-muted">The token is shown once, right after the trigger is created.</p>}
      {type !== "cron" && type !== "cron_dependency" && (
        <TextField label="Cooldown (seconds between two firings)" type="number" min={0} value={cooldown}
          onChange={(e) => setCooldown(e.target.value)} />
      )}
      <label className="rat-check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
      <Button type="submit" variant="primary">Create trigger</Button>
      <ErrorBox error={error} title="Could not create the trigger" />
    </form>
  );
}
