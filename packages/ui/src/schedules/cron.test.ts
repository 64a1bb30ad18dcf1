import { describe, expect, it } from 'vitest';
import fixture from './cron.fixture.json';
import { CRON_SHORTCUTS, cronProblem, formatFireTime, nextFireTimes, parseCron } from './cron';

interface Case { cron: string; timezone: string; after: string; next: string[] }
interface Invalid { cron: string; message: string | null }

const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');

describe('cron preview matches the server', () => {
  it.each((fixture.cases as Case[]).map((c) => [c.cron, c.timezone, c.after, c]))(
    '%s in %s after %s', (_cron, _tz, _after, c) => {
      const got = nextFireTimes(c.cron, c.timezone, new Date(c.after), 5).map(iso);
      expect(got).toEqual(c.next);
    });

  it.each((fixture.invalid as Invalid[]).map((c) => [c.cron, c]))('refuses %j like the server', (_c, c) => {
    expect(cronProblem(c.cron, 'UTC')).toBe(c.message);
  });
});

describe('cron helpers', () => {
  it('numeric day of week counts from Monday, like the server', () => {
    const [first] = nextFireTimes('0 0 * * 0', 'UTC', new Date('2026-12-02T00:00:00Z'), 1);
    expect(first?.getUTCDay()).toBe(1);
    expect(parseCron('0 0 * * sun').fields).toHaveLength(8);
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
