import { readFileSync } from 'node:fs';

/** ISO 8601 UTC with milliseconds, the format of every timestamp the sidecar itself writes. */
export const isoNow = (now: number = Date.now()): string => new Date(now).toISOString();

/** The times whose ISO form is 24 characters, so that text order is time order. */
const FIRST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

const CLIENT_TIME = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A client's date or date-time as ISO 8601 UTC with milliseconds (throws RangeError when it is not
 * one). A time without a zone is UTC; a bare date as an upper bound means the end of that day, so
 * since = until = 2026-11-29 is the whole day. Days that do not exist (2026-02-30) are refused:
 * Date would roll them over into the next month.
 */
export function toUtcIso(s: string, endOfDay = false): string {
  const t = s.trim().replace(' ', 'T');
  const m = CLIENT_TIME.exec(t);
  if (!m) throw new RangeError(`not an ISO 8601 date: ${s}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(0);
  // setUTCFullYear, not Date.UTC: that one reads years 0-99 as 1900-1999.
  day.setUTCFullYear(y, mo - 1, d);
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) throw new RangeError(`no such day: ${s}`);
  const ms = m[4] === undefined
    ? Date.parse(`${t}${endOfDay ? 'T23:59:59.999Z' : 'T00:00:00.000Z'}`)
    : Date.parse(m[7] === undefined ? `${t}Z` : t);
  if (Number.isNaN(ms)) throw new RangeError(`not an ISO 8601 date: ${s}`);
  // Callers compare the answer with stored timestamps as text, which only orders like time within
  // years 0000..9999: a zone can carry 9999-12-31T23:00-05:00 into year 10000 ("+010000-…", before
  // every "2026-…"). Every stored time is in that range, so the nearest end of it selects the same.
  return new Date(Math.min(Math.max(ms, FIRST_MS), LAST_MS)).toISOString();
}

/**
 * This host's boot and the milliseconds since it (`/proc`: Linux only, else null; see hostBoot).
 * Unlike the wall clock it is not stepped by NTP or an operator, and unlike performance.now() every
 * process on the host (containers included, unless their uptime is their own) reads the same one, so
 * it can time a row several processes share.
 */
export interface HostClock {
  boot: string;
  uptimeMs: number;
}

/** Read once: null where there is none (see hostBoot), so that is not asked again on every call. */
let bootId: string | null | undefined;

export function hostClock(): HostClock | null {
  if (bootId === undefined) bootId = hostBoot();
  if (bootId === null) return null;
  try {
    const uptimeMs = Math.round(Number.parseFloat(readFileSync('/proc/uptime', 'utf8')) * 1000);
    return Number.isFinite(uptimeMs) ? { boot: bootId, uptimeMs } : null;
  } catch {
    return null;
  }
}

/**
 * The boot id under `proc`; null without one (not Linux), and null where `uptime` is not the host's
 * while the boot id still is: lxcfs mounts a container's own uptime over it (it starts again with the
 * container), a time namespace offsets it. Timed by such an uptime, a budget hold written before a
 * container restart counted until the new uptime caught up with the old (days), and a process whose
 * uptime ran ahead dropped the live holds of another on the same data dir. The wall clock is used there.
 */
export function hostBoot(proc = '/proc'): string | null {
  let boot: string;
  try {
    boot = readFileSync(`${proc}/sys/kernel/random/boot_id`, 'utf8').trim();
  } catch {
    return null;
  }
  // mountinfo's fifth field is the mount point.
  const mounted = readIfThere(`${proc}/self/mountinfo`)?.split('\n').some((line) => line.split(' ')[4] === `${proc}/uptime`);
  const offset = readIfThere(`${proc}/self/timens_offsets`)?.match(/^boottime\s+(-?\d+)\s+(-?\d+)/m);
  const offsetBoot = offset ? Number(offset[1]) !== 0 || Number(offset[2]) !== 0 : false;
  return boot && !mounted && !offsetBoot ? boot : null;
}

/** A /proc file's text; null where it does not exist (an older kernel) or cannot be read. */
function readIfThere(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
