/**
 * Pacing of a scan nobody waits for: the warm-up after start-up (SkillsIndex.warm). Unpaced, a scan of
 * 2,000 skills held the event loop for 64 ms in a new process with the saved index and 128 ms without it
 * (the walk's `lstat`s, then the YAML parses chained as each read ends), and a request arriving meanwhile
 * waited that long. Paced, its walk and its parses run in slices of at most SLICE_MS with a turn of the
 * event loop between them. A listing that comes and waits for the scan makes it urgent: from then on it
 * runs flat out, as a scan a request started does.
 */
export const SLICE_MS = 4;

/** Thrown into a paced scan stopped at shutdown, or left behind by a scan of other roots: it ends there, and nobody waits for it. */
export class ScanStopped extends Error {
  override name = 'ScanStopped';
}

export class Pace {
  urgent = false;
  private stopped = false;
  private sliceStart = performance.now();
  /** The parses, one after the other, so that each can give the event loop a turn when its slice is used up. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly sliceMs = SLICE_MS) {}

  /**
   * Whether the slice is used up, so the caller gives the event loop a turn (`next`) first. Never once
   * urgent: a scan a listing waits for is finished even after a stop, that listing gets its answer.
   */
  due(): boolean {
    return !this.urgent && (this.stopped || performance.now() - this.sliceStart >= this.sliceMs);
  }

  /**
   * A turn of the event loop (setImmediate lets I/O in first), then a new slice; throws once stopped,
   * unless a listing came during that turn and waits for the scan (urgent): it gets its answer.
   */
  async next(): Promise<void> {
    if (!this.stopped) await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.stopped && !this.urgent) throw new ScanStopped('the skills scan was stopped');
    this.sliceStart = performance.now();
  }

  /** Runs `fn` after the ones queued before it, in this slice if it has time left, else after a turn. */
  run(fn: () => void): Promise<void> {
    const done = this.queue.then(async () => {
      if (this.due()) await this.next();
      fn();
    });
    this.queue = done.catch(() => {});
    return done;
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Runs steps (a generator yielding between them) to the end at once. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs steps, giving the event loop a turn between two of them once the slice is used up (none once urgent).
 * Stopped (ScanStopped), the steps are ended (`return()`), so their `finally` runs: the saved index's file is closed.
 */
export async function pacedSteps<T>(steps: Generator<void, T>, pace: Pace): Promise<T> {
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (pace.due()) await pace.next();
    }
  } finally {
    steps.return(undefined as T);
  }
}
