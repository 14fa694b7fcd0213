/**
 * The skills index kept across restarts (docs/skills-config.md, "Saved index"): a cold scan reads and
 * parses every SKILL.md (~100 ms of CPU for 2,000 on two cores), so after each scan the records are
 * written to the data dir, a file per set of roots (saved-files.ts), and a new process's first scan takes them as the
 * records it already knows. That scan still walks every folder and stamps every SKILL.md (the same
 * path as an in-process rescan, scan.ts): the file only spares the reads and parses of files whose
 * stamp and place are unchanged. It is a cache: anything wrong with it means a full scan, never an error.
 * The file's format, and how it is read in pieces: saved-format.ts.
 *
 * Not saved: skill bodies, the walked folders (the walk lists them again, and it must anyway for the
 * warnings), `skills.disabled`, warnings; nor records read within RACY_MS of their file's last change
 * (a later edit in the same timestamp tick would keep the stamp, so they are read again).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../lib/log';
import type { SkillRecord } from './scan';
import { INDEX_PREFIX, indexFileFor, readFileSteps, surplusIndexFiles } from './saved-files';
import { type Loaded, parseSteps, savedText } from './saved-format';
import { dropNow, dropOld, replaceFileSteps, sweepTemps, TooLargeError, type WriteStep } from './saved-write';
import { runSteps } from './pace';

export { MAX_INDEX_FILES, SKILLS_INDEX_FILE } from './saved-files';
export { keysTag, SAVED_FORMAT } from './saved-format';
/** ~500 bytes a skill: far above any real tree; a bigger file is neither read nor written. */
export const MAX_SAVED_BYTES = 64 * 1024 * 1024;
/** Scans within this time after one are saved once, with the newest records. */
const SAVE_DELAY_MS = 1000;
/** Paced, a step reads this much of the file (the load's steps took ~0.6 ms, median, in a new process at 20,000 records). */
const READ_BYTES = 256 * 1024;

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
    return runSteps(this.loadSteps(rootsKey, false));
  }

  /**
   * `load` in steps: the file read a part at a time, then parsed and checked a chunk of records at a time
   * (saved-format.ts), so a paced scan (pace.ts) gives the event loop turns between them. `inSteps` false:
   * read whole as text and parsed in one JSON.parse, which a listing waiting for it costs least (read as
   * bytes and decoded a chunk at a time, `load` of 2,000 records took ~11 ms more in a new process).
   */
  *loadSteps(rootsKey: string, inSteps = true): Generator<void, Map<string, SkillRecord> | null> {
    const own = yield* this.readSteps(this.pathFor(rootsKey), rootsKey, inSteps);
    if (own !== undefined) {
      // A file of an older format is not what this process's save would write: the next scan saves it again (holds).
      if (own?.current) this.onDisk = rootsKey;
      return own?.records ?? null;
    }
    return (yield* this.readSteps(this.legacy, rootsKey, inSteps))?.records ?? null;
  }

  /** The records `path` holds for these roots; null when it cannot be used (logged), undefined when there is no file. */
  private *readSteps(path: string, rootsKey: string, inSteps: boolean): Generator<void, Loaded | null | undefined> {
    let file: string | Buffer;
    try {
      file = yield* readFileSteps(path, MAX_SAVED_BYTES, inSteps ? READ_BYTES : undefined);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      return this.ignored(path, code === 'EFBIG' ? 'larger than the limit' : `cannot be read (${code ?? 'error'})`);
    }
    const loaded = yield* parseSteps(file, rootsKey);
    return typeof loaded === 'string' ? this.ignored(path, loaded) : loaded;
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

  /** One save (saved-write.ts); a failure is logged once per process, never thrown. */
  private *saveSteps(rootsKey: string, skills: readonly SkillRecord[]): Generator<WriteStep, void, void> {
    const path = this.pathFor(rootsKey);
    if (!this.swept) sweepTemps(dirname(path), INDEX_PREFIX);
    this.swept = true;
    let old: string | null;
    try {
      old = yield* replaceFileSteps(path, savedText(rootsKey, skills), MAX_SAVED_BYTES);
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
