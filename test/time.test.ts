/** toUtcIso: the one reader of client dates and date-times (memory filters, the usage ledger's `since`); hostClock. */
import { describe, expect, setSystemTime, test } from 'bun:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostBoot, hostClock, toUtcIso } from '../src/lib/time';
import { tempDir } from './helpers/temp';

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

describe('hostBoot: no host clock where /proc/uptime is not the host\'s while the boot id is', () => {
  const BOOT = '25df649a-7af6-4fd7-af36-20ed1c8046b9';
  /** A /proc with the boot id, an uptime, and optionally the process's mounts and time-namespace offsets. */
  function fakeProc(files: { mountinfo?: (proc: string) => string; timens?: string } = {}): string {
    const proc = tempDir('proc-');
    mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
    mkdirSync(join(proc, 'self'));
    writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
    writeFileSync(join(proc, 'uptime'), '30.00 1.00\n');
    if (files.mountinfo) writeFileSync(join(proc, 'self/mountinfo'), files.mountinfo(proc));
    if (files.timens !== undefined) writeFileSync(join(proc, 'self/timens_offsets'), files.timens);
    return proc;
  }
  const ROOT = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n';
  const PROC = (proc: string) => `23 22 0:5 / ${proc} rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n`;

  test('a plain host: its boot id', () => {
    expect(hostBoot(fakeProc({ mountinfo: (p) => ROOT + PROC(p), timens: 'monotonic           0         0\nboottime            0         0\n' }))).toBe(BOOT);
    expect(hostBoot(fakeProc())).toBe(BOOT);
  });

  test('lxcfs: a container\'s own uptime mounted over /proc/uptime (it starts again with the container)', () => {
    const lxcfs = (p: string) => `${ROOT}${PROC(p)}1183 23 0:60 /proc/uptime ${p}/uptime rw,nosuid,nodev,relatime - fuse.lxcfs lxcfs rw,user_id=0,group_id=0,allow_other\n`;
    expect(hostBoot(fakeProc({ mountinfo: lxcfs }))).toBeNull();
  });

  test('a time namespace whose boottime is offset (unshare -T --boottime, CRIU)', () => {
    expect(hostBoot(fakeProc({ timens: 'monotonic           0         0\nboottime       100000         0\n' }))).toBeNull();
    expect(hostBoot(fakeProc({ timens: 'monotonic           0         0\nboottime            0     50000\n' }))).toBeNull();
  });
});
