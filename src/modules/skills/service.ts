/**
 * The skills index (SPEC §8): one scan of the roots kept in memory and refreshed only when something
 * changed, so a listing of thousands of skills costs a few stats instead of thousands of file reads.
 *
 * Before each answer:
 * 1. config.yaml is re-read if it changed (one stat): new external_dirs mean a new scan; a new
 *    `skills.disabled` only changes the `enabled` flags.
 * 2. every walked directory is stat'ed (a few dozen for a tree of categories): a new, removed or
 *    renamed skill, or a SKILL.md created in a folder, is seen by the very next request.
 * 3. every SKILL.md is stat'ed, to see edits made in place — on every request while the tree has at
 *    most EAGER_LIMIT skills, and for bigger trees at most once per RECHECK_MS (one stat per skill
 *    would otherwise dominate the request). So an in-place edit of an existing SKILL.md in a large
 *    tree shows in the listing within a second; `GET /api/skills/{id}` always reads the file itself.
 * A rescan re-reads only the files whose stamp changed. No file watcher is needed (none is used: a
 * watcher can miss events on network filesystems and costs one inotify watch per directory).
 * After a scan the records are saved in the data dir, and a new process's first scan starts from them
 * (saved.ts): only on the first skills request, so start-up and idle memory are not touched.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { HermesHome } from '../../hermes/home';
import { notFound } from '../../lib/errors';
import { hasEntries, readRegularFileSync } from '../../lib/files';
import { silentLogger, type Logger } from '../../lib/log';
import { parseSkillBytes } from './frontmatter';
import { page, summary } from './listing';
import { type SkillsList, type SkillDetail, type SkillsQuery, type SkillSummary } from './model';
import { readSkillsSettings, type SettingsRead, type SkillsSettings } from './roots';
import { listingJsonSteps } from './listing-json';
import { Pace, pacedSteps, runSteps, ScanStopped } from './pace';
import { SavedIndex } from './saved';
import { isWithin, scanRoots, type ScanResult, type SkillRecord } from './scan';
import { contentChanged, structureChanged } from './stamps';

const EAGER_LIMIT = 256;
const RECHECK_MS = 1000;

interface Snapshot extends ScanResult {
  rootsKey: string;
  byId: Map<string, SkillRecord>;
  categories: string[];
  contentCheckedAt: number;
  /** Summaries for one `skills.disabled` set, built once per snapshot. */
  view: View | null;
}

interface View {
  disabledKey: string;
  summaries: SkillSummary[];
  /** The last listing served from this view, checked and serialised (`listJson`). */
  json?: { key: string; text: string };
}

export interface SkillsIndexOptions {
  now?: () => number;
  eagerLimit?: number;
  recheckMs?: number;
  /** The data dir's `skills-index.json`: the index is kept across restarts beside it, a file per set of roots (saved-files.ts); none: not kept. */
  savePath?: string;
  log?: Logger;
}

export class SkillsIndex {
  private snap: Snapshot | null = null;
  private scanning: { rootsKey: string; scan: Promise<Snapshot>; pace?: Pace } | null = null;
  private settingsMemo: SettingsRead | null = null;
  private readonly now: () => number;
  private readonly eagerLimit: number;
  private readonly recheckMs: number;
  private readonly saved: SavedIndex | null;
  private readonly log: Logger;
  /** Set by closeSave: the warm-up does not start any more. */
  private closed = false;
  /** The saved index is looked at by the first scan only. */
  private savedTried = false;
  private readCount = 0;

  constructor(
    private readonly home: HermesHome,
    opts: SkillsIndexOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.eagerLimit = opts.eagerLimit ?? EAGER_LIMIT;
    this.recheckMs = opts.recheckMs ?? RECHECK_MS;
    this.log = opts.log ?? silentLogger;
    this.saved = opts.savePath ? new SavedIndex(opts.savePath, this.log) : null;
  }

  /** SKILL.md files read by this index's scans so far (not by `get`). */
  get filesRead(): number {
    return this.readCount;
  }

  /** Writes a pending save of the index now, synchronously (tests). */
  flushSave(): void {
    this.saved?.flush();
  }

  /** Starts a pending save of the index now, a slice per turn of the event loop; resolves when it is written (tests, benchmarks). */
  save(): Promise<void> {
    return this.saved?.save() ?? Promise.resolve();
  }

