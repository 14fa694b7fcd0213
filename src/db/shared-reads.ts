/**
 * Pacing and sharing of long reads of another program's file (sliced-read.ts): callers that ask while a
 * read of the state they need is under way share it, the others share the next one, and reads never
 * follow each other back to back.
 */

/**
 * The longest pause between two reads. The pause only has to let the agent's checkpoint pass (it runs
 * after the agent's next commit and copies what the WAL holds: tens of ms for the few MB of a read's
 * worth of commits); a pause as long as a read that took 2 s (a loaded machine, a word search over
 * 100,000 facts) made the next request wait 2 s more.
 */
export const MAX_READ_PAUSE_MS = 250;

/** The time and the waits of a ReadLine (tests move a clock by hand). */
export interface LineClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: LineClock = { now: () => performance.now(), sleep: (ms) => Bun.sleep(ms) };

/**
 * The reads of one file, one at a time, each started no sooner after the last ended than the last
 * took, up to MAX_READ_PAUSE_MS. Read back to back, the snapshots joined up, the agent's checkpoint
 * never finished and its -wal grew by every commit (2 MB/s at 50,000 sessions, lists every 100 ms:
 * scripts/bench/wal-growth.ts).
 *
 * With `stamp` (where the file is in its commits, e.g. kept-reads.ts' writeStamp), a read of a file
 * nobody has committed to since the last read began starts without the pause: its snapshot holds back
 * nothing the last one did not (no new WAL frames), and the checkpoint the pause makes room for only
 * runs after a commit. A commit during the last read, or since, moves the stamp and the pause holds.
 */
export class ReadLine {
  private tail: Promise<unknown> = Promise.resolve();
  /** Reads under way or waiting for their turn. */
  private pending = 0;
  /** No read starts before this (`clock.now()`), unless the file is unchanged (`stamp`). */
  private freeAt = 0;
  /** The stamp taken as the last read began; undefined before the first. */
  private lastStamp: unknown;

  constructor(private readonly clock: LineClock = realClock, private readonly stamp?: () => unknown) {}

  /**
   * Runs `read` once the reads before it have ended and the pause after the last is over; at once,
   * in this call, when the line is free: the snapshot is then of the state the caller asked in.
   */
  run<T>(read: () => Promise<T>): Promise<T> {
    const turn = this.pending === 0 && (this.clock.now() >= this.freeAt || this.unchanged())
      ? this.go(read)
      : this.tail.then(async () => {
        const rest = this.freeAt - this.clock.now();
        if (rest > 0 && !this.unchanged()) await this.clock.sleep(rest);
        return this.go(read);
      });
    this.pending++;
    const done = turn.finally(() => this.pending--);
    this.tail = done.catch(() => {});
    return done;
  }

  /** Whether no commit reached the file since the last read began (never, without a `stamp`). */
  private unchanged(): boolean {
    return this.lastStamp !== undefined && Object.is(this.stampNow(), this.lastStamp);
  }

  /** The stamp now; undefined (changed: pause) when it cannot be read, e.g. the file's connection closed. */
  private stampNow(): unknown {
    try {
      return this.stamp?.();
    } catch {
      return undefined;
    }
  }

  private async go<T>(read: () => Promise<T>): Promise<T> {
    // Before the read's snapshot: a commit between the two makes the next read pause, never skip wrongly.
    this.lastStamp = this.stampNow();
    const started = this.clock.now();
    try {
      return await read();
    } finally {
      const now = this.clock.now();
      this.freeAt = now + Math.min(now - started, MAX_READ_PAUSE_MS);
    }
  }
}

/** What a read may do once its turn comes: answer with what is kept, or read the state `version`. */
export type ReadStart<V, T> = { value: T } | { version: V; read: () => Promise<T> };

/** One kind of read (one key) of a file whose reads go through `line`. */
export class SharedRead<V, T> {
  /** The read in progress, and of which state. */
  private running: { version: V; done: Promise<T> } | null = null;
  /** The read that starts once the line is free (`get`). */
  private next: Promise<T> | null = null;

  constructor(private readonly line: ReadLine, private readonly same: (a: V, b: V) => boolean = Object.is) {}

  /**
   * The answer for a caller that needs the state `version` or a newer one. A read of that state under
   * way is shared; otherwise the caller joins the next read, which `start` begins when the line is
   * free, so it is of a state at least as new as each of its callers'. Each waiting on its own, only
   * the first to wake was answered; the others found a newer commit and waited again, a session list
   * 15 s long under steady agent writes.
   */
  get(version: V, start: () => ReadStart<V, T>): Promise<T> {
    const running = this.running;
    if (running && this.same(running.version, version)) return running.done;
    if (this.next) return this.next;
    let started = false;
    const next = this.line.run(() => {
      started = true;
      this.next = null;
      const s = start();
      if ('value' in s) return Promise.resolve(s.value);
      const done = s.read().finally(() => {
        if (this.running?.done === done) this.running = null;
      });
      this.running = { version: s.version, done };
      return done;
    });
    // Started in this call (the line was free), it is running already, not waiting.
    if (!started) this.next = next;
    return next;
  }

  /** Whether no read of this kind is under way or waiting (one that is may be dropped by the caller otherwise). */
  idle(): boolean {
    return !this.running && !this.next;
  }
}
