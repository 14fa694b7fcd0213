/**
 * When state.db's list keys are read anew (state-db-keys.ts reads them): they are kept until SQLite's
 * `data_version` says another connection committed; callers that ask while a read of the same state
 * is under way share it, the others share the next one; and reads never follow each other back to back.
 */
import type { FileIdentity } from './state-db-keys';
import type { SessionKey } from './state-db-queries';

type Keys = readonly SessionKey[];

/** What the reads need from the caller's open state.db reader. */
export interface KeySource<R extends FileIdentity> {
  /** The open reader and the file's data_version, or null when the file cannot be read. */
  current(): { reader: R; version: number } | null;
  /** Whether `reader` is still the one open: keys read through one closed or replaced meanwhile are not kept. */
  isOpen(reader: R): boolean;
  /** The keys of `reader`'s file; null when the file was replaced while the read opened it. */
  read(reader: R): Promise<Keys | null>;
}

export class KeyReads<R extends FileIdentity> {
  private memo: { reader: R; version: number; keys: Keys } | null = null;
  /** The read in progress (one at a time), and for which reader and data_version. */
  private running: { reader: R; version: number; done: Promise<Keys | null> } | null = null;
  /**
   * No read starts before this (performance.now()): as long after the last ended as it took. Read
   * back to back, the snapshots joined up, the agent's checkpoint never finished and its -wal grew by
   * every commit (2 MB/s at 50,000 sessions, lists every 100 ms: scripts/bench/wal-growth.ts).
   */
  private freeAt = 0;
  /** The read that starts once the one under way has ended and the pause is over (`queued()`). */
  private next: Promise<Keys | null> | null = null;

  constructor(private readonly src: KeySource<R>) {}

  /** The keys of the file as it is now (or newer); null when it was replaced on every try. */
  async keys(): Promise<Keys | null> {
    for (let replaced = 0; replaced < 3; replaced++) {
      const now = this.src.current();
      if (!now) return [];
      const { reader, version } = now;
      if (this.memo?.reader === reader && this.memo.version === version) return this.memo.keys;
      const running = this.running;
      let keys: Promise<Keys | null>;
      if (running?.reader === reader && running.version === version) keys = running.done;
      else if (!running && !this.next && performance.now() >= this.freeAt) keys = this.start(reader, version);
      else keys = this.queued();
      const got = await keys;
      if (got) return got;
      // The file was replaced while the read opened it: the next current() reopens.
    }
    return null;
  }

  /**
   * The read for every caller that asks while a read of an older state is under way or the file is
   * being left free (freeAt): one read, started after both, so it is of a state at least as new as
   * each of theirs. Each waiting on its own, only the first to wake was answered; the others found a
   * newer commit and waited again, a list 15 s long under steady agent writes.
   */
  private queued(): Promise<Keys | null> {
    const start = async () => {
      await this.running?.done.catch(() => {});
      const rest = this.freeAt - performance.now();
      if (rest > 0) await Bun.sleep(rest);
      this.next = null;
      const now = this.src.current();
      if (!now) return [];
      if (this.memo?.reader === now.reader && this.memo.version === now.version) return this.memo.keys;
      return this.start(now.reader, now.version);
    };
    return (this.next ??= start());
  }

  private start(reader: R, version: number): Promise<Keys | null> {
    const started = performance.now();
    const done = this.src.read(reader).then((keys) => {
      if (keys && this.src.isOpen(reader)) this.memo = { reader, version, keys };
      return keys;
    }).finally(() => {
      this.running = null;
      const now = performance.now();
      this.freeAt = now + (now - started);
    });
    this.running = { reader, version, done };
    return done;
  }
}
