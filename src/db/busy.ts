/**
 * Waiting for another program's write lock without stopping the server. bun:sqlite runs on the event
 * loop's thread and blocks it for as long as the connection's busy_timeout lets SQLite wait, so a file
 * another process may write (the agent's state.db and memory_store.db; the sidecar's own database,
 * which a sqlite3 session, a backup or a second sidecar can lock) gets a short BUSY_SLICE_MS, and a
 * write that finds the lock taken is tried again after an async pause — other requests run in the
 * pauses — until about BUSY_WAIT_MS have passed, the way Hermes' own writers retry. Writers of one file
 * should also wait in line (`BusyQueue`): they all wait for the same lock, and one of them polling is enough.
 */
import type { Database } from 'bun:sqlite';

export const BUSY_SLICE_MS = 10;
export const BUSY_WAIT_MS = 5000;

/** SQLITE_BUSY or SQLITE_LOCKED (and their extended codes): another connection holds the lock. */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
  return err instanceof Error && /database is locked|database table is locked/i.test(err.message);
}

/** Milliseconds on a clock that only moves forward: what the busy wait is counted on. */
export type BusyClock = () => number;
const monotonic: BusyClock = () => performance.now();

/** Runs `write` (one synchronous transaction), again after a short pause while the lock is taken, for up to waitMs. */
export function retryWhileBusy<T>(write: () => T, waitMs: number = BUSY_WAIT_MS): Promise<T> {
  return retryUntil(write, monotonic() + waitMs, monotonic);
}

async function retryUntil<T>(write: () => T, deadline: number, now: BusyClock): Promise<T> {
  for (;;) {
    try {
      return write();
    } catch (err) {
      if (!isSqliteBusy(err) || now() >= deadline) throw err;
      await Bun.sleep(10 + Math.random() * 30);
    }
  }
}

/** Runs writes one after another, so while the lock is taken only the first in line polls for it. */
export class BusyQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** `now`: the wait's clock (a test moves its own, so that when the wait is over does not depend on the machine's load). */
  constructor(private readonly now: BusyClock = monotonic) {}

  /** waitMs counts from now: time spent in line is part of it. */
  run<T>(write: () => T, waitMs: number = BUSY_WAIT_MS): Promise<T> {
    const deadline = this.now() + waitMs;
    const attempt = () => retryUntil(write, deadline, this.now);
    const result = this.tail.then(attempt, attempt);
    this.tail = result.catch(() => {});
    return result;
  }

  /**
   * Settles once every write asked for so far has settled, and those asked for meanwhile too (for a
   * shutdown: a write still in line when the file is closed is lost). Each write gives up at its own
   * deadline, so this takes no longer than the busy wait after the last one asked. A turn of the
   * event loop between checks lets writes scheduled for it (a task group's commit) join the line.
   */
  async drained(): Promise<void> {
    for (let tail = this.tail; ; ) {
      await tail;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (tail === this.tail) return;
      tail = this.tail;
    }
  }
}

/**
 * Runs `fn` with the connection's busy timeout set to `ms`, then puts the old one back. bun:sqlite is
 * synchronous, so no other statement of this connection runs meanwhile.
 */
export function withBusyTimeout<T>(sqlite: Database, ms: number, fn: () => T): T {
  const { timeout } = sqlite.query<{ timeout: number }, []>('PRAGMA busy_timeout').get() ?? { timeout: 0 };
  sqlite.run(`PRAGMA busy_timeout = ${ms}`);
  try {
    return fn();
  } finally {
    sqlite.run(`PRAGMA busy_timeout = ${timeout}`);
  }
}
