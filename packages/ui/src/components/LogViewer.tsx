import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { observeRectWithFallback } from "./virtual";
import type { LogLine } from "@rat/client";

const RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, warning: 2, error: 3 };
export type MinLevel = "debug" | "info" | "warn" | "error";

export interface LogFilter {
  minLevel: MinLevel;
  errorsOnly: boolean;
  search: string;
}

/** One display row: a log line's first text line, or a continuation of a multi-line message. */
export interface LogRow {
  line: LogLine;
  text: string;
  first: boolean;
}

/** Lines that pass the filter, split into fixed-height rows (multi-line messages such as compiled SQL become
 * continuation rows, so virtualization stays exact). */
export function filterLog(lines: readonly LogLine[], f: LogFilter): LogRow[] {
  const min = f.errorsOnly ? 3 : RANK[f.minLevel] ?? 0;
  const needle = f.search.trim().toLowerCase();
  const out: LogRow[] = [];
  for (const line of lines) {
    if ((RANK[line.level] ?? 1) < min) continue;
    if (needle && !line.message.toLowerCase().includes(needle)) continue;
    const parts = line.message.split("\n");
    parts.forEach((text, i) => out.push({ line, text, first: i === 0 }));
  }
  return out;
}

function highlight(text: string, needle: string): ReactNode {
  if (!needle) return text;
  const lower = text.toLowerCase();
  const out: ReactNode[] = [];
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    out.push(text.slice(at, i), <mark key={i}>{text.slice(i, i + needle.length)}</mark>);
    at = i + needle.length;
  }
  out.push(text.slice(at));
  return out;
}

function time(ts: string): string {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toISOString().slice(11, 23);
}

/** A run's log: level filter, "errors only", search with highlighting, follow-tail; only the visible rows are
 * in the DOM (10k+ lines stay smooth). Text only — log content is never HTML. */
export function LogViewer({
  lines,
  height = 480,
  label = "Run log",
  initialFilter,
  toolbarExtra,
}: {
  lines: readonly LogLine[];
  height?: number;
  label?: string;
  initialFilter?: Partial<LogFilter>;
  toolbarExtra?: ReactNode;
}) {
  const [filter, setFilter] = useState<LogFilter>({ minLevel: "debug", errorsOnly: false, search: "", ...initialFilter });
  const [follow, setFollow] = useState(true);
  const scroller = useRef<HTMLDivElement>(null);
  const uid = useId();
  const rows = useMemo(() => filterLog(lines, filter), [lines, filter]);
  const shownLines = useMemo(() => new Set(rows.map((r) => r.line.seq)).size, [rows]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 20,
    overscan: 20,
    initialRect: { width: 800, height },
    observeElementRect: observeRectWithFallback({ width: 800, height }),
  });
  useEffect(() => {
    if (follow && rows.length) virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
  }, [follow, rows.length, virtualizer]);
  const needle = filter.search.trim().toLowerCase();

  return (
    <div className="rat-page" style={{ gap: 6, minHeight: 0 }}>
      <div className="rat-toolbar">
        <div className="rat-field">
          <label htmlFor={`${uid}-level`}>Level</label>
          <select
            id={`${uid}-level`}
            className="rat-select"
            value={filter.minLevel}
            disabled={filter.errorsOnly}
            onChange={(e) => setFilter({ ...filter, minLevel: e.target.value as MinLevel })}
          >
            <option value="debug">debug and up</option>
            <option value="info">info and up</option>
            <option value="warn">warnings and errors</option>
            <option value="error">errors</option>
          </select>
        </div>
        <label className="rat-check">
          <input type="checkbox" checked={filter.errorsOnly} onChange={(e) => setFilter({ ...filter, errorsOnly: e.target.checked })} />
          errors only
        </label>
        <div className="rat-field">
          <label htmlFor={`${uid}-search`}>Search log</label>
          <input
            id={`${uid}-search`}
            className="rat-input"
            type="search"
            value={filter.search}
            placeholder="text in messages"
            onChange={(e) => setFilter({ ...filter, search: e.target.value })}
          />
        </div>
        <label className="rat-check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          follow tail
        </label>
        <span className="rat-muted" aria-live="polite" data-testid="log-count">
          {shownLines === lines.length ? `${lines.length} lines` : `showing ${shownLines} of ${lines.length} lines`}
        </span>
        {toolbarExtra}
      </div>
      <div
        ref={scroller}
        className="rat-log"
        style={{ height }}
        role="log"
        aria-label={label}
        tabIndex={0}
        onWheel={(e) => {
          if (e.deltaY < 0 && follow) setFollow(false);
        }}
      >
        {rows.length === 0 ? (
          <div className="rat-muted" style={{ padding: 8 }}>
            {lines.length ? "No line matches the filter." : "No log lines yet."}
          </div>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((v) => {
              const row = rows[v.index] as LogRow;
              const lvl = row.line.level;
              return (
                <div
                  key={v.key}
                  className={`rat-log-line rat-log-${lvl}`}
                  style={{ transform: `translateY(${v.start}px)` }}
                  data-seq={row.line.seq}
                >
                  <span className="rat-log-seq">{row.first ? row.line.seq : ""}</span>
                  <span className="rat-log-ts">{row.first ? time(row.line.timestamp) : " ".repeat(12)}</span>
                  <span className="rat-log-level">{row.first ? lvl : ""}</span>
                  <span className="rat-log-msg">{highlight(row.text, needle)}</span>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
