/**
 * The skills index kept across restarts (docs/skills-config.md, "Saved index"): a cold scan reads and
 * parses every SKILL.md (~100 ms of CPU for 2,000 on two cores), so after each scan the records are
 * written to the data dir, a file per set of roots (saved-files.ts), and a new process's first scan takes them as the
 * records it already knows. That scan still walks every folder and stamps every SKILL.md (the same
 * path as an in-process rescan, scan.ts): the file only spares the reads and parses of files whose
 * stamp and place are unchanged. It is a cache: anything wrong with it means a full scan, never an error.
 *
 * Each record is saved as a positional array with its sort and search keys, so loading does not work them out
 * again (withKeys, scan.ts): with named fields and the keys folded at load, loading 2,000 records took ~20 ms
 * of a new process's first listing. The keys depend on foldKey and the runtime's Unicode tables, so the file
 * names both (`keys`); a file made with others is not used.
 *
 * Not saved: skill bodies, the walked folders (the walk lists them again, and it must anyway for the
 * warnings), `skills.disabled`, warnings; nor records read within RACY_MS of their file's last change
 * (a later edit in the same timestamp tick would keep the stamp, so they are read again).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../lib/log';
import { FOLD_KEY_VERSION } from '../../lib/text';
import { isNullableString, isString, isStrings } from './model';
import type { SkillRecord } from './scan';
import { INDEX_PREFIX, indexFileFor, readSmallFile, rootsHash, surplusIndexFiles } from './saved-files';
import { dropNow, dropOld, replaceFileSteps, sweepTemps, TooLargeError, type WriteStep } from './saved-write';
import { runSteps } from './pace';
import type { FileStamp } from './stamps';

export { MAX_INDEX_FILES, SKILLS_INDEX_FILE } from './saved-files';
/** Raise when a record's fields or their meaning change: a file of another version is not used. */
export const SAVED_FORMAT = 3;
/** ~500 bytes a skill: far above any real tree; a bigger file is neither read nor written. */
export const MAX_SAVED_BYTES = 64 * 1024 * 1024;
/** Scans within this time after one are saved once, with the newest records. */
const SAVE_DELAY_MS = 1000;

/**
 * What the saved keys were folded with: foldKey's version and the runtime's Unicode version (normalize and
 * toLowerCase follow its tables). A file whose `keys` differ would not match the keys a scan makes now.
 * Not foldKey run on a sample: the first normalize() of a process loads ICU data, ~4 ms, which an ASCII tree never needs.
 */
export const keysTag = (): string => `${FOLD_KEY_VERSION}/${process.versions.unicode ?? '?'}`;

/** A record as saved: every field but `racy`, in this order; `searchKeys` is `[name, description, ...tagKeys]`. */
type SavedRow = [
  id: string, name: string, description: string, category: string | null, tags: string[], version: string | null, author: string | null,
  platforms: string[], path: string, source: 'local' | 'external', error: 'parse_failed' | null, stamp: FileStamp,
  sortKey: string, nameKey: string, descriptionKey: string, tagKeys: string[], categoryKey: string | null,
];
const ROW_LENGTH = 17;

const isStamp = (v: unknown): v is FileStamp =>
  Array.isArray(v) && v.length === 4 && Number.isFinite(v[0]) && Number.isFinite(v[1]) && Number.isFinite(v[2]) && Number.isFinite(v[3]);

/** Each row checked by hand: as a zod object per record, 2,000 records took 50 ms of CPU in a new process. */
function isSavedRow(v: unknown): v is SavedRow {
  return Array.isArray(v) && v.length === ROW_LENGTH && isString(v[0]) && isString(v[1]) && isString(v[2]) && isNullableString(v[3]) &&
    isStrings(v[4]) && isNullableString(v[5]) && isNullableString(v[6]) && isStrings(v[7]) && isString(v[8]) &&
    (v[9] === 'local' || v[9] === 'external') && (v[10] === null || v[10] === 'parse_failed') && isStamp(v[11]) &&
    isString(v[12]) && isString(v[13]) && isString(v[14]) && isStrings(v[15]) && v[15].length === v[4].length && isNullableString(v[16]) &&
    (v[16] === null) === (v[3] === null);
}
interface SavedFile {
  version: typeof SAVED_FORMAT;
  keys: string;
  rootsKey: string;
  skills: SavedRow[];
}

/** By hand too: a zod object's first parse in a new process took ~1 ms. */
function isSavedFile(v: unknown): v is SavedFile {
  if (!v || typeof v !== 'object') return false;
  const f = v as Record<string, unknown>;
  return f.version === SAVED_FORMAT && isString(f.keys) && isString(f.rootsKey) && Array.isArray(f.skills) && f.skills.every(isSavedRow);
}

