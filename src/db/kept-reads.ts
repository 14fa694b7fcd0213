/**
 * Reads kept in memory until the database is written. The stamp moves with every row changed by
 * this connection (`total_changes()`) and every commit by any other connection, in this process or
 * another (`PRAGMA data_version`); reading it costs ~5 µs, a fraction of the reads it saves (a
 * page of tasks or memories, counts over a whole table). Nothing kept may depend on the clock.
 */
import type { Database } from 'bun:sqlite';

/** Where the database is in its writes: any change of ours or commit of another connection moves it. */
export function writeStamp(sqlite: Database): string {
  const w = sqlite.query<{ changes: number; version: number }, []>('SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS version').get();
  return `${w?.changes}:${w?.version}`;
}

/**
 * How many bytes of pages (memories, tasks) one KeptReads holds at most. Counted by entries alone, 32
 * pages of 1,000 memories of up to 64 KiB each could keep gigabytes; pages of ordinary size (a
 * few hundred bytes a row) still fit dozens of times. A page larger than this is not kept.
 */
export const KEPT_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * The results of the last `max` keys read, each valid while the stamp it was read under holds; with
 * `maxBytes`, also no more than that many bytes of them (roughBytes).
 */
export class KeptReads<T> {
  private readonly kept = new Map<string, { stamp: string; value: T; bytes: number }>();
  private bytes = 0;
  /** How many times `read` ran (tests check that kept results are used). */
  reads = 0;

  constructor(private readonly sqlite: Database, private readonly max = 32, private readonly maxBytes = Number.POSITIVE_INFINITY) {}

  get(key: string, read: () => T): T {
    const stamp = this.stamp();
    const hit = this.peek(key, stamp);
    if (hit) return hit.value;
    const value = read();
    this.put(key, stamp, value);
    return value;
  }

  /** The stamp the database is at now: a read begun after taking it may be kept under it (`put`). */
  stamp(): string {
    return writeStamp(this.sqlite);
  }

  /** The result kept for `key` if it was read under `stamp` (the database is unchanged since). */
  peek(key: string, stamp = this.stamp()): { value: T } | null {
    const hit = this.kept.get(key);
    if (hit?.stamp !== stamp) return null;
    // Used most recently: kept longest.
    this.kept.delete(key);
    this.kept.set(key, hit);
    return { value: hit.value };
  }

  /** Keeps `value` of `key`, read in a snapshot taken after the database was at `stamp`. */
  put(key: string, stamp: string, value: T): void {
    this.reads++;
    const old = this.kept.get(key);
    if (old) {
      this.kept.delete(key);
      this.bytes -= old.bytes;
    }
    const entry = { stamp, value, bytes: Number.isFinite(this.maxBytes) ? roughBytes(value) : 0 };
    if (entry.bytes > this.maxBytes) return;
    this.kept.set(key, entry);
    this.bytes += entry.bytes;
    while (this.kept.size > this.max || this.bytes > this.maxBytes) {
      const [oldest, gone] = this.kept.entries().next().value as [string, { bytes: number }];
      this.kept.delete(oldest);
      this.bytes -= gone.bytes;
    }
  }
}

/** Roughly the memory a value holds: 2 bytes per UTF-16 unit of its strings, 16 per other value, key or element. */
export function roughBytes(value: unknown): number {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += 16 + v.length * 2;
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        bytes += 16 + k.length * 2;
        stack.push(child);
      }
    } else bytes += 16;
  }
  return bytes;
}

/**
 * Runs `read` (several statements) in one snapshot of the database: a deferred transaction, which
 * takes no lock. Read apart, a page and its count, or two counts, could each see a different commit of
 * another process (a row counted in `total` and missing from the page).
 */
export function readSnapshot<T>(sqlite: Database, read: () => T): T {
  return sqlite.transaction(read).deferred();
}

/** Freezes a result handed to every caller of the same read, so that none can change it for the others. */
export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}
