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
 * same SQL, but in slices of sessions (by rowid) inside one snapshot (src/db/sliced-read.ts).
 */
import { type FileIdentity, readInSlices } from '../../db/sliced-read';
import { columnsOf, hasRowid, readKeys, readKeySlice, type SessionKey, type StateTables } from './state-db-queries';

export type { FileIdentity };

/** Sessions per slice: ~5–12 ms of reading at 10 messages per session (see docs/benchmarks.md). */
export const KEY_SLICE = 1000;

/**
 * The keys of every session, as `readKeys` gives them, from one snapshot of `path`; null when the file
 * at `path` is no longer `expected` (replaced while it was opened: the caller reopens and asks again).
 * `onSlice` runs after each slice (the caller keeps its own connection from closing as idle meanwhile).
 */
export function readKeysInSlices(path: string, expected: FileIdentity, waitMs: number, onSlice: () => void, slice = KEY_SLICE): Promise<SessionKey[] | null> {
  return readInSlices<{ t: StateTables; keys: SessionKey[] }, SessionKey[]>(path, expected, waitMs, onSlice, {
    // The columns are read inside the transaction, so they are the snapshot's.
    open: (db) => ({ t: { db, sessions: columnsOf(db, 'sessions'), messages: columnsOf(db, 'messages') }, keys: [] }),
    sliceable: (s) => hasRowid(s.t),
    whole: (s) => readKeys(s.t),
    slice: (s, after) => {
      const { keys, last } = readKeySlice(s.t, after, slice);
      for (const key of keys) s.keys.push(key);
      return last;
    },
    finish: (s) => s.keys,
  });
}
