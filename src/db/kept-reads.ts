/**
 * Reads kept in memory until the database is written. The stamp moves with every row changed by
 * this connection (`total_changes()`) and every commit by any other connection, in this process or
 * another (`PRAGMA data_version`); reading it costs ~5 µs, a fraction of the reads it saves (a
 * page of tasks or memories, counts over a whole table). Nothing kept may depend on the clock.
 */
import type { Database } from 'bun:sqlite';

function writeStamp(sqlite: Database): string {
  const w = sqlite.query<{ changes: number; version: number }, []>('SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS version').get();
  return `${w?.changes}:${w?.version}`;
}

/** The results of the last `max` keys read, each valid while the stamp it was read under holds. */
export class KeptReads<T> {
  private readonly kept = new Map<string, { stamp: string; value: T }>();
  /** How many times `read` ran (tests check that kept results are used). */
  reads = 0;

  constructor(private readonly sqlite: Database, private readonly max = 32) {}

  get(key: string, read: () => T): T {
    const stamp = writeStamp(this.sqlite);
    const hit = this.kept.get(key);
    this.kept.delete(key);
    let value: T;
    if (hit?.stamp === stamp) value = hit.value;
    else {
      value = read();
      this.reads++;
    }
    this.kept.set(key, { stamp, value });
    if (this.kept.size > this.max) this.kept.delete(this.kept.keys().next().value as string);
    return value;
  }
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
