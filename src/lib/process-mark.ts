/**
 * This process as another process on the same data dir can tell whether it still runs: a row a
 * process left behind when it was killed (kill -9, out of memory) can then be told from one whose
 * process is still working on it.
 */
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomHex } from './ids';

export interface ProcessMark {
  /** The host and pid namespace: a pid means something only where it was given. */
  place: string;
  pid: number;
  /** Random per process: tells this process from an earlier one that had the same pid. */
  token: string;
}

function placeOf(): string {
  let ns = '';
  try {
    // Two containers sharing a volume can share a host name (host networking) but never a pid namespace.
    ns = readlinkSync('/proc/self/ns/pid');
  } catch {
    // No /proc (macOS): the host name alone.
  }
  return `${hostname()} ${ns}`;
}

export const THIS_PROCESS: ProcessMark = Object.freeze({ place: placeOf(), pid: process.pid, token: randomHex(8) });

/**
 * True only when the process is certainly gone: same host and pid namespace, and its pid unused or
 * ours. A pid in use may be it or a reuse, and elsewhere nothing can be told: both count as running.
 */
export function processGone(m: ProcessMark, self: ProcessMark = THIS_PROCESS): boolean {
  if (m.token === self.token || m.place !== self.place || !Number.isSafeInteger(m.pid) || m.pid <= 0) return false;
  return m.pid === self.pid || pidUnused(m.pid);
}

/** Whether no process of this pid namespace has the pid: signal 0 refused other than for want of permission (another user's process). */
export function pidUnused(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
}
