/**
 * The walk over the skill roots (SPEC §8).
 *
 * Layout: a directory holding a SKILL.md is a skill and a leaf — the walk never goes inside it, so
 * its support folders (`references/ templates/ scripts/ assets/ examples/`) and anything archived in
 * them are never taken for skills. Any other directory is walked (a category, or a plain folder),
 * skipping `.git .hub .archive node_modules` and the other tool folders Hermes skips, up to 8 levels.
 * A root that itself holds a SKILL.md is one skill and is still walked (one stray file must not hide
 * the tree), except for its support folders. Symlinks are followed only when their target is
 * inside one of the roots; a directory reached twice (overlapping roots, links) is listed once.
 *
 * What a scan records so the next request can tell whether it must run again is in stamps.ts.
 *
 * The walk never gives the event loop a turn unless paced (it only needs to know which folders hold a SKILL.md), but the files
 * are read by Bun's I/O threads while this thread parses the ones already read: on two cores a cold
 * listing of 2,000 skills took 64 ms (median) reading and parsing in turn, 59 ms this way (docs/skills-config.md).
 * Files read while the walk still runs wait for it: at most the tree's SKILL.md bytes (~5 MB for 2,000).
 * A paced scan (the warm-up after start-up, pace.ts) gives the event loop a turn between slices of the
 * walk and of the parses.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, sep } from 'node:path';
import { OPEN_NONBLOCKING } from '../../lib/files';
import { foldKey } from '../../lib/text';
import { brokenSkill, parseSkillBytes, type ParsedSkill } from './frontmatter';
import type { Pace } from './pace';
import { skillId, type SkillRoot } from './roots';
import { dirStamp, fileStamp, isRacy, namesOf, RACY_MS, stampMatches, statOrNone, UNREADABLE, type DirState, type FileStamp } from './stamps';

export interface SkillRecord {
  id: string;
  name: string;
  description: string;
  category: string | null;
  tags: string[];
  version: string | null;
  author: string | null;
  platforms: string[];
  /** The SKILL.md file, as reached from its root (not symlink-resolved). */
  path: string;
  source: 'local' | 'external';
  error: 'parse_failed' | null;
  /** inode/size/mtime/ctime of SKILL.md when it was read (fileStamp). */
  stamp: FileStamp;
  /**
   * Changed less than RACY_MS before the scan that read it: a later edit within the same timestamp tick
   * leaves the stamp as it is, so the record is never saved across a restart as clean (saved.ts).
   */
  racy: boolean;
  /** Lower-cased category, name and id: the listing order. */
  sortKey: string;
  /**
   * Name, description and each tag folded (foldKey: case, accents, NFC/NFD, full-width), for `search`; tags and
   * category likewise. Kept apart: joined into one text, a search spanning two fields (`docker\nbuild`) matched.
   */
  searchKeys: string[];
  tagKeys: string[];
  categoryKey: string | null;
}

export interface ScanResult {
  skills: SkillRecord[];
  dirs: Map<string, DirState>;
  /** Resolved paths of the roots that exist: every file read must be inside one. */
  rootReals: string[];
  warnings: string[];
  /** SKILL.md files read by this scan (the others' records were reused). */
  filesRead: number;
}

/** Tool and metadata folders that never hold skills (SPEC §8 plus the ones Hermes' own scanner skips). */
/** The folders a skill keeps its material in (SPEC §8): below a root that is a skill, not walked. */
const SUPPORT_FOLDERS = new Set(['references', 'templates', 'scripts', 'assets', 'examples']);
const EXCLUDED = new Set(['.git', '.github', '.hub', '.archive', '.venv', 'venv', 'node_modules', 'site-packages', '__pycache__', '.tox', '.nox', '.pytest_cache', '.mypy_cache', '.ruff_cache']);
const MAX_DEPTH = 8;
/**
 * Folders walked per scan (skill folders, which are never entered, do not count). A real tree has a
 * few dozen; an external_dirs entry such as `/` or a home directory would otherwise make every
 * listing walk the whole disk on the event loop, and every later request stat all of it.
 */
export const MAX_WALKED_DIRS = 4096;
const SKILL_FILE = 'SKILL.md';
/** Paths here are built from resolved roots and directory entry names, so plain concatenation is a join. */
const join = (dir: string, name: string) => (dir.endsWith(sep) ? dir + name : dir + sep + name);
const NO_FOLLOW = OPEN_NONBLOCKING | constants.O_NOFOLLOW;

export function isWithin(real: string, roots: readonly string[]): boolean {
  return roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep));
}

