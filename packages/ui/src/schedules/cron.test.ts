import { describe, expect, it } from 'vitest';
import fixtureJson from './cron.fixture.json';
import { CRON_SHORTCUTS, cronProblem, formatFireTime, nextFireTimes, parseCron } from './cron';

interface Case { cron: string; timezone: string; after: string; next: string[] }
interface Invalid { cron: string; message: string | null }

// typed by hand: TypeScript does not infer the type of a JSON module this large
const fixture = fixtureJson as unknown as { cases: Case[]; invalid: Invalid[] };

const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');

describe('cron preview matches the server', () => {
  it.each(fixture.cases.map((c) => [c.cron, c.timezone, c.after, c]))(
    '%s in %s after %s', (_cron, _tz, _after, c) => {
      const got = nextFireTimes(c.cron, c.timezone, new Date(c.after), 5).map(iso);
      expect(got).toEqual(c.next);
    });

  it.each(fixture.invalid.map((c) => [c.cron, c]))('refuses %j like the server', (_c, c) => {
    expect(cronProblem(c.cron, 'UTC')).toBe(c.message);
  });
});

describe('cron helpers', () => {
  it('day of week 0 and 7 are Sunday, 1-5 the working week, like crontab(5)', () => {
    for (const expr of ['0 0 * * 0', '0 0 * * 7']) {
      const [first] = nextFireTimes(expr, 'UTC', new Date('2026-12-02T00:00:00Z'), 1);
      expect(first?.getUTCDay()).toBe(0);
    }
    const week = nextFireTimes('0 9 * * 1-5', 'UTC', new Date('2026-12-02T00:00:00Z'), 5).map((d) => d.getUTCDay());
    expect(week).toEqual([3, 4, 5, 1, 2]);
  });

  it('a restricted day of month and day of week are ORed', () => {
    expect(parseCron('0 0 13 * 5').triggers).toHaveLength(2);
    expect(parseCron('0 0 */2 * mon').triggers).toHaveLength(1);
    const days = nextFireTimes('0 0 13 * 5', 'UTC', new Date('2026-12-02T00:00:00Z'), 3).map((d) => d.getUTCDate());
    expect(days).toEqual([4, 11, 13]);
  });

  it('refuses unknown time zones', () => {
    expect(cronProblem('0 0 * * *', 'Mars/Olympus')).toBe("unknown time zone 'Mars/Olympus'");
    expect(() => nextFireTimes('0 0 * * *', 'Mars/Olympus', new Date())).toThrow(/unknown time zone/);
  });

  it('every shortcut is accepted', () => {
    for (const s of CRON_SHORTCUTS) expect(cronProblem(s.cron, 'Europe/Paris')).toBeNull();
  });

  it('formats a fire time in the schedule zone', () => {
    expect(formatFireTime(new Date('2026-12-07T08:00:00Z'), 'Europe/Paris')).toBe('Mon 2026-12-07 09:00 CET');
  });

  it('an impossible date yields no times instead of hanging', () => {
    const t0 = performance.now();
    expect(nextFireTimes('0 0 31 2 *', 'UTC', new Date('2026-01-01T00:00:00Z'))).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
