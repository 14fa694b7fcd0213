/** toUtcIso: the one reader of client dates and date-times (memory filters, the usage ledger's `since`); hostClock. */
import { expect, setSystemTime, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { hostClock, toUtcIso } from '../src/lib/time';

test('dates, date-times, zones and the end of a day', () => {
  expect(toUtcIso('2026-11-29')).toBe('2026-11-29T00:00:00.000Z');
  expect(toUtcIso('2026-11-29', true)).toBe('2026-11-29T23:59:59.999Z');
  expect(toUtcIso('2026-11-29T13:07')).toBe('2026-11-29T13:07:00.000Z');
  expect(toUtcIso('2026-11-29 13:07:33')).toBe('2026-11-29T13:07:33.000Z');
  expect(toUtcIso(' 2026-11-29T13:07:33.5+02:00 ')).toBe('2026-11-29T11:07:33.500Z');
  expect(toUtcIso('2026-11-29T13:07:33-0530')).toBe('2026-11-29T18:37:33.000Z');
  expect(toUtcIso('2028-02-29')).toBe('2028-02-29T00:00:00.000Z');
  expect(toUtcIso('2000-02-29T00:00Z')).toBe('2000-02-29T00:00:00.000Z');
});

test('days that do not exist and other non-dates are refused, never rolled over', () => {
  for (const s of ['2026-02-29', '1900-02-29', '2026-02-30', '2026-04-31T10:00Z', '2026-13-01', '2026-00-10', '2026-12-00', '2026-12-06T25:00Z',
    '2026-12-06T10:60Z', '2026-12-06T10:00+25:00', 'yesterday', '', '2026-12-06T', '12/06/2026', '2026-12-06T10:00:00ZZ']) {
    expect(() => toUtcIso(s)).toThrow(RangeError);
  }
});

test('years before 100 are real years (Go marshals its zero time as 0001-01-01T00:00:00Z)', () => {
  expect(toUtcIso('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00.000Z');
  expect(toUtcIso('0099-12-31', true)).toBe('0099-12-31T23:59:59.999Z');
  expect(() => toUtcIso('0001-02-29')).toThrow(RangeError);
});

test('a zone that moves a time out of years 0000..9999 gives the nearest end of them (the answer is compared as text)', () => {
  // Was "+010000-01-01T04:00:00.000Z", which sorts before "2026-…": until=that found nothing.
  expect(toUtcIso('9999-12-31T23:00:00-05:00')).toBe('9999-12-31T23:59:59.999Z');
  expect(toUtcIso('0000-01-01T00:30:00+01:00')).toBe('0000-01-01T00:00:00.000Z');
  expect(toUtcIso('9999-12-31', true)).toBe('9999-12-31T23:59:59.999Z');
});

test('hostClock: this boot and its uptime, not moved by the wall clock being set', () => {
  const before = hostClock()!;
  expect(before.boot).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  setSystemTime(new Date(Date.now() - 86_400_000));
  try {
    const after = hostClock()!;
    expect(after.boot).toBe(before.boot);
    expect(after.uptimeMs).toBeGreaterThanOrEqual(before.uptimeMs);
    // The day the wall clock was set back does not show.
    expect(after.uptimeMs - before.uptimeMs).toBeLessThan(86_400_000);
  } finally {
    setSystemTime();
  }
});
