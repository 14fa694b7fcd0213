/**
 * The skills index under concurrent requests: a request that finds a scan already running must not
 * be answered from it alone, because that scan walked the tree before the request came.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { HermesHome } from '../src/hermes/home';
import { SkillsIndex } from '../src/modules/skills/service';
import { tempDir } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

let home: string;
const write = (rel: string, name: string) => writeFile(join(home, 'skills', rel, 'SKILL.md'), skillMd({ name }));

beforeEach(() => {
  home = tempDir('optx-skills-refresh-');
  for (let i = 0; i < 20; i++) write(`cat/s${i}`, `s${i}`);
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

test('a skill written while another request scans shows in the listing and by id for the request made after it', async () => {
  const index = new SkillsIndex(new HermesHome(home));
  await index.list({ offset: 0 });
  write('cat/first', 'first');
  // Client A lists: a rescan starts, and its walk ends before list() returns (only reads are pending).
  const a = index.list({ offset: 0 });
  // Client B writes its skill, then asks for it while A's scan is still reading files.
  write('cat/second', 'second');
  const [listedA, listedB, byId] = await Promise.all([a, index.list({ offset: 0 }), index.get('cat.second').then((s) => s.name, (e: Error) => e.message)]);
  expect(listedA.skills.some((s) => s.name === 'first')).toBe(true);
  expect(listedB.skills.some((s) => s.name === 'second')).toBe(true);
  expect(byId).toBe('second');
});
