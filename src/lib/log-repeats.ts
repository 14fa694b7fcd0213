/**
 * Failures that can happen once per request (a locked database, an unreachable payment node, a payer
 * with an empty wallet): logged line by line they come at whatever rate clients send, which fills a
 * small disk and trips journald's rate limit, hiding everything else. The operator needs the first
 * occurrence, then to know it goes on and how often: the first is logged at once, later ones are
 * counted, and one summary line (`repeated: N`) is written per window while they continue. A window
 * without any ends the series; the next occurrence is logged at once again.
 */
import type { LogFields, Logger } from './log';

/** How often a failure that keeps happening is summarised. */
const REPEAT_WINDOW_MS = 60_000;

type Level = 'warn' | 'error' | 'info';

interface Series {
  count: number;
  fields: LogFields | undefined;
}

// Per logger, so that tests (and anything else holding a logger of its own) keep their own counts.
const seriesOf = new WeakMap<Logger, Map<string, Series>>();

/**
 * Logs `msg` now if it is the first of its series (`key`, default `msg`), else counts it. Keys must
 * come from a small fixed set (a message, an error code), never from what a client sends.
 */
export function logRepeated(log: Logger, level: Level, msg: string, fields?: LogFields, opts: { key?: string; windowMs?: number } = {}): void {
  const key = opts.key ?? msg;
  const windowMs = opts.windowMs ?? REPEAT_WINDOW_MS;
  const all = seriesOf.get(log) ?? new Map<string, Series>();
  seriesOf.set(log, all);
  const open = all.get(key);
  if (open) {
    open.count++;
    open.fields = fields;
    return;
  }
  log[level](msg, fields);
  const series: Series = { count: 0, fields: undefined };
  // Unref'd: a pending summary never keeps the process alive.
  const arm = () => setTimeout(endOfWindow, windowMs).unref?.();
  function endOfWindow(): void {
    if (!series.count) {
      all.delete(key);
      return;
    }
    // The last occurrence's details, with how many were not written.
    log[level](msg, { ...series.fields, repeated: series.count, window_s: windowMs / 1000 });
    series.count = 0;
    arm();
  }
  arm();
  all.set(key, series);
}
