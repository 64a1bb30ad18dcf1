import { describe, expect, it } from 'vitest';
import { csvField, csvFileName, toCsv } from './csv';
import { columnKind, gridType, shortType } from './types';

describe('toCsv', () => {
  it('writes a header, CRLF lines and RFC 4180 quoting', () => {
    const csv = toCsv([{ name: 'id', type: 'int64' }, { name: 'note', type: 'string' }], [
      { id: 1, note: 'plain' },
      { id: 2, note: 'with, comma' },
      { id: 3, note: 'say "hi"' },
      { id: 4, note: 'two\nlines' },
      { id: null, note: null },
    ]);
    expect(csv).toBe('id,note\r\n1,plain\r\n2,"with, comma"\r\n3,"say ""hi"""\r\n4,"two\nlines"\r\n,\r\n');
  });

  it('guards text that a spreadsheet would run as a formula, not negative numbers', () => {
    expect(csvField('=HYPERLINK("x")', 'string')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('@SUM(A1)', 'VARCHAR')).toBe("'@SUM(A1)");
    expect(csvField('-12.50', 'decimal128(10, 2)')).toBe('-12.50');
    expect(csvField(-3, 'int64')).toBe('-3');
    expect(csvField('=1+1', 'string', false)).toBe('=1+1');
  });

  it('writes nested values as JSON and keeps surrounding spaces by quoting', () => {
    expect(csvField({ a: [1, 2] }, 'struct<a: list<item: int64>>')).toBe('"{""a"":[1,2]}"');
    expect(csvField(' padded ', 'string')).toBe('" padded "');
    expect(csvField(true, 'bool')).toBe('true');
  });

  it('exports 100k rows quickly', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => ({ i, s: `row ${i}`, d: '2026-12-02' }));
    const t0 = performance.now();
    const csv = toCsv([{ name: 'i', type: 'int64' }, { name: 's', type: 'string' }, { name: 'd', type: 'date32[day]' }], rows);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(csv.split('\r\n')).toHaveLength(100_002);
  });

  it('names the file after the time', () => {
    expect(csvFileName('query', new Date(2026, 11, 2, 1, 4, 5))).toBe('query-20261202-010405.csv');
  });
});

describe('column kinds', () => {
  it.each([
    ['int64', 'integer'], ['uint8', 'integer'], ['BIGINT', 'integer'], ['HUGEINT', 'integer'], ['INTEGER', 'integer'],
    ['double', 'float'], ['float', 'float'], ['REAL', 'float'], ['halffloat', 'float'],
    ['decimal128(18, 2)', 'decimal'], ['DECIMAL(18,3)', 'decimal'],
    ['bool', 'boolean'], ['BOOLEAN', 'boolean'],
    ['date32[day]', 'date'], ['DATE', 'date'],
    ['time64[us]', 'time'], ['TIME', 'time'],
    ['timestamp[us]', 'timestamp'], ['timestamp[us, tz=UTC]', 'timestamp'], ['TIMESTAMP WITH TIME ZONE', 'timestamp'],
    ['duration[us]', 'interval'], ['INTERVAL', 'interval'],
    ['string', 'string'], ['large_string', 'string'], ['VARCHAR', 'string'], ['UUID', 'string'],
    ['binary', 'binary'], ['BLOB', 'binary'],
    ['list<item: int64>', 'nested'], ['INTEGER[]', 'nested'], ['struct<a: int64>', 'nested'],
    ['STRUCT(a INTEGER)', 'nested'], ['MAP(VARCHAR, INTEGER)', 'nested'], ['map<string, int64>', 'nested'],
    ['null', 'null'], ['dictionary<values=string, indices=int32, ordered=0>', 'string'], ['', 'other'],
  ])('%s is %s', (type, kind) => {
    expect(columnKind(type)).toBe(kind);
  });

  it('hands nested types to the grid as text, scalars unchanged', () => {
    expect(gridType('list<item: int64>')).toBe('json');
    expect(gridType('int64')).toBe('int64');
    expect(shortType('decimal128(18, 2)')).toBe('decimal(18, 2)');
  });
});

describe('query console helpers', () => {
  it('builds the completion schema as namespace › layer › table › columns', async () => {
    const { completionSchema, resultSummary } = await import('./QueryPage');
    expect(completionSchema([
      { namespace: 'shop', layer: 'bronze', name: 'orders', columns: [{ name: 'id', type: 'BIGINT' }] },
      { namespace: 'shop', layer: 'silver', name: 'clean', columns: [{ name: 'id', type: 'BIGINT' }, { name: 'v', type: 'DOUBLE' }] },
    ])).toEqual({ shop: { bronze: { orders: ['id'] }, silver: { clean: ['id', 'v'] } } });
    expect(resultSummary({ columns: [], rows: [], total_rows: 1000, matched_rows: null, truncated: true, limit: 1000, duration_ms: 12 }))
      .toBe('showing 1,000 of more than 1,000 rows (truncated at the limit) · 12 ms');
    expect(resultSummary({ columns: [], rows: [], total_rows: 1000, matched_rows: 25_000, truncated: true, limit: 1000, duration_ms: 12 }))
      .toBe('showing 1,000 of 25,000 rows (truncated at the limit) · 12 ms');
    expect(resultSummary({ columns: [], rows: [], total_rows: 1, matched_rows: 1, truncated: false, limit: 1000, duration_ms: 3 }))
      .toBe('1 row · 3 ms');
  });
});

describe('schema tree rows', () => {
  it('lists matching tables and the columns of the open ones only', async () => {
    const { treeRows } = await import('./QueryPage');
    const tables = [
      { namespace: 'shop', layer: 'bronze' as const, name: 'orders', columns: [{ name: 'id', type: 'BIGINT' }] },
      { namespace: 'shop', layer: 'gold' as const, name: 'revenue', columns: [{ name: 'v', type: 'DOUBLE' }] },
    ];
    expect(treeRows(tables, new Set(), '').map((r) => r.key)).toEqual(['shop.bronze.orders', 'shop.gold.revenue']);
    expect(treeRows(tables, new Set(['shop.gold.revenue']), '').map((r) => r.key))
      .toEqual(['shop.bronze.orders', 'shop.gold.revenue', 'shop.gold.revenue.v']);
    expect(treeRows(tables, new Set(), 'GOLD'.toLowerCase()).map((r) => r.key)).toEqual(['shop.gold.revenue']);
  });
});
