/**
 * Column types of query results and table schemas. The query service answers Arrow type names
 * (`int64`, `decimal128(18, 2)`, `timestamp[us, tz=UTC]`, `list<item: int64>`), the schema tree DuckDB's
 * (`BIGINT`, `DECIMAL(18,2)`, `TIMESTAMP WITH TIME ZONE`, `INTEGER[]`): both map to one kind, which decides
 * colour, alignment, CSV quoting and how a value is shown.
 */

export type ColumnKind =
  | 'integer' | 'float' | 'decimal' | 'boolean' | 'date' | 'time' | 'timestamp' | 'interval'
  | 'string' | 'binary' | 'nested' | 'null' | 'other';

export function columnKind(type: string | null | undefined): ColumnKind {
  const t = (type ?? '').trim().toLowerCase();
  if (!t) return 'other';
  // nested first: "list<item: int64>" and "INTEGER[]" mention scalar types inside
  if (/^(large_)?list|^fixed_size_list|^struct|^map|^union|\[\]$|\[\d+\]$/.test(t)) return 'nested';
  if (t === 'null' || t === '"null"') return 'null';
  if (/^dictionary<values=([^,]+)/.test(t)) return columnKind(/^dictionary<values=([^,]+)/.exec(t)![1]);
  if (/^u?int(8|16|32|64)$|^(tiny|small|big|u?huge|u(tiny|small|big)?)?int(eger)?$|^u?hugeint$|^int\d$|^long$|^short$|^byte$/
    .test(t)) return 'integer';
  if (/^(half)?float(16|32|64)?$|^double$|^real$|^float[48]$/.test(t)) return 'float';
  if (/^decimal|^numeric/.test(t)) return 'decimal';
  if (/^bool/.test(t)) return 'boolean';
  if (/^timestamp|^datetime/.test(t)) return 'timestamp';
  if (/^date/.test(t)) return 'date';
  if (/^time/.test(t)) return 'time';
  if (/^interval|^duration/.test(t)) return 'interval';
  if (/string|^varchar|^char|^text|^bpchar|^uuid|^json|^enum|^utf8/.test(t)) return 'string';
  if (/binary|^blob|^bytea|^varbinary|^bit/.test(t)) return 'binary';
  return 'other';
}

export function isNumericKind(kind: ColumnKind): boolean {
  return kind === 'integer' || kind === 'float' || kind === 'decimal';
}

/**
 * The type name handed to the shared grid, whose colouring knows scalar spellings only: nested values
 * are shown as JSON text, so they are typed as text there.
 */
export function gridType(type: string | null | undefined): string {
  const kind = columnKind(type);
  if (kind === 'nested' || kind === 'binary' || kind === 'other') return 'json';
  return type ?? '';
}

/** A short label for the schema tree and column headers: `decimal128(18, 2)` → `decimal(18, 2)`. */
export function shortType(type: string): string {
  return type
    .replace(/^decimal(128|256)/i, 'decimal')
    .replace(/^large_string$/i, 'string')
    .replace(/^timestamp\[(\w+), tz=([^\]]+)\]$/i, 'timestamp[$1, $2]');
}

/** The shared colour classes (`rat-type-*`) for a type in any spelling, Iceberg's (`long`) included. */
export function kindClass(type: string | null | undefined): "number" | "string" | "bool" | "time" {
  const kind = columnKind(type);
  if (isNumericKind(kind)) return "number";
  if (kind === "boolean") return "bool";
  if (kind === "date" || kind === "time" || kind === "timestamp" || kind === "interval") return "time";
  return "string";
}
