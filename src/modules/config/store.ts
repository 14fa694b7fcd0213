/**
 * Reading and replacing one text file safely: a per-file queue serialises every read-modify-write of
 * this process, the new text goes to a temp file in the same directory (fsync'd, with the old file's
 * mode) and is renamed over the target, and the directory is fsync'd so the rename survives a crash.
 * A symlinked config.yaml is written through to its target, so the link stays a link.
 *
 * Other programs (Hermes itself, an editor) can change the file at any time. Each edit re-reads the
 * file inside the queue, and just before the rename (after the temp file is written and synced)
 * checks that the file is still the one it read; if not, the edit is computed again on the new text
 * (a few times, then 409). Another sidecar on the same home takes a lock file beside the target
 * (`.<name>.lock`, holding its pid) for the same read-modify-write, so two sidecars never interleave;
 * an editor that takes no lock can still, in the microseconds between that check and the rename, be
 * overwritten. A file found half rewritten in place (truncated and not written yet) is waited for
 * rather than edited. Temp files a killed process left behind are removed on a later edit.
 */
import { accessSync, closeSync, constants, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, statSync, unlinkSync, utimesSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ApiError } from '../../lib/errors';
import { ConfigUnreadableError, configText, readAgentSnapshot } from '../../hermes/home';
import { JUST_EMPTIED_MS, isWhole, sameFileState, type FileSnapshot } from '../../lib/files';
import { KeyedQueue } from '../../lib/keyed-queue';
import { pidUnused } from '../../lib/process-mark';

/** Every read-modify-write of one file, in turn. */
const edits = new KeyedQueue();

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

/**
 * Writes `text` to a temp file beside `path` and renames it into place, unless `stillCurrent` says,
 * right before the rename, that the file changed meanwhile (false: nothing written). New files get
 * mode 0600: config holds keys.
 */
function replaceAtomically(path: string, text: string, mode: number, stillCurrent: () => boolean): boolean {
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
    if (!stillCurrent()) {
      unlinkSync(tmp);
      return false;
    }
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw CANNOT_RENAME.has((err as NodeJS.ErrnoException).code ?? '') ? cannotReplace(path) : err;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return true;
}

/**
 * A file that is a mount point itself (Docker's `-v ./config.yaml:…`) cannot be renamed over. Hermes
 * then copies over it in place; a second writer doing the same, with no lock between them, cut each
 * other's text (in review: 2 of 3 runs left a config.yaml that did not parse), so edits are refused.
 */
const CANNOT_RENAME = new Set(['EBUSY', 'EXDEV']);

const cannotReplace = (path: string) =>
  new ApiError(
    503,
    'config_not_replaceable',
    `${basename(path)} is a mount point of its own (a single-file bind mount), so it cannot be replaced in one step; mount its directory instead. Nothing was changed.`,
  );

/**
 * Whether another live process of this machine has that pid. Our own pid is not one: this process
 * takes the lock only inside its own queue, so a lock or temp file with its pid was left by an
 * earlier process that had the same pid — in a container the sidecar is PID 1 after every restart,
 * and a lock its killed predecessor left blocked every edit for LOCK_STALE_MS.
 */
function alive(pid: number): boolean {
  return pid !== process.pid && !pidUnused(pid);
}

/** A lock not released this long after it was taken is stale whoever holds it (an edit takes milliseconds). */
const LOCK_STALE_MS = 30_000;
/** A lock whose pid is not alive here is stale after this (a pid from another container may look dead). */
const LOCK_DEAD_MS = 2_000;
const LOCK_WAIT_MS = 3_000;