class Scanner {
  readonly skills: SkillRecord[] = [];
  readonly dirs = new Map<string, DirState>();
  readonly warnings: string[] = [];
  private readonly visited = new Set<string>();
  private walkedDirs = 0;
  filesRead = 0;
  /** Reads in flight; each adds its skill when it has been read and parsed. */
  readonly reads: Promise<void>[] = [];

  constructor(
    readonly rootReals: string[],
    private readonly previous: ReadonlyMap<string, SkillRecord>,
    private readonly now: number,
    private readonly pace?: Pace,
  ) {}

  async root(root: SkillRoot): Promise<void> {
    const st = statOrNone(root.path);
    if (!st?.isDirectory()) {
      // Watched so that creating it later is noticed.
      this.dirs.set(root.path, { stamp: dirStamp(st), names: '', changedMs: 0, racy: false });
      if (root.source === 'external') this.warnings.push(`skills.external_dirs entry ${root.label} is not a directory.`);
      return;
    }
    const real = realpathSync(root.path);
    if (this.visited.has(real)) return;
    this.visited.add(real);
    const folder = basename(root.path);
    const rootIsSkill = this.probe(root, root.path, [], folder);
    await this.walk(root, { dir: root.path, real, segments: [], folder }, 0, rootIsSkill);
  }

