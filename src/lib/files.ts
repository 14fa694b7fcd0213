/**
 * Reading files that someone else controls (the agent's home, skill trees) without letting a special
 * file stall the server. open() of a FIFO with no writer blocks the calling thread — for a sync read
 * that is the event loop, so every request would hang — and a device may never reach its end. Such a
 * file is opened non-blocking, found not to be a regular file, and refused with code ENOTREG.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';

/** Flags for opening someone else's file: never wait for a FIFO's writer. */
export const OPEN_NONBLOCKING = constants.O_RDONLY | constants.O_NONBLOCK;

class NotARegularFileError extends Error {
  override name = 'NotARegularFileError';
  readonly code = 'ENOTREG';
  constructor(readonly path: string) {
    super(`${path} is not a regular file`);
  }
}

/** The whole file, when it is a regular one (symlinks followed); ENOENT and friends are thrown as they are. */
export function readRegularFileSync(path: string): Buffer {
  const fd = openSync(path, OPEN_NONBLOCKING);
  try {
    if (!fstatSync(fd).isFile()) throw new NotARegularFileError(path);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `st` (of `path`) is a regular file: checked before a library opens the path itself. */
export function assertRegularFile(path: string, st: Stats): void {
  if (!st.isFile()) throw new NotARegularFileError(path);
}

/** Which file is at `path` now (device and inode, links followed); null when none is or it cannot be read. */
export function fileIdentity(path: string): string | null {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}