  /** At shutdown: writes a pending save now, and none after (a scan ending later saves nothing). */
  closeSave(): void {
    this.closed = true;
    this.scanning?.pace?.stop();
    this.saved?.close();
  }

  /**
   * The listing a bare GET /api/skills sends, made once in the background after start-up (main.ts), so
   * the first real one finds the index and its JSON text ready; a listing that comes meanwhile waits
   * for this scan rather than starting another (`current`). Never throws: a failure is logged and the
   * next listing scans as if there had been no warm-up. Nothing once the index is closed.
   */
  async warm(): Promise<void> {
    if (this.closed) return;
    try {
      // Nothing to warm when $HERMES_HOME/skills is missing or empty (external_dirs are not looked at:
      // reading the settings alone added ~0.4 MB of idle RSS, the whole warm-up of an empty tree 1–3 MB).
      if (!hasEntries(this.home.paths.skills)) return;
      const settings = this.settings();
      // Paced (pace.ts): it must not hold the event loop for the tens of ms an unpaced scan does.
      if (!this.snap && !this.scanning) await this.startScan(settings, this.now(), new Pace()).scan;
      // The summaries (~10 ms in a new process at 2,000 skills) in a turn of their own, the JSON text paced.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.closed) await this.listJson({ offset: 0 }, new Pace());
    } catch (err) {
      if (err instanceof ScanStopped) return;
      this.log.warn('skills warm-up failed; the first listing scans instead', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private settings(): SkillsSettings {
    this.settingsMemo = readSkillsSettings(this.home, this.settingsMemo);
    return this.settingsMemo.settings;
  }

  /**
   * The snapshot, brought up to date with the disk (see the header for what is checked when).
   * `recheck`: a scan already running when this request came walked the tree (or, paced, part of it)
   * before it, so it may not hold the change this request saw — a skill its client wrote just before
   * asking. Its result is checked once more.
   */
  private async current(settings: SkillsSettings, recheck = true): Promise<Snapshot> {
    const now = this.now();
    const snap = this.snap;
    if (snap && snap.rootsKey === settings.rootsKey && !structureChanged(snap.dirs, now)) {
      // By distance: after the wall clock is set back (NTP), `now` stays below the last check for as long as it was moved.
      const due = snap.skills.length <= this.eagerLimit || Math.abs(now - snap.contentCheckedAt) >= this.recheckMs;
      if (!due) return snap;
      snap.contentCheckedAt = now;
      if (!contentChanged(snap.skills)) return snap;
    }
    // One scan at a time: requests that find the index stale meanwhile wait for the same scan.
    let running = this.scanning;
    if (recheck && running?.rootsKey === settings.rootsKey) {
      // A paced warm-up has someone waiting for it now.
      if (running.pace) running.pace.urgent = true;
      await running.scan;
      // Ended: free the slot now, not after the handler below, so the check can start a new scan.
      if (this.scanning === running) this.scanning = null;
      return this.current(settings, false);
    }
    if (running?.rootsKey !== settings.rootsKey) {
      // A warm-up for roots that are no longer the configured ones: ended, or finishing later it would
      // replace this scan's index and the next listing would read the new roots' files again.
      running?.pace?.stop();
      running = this.startScan(settings, now);
    }
    return running.scan;
  }

  private startScan(settings: SkillsSettings, now: number, pace?: Pace): NonNullable<SkillsIndex['scanning']> {
    const started = { rootsKey: settings.rootsKey, scan: this.rescan(settings, now, pace), pace };
    this.scanning = started;
    // Frees the slot when the scan ends either way; callers see a failure through `scan` itself.
    started.scan.catch(() => {}).finally(() => {
      if (this.scanning === started) this.scanning = null;
    });
    return started;
  }

  private async rescan(settings: SkillsSettings, now: number, pace?: Pace): Promise<Snapshot> {
    const previous = this.snap ? new Map(this.snap.skills.map((s) => [s.path, s] as const)) : await this.savedRecords(settings.rootsKey, pace);
    if (pace?.due()) await pace.next();
    const scan = await scanRoots(settings.roots, previous, now, pace);
    this.readCount += scan.filesRead;
    const snap: Snapshot = {
      ...scan,
      rootsKey: settings.rootsKey,
      byId: new Map(scan.skills.map((s) => [s.id, s] as const)),
      categories: [...new Set(scan.skills.map((s) => s.category).filter((c): c is string => c !== null))].sort(),
      contentCheckedAt: now,
      view: null,
    };
    this.snap = snap;
    // Reused records are the same objects: nothing read, none gone and the same roots leave the file as it is.
    const same = scan.filesRead === 0 && scan.skills.length === previous.size && scan.skills.every((s) => previous.get(s.path) === s);
    if (this.saved && !(same && this.saved.holds(settings.rootsKey))) this.saved.schedule(settings.rootsKey, scan.skills);
    return snap;
  }

  /** Paced, the saved index is loaded in steps (read 256 KB, then parsed ~32 KB of lines, a step: saved-format.ts); a listing, in one piece. */
  private async savedRecords(rootsKey: string, pace?: Pace): Promise<Map<string, SkillRecord>> {
    if (this.savedTried || !this.saved) return new Map();
    this.savedTried = true;
    return (pace ? await pacedSteps(this.saved.loadSteps(rootsKey), pace) : this.saved.load(rootsKey)) ?? new Map();
  }

  async list(q: SkillsQuery): Promise<SkillsList> {
    return (await this.listing(q)).body;
  }

  /**
   * The listing as the route sends it. Checking a big answer against its schema and serialising it
   * cost ~4.5 ms for 2,000 skills, fifty times the listing itself, so the text is kept with the view
   * and sent again while the tree, the settings, the warnings and the query stay the same. The check is
   * by hand (isSkillsList); a listing it refuses goes through zod, whose error says what is wrong.
   * `pace`: the warm-up's, which makes the text in paced steps from the index as its scan left it.
   */
  async listJson(q: SkillsQuery, pace?: Pace): Promise<string> {
    const { body, view } = await this.listing(q, pace !== undefined);
    const key = JSON.stringify([q.category, q.search, q.tag, q.limit, q.offset, body.warnings]);
    if (view.json?.key !== key) {
      const steps = listingJsonSteps(body);
      view.json = { key, text: pace ? await pacedSteps(steps, pace) : runSteps(steps) };
    }
    return view.json.text;
  }

  /**
   * `warming`: the warm-up's own listing takes the index its scan just made. A scan of 20,000 skills
   * takes over RECHECK_MS, so checking it first stat'ed every SKILL.md that scan had just read, 0.15 s in
   * one piece; a request's listing checks it as usual.
   */
  private async listing(q: SkillsQuery, warming = false): Promise<{ body: SkillsList; view: View }> {
    const settings = this.settings();
    const made = this.snap;
    const snap = warming && made?.rootsKey === settings.rootsKey ? made : await this.current(settings);
    if (snap.view?.disabledKey !== settings.disabledKey) {
      snap.view = { disabledKey: settings.disabledKey, summaries: snap.skills.map((r) => summary(r, settings.disabled)) };
    }
    const view = snap.view;
    const { skills, total } = page(snap.skills, view.summaries, q);
    const warnings = [...settings.warnings, ...snap.warnings];
    return { body: { skills, total, categories: snap.categories, ...(warnings.length ? { warnings } : {}) }, view };
  }

  /** One skill with its frontmatter and whole file, read now; 404 for any id not in the index. */
  async get(id: string): Promise<SkillDetail> {
    const settings = this.settings();
    const snap = await this.current(settings);
    const record = snap.byId.get(id);
    // The file may have been replaced by a symlink since the scan: resolve it and check again.
    const real = record ? resolvedInside(record.path, snap.rootReals) : null;
    if (!record || !real) throw notFound('skill_not_found', 'No skill has this id.');
    let bytes: Uint8Array;
    try {
      bytes = readRegularFileSync(real);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('skill_not_found', 'No skill has this id.');
      // Listed as broken; there is nothing more to show.
      return { ...summary(record, settings.disabled), error: 'parse_failed', frontmatter: null, content: '' };
    }
    // Judged as the listing judges it; the text is still shown, with U+FFFD for bytes that are not UTF-8.
    const parsed = parseSkillBytes(bytes, basename(dirname(record.path)));
    const content = new TextDecoder('utf-8').decode(bytes);
    const fresh: SkillRecord = { ...record, ...parsed.meta, error: parsed.error };
    return { ...summary(fresh, settings.disabled), frontmatter: parsed.frontmatter, content };
  }
}

function resolvedInside(path: string, roots: readonly string[]): string | null {
  try {
    const real = realpathSync(path);
    return isWithin(real, roots) ? real : null;
  } catch {
    return null;
  }
}
