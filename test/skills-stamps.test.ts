/**
 * The SKILL.md stamps (stamps.ts) as numbers: what a recheck calls changed. The stamp moved from one
 * string to four numbers (2026-12-07); these pin the rules the string gave, including a file that cannot
 * be stat'ed (listed as broken), which must not make every request rescan.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SkillRecord } from '../src/modules/skills/scan';
import { contentChanged, fileStamp, UNREADABLE, type FileStamp } from '../src/modules/skills/stamps';
import { tempDir } from './helpers/app';

let dir: string;
beforeEach(() => {
  dir = tempDir('optx-skills-stamps-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (path: string, stamp: FileStamp) => ({ path, stamp }) as SkillRecord;

test('an unchanged file is unchanged; an edit of the same size with the mtime put back is a change (the ctime moved)', async () => {
  const file = join(dir, 'SKILL.md');
  writeFileSync(file, 'aaaa');
  utimesSync(file, 1_700_000_000, 1_700_000_000);
  const before = statSync(file);
  expect(contentChanged([record(file, fileStamp(before))])).toBe(false);
  // The ctime is in the stamp: let it move past the old one.
  await Bun.sleep(20);
  writeFileSync(file, 'bbbb');
  utimesSync(file, 1_700_000_000, 1_700_000_000);
  expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
  expect(contentChanged([record(file, fileStamp(before))])).toBe(true);
});

test('a removed file is a change', () => {
  const file = join(dir, 'SKILL.md');
  writeFileSync(file, 'a');
  const stamp = fileStamp(statSync(file));
  rmSync(file);
  expect(contentChanged([record(file, stamp)])).toBe(true);
});

test('a file that still cannot be stat\'ed is unchanged; once it can be, it is a change', () => {
  // A regular file where a folder is expected: the stat throws (ENOTDIR), as for an unsearchable folder.
  const blocker = join(dir, 'blocker');
  writeFileSync(blocker, '');
  const file = join(blocker, 'SKILL.md');
  expect(contentChanged([record(file, UNREADABLE)])).toBe(false);
  // Once it can be stat'ed it is a change: the unreadable stamp matches no file (no size is negative).
  const real = join(dir, 'SKILL.md');
  writeFileSync(real, 'a');
  expect(contentChanged([record(real, UNREADABLE)])).toBe(true);
});
