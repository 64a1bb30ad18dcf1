import { useMemo, useRef, useState, type ReactNode } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { observeRectWithFallback } from "./virtual";

export interface GridColumn<R> {
  id: string;
  header: string;
  /** Text (or an element) for the cell; the default shows `row[id]` formatted by type. */
  cell?: (row: R, index: number) => ReactNode;
  /** Value used for sorting and default display. */
  value?: (row: R) => unknown;
  width?: number;
  /** A SQL/Arrow type name: colours the cell (numbers right-aligned, nulls muted). */
  type?: string;
  sortable?: boolean;
}

export type TypeClass = "number" | "string" | "bool" | "time" | "null";

/** Map a column type (DuckDB or Arrow spelling) to the colour class of its cells. */
export function typeClass(type: string | undefined, value?: unknown): TypeClass {
  if (value === null || value === undefined) return "null";
  const t = (type ?? "").toLowerCase();
  if (/int|decimal|double|float|real|numeric|hugeint/.test(t)) return "number";
  if (/bool/.test(t)) return "bool";
  if (/date|time|interval/.test(t)) return "time";
  if (!t) {
    if (typeof value === "number" || typeof value === "bigint") return "number";
    if (typeof value === "boolean") return "bool";
  }
  return "string";
}

/** Text of a cell: nulls as NULL, objects as JSON; never HTML. */
export function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && String(a).trim() !== "" && String(b).trim() !== "") return na - nb;
  return String(a).localeCompare(String(b));
}

/** One virtualized grid for every list and result set (100k rows scroll without rendering them all). */
export function DataGrid<R>({
  rows,
  columns,
  label,
  height = 420,
  rowHeight = 26,
  rowNumbers = false,
  rowKey,
  onRowClick,
  emptyText = "No rows",
  initialSize,
}: {
  rows: readonly R[];
  columns: readonly GridColumn<R>[];
  /** Accessible name of the grid. */
  label: string;
  height?: number | string;
  rowHeight?: number;
  rowNumbers?: boolean;
  rowKey?: (row: R, index: number) => string;
  onRowClick?: (row: R) => void;
  emptyText?: string;
  /** Size assumed before layout (jsdom has none). */
  initialSize?: { width: number; height: number };
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [sort, setSort] = useState<{ id: string; dir: 1 | -1 } | null>(null);
  const valueOf = (c: GridColumn<R>, r: R): unknown =>
    c.value ? c.value(r) : (r as Record<string, unknown>)[c.id];
  const sorted = useMemo(() => {
    if (!sort) return rows;
    const col = columns.find((c) => c.id === sort.id);
    if (!col) return rows;
    return [...rows].sort((a, b) => sort.dir * compare(valueOf(col, a), valueOf(col, b)));
  }, [rows, columns, sort]);
  const virtualizer = useVirtualizer({
    count: sorted.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 12,
    initialRect: initialSize ?? { width: 800, height: typeof height === "number" ? height : 420 },
    observeElementRect: observeRectWithFallback(initialSize ?? { width: 800, height: typeof height === "number" ? height : 420 }),
  });
  const widths = columns.map((c) => c.width ?? 160);
  const numWidth = rowNumbers ? Math.max(48, String(sorted.length).length * 9 + 16) : 0;
  const total = widths.reduce((a, b) => a + b, 0) + numWidth;
  return (
    <div
      ref={scroller}
      className="rat-grid"
      style={{ height }}
      role="grid"
      aria-label={label}
      aria-rowcount={sorted.length + 1}
      aria-colcount={columns.length + (rowNumbers ? 1 : 0)}
      tabIndex={0}
    >
      <div className="rat-grid-head" role="row" aria-rowindex={1} style={{ width: total }}>
        {rowNumbers && (
          <div className="rat-grid-hcell rat-grid-rownum" role="columnheader" style={{ width: numWidth }}>
            #
          </div>
        )}
        {columns.map((c, i) => {
          const sortable = c.sortable !== false;
          const dir = sort?.id === c.id ? (sort.dir === 1 ? "ascending" : "descending") : "none";
          return (
            <div key={c.id} role="columnheader" aria-sort={sortable ? dir : undefined} style={{ width: widths[i] }}>
              {sortable ? (
                <button
                  type="button"
                  className="rat-grid-hcell"
                  style={{ width: "100%" }}
                  title={c.type ? `${c.header} (${c.type})` : c.header}
                  onClick={() =>
                    setSort((s) => (s?.id !== c.id ? { id: c.id, dir: 1 } : s.dir === 1 ? { id: c.id, dir: -1 } : null))
                  }
                >
                  {c.header}
                  {dir === "ascending" ? " ▲" : dir === "descending" ? " ▼" : ""}
                </button>
              ) : (
                <div className="rat-grid-hcell">{c.header}</div>
              )}
            </div>
          );
        })}
      </div>
      {sorted.length === 0 ? (
        <div className="rat-muted" role="row" style={{ padding: 8 }}>
          <span role="gridcell">{emptyText}</span>
        </div>
      ) : (
        <div style={{ height: virtualizer.getTotalSize(), width: total, position: "relative" }} role="rowgroup">
          {virtualizer.getVirtualItems().map((v) => {
            const row = sorted[v.index] as R;
            return (
              <div
                key={rowKey ? rowKey(row, v.index) : v.index}
                className="rat-grid-row"
                role="row"
                aria-rowindex={v.index + 2}
                style={{ transform: `translateY(${v.start}px)`, height: rowHeight, cursor: onRowClick ? "pointer" : undefined }}
                onClick={onRowClick ? () => onRowClick(row) : undefined}
              >
                {rowNumbers && (
                  <div className="rat-grid-cell rat-grid-rownum" role="gridcell" style={{ width: numWidth }}>
                    {v.index + 1}
                  </div>
                )}
                {columns.map((c, i) => {
                  const value = valueOf(c, row);
                  const content = c.cell ? c.cell(row, v.index) : formatCell(value);
                  const cls = c.cell ? "" : `rat-type-${typeClass(c.type, value)}`;
                  return (
                    <div key={c.id} className={`rat-grid-cell ${cls}`} role="gridcell" style={{ width: widths[i] }}>
                      {content}
                    </div>
                  );
                })}
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
}
