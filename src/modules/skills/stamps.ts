/**
 * What a skills scan records so that the next request can tell, cheaply, whether it must run again,
 * without re-reading everything:
 * - every walked (non-skill) directory keeps its mtime+ctime+inode; adding, removing or renaming a
 *   skill folder, or creating SKILL.md in a folder, changes one of them. The ctime is needed: `rsync -a`,
 *   `tar x` and `unzip` set a folder's mtime back to the source's after adding to it, and a skill
 *   deployed that way was not listed until a restart. A directory changed (ctime: the mtime may be
 *   years old or in the future) within the last RACY_MS may change again within the same timestamp
 *   tick, so until it is older its names are compared too (the "racy git" problem; file timestamps on
 *   Linux move in jiffies, FAT in 2 s).
 * - every SKILL.md keeps mtime+ctime+size+inode; an edit in place changes it. Checking those is one
 *   stat per skill, so the index decides how often (see service.ts).
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import type { SkillRecord } from './scan';

export interface DirState {
  stamp: string;
  names: string;
  /** ctime when listed. */
  changedMs: number;
  racy: boolean;
}

export const RACY_MS = 2000;

/**
 * A SKILL.md's inode, size, mtime and ctime, kept as numbers: a restart's first listing stamps every file, and
 * turning 2,000 stamps (fractional times) into text cost ~2 ms of it. Saved with the index (saved.ts).
 */
export type FileStamp = readonly [ino: number, size: number, mtimeMs: number, ctimeMs: number];
/** The stamp of a file that cannot be stat'ed (an unsearchable directory): no file has a negative size. */
export const UNREADABLE: FileStamp = [-1, -1, -1, -1];

export const dirStamp = (st: Stats | undefined) => (st ? `${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.isDirectory() ? 'd' : 'f'}` : 'missing');
export const fileStamp = (st: Stats): FileStamp => [st.ino, st.size, st.mtimeMs, st.ctimeMs];
export const stampMatches = (stamp: FileStamp, st: Stats) => stamp[0] === st.ino && stamp[1] === st.size && stamp[2] === st.mtimeMs && stamp[3] === st.ctimeMs;
const isUnreadable = (stamp: FileStamp) => stamp[1] === -1;

/**
 * Changed so recently that another change may share its timestamp tick. By distance: a ctime ahead of
 * `now` means the clock was set back since, and any later change gets a ctime far from this one.
 */
export const isRacy = (changedMs: number, now: number) => Math.abs(now - changedMs) < RACY_MS;
export const namesOf = (names: string[]) => names.sort().join('\0');

/**
 * stat() that never throws: undefined for a path that is missing or cannot be reached — ENOTDIR (a
 * file where a folder is expected), ELOOP (a symlink loop), EACCES. Bun throws the last three even
 * with throwIfNoEntry:false, and one such skills.external_dirs entry made every skills request a 500.
 */
export function statOrNone(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Whether the file still has this stamp (unreadable still counts as the same); never throws. */
function unchanged(file: string, stamp: FileStamp): boolean {
  let st: Stats | undefined;
  try {
    st = statSync(file, { throwIfNoEntry: false });
  } catch {
    return isUnreadable(stamp);
  }
  return st !== undefined && stampMatches(stamp, st);
}

/** True when a walked directory changed since the scan (racy ones are re-listed until they are old enough). */
export function structureChanged(dirs: ReadonlyMap<string, DirState>, now: number): boolean {
  for (const [path, d] of dirs) {
    const st = statOrNone(path);
    if (dirStamp(st) !== d.stamp) return true;
    if (!d.racy || !st) continue;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return true;
    }
    if (namesOf(names) !== d.names) return true;
    // Listed again after its timestamp tick has passed: any later change moves the ctime.
    if (!isRacy(d.changedMs, now)) d.racy = false;
  }
  return false;
}

/** True when any SKILL.md was edited, replaced or removed since it was read. */
export function contentChanged(skills: readonly SkillRecord[]): boolean {
  for (const s of skills) if (!unchanged(s.path, s.stamp)) return true;
  return false;
}
