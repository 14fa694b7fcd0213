/**
 * Every session's list key, read from the agent's state.db without holding the event loop for the
 * whole read. The key's last-message time is a MAX over each session's visible messages, and on a v17+
 * file which messages are visible (`active`) is known only from the rows, so after any agent commit the
 * read touches every message row: 0.3–1.2 s at 100,000 sessions, which every other client waited out.
 *
 * Reading only what changed is not sound on this file: Hermes' rewinds mark old rows `active = 0` in
 * place, and no cheap check (row counts, max ids, `data_version`, the file's identity) tells that commit
 * from an append, so an incremental list would keep a rewound session's old time; only triggers or an
 * index on the agent's file could see it, and the sidecar writes neither. The read stays whole, with the
 * same SQL, but in slices of sessions (by rowid) inside one read transaction on a connection of its own:
 * one snapshot, so the answer is exactly the whole read's, with the event loop free between slices.
 */
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { BUSY_SLICE_MS, retryWhileBusy } from '../../db/busy';
import { columnsOf, hasRowid, readKeys, readKeySlice, type SessionKey } from './state-db-queries';

/** Sessions per slice: ~5–12 ms of reading at 10 messages per session (see docs/benchmarks.md). */
export const KEY_SLICE = 1000;

/** The file the caller's reader has open, which the snapshot must be of. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * The keys of every session, as `readKeys` gives them, from one snapshot of `path`; null when the file
 * at `path` is no longer `expected` (replaced while it was opened: the caller reopens and asks again).
 * `onSlice` runs after each slice (the caller keeps its own connection from closing as idle meanwhile).
 */
export async function readKeysInSlices(path: string, expected: FileIdentity, waitMs: number, onSlice: () => void, slice = KEY_SLICE): Promise<SessionKey[] | null> {
  const db = new Database(path, { readonly: true });
  try {
    db.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
    // Closing the connection ends this read transaction; the first read in it fixes the snapshot, and
    // the columns are read inside it, so they are the snapshot's.
    db.run('BEGIN');
    const t = await retryWhileBusy(() => {
      db.query('SELECT 1 FROM sqlite_schema LIMIT 1').get();
      return { db, sessions: columnsOf(db, 'sessions'), messages: columnsOf(db, 'messages') };
    }, waitMs);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || st.dev !== expected.dev || st.ino !== expected.ino) return null;
    // Out of WAL mode (Hermes' fallback where WAL does not work) an open read holds a SHARED lock: the
    // agent's commit waits for it holding PENDING, which keeps every other read out, so read in slices
    // each of the sidecar's other state.db reads while the list ran was a 503. Read whole, as before.
    if (!hasRowid(t) || !inWalMode(db)) return readKeys(t);
    const keys: SessionKey[] = [];
    for (let after = -Infinity; ;) {
      const { keys: some, last } = await retryWhileBusy(() => readKeySlice(t, after, slice), waitMs);
      if (last === null) return keys;
      for (const key of some) keys.push(key);
      after = last;
      onSlice();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    db.close();
  }
}

function inWalMode(db: Database): boolean {
  return (db.query('PRAGMA journal_mode').get() as { journal_mode: string } | null)?.journal_mode === 'wal';
}
