/**
 * The saved skills index belongs to its set of skill roots (src/modules/skills/saved.ts): sidecars of two
 * Hermes homes sharing one data dir (`OPTX_DATA_DIR`) each keep their own file, an old single
 * `skills-index.json` is taken over once, and roots that changed leave a bounded number of files behind.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_INDEX_FILES, SKILLS_INDEX_FILE } from '../src/modules/skills/saved';
import { indexFileFor } from '../src/modules/skills/saved-files';
import { SkillsIndex } from '../src/modules/skills/service';
import { RACY_MS } from '../src/modules/skills/stamps';
import { makeTestApp, tempDir } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

let shared: string;
let dataDir: string;
beforeEach(() => {
  shared = tempDir('optx-skills-roots-');
  dataDir = join(shared, 'data');
});
afterEach(() => rmSync(shared, { recursive: true, force: true }));

function makeHome(name: string, skills = 6): string {
  const home = join(shared, name);
  for (let i = 0; i < skills; i++) writeFile(join(home, 'skills', 'ops', `s${i}`, 'SKILL.md'), skillMd({ name: `${name}-${i}` }));
  return home;
}

/** One sidecar's life on `home`: its first listing, then a stop (which saves); returns how many SKILL.md it read. */
async function run(home: string): Promise<number> {
  const t = await makeTestApp({
    env: { HERMES_HOME: home, OPTX_DATA_DIR: dataDir },
    patch: (d) => {
      d.skills = new SkillsIndex(d.home, { savePath: join(dataDir, SKILLS_INDEX_FILE), log: d.log, now: () => Date.now() + RACY_MS + 1000 });
    },
  });
  try {
    expect((await t.fetch('/api/skills')).status).toBe(200);
    return t.deps.skills.filesRead;
  } finally {
    t.close();
  }
}

const indexFiles = () => readdirSync(dataDir).filter((n) => n.startsWith('skills-index')).sort();

test('two sidecars of different homes on one data dir keep each their saved index: a restart of either reads no SKILL.md', async () => {
  const a = makeHome('a', 6);
  const b = makeHome('b', 4);
  expect(await run(a)).toBe(6);
  expect(await run(b)).toBe(4);
  // Until 2026-12-07 one file held one set of roots: b's save replaced a's, and each restart read every file again.
  expect(await run(a)).toBe(0);
  expect(await run(b)).toBe(0);
  expect(await run(a)).toBe(0);
  expect(indexFiles()).toHaveLength(2);
});

/** The file a sidecar of `home` (no external_dirs) saves its index to. */
const ownFile = (home: string) => indexFileFor(join(dataDir, SKILLS_INDEX_FILE), join(home, 'skills'));

test('an old skills-index.json is read once by the sidecar whose roots it holds, then removed; another\'s is removed by the first save', async () => {
  const a = makeHome('a', 6);
  const b = makeHome('b', 4);
  const legacy = join(dataDir, SKILLS_INDEX_FILE);
  expect(await run(a)).toBe(6);
  renameSync(ownFile(a), legacy);
  expect(await run(a)).toBe(0);
  expect(indexFiles()).toEqual([ownFile(a).slice(dataDir.length + 1)]);
  expect(await run(a)).toBe(0);
  // a's records in the old file: b reads every SKILL.md, and its save removes the file, which no one else would.
  renameSync(ownFile(a), legacy);
  expect(await run(b)).toBe(4);
  expect(existsSync(legacy)).toBe(false);
  expect(existsSync(ownFile(b))).toBe(true);
});

test(`roots that changed leave at most ${MAX_INDEX_FILES} saved indexes, the newest: the oldest are removed by a save`, async () => {
  const homes = Array.from({ length: MAX_INDEX_FILES + 2 }, (_, i) => makeHome(`h${i}`, 2));
  for (const [i, home] of homes.entries()) {
    expect(await run(home)).toBe(2);
    // Each file older than the next, by whole seconds, whatever the filesystem's timestamp tick.
    utimesSync(ownFile(home), 1_700_000_000 + i, 1_700_000_000 + i);
  }
  expect(indexFiles()).toEqual(homes.slice(-MAX_INDEX_FILES).map((h) => ownFile(h).slice(dataDir.length + 1)).sort());
  // The survivors are still used.
  expect(await run(homes.at(-1) as string)).toBe(0);
});

test('an old skills-index.json takes no place among the files kept: removed anyway, it does not push out another home\'s index', async () => {
  const homes = Array.from({ length: MAX_INDEX_FILES }, (_, i) => makeHome(`h${i}`, 2));
  const others = homes.slice(0, -1);
  for (const [i, home] of others.entries()) {
    expect(await run(home)).toBe(2);
    utimesSync(ownFile(home), 1_700_000_000 + i, 1_700_000_000 + i);
  }
  // Left by an earlier version, newer than every other file (another home's roots: not read by the next sidecar).
  const legacy = join(dataDir, SKILLS_INDEX_FILE);
  copyFileSync(ownFile(others[0] as string), legacy);
  utimesSync(legacy, 1_700_000_100, 1_700_000_100);
  expect(await run(homes.at(-1) as string)).toBe(2);
  // Four sets of roots, four files: until 2026-12-07 the old file counted among the three newest others, so
  // the oldest home's index went too (and its next start read every SKILL.md again).
  expect(indexFiles()).toEqual(homes.map((h) => ownFile(h).slice(dataDir.length + 1)).sort());
  expect(await run(others[0] as string)).toBe(0);
});

test('the first save\'s sweep removes every stale temp file, though some names vanish between the listing and their stat', async () => {
  mkdirSync(dataDir, { recursive: true });
  const stale: string[] = [];
  for (let i = 0; i < 16; i++) {
    const temp = join(dataDir, `skills-index.${String(i).padStart(16, 'a')}.json.7.0badf0${i}.tmp`);
    writeFileSync(temp, '{"version":');
    utimesSync(temp, 1_700_000_000, 1_700_000_000);
    stale.push(temp);
    // Stand-ins for other sidecars' temp files renamed into place meanwhile: a stat that fails (ENOENT).
    symlinkSync(join(dataDir, 'gone'), join(dataDir, `skills-index.${String(i).padStart(16, 'b')}.json.8.0badf0${i}.tmp`));
  }
  expect(await run(makeHome('a', 2))).toBe(2);
  // Until 2026-12-07 the first name whose stat failed ended the sweep: the temps listed after it stayed.
  expect(stale.filter((p) => existsSync(p))).toEqual([]);
});
