/**
 * How the saved skills index (saved.ts) reaches the disk without holding the event loop: written at
 * once, 50,000 skills (25 MB) held it 0.3–0.7 s, and every request and SSE stream of the server waited
 * (docs/skills-config.md, "Kept across restarts"). What took the time, and what is done instead:
 * - making and writing the JSON: done a slice per step (SLICE_BYTES, at most about SLICE_MS), the caller
 *   yielding to the event loop between steps;
 * - the rename: ext4 frees the replaced file's blocks inside it (with `discard`, 15–30 ms for 25 MB) and
 *   starts writing the new file's dirty pages (auto_da_alloc, 2–18 ms). So the new file is fdatasync'ed
 *   first, off the event loop, and the old one keeps a second name until the rename is done, then is
 *   unlinked off the event loop. A rename with both done took 0.03 ms.
 * The temp file is renamed into place whole, so a reader, or a process killed at any point, sees the old
 * file or the new one, never a torn one.
 */
import { closeSync, fdatasync, linkSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A step makes and writes this much text (~0.1 ms when warm), or less when it has taken SLICE_MS: in a new
 * process, before the JIT has compiled the row code, 64 KB took 1–2 ms.
 */
const SLICE_BYTES = 64 * 1024;
const SLICE_MS = 1;
/** A temp file this old was left by a process killed while saving (a save takes well under a minute). */
const STALE_TEMP_MS = 60_000;

/**
 * A step's outcome: nothing (the caller yields to the event loop, then takes the next step), or a
 * promise to wait for before the next step (an fdatasync or the old file's unlink, running off the event
 * loop). A caller that cannot wait (a shutdown) may take the next step at once.
 */
export type WriteStep = Promise<void> | undefined;

export class TooLargeError extends Error {
  readonly code = 'EFBIG';
}

/**
 * Replaces `path` with the concatenation of `parts`, a step at a time (see WriteStep). Ended early
 * (the generator's `return()`), the temp file is removed; any error is thrown from a step, with nothing
 * replaced and the temp file removed. Returns the old file's second name, for dropOld (see keepOld).
 */
export function* replaceFileSteps(path: string, parts: Iterable<string>, maxBytes: number): Generator<WriteStep, string | null, void> {
  // Not the pid alone: sidecars in two containers on one data dir are both PID 1.
  const temp = `${path}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  let fd: number | null = null;
  let syncing: Promise<void> | null = null;
  let renamed = false;
  let old: string | null = null;
  try {
    fd = openSync(temp, 'wx', 0o600);
    let bytes = 0;
    let chunk = '';
    const write = (text: string) => {
      const buf = Buffer.from(text);
      bytes += buf.length;
      if (bytes > maxBytes) throw new TooLargeError(`it would be larger than ${maxBytes} bytes`);
      for (let off = 0; off < buf.length; ) off += writeSync(fd as number, buf, off);
    };
    let began = performance.now();
    for (const part of parts) {
      chunk += part;
      if (chunk.length < SLICE_BYTES && performance.now() - began < SLICE_MS) continue;
      write(chunk);
      chunk = '';
      yield;
      began = performance.now();
    }
    write(chunk);
    let synced: NodeJS.ErrnoException | null | undefined;
    const file = fd;
    syncing = new Promise<void>((resolve) =>
      fdatasync(file, (err) => {
        synced = err;
        resolve();
      }),
    );
    yield syncing;
    // Unknown (undefined) when a shutdown took the next step without waiting: renamed all the same.
    if (synced) throw synced;
    old = keepOld(path, temp);
    renameSync(temp, path);
    renamed = true;
    return old;
  } finally {
    if (fd !== null) {
      const file = fd;
      // Not while an fdatasync may still be using it: the number could be reused meanwhile.
      if (syncing) void syncing.then(() => quietly(() => closeSync(file)));
      else quietly(() => closeSync(file));
    }
    // Best effort: a leftover temp file is removed by a later process's sweep. The old file's second name
    // goes too when the rename failed (the temp file swept by another sidecar): the old file is still in
    // place, and the link would keep its blocks after the next save replaced it.
    if (!renamed) {
      quietly(() => rmSync(temp, { force: true }));
      const second = old;
      if (second) quietly(() => rmSync(second, { force: true }));
    }
  }
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // see the callers
  }
}

/** The old file under a second name (a temp file's, so a sweep removes it if the process dies first); null when there is none or it cannot be linked. */
function keepOld(path: string, temp: string): string | null {
  const old = temp.replace(/\.tmp$/, '.old.tmp');
  try {
    linkSync(path, old);
    return old;
  } catch {
    // no file yet, or a filesystem without hard links: the rename frees it, on the event loop
    return null;
  }
}

/** Unlinks the old file's second name off the event loop; `dropping` holds those not unlinked yet, for dropNow. */
export function dropOld(old: string, dropping: Set<string>): Promise<void> {
  dropping.add(old);
  return unlink(old)
    .catch(() => {})
    .finally(() => dropping.delete(old));
}

/** Removes the old files still waiting for their unlink, now (for a caller that cannot wait for them). */
export function dropNow(dropping: Set<string>): void {
  for (const old of dropping) quietly(() => rmSync(old, { force: true }));
  dropping.clear();
}

/** Removes the temp files (names starting with `prefix`) of processes killed while saving into `dir`, once they are a minute old. */
export function sweepTemps(dir: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // best effort: a leftover costs only its disk space
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const temp = join(dir, name);
    // Each on its own: another sidecar's temp file renamed into place since the listing is ENOENT here,
    // and it ended the sweep, leaving the stale files listed after it.
    quietly(() => {
      if (Date.now() - statSync(temp).mtimeMs > STALE_TEMP_MS) rmSync(temp, { force: true });
    });
  }
}
