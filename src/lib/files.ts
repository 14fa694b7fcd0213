/**
 * Reading files that someone else controls (the agent's home, skill trees) without letting a special
 * file stall the server. open() of a FIFO with no writer blocks the calling thread — for a sync read
 * that is the event loop, so every request would hang — and a device may never reach its end. Such a
 * file is opened non-blocking, found not to be a regular file, and refused with code ENOTREG.
 */
import { isUtf8 } from 'node:buffer';
import { accessSync, closeSync, constants, fstatSync, openSync, opendirSync, readFileSync, realpathSync, statfsSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

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

/** The same file in the same state: inode, size, modification and change times. */
export const sameFileState = (a: Stats | null, b: Stats | null) =>
  a === b || (!!a && !!b && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs);

/**
 * sameFileState as a string, for caches of a file's content. The change time is what tells a deploy
 * apart: `cp -p`, `rsync -a`, `tar x` and `touch -r` set the mtime back to the source's, and `cp -p`
 * keeps the inode, so a same-size file looked unchanged until a restart; every write, rename and
 * utimes moves the ctime, which no user tool can set.
 */
export const fileStateKey = (st: Stats) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

export interface FileSnapshot {
  text: string;
  /** The file's state when the text was read. */
  stat: Stats;
  /** false when a writer changed the file during every read attempt: the text may be half of it. */
  settled: boolean;
  /**
   * Where in `text` the first bytes that are not UTF-8 stand (decoded as U+FFFD), or null when the file
   * is UTF-8 throughout: `text` alone cannot tell them from a U+FFFD the file holds.
   */
  notUtf8At: number | null;
}

/** The index in `bytes.toString('utf8')` of the first bytes that are not UTF-8; null when there are none. */
function firstNotUtf8(bytes: Buffer, text: string): number | null {
  if (isUtf8(bytes)) return null;
  // UTF-8 text encodes back to its own bytes; the first byte that differs is the first one decoding replaced.
  const again = Buffer.from(text, 'utf8');
  let i = 0;
  while (i < bytes.length && bytes[i] === again[i]) i++;
  // The bad bytes can begin like U+FFFD's own (EF, EF BF): step back to the start of that character.
  while (i > 0 && ((again[i] ?? 0) & 0xc0) === 0x80) i--;
  return again.subarray(0, i).toString('utf8').length;
}

const SNAPSHOT_TRIES = 5;

/**
 * A regular file's text and the state it was read in; null when it does not exist. A writer that
 * rewrites the file in place (Hermes, when it cannot rename over a bind-mounted config.yaml; an
 * editor) can be caught half way: the read is repeated until the file's state is the same before and
 * after it. Atomic renames need none of this: a read sees the old file or the new one.
 */
export function readSettledSync(path: string): FileSnapshot | null {
  let last: FileSnapshot | null = null;
  for (let i = 0; i < SNAPSHOT_TRIES; i++) {
    const before = statSync(path, { throwIfNoEntry: false }) ?? null;
    if (!before) return null;
    let bytes: Buffer;
    try {
      bytes = readRegularFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const after = statSync(path, { throwIfNoEntry: false }) ?? null;
    if (!after) return null;
    const text = bytes.toString('utf8');
    last = { text, stat: after, settled: sameFileState(before, after), notUtf8At: firstNotUtf8(bytes, text) };
    if (last.settled) return last;
  }
  return last;
}

/**
 * How long an empty file counts as one a writer has truncated and not written yet: Hermes' copy
 * (truncate, then write) left config.yaml empty for under a millisecond mostly, but up to 200 ms on a
 * loaded machine. An empty file older than this is taken as empty.
 */
export const JUST_EMPTIED_MS = 2_000;

/** An empty file changed less than JUST_EMPTIED_MS ago: most likely a rewrite in place under way. */
function justEmptied(snap: FileSnapshot, now = Date.now()): boolean {
  // A stamp in the future counts by its distance: the clock was set back since.
  return snap.stat.size === 0 && snap.text === '' && Math.abs(now - snap.stat.mtimeMs) < JUST_EMPTIED_MS;
}

/** A read a reader can take as the file's content: settled, and not a rewrite's truncated start. */
export const isWhole = (snap: FileSnapshot): boolean => snap.settled && !justEmptied(snap);

/** Whether `dir` is a directory holding anything; reads one entry, however many it has. */
export function hasEntries(dir: string): boolean {
  try {
    const d = opendirSync(dir);
    try {
      return d.readSync() !== null;
    } finally {
      d.closeSync();
    }
  } catch {
    return false;
  }
}

/** Less room than this for this user counts as a full file system: opening a WAL database needs its 32 KiB -shm. */
const NEARLY_FULL_BYTES = 64 * 1024;

/**
 * Why opening the SQLite file `file` failed, when the file system is the reason: SQLite, unable to
 * create the -wal or -shm, says only "disk I/O error" on a full one and "unable to open database
 * file" on a read-only one, which send an operator looking for a failing disk or a missing file.
 * Empty when the failure is something else or the file system cannot be looked at.
 */
export function fileSystemNote(file: string, err: unknown): string {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  if (!/^(SQLITE_IOERR|SQLITE_FULL|SQLITE_CANTOPEN|SQLITE_READONLY|ENOSPC|EROFS)/.test(code)) return '';
  // SQLite follows a link to the database and writes the -wal and -shm beside its target: that folder's
  // file system is the one to look at (a link's own folder may be writable and roomy).
  let dir = dirname(file);
  try {
    dir = dirname(realpathSync(file));
  } catch {
    // not there yet (or a dangling link): the folder it is named in
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EROFS') return '; the file system holding it is read-only (mounted ro): SQLite needs to write its -wal and -shm files beside it';
  }
  try {
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    return free < NEARLY_FULL_BYTES ? `; the file system holding it is full (${free} bytes free): free some space` : '';
  } catch {
    return '';
  }
}