  /**
   * A directory that is not a skill (so far), or a root that is one (`rootIsSkill`, its SKILL.md
   * already probed): remember its stamp and names, then look at its children.
   */
  private async walk(root: SkillRoot, at: { dir: string; real: string; segments: string[]; folder: string }, depth: number, rootIsSkill = false): Promise<void> {
    const { dir, real, segments, folder } = at;
    if (++this.walkedDirs > MAX_WALKED_DIRS) {
      if (this.walkedDirs === MAX_WALKED_DIRS + 1) {
        this.warnings.push(`The skills walk stopped after ${MAX_WALKED_DIRS} folders (in ${root.label}); skills below the rest are not listed. Point skills.external_dirs at the folders that hold skills.`);
      }
      return;
    }
    // Stat before reading: a change after the stat either shows in the listing or moves the mtime.
    const st = statOrNone(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      this.warnings.push(`${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
      this.dirs.set(dir, { stamp: dirStamp(st), names: '', changedMs: st?.ctimeMs ?? 0, racy: false });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.dirs.set(dir, { stamp: dirStamp(st), names: namesOf(entries.map((e) => e.name)), changedMs: st?.ctimeMs ?? 0, racy: !st || isRacy(st.ctimeMs, this.now) });
    // SKILL.md appeared between the probe and the listing: this is a skill after all.
    if (!rootIsSkill && entries.some((e) => e.name === SKILL_FILE) && this.probe(root, dir, segments, folder)) {
      if (segments.length === 0) rootIsSkill = true;
      else {
        this.dirs.delete(dir);
        return;
      }
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of entries) {
      if (this.walkedDirs > MAX_WALKED_DIRS) return;
      if (this.pace?.due()) await this.pace.next();
      if (EXCLUDED.has(e.name) || (rootIsSkill && SUPPORT_FOLDERS.has(e.name))) continue;
      const child = join(dir, e.name);
      let childReal: string;
      if (e.isDirectory()) childReal = join(real, e.name);
      else if (e.isFile()) continue;
      else {
        // A symlink (or an entry of unknown type): followed only to a directory inside the roots.
        try {
          childReal = realpathSync(child);
        } catch {
          continue;
        }
        if (!isWithin(childReal, this.rootReals) || !statOrNone(childReal)?.isDirectory()) continue;
      }
      if (this.visited.has(childReal)) continue;
      this.visited.add(childReal);
      const childSegments = [...segments, e.name];
      if (!this.probe(root, child, childSegments, e.name)) await this.walk(root, { dir: child, real: childReal, segments: childSegments, folder: e.name }, depth + 1);
    }
  }

  /**
   * Whether `dir` holds a SKILL.md, from one lstat; true when `dir` is a skill (listed, possibly as
   * broken). An unchanged file keeps its record; a new or changed one is read in the background.
   */
  private probe(root: SkillRoot, dir: string, segments: string[], folder: string): boolean {
    const file = join(dir, SKILL_FILE);
    let st: Stats | undefined;
    try {
      st = lstatSync(file, { throwIfNoEntry: false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') return false;
      this.add(root, file, segments, UNREADABLE, brokenSkill(folder));
      return true;
    }
    if (!st) return false;
    if (st.isSymbolicLink()) return this.probeLink(root, file, segments, folder);
    if (!st.isFile()) return false;
    // Stamped before the read: a change after this stat shows as a new stamp on the next check.
    if (this.reuse(root, file, segments, st)) return true;
    const stamp = fileStamp(st);
    this.filesRead++;
    const changedMs = st.ctimeMs;
    const read = readFile(file, { flag: NO_FOLLOW }).then(
      (bytes) => {
        const parse = () => this.add(root, file, segments, stamp, parseSkillBytes(bytes, folder), changedMs);
        return this.pace ? this.pace.run(parse) : parse();
      },
      (err: NodeJS.ErrnoException) => {
        // Replaced by a symlink since the lstat: judged as one. Removed: not a skill any more, and
        // its folder's new stamp makes the next request scan again.
        if (err.code === 'ELOOP') this.probeLink(root, file, segments, folder);
        else if (err.code !== 'ENOENT') this.add(root, file, segments, stamp, brokenSkill(folder));
      },
    );
    // A paced walk stopped (ScanStopped) never awaits its reads, whose parses are then refused their turn: unhandled,
    // a stack trace on stderr each. Marked handled at once (added when the walk throws, too late); scanRoots still sees them.
    read.catch(() => {});
    this.reads.push(read);
    return true;
  }

  /** SKILL.md is a symlink: it counts only when its target is a file inside the roots (read at once, rare). */
  private probeLink(root: SkillRoot, file: string, segments: string[], folder: string): boolean {
    let fd: number;
    try {
      const real = realpathSync(file);
      if (!isWithin(real, this.rootReals)) return false;
      fd = openSync(real, OPEN_NONBLOCKING);
    } catch {
      return false;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return false;
      if (this.reuse(root, file, segments, st)) return true;
      this.filesRead++;
      this.add(root, file, segments, fileStamp(st), parseSkillBytes(readFileSync(fd), folder), st.ctimeMs);
      return true;
    } catch {
      this.add(root, file, segments, UNREADABLE, brokenSkill(folder));
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Lists the record of an unchanged file again, if it was made for the same place: after a change of
   * skills.external_dirs the same file can sit under another root or deeper, with another id and category.
   */
  private reuse(root: SkillRoot, file: string, segments: string[], st: Stats): boolean {
    const known = this.previous.get(file);
    if (!known || !stampMatches(known.stamp, st) || known.id !== skillId(root, segments)) return false;
    this.skills.push(known);
    return true;
  }

  /** `changedMs`: the file's ctime when stamped; unknown (a file that could not be read) counts as racy. */
  private add(root: SkillRoot, file: string, segments: string[], stamp: FileStamp, parsed: ParsedSkill, changedMs = this.now): void {
    // One-sided: a ctime after the scan began (or ahead of a clock set back) is racy too.
    const racy = this.now - changedMs < RACY_MS;
    const category = segments.length >= 2 ? (segments[0] as string) : null;
    this.skills.push(withKeys({ id: skillId(root, segments), ...parsed.meta, category, path: file, source: root.source, error: parsed.error, stamp, racy }));
  }
}

/**
 * A record with its sort and search keys, worked out from its other fields. A saved index keeps them
 * (saved.ts): a change to how they are made here must raise SAVED_FORMAT (saved-format.ts), or files saved by the
 * older code would be listed in the old order and matched with the old keys.
 */
export function withKeys(r: Omit<SkillRecord, 'sortKey' | 'searchKeys' | 'tagKeys' | 'categoryKey'>): SkillRecord {
  const tagKeys = r.tags.map(foldKey);
  return {
    ...r,
    sortKey: `${(r.category ?? '').toLowerCase()}\0${r.name.toLowerCase()}\0${r.id}`,
    searchKeys: [foldKey(r.name), foldKey(r.description), ...tagKeys],
    tagKeys,
    categoryKey: r.category === null ? null : foldKey(r.category),
  };
}

/** Walks every root; records of unchanged SKILL.md files are taken from `previous` (keyed by path). */
export async function scanRoots(roots: readonly SkillRoot[], previous: ReadonlyMap<string, SkillRecord>, now: number, pace?: Pace): Promise<ScanResult> {
  const rootReals: string[] = [];
  for (const r of roots) {
    try {
      rootReals.push(realpathSync(r.path));
    } catch {
      // a root that does not exist yet has nothing to contain
    }
  }
  const scanner = new Scanner(rootReals, previous, now, pace);
  for (const r of roots) await scanner.root(r);
  await Promise.all(scanner.reads);
  scanner.skills.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  return { skills: scanner.skills, dirs: scanner.dirs, rootReals, warnings: scanner.warnings, filesRead: scanner.filesRead };
}