const toRow = (r: SkillRecord): SavedRow => [
  r.id, r.name, r.description, r.category, r.tags, r.version, r.author, r.platforms, r.path, r.source, r.error, r.stamp,
  r.sortKey, r.searchKeys[0] as string, r.searchKeys[1] as string, r.tagKeys, r.categoryKey,
];

const fromRow = (w: SavedRow): SkillRecord => ({
  id: w[0], name: w[1], description: w[2], category: w[3], tags: w[4], version: w[5], author: w[6], platforms: w[7], path: w[8],
  source: w[9], error: w[10], stamp: w[11], racy: false, sortKey: w[12], searchKeys: [w[13], w[14], ...w[15]], tagKeys: w[15], categoryKey: w[16],
});

/** A save under way: its roots, the steps writing it, and when it ends. */
interface Save {
  rootsKey: string;
  steps: Generator<WriteStep, void, void>;
  done: Promise<void>;
  finish: () => void;
}

export class SavedIndex {
  private pending: { rootsKey: string; skills: readonly SkillRecord[] } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The save being written, a slice per turn of the event loop (saved-write.ts); at most one at a time. */
  private current: Save | null = null;
  /** The data dir's owner stopped: nothing is written any more. */
  private closed = false;
  /** The roots whose own file holds their newest records, as last read or written by this process. */
  private onDisk: string | null = null;
  private saveFailed = false;
  private swept = false;
  /** Replaced files being unlinked off the event loop (saved-write.ts). */
  private readonly dropping = new Set<string>();

  constructor(
    /** The data dir's `skills-index.json`, which every set of roots shared until 2026-12-07; each set's own file is named beside it. */
    readonly legacy: string,
    private readonly log: Logger,
  ) {}

  /** The file the records of these roots are saved to (saved-files.ts). */
  pathFor(rootsKey: string): string {
    return indexFileFor(this.legacy, rootsKey);
  }

  /**
   * The saved records for these roots, by path; null (and one log line saying why, unless there is no
   * file) when there are none to use. With no file of their own yet, the legacy file's when it holds
   * these roots (its next save writes their own file and removes the legacy one).
   */
  load(rootsKey: string): Map<string, SkillRecord> | null {
    return runSteps(this.loadSteps(rootsKey));
  }

  /** `load` in steps, stopping after the read, the parse and the check: a paced scan (pace.ts) gives the event loop turns between them. */
  *loadSteps(rootsKey: string): Generator<void, Map<string, SkillRecord> | null> {
    const own = yield* this.readSteps(this.pathFor(rootsKey), rootsKey);
    if (own !== undefined) {
      if (own) this.onDisk = rootsKey;
      return own;
    }
    return (yield* this.readSteps(this.legacy, rootsKey)) ?? null;
  }

