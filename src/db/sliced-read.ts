/**
 * A read of another program's SQLite file (the agent's state.db and memory_store.db) that must touch
 * every row, without holding the event loop for the whole of it. The read runs in slices of rows, all
 * inside one read transaction on a connection of its own: one snapshot, so the answer is exactly the
 * whole read's, with the event loop free between slices. Agent commits go on meanwhile (WAL readers
 * do not block writers); the snapshot keeps the agent's checkpoint from passing it, which is why the
 * caller paces these reads (shared-reads.ts).
 */
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { BUSY_SLICE_MS, retryWhileBusy } from './busy';

/** The file the caller's reader has open, which the snapshot must be of. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** How one read is cut up; `S` is what it gathers as it goes. */
export interface SlicePlan<S, T> {
  /** The first read of the transaction (it fixes the snapshot): what the slices need, e.g. the columns. */
  open(db: Database): S;
  /** Whether the read can be cut up at all (false: read whole, e.g. a table without rowids). */
  sliceable?(s: S): boolean;
  /** The whole read in one go. */
  whole(s: S): T;
  /** Reads the slice after `after` (-Infinity first) into `s`; the key to go on after, or null once none is left. */
  slice(s: S, after: number): number | null;
  /** The answer once every slice has been read (still inside the snapshot). */
  finish(s: S): T;
}

/**
 * The answer of `plan` from one snapshot of `path`; null when the file at `path` is no longer
 * `expected` (replaced while it was opened: the caller reopens and asks again, or reads its own way).
 * `onSlice` runs after each slice (StateDb keeps its own connection from closing as idle meanwhile).
 * `signal` closes the connection at once and fails the read with its reason: the caller is letting go
 * of a replaced file, whose WAL this snapshot would hold at the path (holographic-schema.ts).
 */
export async function readInSlices<S, T>(path: string, expected: FileIdentity, waitMs: number, onSlice: () => void, plan: SlicePlan<S, T>, signal?: AbortSignal): Promise<T | null> {
  signal?.throwIfAborted();
  const db = new Database(path, { readonly: true });
  const abort = () => db.close();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return await sliced(db, path, expected, waitMs, onSlice, plan);
  } catch (err) {
    // A statement on the connection closed by the abort fails with "closed database": the reason says why.
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    signal?.removeEventListener('abort', abort);
    db.close();
  }
}

/** The read itself, on `db` (opened by readInSlices, which closes it). */
async function sliced<S, T>(db: Database, path: string, expected: FileIdentity, waitMs: number, onSlice: () => void, plan: SlicePlan<S, T>): Promise<T | null> {
  db.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
  // Closing the connection ends this read transaction; the first read in it fixes the snapshot.
  db.run('BEGIN');
  const s = await retryWhileBusy(() => {
    db.query('SELECT 1 FROM sqlite_schema LIMIT 1').get();
    return plan.open(db);
  }, waitMs);
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st || st.dev !== expected.dev || st.ino !== expected.ino) return null;
  // Out of WAL mode (Hermes' fallback where WAL does not work) an open read holds a SHARED lock: the
  // agent's commit waits for it holding PENDING, which keeps every other read out, so read in slices
  // each of the sidecar's other reads of the file while this one ran was a 503. Read whole, as before.
  if (plan.sliceable?.(s) === false || !inWalMode(db)) return plan.whole(s);
  for (let after = -Infinity; ;) {
    const next = await retryWhileBusy(() => plan.slice(s, after), waitMs);
    if (next === null) return plan.finish(s);
    after = next;
    onSlice();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function inWalMode(db: Database): boolean {
  return (db.query('PRAGMA journal_mode').get() as { journal_mode: string } | null)?.journal_mode === 'wal';
}
