import type { LineClock } from '../../src/db/shared-reads';

/**
 * A clock for a busy wait (`BusyClock`, src/db/busy.ts) that moves only when the test moves it, so
 * when a wait is over does not depend on how loaded the machine is. It counts how often it is read:
 * a write in line reads it once for its deadline, and once more after each attempt that found the
 * lock taken, so the reads are events a test can wait for instead of durations.
 */
export class HandClock {
  private ms = 0;
  private reads = 0;
  private waiters: { at: number; resolve: () => void }[] = [];

  readonly now = (): number => {
    this.reads++;
    for (const w of this.waiters.filter((w) => this.reads >= w.at)) w.resolve();
    this.waiters = this.waiters.filter((w) => this.reads < w.at);
    return this.ms;
  };

  set(ms: number): void {
    this.ms = ms;
  }

  /** Settles once the clock has been read `n` more times. */
  readMore(n: number): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ at: this.reads + n, resolve }));
  }
}

/**
 * A clock for a read line (`LineClock`, src/db/shared-reads.ts) set by the test: each sleep is noted
 * and moves it on by what was asked, so a test says which pause was asked for, not how long one took.
 */
export function handLineClock(): LineClock & { ms: number; slept: number[] } {
  const c = {
    ms: 0,
    slept: [] as number[],
    now: () => c.ms,
    sleep: async (ms: number) => {
      c.slept.push(ms);
      c.ms += ms;
    },
  };
  return c;
}
