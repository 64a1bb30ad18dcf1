/**
 * Next fire times of a schedule, computed in the browser exactly as the server computes them.
 *
 * The server reads standard crontab(5) expressions (`rat_jupyter/scheduler/cron.py`): day of week 0-7
 * with 0 and 7 = Sunday, names, ranges, steps and lists in every field, `@daily`-style macros, and a day of
 * month OR a day of week when both are restricted (a field starting with `*` makes them AND). It translates
 * them into APScheduler 3 triggers, which fire at the first slot strictly after "now". This module does the
 * same translation (`translateCron`) and then runs a line-for-line port of APScheduler's algorithm (field by
 * field on wall-clock values, increments carried through UTC, Python's `fold` rules for DST gaps and
 * overlaps), so the preview a user sees is the slot the server will pick. A fixture generated from the
 * server's own `next_fire` keeps the two in step (see the tests).
 */

export type CronFieldName = 'minute' | 'hour' | 'day' | 'month' | 'day_of_week';

/** A cron expression the server would refuse; `message` mirrors the server's wording. */
export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

type Name = 'year' | 'month' | 'day' | 'week' | 'day_of_week' | 'hour' | 'minute' | 'second';

const MIN_VALUES: Record<Name, number> = {
  year: 1970, month: 1, day: 1, week: 1, day_of_week: 0, hour: 0, minute: 0, second: 0,
};
const MAX_VALUES: Record<Name, number> = {
  year: 9999, month: 12, day: 31, week: 53, day_of_week: 6, hour: 23, minute: 59, second: 59,
};
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Wall-clock fields of a zoned date time, like a Python aware `datetime` (which may be a gap time). */
interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  fold: 0 | 1;
}

/** Python's `%`: the result has the sign of the divisor. */
function pymod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Monday = 0, like Python's `date.weekday()`. */
function weekday(year: number, month: number, day: number): number {
  return pymod(new Date(Date.UTC(year, month - 1, day)).getUTCDay() - 1, 7);
}

function isoWeek(year: number, month: number, day: number): number {
  const date = new Date(Date.UTC(year, month - 1, day));
  const thursday = new Date(date);
  thursday.setUTCDate(date.getUTCDate() + 3 - weekday(year, month, day));
  const firstThursday = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  return 1 + Math.round((thursday.getTime() - firstThursday.getTime()) / 86_400_000 / 7 -
    (3 - weekday(firstThursday.getUTCFullYear(), 1, 4)) / 7);
}

