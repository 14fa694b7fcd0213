/**
 * Reading and replacing one text file safely: a per-file queue serialises every read-modify-write of
 * this process, the new text goes to a temp file in the same directory (fsync'd, with the old file's
 * mode) and is renamed over the target, and the directory is fsync'd so the rename survives a crash.
 * A symlinked config.yaml is written through to its target, so the link stays a link.
 *
 * Other programs (Hermes itself, an editor) can change the file at any time. Each edit re-reads the
 * file inside the queue, and just before the rename checks that the file is still the one it read;
 * if not, the edit is computed again on the new text (a few times, then 409).
 */
import { closeSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ApiError } from '../../lib/errors';
import { ConfigUnreadableError, readAgentFile } from '../../hermes/home';
import { KeyedQueue } from '../../lib/keyed-queue';

/** Every read-modify-write of one file, in turn. */
const edits = new KeyedQueue();

interface Snapshot {
  text: string;
  /** null when the file does not exist yet. */
  stat: Stats | null;
}

const sameFile = (a: Stats | null, b: Stats | null) =>
  a === b || (!!a && !!b && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size && a.ctimeMs === b.ctimeMs);

const statOrNull = (path: string): Stats | null => statSync(path, { throwIfNoEntry: false }) ?? null;

/**
 * The file the edits land on: the target of a symlink, or the path itself when it does not exist yet.
 * A symlink whose target does not exist yet (dotfiles) is followed to that target, which the first
 * write creates: renaming over the link itself would replace it with a regular file.
 */
function writeTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigUnreadableError(basename(path), err);
  }
  let target = path;
  for (let hops = 0; lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink(); hops++) {
    if (hops === 40) throw new ConfigUnreadableError(basename(path), Object.assign(new Error('too many links'), { code: 'ELOOP' }));
    target = resolve(dirname(target), readlinkSync(target));
  }
  // HERMES_HOME itself is created on the first write; directories a link points into are not.
  if (target !== path && !statOrNull(dirname(target))?.isDirectory()) {
    throw new ApiError(503, 'config_unreadable', `${basename(path)} is a symbolic link into a directory that does not exist; create it first. Nothing was changed.`);
  }
  return target;
}

function read(path: string): Snapshot {
  const stat = statOrNull(path);
  if (!stat) return { text: '', stat: null };
  return { text: readAgentFile(path, basename(path)) ?? '', stat };
}

/** Writes `text` to a temp file beside `path` and renames it into place. New files get mode 0600: config holds keys. */
function replaceAtomically(path: string, text: string, mode: number): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    fchmodSync(fd, mode); // openSync's mode passes through the umask; the old file's mode must survive exactly
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

const MAX_ATTEMPTS = 5;

/**
 * Read-modify-write of `path`: `edit` gets the current text and returns the new text (or throws to
 * abort with nothing written). Returns what `edit` produced.
 */
export function editFile(path: string, edit: (text: string) => string): Promise<string> {
  const target = writeTarget(path);
  return edits.run(target, () => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const before = read(target);
      const next = edit(before.text);
      if (next === before.text) return next;
      // Someone else wrote since we read: compute the edit again on their text.
      if (!sameFile(before.stat, statOrNull(target))) continue;
      replaceAtomically(target, next, before.stat ? before.stat.mode & 0o7777 : 0o600);
      return next;
    }
    throw new ApiError(409, 'config_busy', `${basename(path)} kept changing while it was being edited; try again.`);
  });
}