  /** The records `path` holds for these roots; null when it cannot be used (logged), undefined when there is no file. */
  private *readSteps(path: string, rootsKey: string): Generator<void, Map<string, SkillRecord> | null | undefined> {
    let text: string;
    try {
      text = readSmallFile(path, MAX_SAVED_BYTES);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      return this.ignored(path, code === 'EFBIG' ? 'larger than the limit' : `cannot be read (${code ?? 'error'})`);
    }
    yield;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.ignored(path, 'not whole JSON');
    }
    const version = json && typeof json === 'object' ? (json as { version?: unknown }).version : undefined;
    if (version !== SAVED_FORMAT) return this.ignored(path, `format version ${JSON.stringify(version) ?? 'missing'}, not ${SAVED_FORMAT}`);
    yield;
    if (!isSavedFile(json)) return this.ignored(path, 'not the expected shape');
    if (json.keys !== keysTag()) return this.ignored(path, 'search keys folded by another version');
    if (json.rootsKey !== rootsHash(rootsKey)) return this.ignored(path, 'made for other skill roots');
    yield;
    const records = new Map<string, SkillRecord>();
    for (const row of json.skills) records.set(row[8], fromRow(row));
    return records;
  }

  /** Whether the file on disk holds records for these roots (as far as this process knows), or will when the save under way ends. */
  holds(rootsKey: string): boolean {
    return !this.pending && (this.current ? this.current.rootsKey : this.onDisk) === rootsKey;
  }

  /** Saves these records soon, off the request path; a later call before then replaces them. */
  schedule(rootsKey: string, skills: readonly SkillRecord[]): void {
    if (this.closed) return;
    this.pending = { rootsKey, skills };
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start();
    }, SAVE_DELAY_MS);
    this.timer.unref?.();
  }

  /** Starts what is pending now, not on the timer; resolves when nothing is pending or being written (tests, benchmarks). */
  async save(): Promise<void> {
    for (;;) {
      this.clearTimer();
      this.start();
      const cur = this.current;
      if (!cur) return;
      await cur.done;
    }
  }

  /**
   * Writes the newest records now, synchronously, for a caller that cannot wait (a shutdown, tests).
   * A save under way with them is finished here; one overtaken by newer records is dropped (its temp
   * file removed) and the newer ones written instead, so the file never goes back to older records.
   * Holds the event loop for the whole save, as every save did before saved-write.ts.
   */
  flush(): void {
    this.clearTimer();
    const cur = this.current;
    this.current = null;
    if (cur && this.pending) cur.steps.return();
    else if (cur) while (!cur.steps.next().done);
    cur?.finish();
    const p = this.pending;
    this.pending = null;
    if (p) {
      const steps = this.saveSteps(p.rootsKey, p.skills);
      while (!steps.next().done);
    }
    // Not left for a thread to unlink later: when this returns, no file of this save is left but the index.
    dropNow(this.dropping);
  }

  /**
   * At shutdown: flushes (at most one whole save, ~0.3–0.7 s at 50,000 skills) and writes nothing after,
   * not even for a scan that ends later: by then the data dir may be removed or another process's.
   */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Starts writing what is pending, unless a save is under way: that one starts the next when it ends,
   * so two saves never interleave and the newest records are renamed into place last.
   */
  private start(): void {
    const p = this.pending;
    if (this.current || !p || this.closed) return;
    this.pending = null;
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    const save: Save = { rootsKey: p.rootsKey, steps: this.saveSteps(p.rootsKey, p.skills), done, finish };
    this.current = save;
    // Between two slices the event loop turns: timers, requests and streams run (setImmediate lets I/O in first).
    const step = () => {
      if (this.current !== save) return; // taken over by flush()
      const next = save.steps.next();
      if (next.done) {
        this.current = null;
        save.finish();
        if (!this.timer) this.start();
      } else if (next.value) void next.value.then(step);
      else setImmediate(step);
    };
    step();
  }

  /** The file's text, a part per record: the text JSON.stringify makes of the whole object, made a record at a time. */
  private *text(rootsKey: string, skills: readonly SkillRecord[]): Generator<string> {
    const head = JSON.stringify({ version: SAVED_FORMAT, keys: keysTag(), rootsKey: rootsHash(rootsKey), skills: [] });
    yield head.slice(0, -2);
    let first = true;
    for (const r of skills) {
      if (r.racy) continue;
      yield first ? JSON.stringify(toRow(r)) : `,${JSON.stringify(toRow(r))}`;
      first = false;
    }
    yield ']}';
  }

  /** One save (saved-write.ts); a failure is logged once per process, never thrown. */
  private *saveSteps(rootsKey: string, skills: readonly SkillRecord[]): Generator<WriteStep, void, void> {
    const path = this.pathFor(rootsKey);
    if (!this.swept) sweepTemps(dirname(path), INDEX_PREFIX);
    this.swept = true;
    let old: string | null;
    try {
      old = yield* replaceFileSteps(path, this.text(rootsKey, skills), MAX_SAVED_BYTES);
    } catch (err) {
      // The file may hold older records than the scan's: a later scan finding the tree unchanged must
      // save (holds), or once the disk has room again the file would stay behind until a SKILL.md changes.
      this.onDisk = null;
      return this.saveFailure(path, err instanceof TooLargeError ? err.message : ((err as NodeJS.ErrnoException).code ?? 'error'));
    }
    this.onDisk = rootsKey;
    // The legacy file is removed whoever's roots it held: read once at most, it would otherwise stay for good.
    const gone = [...(old ? [old] : []), ...surplusIndexFiles(path), ...(existsSync(this.legacy) ? [this.legacy] : [])];
    if (gone.length) yield Promise.all(gone.map((p) => dropOld(p, this.dropping))).then(() => {});
  }

  private ignored(path: string, reason: string): null {
    this.log.warn('skills: the saved index is not used; every SKILL.md is read', { file: path, reason });
    return null;
  }

  private saveFailure(path: string, reason: string): void {
    if (this.saveFailed) return;
    this.saveFailed = true;
    // Nothing is renamed over the file in place, so a restart still uses it: only what changed since is read.
    this.log.warn('skills: the index cannot be saved; a restart reads again only the SKILL.md files changed since the index in place was saved (every one if there is none)', { file: path, reason });
  }
}
