/**
 * Which files of the data dir are saved skills indexes (saved.ts). Each set of skill roots has its own
 * file, named by a hash of the roots: sidecars of two Hermes homes on one data dir (`OPTX_DATA_DIR`)
 * would otherwise replace each other's file at every save, and each restart read every SKILL.md again.
 * Roots that change (an `external_dirs` edit, a home moved) leave their file behind, so a save keeps at
 * most MAX_INDEX_FILES of them, the newest.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OPEN_NONBLOCKING } from '../../lib/files';

/** The name of the one file every set of roots shared until 2026-12-07: read once if it is this roots', then removed. */
export const SKILLS_INDEX_FILE = 'skills-index.json';
/** The files of the saved indexes and their temp files all start with this. */
export const INDEX_PREFIX = 'skills-index.';
/** One per set of roots in use, with room for a few sidecars sharing the data dir; the oldest beyond are removed. */
export const MAX_INDEX_FILES = 4;

// Not the legacy file: it goes at every save anyway (saved.ts), and ranked among the newest it pushed out a live index.
const INDEX_NAME = /^skills-index\.[0-9a-f]{16}\.json$/;

/**
 * The roots as a file names them: hashed, since an external_dirs entry can be a credential taken for a
 * folder (a git URL with a token, a `$VAR` holding a key), and a root that does not exist adds no record.
 */
export const rootsHash = (rootsKey: string) => new Bun.CryptoHasher('sha256').update(rootsKey).digest('hex');

/** The saved index of these roots, beside `legacy` (the data dir's `skills-index.json`). */
export const indexFileFor = (legacy: string, rootsKey: string) => join(dirname(legacy), `${INDEX_PREFIX}${rootsHash(rootsKey).slice(0, 16)}.json`);

/**
 * The saved indexes to remove now that `kept` was written: all but the MAX_INDEX_FILES - 1 newest others
 * (by mtime: another sidecar's file is rewritten whenever its tree changes).
 */
export function surplusIndexFiles(kept: string): string[] {
  const dir = dirname(kept);
  const others: { path: string; mtime: number }[] = [];
  try {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === kept || !INDEX_NAME.test(name)) continue;
      try {
        others.push({ path, mtime: statSync(path).mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return []; // best effort: a file left costs only its disk space
  }
  others.sort((x, y) => y.mtime - x.mtime);
  return others.slice(MAX_INDEX_FILES - 1).map((o) => o.path);
}

/**
 * A regular file of at most `maxBytes`; EFBIG when larger. Read whole and decoded (`stepBytes` not given),
 * or `stepBytes` at a time with a step between two reads and not decoded, for a paced load (reading 7.8 MB
 * and decoding it took 20–45 ms in a new process): the saved index decodes it a chunk of lines at a time
 * (saved-format.ts). The fd is closed however the steps end.
 */
export function* readFileSteps(path: string, maxBytes: number, stepBytes?: number): Generator<void, string | Buffer> {
  const fd = openSync(path, OPEN_NONBLOCKING);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    if (st.size > maxBytes) throw Object.assign(new Error('too large'), { code: 'EFBIG' });
    if (stepBytes === undefined) return readFileSync(fd, 'utf8');
    const bytes = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, bytes, got, Math.min(stepBytes, st.size - got), got);
      if (n === 0) break; // shortened meanwhile: what is left is parsed, and found torn
      got += n;
      if (got < st.size) yield;
    }
    return bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