// ---------------------------------------------------------------------------------------------------------
// Time zones: Intl gives the offset at an instant; Python's zoneinfo rules pick the offset of a wall time.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
        hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    } catch {
      throw new CronError(`unknown time zone '${timeZone}'`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when the browser knows the IANA zone (the server checks against its tz database on save). */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface Parts { year: number; month: number; day: number; hour: number; minute: number; second: number }

function partsAt(ms: number, timeZone: string): Parts {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return {
    year: out.year ?? 0, month: out.month ?? 0, day: out.day ?? 0,
    hour: out.hour ?? 0, minute: out.minute ?? 0, second: out.second ?? 0,
  };
}

function wallMs(w: Parts): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The zone's UTC offset (ms) at an instant. */
function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallMs(partsAt(whole, timeZone)) - whole;
}

/**
 * UTC instant of a wall time, with PEP 495 semantics: in an overlap fold 0 is the first occurrence; in a
 * gap fold 0 uses the offset from before the transition (so 02:30 in a spring-forward gap is 03:30).
 */
function toUtc(w: Wall, timeZone: string): number {
  const local = wallMs(w);
  const before = offsetAt(local - 86_400_000, timeZone);
  const after = offsetAt(local + 86_400_000, timeZone);
  if (before === after) {
    const off = offsetAt(local - before, timeZone);
    return local - off;
  }
  const validBefore = offsetAt(local - before, timeZone) === before;
  const validAfter = offsetAt(local - after, timeZone) === after;
  if (validBefore && validAfter) return local - (w.fold === 0 ? before : after);
  if (validBefore) return local - before;
  if (validAfter) return local - after;
  return local - (w.fold === 0 ? before : after);
}

function fromUtc(ms: number, timeZone: string): Wall {
  const p = partsAt(ms, timeZone);
  const wall: Wall = { ...p, fold: 0 };
  if (toUtc(wall, timeZone) !== Math.floor(ms / 1000) * 1000) wall.fold = 1;
  return wall;
}

// ---------------------------------------------------------------------------------------------------------
// Expressions and fields (APScheduler 3: apscheduler/triggers/cron/expressions.py and fields.py)

interface Field {
  name: Name;
  real: boolean;
  expressions: Expression[];
}

interface Expression {
  next(date: Wall, field: Field): number | null;
}

function getValue(field: Field, d: Wall): number {
  switch (field.name) {
    case 'week': return isoWeek(d.year, d.month, d.day);
    case 'day_of_week': return weekday(d.year, d.month, d.day);
    default: return d[field.name];
  }
}

function getMin(field: Field): number {
  return MIN_VALUES[field.name];
}

function getMax(field: Field, d: Wall): number {
  return field.name === 'day' ? daysInMonth(d.year, d.month) : MAX_VALUES[field.name];
}

function nextValue(field: Field, d: Wall): number | null {
  let smallest: number | null = null;
  for (const e of field.expressions) {
    const v = e.next(d, field);
    if (smallest === null || (v !== null && v < smallest)) smallest = v;
  }
  return smallest;
}

function checkStep(step: number | null, range: number): void {
  if (step !== null && step > range) {
    throw new CronError(`the step value (${step}) is higher than the total range of the expression (${range})`);
  }
}

function allExpression(step: number | null, name: Name): Expression {
  if (step === 0) throw new CronError('Increment must be higher than 0');
  checkStep(step, MAX_VALUES[name] - MIN_VALUES[name]);
  return {
    next(d, field) {
      const minval = getMin(field);
      const maxval = getMax(field, d);
      const start = Math.max(getValue(field, d), minval);
      const next = step ? start + pymod(step - (start - minval), step) : start;
      return next <= maxval ? next : null;
    },
  };
}

function rangeExpression(first: number, lastIn: number | null, step: number | null, name: Name): Expression {
  if (step === 0) throw new CronError('Increment must be higher than 0');
  const last = lastIn === null && step === null ? first : lastIn;
  if (last !== null && first > last) {
    throw new CronError('The minimum value in a range must not be higher than the maximum');
  }
  checkStep(step, MAX_VALUES[name] - MIN_VALUES[name]);
  if (first < MIN_VALUES[name]) {
    throw new CronError(`the first value (${first}) is lower than the minimum value (${MIN_VALUES[name]})`);
  }
  if (last !== null && last > MAX_VALUES[name]) {
    throw new CronError(`the last value (${last}) is higher than the maximum value (${MAX_VALUES[name]})`);
  }
  checkStep(step, (last || MAX_VALUES[name]) - first); // Python's `or`: 0 counts as missing
  return {
    next(d, field) {
      const minval = Math.max(getMin(field), first);
      const maxval = last !== null ? Math.min(getMax(field, d), last) : getMax(field, d);
      let nextval = Math.max(minval, getValue(field, d));
      if (step) nextval += pymod(step - (nextval - minval), step);
      return nextval <= maxval ? nextval : null;
    },
  };
}

function lastDayExpression(): Expression {
  return { next: (d) => daysInMonth(d.year, d.month) };
}

function compileField(name: Name, text: string): Field {
  const real = name !== 'week' && name !== 'day_of_week';
  const field: Field = { name, real, expressions: [] };
  for (const expr of text.trim().split(/ *, */)) {
    field.expressions.push(compileExpression(name, expr));
  }
  return field;
}

function compileExpression(name: Name, expr: string): Expression {
  const wrap = (f: () => Expression): Expression => {
    try {
      return f();
    } catch (e) {
      if (e instanceof CronError && !e.message.startsWith('Increment') && !e.message.startsWith('The minimum')) {
        throw new CronError(`Error validating expression '${expr}': ${e.message}`);
      }
      throw e;
    }
  };
  let m = /^\*(?:\/(\d+))?$/.exec(expr);
  if (m) return wrap(() => allExpression(m![1] !== undefined ? Number(m![1]) : null, name));
  m = /^(\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(expr);
  if (m) {
    const g = m;
    return wrap(() => rangeExpression(Number(g[1]), g[2] !== undefined ? Number(g[2]) : null,
      g[3] !== undefined ? Number(g[3]) : null, name));
  }
  if (name === 'day' && /^last/i.test(expr)) return lastDayExpression();
  if (name === 'day_of_week' || name === 'month') {
    // like APScheduler's `re.match` (anchored at the start only): "mon#2" reads as "mon"
    m = /^([a-z]+)(?:-([a-z]+))?/i.exec(expr);
    if (m) {
      const names = name === 'month' ? MONTHS : WEEKDAYS;
      const base = name === 'month' ? 1 : 0;
      const kind = name === 'month' ? 'month' : 'weekday';
      const first = names.indexOf(m[1]!.toLowerCase());
      if (first < 0) throw new CronError(`Invalid ${kind} name "${m[1]}"`);
      let last: number | null = null;
      if (m[2]) {
        last = names.indexOf(m[2].toLowerCase());
        if (last < 0) throw new CronError(`Invalid ${kind} name "${m[2]}"`);
        last += base;
      }
      const l = last;
      return wrap(() => rangeExpression(first + base, l, null, name));
    }
  }
  throw new CronError(`Unrecognized expression "${expr}" for field "${name}"`);
}

// ---------------------------------------------------------------------------------------------------------
// Standard cron → APScheduler fields (rat_jupyter/scheduler/cron.py, same messages)

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const CRON_FIELDS: ReadonlyArray<readonly [string, number, number, readonly string[]]> = [
  ['minute', 0, 59, []], ['hour', 0, 23, []], ['day of month', 1, 31, []], ['month', 1, 12, MONTHS],
  ['day of week', 0, 7, DAY_NAMES],
];
const PART = /^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:\/([0-9]+))?$/;
const UNSUPPORTED = " ('L', '#', 'W' and '?' are not supported)";

function cronValue(token: string, field: string, low: number, high: number, names: readonly string[]): number {
  let n: number;
  if (/^[0-9]+$/.test(token)) {
    n = Number(token);
  } else if (names.includes(token)) {
    n = names.indexOf(token) + (field === 'day of week' ? 0 : low);
  } else {
    const unsupported = token === 'l' || token === 'w' || (/[lw]$/.test(token) && /^[0-9]+$/.test(token.slice(0, -1)));
    throw new CronError(`'${token}' is not a valid ${field}${unsupported ? UNSUPPORTED : ''}`);
  }
  if (n < low || n > high) throw new CronError(`${field} ${n} is out of range (${low}-${high})`);
  return n;
}

function expandField(text: string, index: number): Set<number> {
  const [field, low, high, names] = CRON_FIELDS[index]!;
  let values = new Set<number>();
  for (const part of text.split(',')) {
    const m = PART.exec(part);
    if (!m) {
      throw new CronError(`'${part}' is not valid cron syntax for the ${field} field${/[lw#?]/.test(part) ? UNSUPPORTED : ''}`);
    }
    const [, star, first, last, stepText] = m;
    const step = stepText !== undefined ? Number(stepText) : 1;
    if (step < 1 || step > high - low) throw new CronError(`step /${stepText} is out of range for the ${field} field`);
    let start: number;
    let stop: number;
    if (star) {
      start = low;
      stop = field === 'day of week' ? 6 : high;
    } else {
      start = cronValue(first!, field, low, high, names);
      stop = last ? cronValue(last, field, low, high, names) : (stepText !== undefined ? high : start);
      if (field === 'day of week' && last === 'sun') stop = 7; // 'sat-sun' ends on Sunday, the 7 of crontab(5)
      if (stop < start) throw new CronError(`range ${first}-${last} runs backwards in the ${field} field`);
    }
    for (let v = start; v <= stop; v += step) values.add(v);
  }
  if (index === 4) values = new Set([...values].map((v) => v % 7));
  return values;
}

function spell(values: Set<number>, text: string, index: number): string {
  if (text === '*') return '*';
  const sorted = [...values].sort((a, b) => a - b);
  return index === 4 ? sorted.map((v) => DAY_NAMES[v]!).join(',') : sorted.join(',');
}

type TriggerFields = Record<'minute' | 'hour' | 'day' | 'month' | 'day_of_week', string>;

/** The APScheduler trigger(s) the server builds for an expression: two when the day fields are ORed. */
export function translateCron(expression: string): TriggerFields[] {
  const lowered = expression.trim().toLowerCase();
  const fields = (MACROS[lowered] ?? lowered).split(/\s+/).filter((v) => v !== '');
  if (fields.length !== 5) {
    throw new CronError(`a cron expression has 5 fields (minute hour day-of-month month day-of-week), not ${fields.length}`);
  }
  const [minute, hour, dom, month, dow] = fields.map((f, i) => spell(expandField(f, i), f, i)) as
    [string, string, string, string, string];
  if (!fields[2]!.startsWith('*') && !fields[4]!.startsWith('*')) {
    return [{ minute, hour, month, day: dom, day_of_week: '*' }, { minute, hour, month, day: '*', day_of_week: dow }];
  }
  return [{ minute, hour, month, day: dom, day_of_week: dow }];
}

/** A parsed 5-field expression: one APScheduler field list per trigger (two when the day fields are ORed). */
export interface CronSchedule {
  expression: string;
  triggers: Field[][];
}

/** Parse like the server does; throws `CronError` with the server's wording when it would refuse. */
export function parseCron(expression: string): CronSchedule {
  const order: Name[] = ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second'];
  const triggers = translateCron(expression).map((given: Partial<Record<Name, string>>) =>
    // fields after the last one given default to their minimum (only `second` here), the others to '*'
    order.map((name) => compileField(name, given[name] ?? (name === 'second' ? '0' : '*'))));
  return { expression: expression.trim(), triggers };
}

/** One APScheduler trigger's fields. */
interface Schedule {
  fields: Field[];
}

function wallToDate(values: Record<string, number>): Parts {
  return {
    year: values.year ?? 1970, month: values.month ?? 1, day: values.day ?? 1,
    hour: values.hour ?? 0, minute: values.minute ?? 0, second: values.second ?? 0,
  };
}

function incrementFieldValue(s: Schedule, d: Wall, fieldnumIn: number, tz: string): [Wall, number] {
  let fieldnum = fieldnumIn;
  const values: Record<string, number> = {};
  let i = 0;
  while (i < s.fields.length) {
    const field = s.fields[i]!;
    if (!field.real) {
      if (i === fieldnum) {
        fieldnum -= 1;
        i -= 1;
      } else {
        i += 1;
      }
      continue;
    }
    if (i < fieldnum) {
      values[field.name] = getValue(field, d);
      i += 1;
    } else if (i > fieldnum) {
      values[field.name] = getMin(field);
      i += 1;
    } else {
      const value = getValue(field, d);
      if (value === getMax(field, d)) {
        fieldnum -= 1;
        i -= 1;
      } else {
        values[field.name] = value + 1;
        i += 1;
      }
    }
    if (i < 0) break;
  }
  if (fieldnum < 0) return [d, fieldnum];
  // the difference of the naive wall times, added in UTC (APScheduler's datetime_utc_add)
  const difference = wallMs(wallToDate(values)) - wallMs(d);
  return [fromUtc(toUtc(d, tz) + difference, tz), fieldnum];
}

function setFieldValue(s: Schedule, d: Wall, fieldnum: number, value: number): Wall {
  const values: Record<string, number> = {};
  s.fields.forEach((field, i) => {
    if (!field.real) return;
    if (i < fieldnum) values[field.name] = getValue(field, d);
    else if (i > fieldnum) values[field.name] = getMin(field);
    else values[field.name] = value;
  });
  return { ...wallToDate(values), fold: d.fold };
}

/** The first fire time at or after `fromMs` (whole seconds), as a UTC epoch in ms; null if none. */
function nextAtOrAfter(s: Schedule, fromMs: number, tz: string): number | null {
  let next = fromUtc(Math.ceil(fromMs / 1000) * 1000, tz);
  let fieldnum = 0;
  let guard = 0;
  while (fieldnum >= 0 && fieldnum < s.fields.length) {
    if (++guard > 100_000) return null;
    const field = s.fields[fieldnum]!;
    const current = getValue(field, next);
    const candidate = nextValue(field, next);
    if (candidate === null) {
      [next, fieldnum] = incrementFieldValue(s, next, fieldnum - 1, tz);
    } else if (candidate > current) {
      if (field.real) {
        next = setFieldValue(s, next, fieldnum, candidate);
        fieldnum += 1;
      } else {
        [next, fieldnum] = incrementFieldValue(s, next, fieldnum, tz);
      }
    } else {
      fieldnum += 1;
    }
  }
  return fieldnum >= 0 ? toUtc(next, tz) : null;
}

/**
 * The next `count` fire times strictly after `after`, as Dates (UTC instants), following the server's
 * rule that each next slot is computed from the previous one.
 */
export function nextFireTimes(expression: string | CronSchedule, timeZone: string, after: Date,
  count = 5): Date[] {
  const s = typeof expression === 'string' ? parseCron(expression) : expression;
  formatter(timeZone); // refuse unknown zones before computing
  const out: Date[] = [];
  let from = after.getTime();
  for (let i = 0; i < count; i++) {
    let next: number | null = null;
    for (const fields of s.triggers) { // the earliest of the triggers (APScheduler's OrTrigger)
      const candidate = nextAtOrAfter({ fields }, from + 1, timeZone);
      if (candidate !== null && (next === null || candidate < next)) next = candidate;
    }
    if (next === null) break;
    out.push(new Date(next));
    from = next;
  }
  return out;
}

/** Validation for a form: null when the server will accept it, else the reason. */
export function cronProblem(expression: string, timeZone: string): string | null {
  if (!expression.trim()) return 'cron expression is required';
  if (!isValidTimeZone(timeZone)) return `unknown time zone '${timeZone}'`;
  try {
    parseCron(expression);
    return null;
  } catch (e) {
    return e instanceof CronError ? `invalid cron expression '${expression}': ${e.message}` : String(e);
  }
}

/** Common schedules for the shortcut buttons. */
export const CRON_SHORTCUTS: ReadonlyArray<{ label: string; cron: string }> = [
  { label: 'Every 15 minutes', cron: '*/15 * * * *' },
  { label: 'Hourly', cron: '0 * * * *' },
  { label: 'Daily at 02:00', cron: '0 2 * * *' },
  { label: 'Weekdays at 06:00', cron: '0 6 * * mon-fri' },
  { label: 'Weekly (Monday 00:00)', cron: '0 0 * * mon' },
  { label: 'Monthly (1st, 00:00)', cron: '0 0 1 * *' },
];

/** A fire time shown in the schedule's zone, e.g. "Mon 2026-12-07 09:00 CET". */
export function formatFireTime(date: Date, timeZone: string): string {
  const f = new Intl.DateTimeFormat('en-GB', {
    timeZone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
  });
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(date)) p[part.type] = part.value;
  return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}