/** Creates the lock file holding our pid; false when another process holds it. */
function takeLock(lock: string): boolean {
  let fd: number;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, String(process.pid));
  } catch (err) {
    // A full disk: a pid-less lock left behind made every later edit wait LOCK_DEAD_MS for it.
    unlinkSync(lock);
    throw err;
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Runs `fn` holding the lock file beside `path` that every sidecar process takes for its edits. `fn`
 * gets `stillHolding`, to call while it waits (for a file being rewritten in place, up to
 * SETTLE_WAIT_MS): it renews the lock's time, since a sidecar in another container, which cannot see
 * our pid, takes a lock older than LOCK_DEAD_MS for a dead one.
 */
async function withFileLock<T>(path: string, fn: (stillHolding: () => void) => Promise<T>): Promise<T> {
  const lock = join(dirname(path), `.${basename(path)}.lock`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Waiting is timed on the monotonic clock: a wall clock set back meanwhile must not stretch it.
  const deadline = performance.now() + LOCK_WAIT_MS;
  while (!takeLock(lock)) {
    let holder = Number.NaN;
    let age: number;
    try {
      holder = Number(readFileSync(lock, 'utf8').trim() || Number.NaN);
      // A stamp in the future counts by its distance: the clock was set back since it was written.
      age = Math.abs(Date.now() - statSync(lock).mtimeMs);
    } catch {
      continue; // released meanwhile: take it
    }
    if (age > LOCK_STALE_MS || (age > LOCK_DEAD_MS && !(holder > 0 && alive(holder)))) {
      try {
        unlinkSync(lock);
      } catch {
        // taken away by another process meanwhile: try again
      }
      continue;
    }
    if (performance.now() > deadline) throw new ApiError(409, 'config_busy', `${basename(path)} is being edited by another process; try again.`);
    await Bun.sleep(5);
  }
  const stillHolding = () => {
    try {
      const now = new Date();
      utimesSync(lock, now, now);
    } catch {
      // taken away meanwhile: the check before the rename still guards the file
    }
  };
  try {
    return await fn(stillHolding);
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // already gone (judged stale by another process): nothing to release
    }
  }
}

function olderThanThisProcess(file: string): boolean {
  return (statOrNull(file)?.mtimeMs ?? Infinity) < performance.timeOrigin;
}

/** Targets whose leftover temp files this process has already looked for. */
const swept = new Set<string>();

/** Removes `.<name>.<pid>.<id>.tmp` files of processes that are gone (killed between write and rename). */
function sweepTempFiles(path: string): void {
  if (swept.has(path)) return;
  swept.add(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.startsWith(prefix) && name.endsWith('.tmp') ? name.slice(prefix.length).split('.')[0] : NaN);
    // Ours from an earlier process with this pid only when older than this process (a file of this one is in flight).
    const gone = pid === process.pid ? olderThanThisProcess(join(dirname(path), name)) : pid > 0 && !alive(pid);
    if (gone) {
      try {
        unlinkSync(join(dirname(path), name));
      } catch {
        // another sidecar removed it first
      }
    }
  }
}

const MAX_ATTEMPTS = 5;

/**
 * Read-modify-write of `path`: `edit` gets the current text and returns the new text (or throws to
 * abort with nothing written). Returns what `edit` produced.
 */
export async function editFile(path: string, edit: (text: string) => string): Promise<string> {
  // async: a target that cannot be resolved (a link loop, no descriptors left) rejects like every
  // other failure, so callers' `.catch` sees it; thrown synchronously, it was answered as a 500.
  const target = writeTarget(path);
  return edits.run(target, () =>
    withFileLock(target, async (stillHolding) => {
      sweepTempFiles(target);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const before = await settledRead(target, path, stillHolding);
        const text = before ? configText(before) : '';
        const next = edit(text);
        if (next === text) return next;
        // Someone else wrote since we read: compute the edit again on their text.
        const unchanged = () => sameFileState(before?.stat ?? null, statOrNull(target));
        if (unchanged() && replaceAtomically(target, next, before ? before.stat.mode & 0o7777 : 0o600, unchanged)) return next;
      }
      throw busy(path);
    }).catch((err: unknown) => {
      throw NOT_PERMITTED.has((err as NodeJS.ErrnoException).code ?? '') ? notWritable(target) : err;
    }),
  );
}

/**
 * A folder the sidecar's user may not write (another owner, mode 0555, `chattr +i`): the lock and temp
 * file cannot be created, and nothing was written. Until 2026-12-08 this was a logged 500.
 */
const NOT_PERMITTED = new Set(['EACCES', 'EPERM']);
/**
 * Names what refused: the folder, or the file when the folder can be written (the lock and temp file
 * were made; the rename over the file was refused): an immutable config.yaml (`chattr +i`), or in a
 * sticky folder one of another user. Told to open up a folder it may already write, an operator looked
 * in the wrong place.
 */
function notWritable(target: string): ApiError {
  const dir = dirname(target);
  try {
    // access(2) says EPERM for an immutable folder, EROFS for a read-only mount: those stay the folder's.
    accessSync(dir, constants.W_OK);
  } catch {
    return new ApiError(503, 'config_not_writable', `The sidecar's user may not write in ${dir} (permission denied), where edits put their lock and temp file; give it write access to that folder. Nothing was changed.`);
  }
  return new ApiError(503, 'config_not_writable', `The sidecar's user may not replace ${target} (permission denied), though it may write in its folder: the file is immutable (chattr +i; see lsattr) or, in a folder with the sticky bit, another user's. Nothing was changed.`);
}

const busy = (path: string) => new ApiError(409, 'config_busy', `${basename(path)} kept changing while it was being edited; try again.`);

/** How long an edit waits for a file a writer is rewriting in place to be whole again. */
const SETTLE_WAIT_MS = JUST_EMPTIED_MS + 1_000;

/**
 * The file as a whole, or null when it does not exist. A file caught mid-rewrite — truncated and not
 * written yet, or changing under every read — is waited for: edited as it stands, the file written
 * back would hold the edit alone, or half of the writer's text.
 */
async function settledRead(target: string, path: string, stillHolding: () => void): Promise<FileSnapshot | null> {
  const deadline = performance.now() + SETTLE_WAIT_MS;
  for (;;) {
    const snap = readAgentSnapshot(target, basename(path));
    if (!snap || isWhole(snap)) return snap;
    if (performance.now() > deadline) throw busy(path);
    stillHolding();
    await Bun.sleep(10);
  }
}
