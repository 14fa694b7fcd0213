/**
 * Whether the database file this process has open is still the one at its path. A file moved over
 * it (`mv restored.db optx-api.db`, a restore tool that writes a new file) or removed leaves SQLite
 * writing into the old, unlinked inode: those writes were answered 201 and were gone at the next
 * start, and the old file's WAL, which stays at the path, was laid over the restored file after a
 * crash ("database disk image is malformed"). Writes are refused instead (503 storage_replaced)
 * until the sidecar is restarted on the file now at the path; reads still answer from the open one.
 */
import { fileIdentity } from '../lib/files';

export const DB_REPLACED = 'SIDECAR_DB_REPLACED';

export class DatabaseReplacedError extends Error {
  override name = 'DatabaseReplacedError';
  readonly code = DB_REPLACED;
  constructor(path: string) {
    super(`${path} was replaced or removed while the sidecar had it open; restart the sidecar to use the file now at that path`);
  }
}

/**
 * A check to run before each write (one stat, ~1 µs): throws DatabaseReplacedError while `path`
 * names another file than the one open (or none). `onReplaced` runs the first time that is seen.
 */
export function inPlaceCheck(path: string, onReplaced: () => void): () => void {
  const opened = fileIdentity(path);
  let seen = false;
  return () => {
    if (fileIdentity(path) === opened) return;
    if (!seen) {
      seen = true;
      onReplaced();
    }
    throw new DatabaseReplacedError(path);
  };
}
