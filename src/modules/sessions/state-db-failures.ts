/**
 * What a failure to open or read the agent's state.db means: a transient one (another process's
 * lock, an I/O error, no descriptors left) says nothing about the file, which is then still the
 * agent's session store; any failure is answered as a 503 that names it.
 */
import { closeSync, openSync } from 'node:fs';
import { isSqliteBusy } from '../../db/busy';
import { ApiError } from '../../lib/errors';
import { OPEN_NONBLOCKING } from '../../lib/files';

/** A failure that passes: the file is still the agent's session store, and a retry may read it. */
export const isTransient = (err: unknown) => isSqliteBusy(err) || /^(SQLITE_IOERR|EMFILE$|ENFILE$)/.test(String((err as { code?: unknown } | null)?.code ?? ''));

/** Throws EMFILE/ENFILE when the process cannot open `path` for want of descriptors; anything else is SQLite's to report. */
export function throwIfOutOfDescriptors(path: string): void {
  try {
    closeSync(openSync(path, OPEN_NONBLOCKING));
  } catch (err) {
    if (isTransient(err)) throw err;
  }
}

/** The 503 a failed read or write answers: `state_db_busy` for a lock, which a retry cures. */
export function unavailable(err: unknown, verb: 'read' | 'written' = 'read'): ApiError {
  const msg = err instanceof Error ? err.message : String(err);
  const busy = isSqliteBusy(err);
  return new ApiError(503, busy ? 'state_db_busy' : 'state_db_unavailable',
    busy ? `The agent's state.db is locked by another writer and could not be ${verb}; try again.` : `The agent's state.db could not be ${verb}: ${msg}.`,
    { headers: { 'retry-after': '1' } });
}
