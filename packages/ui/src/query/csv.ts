/**
 * CSV export of a result set (RFC 4180: comma, CRLF, quotes doubled). Values are written as the API sent
 * them (decimals and timestamps are already exact strings); nested values as JSON; NULL as an empty field.
 * Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`
 * (the OWASP advice against CSV injection) — only in text columns, so negative numbers stay numbers.
 */
import { columnKind } from './types';

export interface CsvColumn {
  name: string;
  type?: string;
}

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: unknown, type?: string, guardFormulas = true): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  if (guardFormulas && typeof value === 'string' && FORMULA_START.test(text)) {
    const kind = columnKind(type);
    if (kind === 'string' || kind === 'other' || kind === 'nested' || !type) text = `'${text}`;
  }
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: readonly CsvColumn[], rows: readonly Record<string, unknown>[],
  options: { guardFormulas?: boolean } = {}): string {
  const guard = options.guardFormulas ?? true;
  const lines: string[] = [columns.map((c) => csvField(c.name, 'string', guard)).join(',')];
  for (const row of rows) {
    lines.push(columns.map((c) => csvField(row[c.name], c.type, guard)).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** A file name for an export: `query-20261202-014501.csv`. */
export function csvFileName(prefix = 'query', now: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${prefix}-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-` +
    `${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.csv`;
}

/** Offer the CSV as a download (a BOM so spreadsheets read it as UTF-8). */
export function downloadCsv(csv: string, fileName: string): void {
  const blob = new Blob(['\uFEFF', csv], { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
