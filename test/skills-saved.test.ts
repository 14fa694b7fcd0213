/**
 * The skills index kept across restarts (src/modules/skills/saved.ts): two app instances, one after the
 * other, on the same data dir and Hermes home. The second one's first listing must show whatever changed
 * while no sidecar ran, and read no SKILL.md whose stamp and place are unchanged (counted by the index,
 * `filesRead`). Unless a test says otherwise, the index's clock runs RACY_MS ahead, so files the test
 * has just written count as settled (the real clock would re-read them: see the racy test).
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createLogger, type Logger } from '../src/lib/log';
import { FOLD_KEY_VERSION } from '../src/lib/text';
import { keysTag, SAVED_FORMAT, SKILLS_INDEX_FILE } from '../src/modules/skills/saved';
import { indexFileFor } from '../src/modules/skills/saved-files';
import { SkillsIndex } from '../src/modules/skills/service';
import { RACY_MS } from '../src/modules/skills/stamps';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';
import { onePieceText, parseSavedIndex, savedIndexText } from './helpers/saved-index';

let shared: string;
let home: string;
let dataDir: string;
/** Where the index is saved from (the legacy file's name), and the file these roots' records are saved to. */
let savePath: string;
let savedFile: string;
const open: TestApp[] = [];

beforeEach(() => {
  shared = tempDir('optx-skills-saved-');
  home = join(shared, 'home');
  dataDir = join(shared, 'data');
  savePath = join(dataDir, SKILLS_INDEX_FILE);
  savedFile = indexFileFor(savePath, join(home, 'skills'));
  for (const c of ['ops', 'web']) for (let i = 0; i < 5; i++) writeSkill(`${c}/s${i}`, `${c}-${i}`);
});
afterEach(() => {
  for (const t of open.splice(0)) t.close();
  rmSync(shared, { recursive: true, force: true });
});

function writeSkill(rel: string, name: string, description = `Does ${name}`): void {
  writeFile(join(home, 'skills', rel, 'SKILL.md'), skillMd({ name, description }));
}

/** A logger keeping its lines. */
function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }), lines };
}

async function instance(opts: { realClock?: boolean; log?: Logger } = {}): Promise<TestApp> {
  const t = await makeTestApp({
    env: { HERMES_HOME: home, OPTX_DATA_DIR: dataDir },
    log: opts.log,
    patch: opts.realClock ? undefined : (d) => {
      d.skills = new SkillsIndex(d.home, { savePath, log: d.log, now: () => Date.now() + RACY_MS + 1000 });
    },
  });
  open.push(t);
  return t;
}

const listing = async (t: TestApp) => {
  const res = await t.fetch('/api/skills');
  expect(res.status).toBe(200);
  return res.json() as Promise<{ skills: { id: string; name: string; description: string; category: string | null }[]; categories: string[]; warnings?: string[] }>;
};

/** The first instance lists and stops (saving its index); returns that listing. */
async function firstRun(): Promise<Awaited<ReturnType<typeof listing>>> {
  const t = await instance();
  const body = await listing(t);
  t.close();
  open.splice(open.indexOf(t), 1);
  return body;
}

/** Lets a timestamp tick pass, so a change after it moves the ctime (see preserved-mtimes.test.ts). */
const nextTick = () => Bun.sleep(25);

describe('a new process starts from the saved index', () => {
  test('nothing changed: the same listing, and no SKILL.md is read', async () => {
    const before = await firstRun();
    expect(existsSync(savedFile)).toBe(true);
    const saved = readFileSync(savedFile, 'utf8');
    expect(saved).not.toContain('The body.');
    expect(saved).not.toContain('"rootsKey":"/');
    const t = await instance();
    expect(await listing(t)).toEqual(before);
    expect(t.deps.skills.filesRead).toBe(0);
    // Nothing to save: the file stays as it was.
    t.deps.skills.flushSave();
    expect(readFileSync(savedFile, 'utf8')).toBe(saved);
  });

  test('concurrent first listings: all the same, nothing read', async () => {
    const before = await firstRun();
    const t = await instance();
    const [byId, ...all] = await Promise.all([t.fetch('/api/skills/web.s4'), ...Array.from({ length: 6 }, () => listing(t))]);
    for (const body of all) expect(body).toEqual(before);
    expect(((await byId.json()) as { name: string }).name).toBe('web-4');
    expect(t.deps.skills.filesRead).toBe(0);
  });

  test('an edit in place with the same size and the mtime put back is seen (the ctime moved)', async () => {
    const file = join(home, 'skills', 'ops', 's1', 'SKILL.md');
    // A whole second, which utimes can put back exactly.
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    await firstRun();
    const old = statSync(file);
    await nextTick();
    writeFileSync(file, readFileSync(file, 'utf8').replace('Does ops-1', 'Doez ops-1'));
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    const now = statSync(file);
    expect([now.ino, now.size, now.mtimeMs, now.ctimeMs === old.ctimeMs]).toEqual([old.ino, old.size, old.mtimeMs, false]);
    const t = await instance();
    expect((await listing(t)).skills.find((s) => s.id === 'ops.s1')?.description).toBe('Doez ops-1');
    expect(t.deps.skills.filesRead).toBe(1);
  });

  test('a new skill is listed, a removed one is gone (404 by id)', async () => {
    await firstRun();
    writeSkill('web/new', 'brand-new');
    rmSync(join(home, 'skills', 'ops', 's2'), { recursive: true });
    const t = await instance();
    const names = (await listing(t)).skills.map((s) => s.name);
    expect(names).toContain('brand-new');
    expect(names).not.toContain('ops-2');
    expect((await t.fetch('/api/skills/ops.s2')).status).toBe(404);
    expect(t.deps.skills.filesRead).toBe(1);
  });

  test('a renamed category: the skills under their new ids and category, the old ids 404', async () => {
    await firstRun();
    renameSync(join(home, 'skills', 'ops'), join(home, 'skills', 'devops'));
    const t = await instance();
    const body = await listing(t);
    expect(body.categories).toEqual(['devops', 'web']);
    expect(body.skills.filter((s) => s.category === 'devops').map((s) => s.id)).toEqual([0, 1, 2, 3, 4].map((i) => `devops.s${i}`));
    expect((await t.fetch('/api/skills/ops.s0')).status).toBe(404);
    expect((await t.fetch('/api/skills/devops.s0')).status).toBe(200);
  });

  test('a SKILL.md replaced by a link to a file outside the roots is not listed, and its id is a 404', async () => {
    await firstRun();
    const outside = join(shared, 'outside.md');
    writeFileSync(outside, skillMd({ name: 'outside' }));
    const file = join(home, 'skills', 'ops', 's3', 'SKILL.md');
    rmSync(file);
    symlinkSync(outside, file);
    const t = await instance();
    expect((await listing(t)).skills.map((s) => s.name)).not.toContain('ops-3');
    expect((await t.fetch('/api/skills/ops.s3')).status).toBe(404);
  });

  test('skills.external_dirs changed in config.yaml: the other roots\' file is not used, the external skills are listed', async () => {
    await firstRun();
    const external = join(shared, 'external');
    writeFile(join(external, 'tools', 'jq', 'SKILL.md'), skillMd({ name: 'jq' }));
    writeFile(join(home, 'config.yaml'), `skills:\n  external_dirs:\n  - ${external}\n`);
    const { log, lines } = capture();
    const t = await instance({ log });
    const body = await listing(t);
    expect(body.skills.map((s) => s.name)).toContain('jq');
    expect(body.skills).toHaveLength(11);
    expect(t.deps.skills.filesRead).toBe(11);
    // These roots have no file yet, as on a first start: nothing to warn about (the old roots' file stays, for their return).
    expect(lines.filter((l) => l.includes('saved index'))).toEqual([]);
    expect(existsSync(savedFile)).toBe(true);
  });

  test('skills.disabled is read from config.yaml, not from the file', async () => {
    await firstRun();
    writeFile(join(home, 'config.yaml'), 'skills:\n  disabled: [web-0]\n');
    const t = await instance();
    const body = (await (await t.fetch('/api/skills')).json()) as { skills: { name: string; enabled: boolean }[] };
    expect(body.skills.filter((s) => !s.enabled).map((s) => s.name)).toEqual(['web-0']);
    expect(t.deps.skills.filesRead).toBe(0);
  });

  test('a record read within RACY_MS of its last change is not saved as clean: the next process reads it again', async () => {
    // The real clock: every file was written just now.
    const first = await instance({ realClock: true });
    const before = await listing(first);
    first.close();
    open.splice(open.indexOf(first), 1);
    const t = await instance();
    expect(await listing(t)).toEqual(before);
    expect(t.deps.skills.filesRead).toBe(10);
  });

  test('the sort and search keys are taken from the file, not folded again', async () => {
    await firstRun();
    // A key no scan would make: found only if the listing searches the saved keys.
    writeFileSync(savedFile, editRow(readFileSync(savedFile, 'utf8'), (row) => (row[14] = 'saved-key-of-the-description')));
    const t = await instance();
    const body = (await (await t.fetch('/api/skills?search=saved-key')).json()) as { skills: { id: string }[] };
    expect(body.skills.map((s) => s.id)).toEqual(['ops.s0']);
    expect(t.deps.skills.filesRead).toBe(0);
  });

  test('accented, full-width and NFD names, tags and categories: the same filtered listings after a restart', async () => {
    writeFile(join(home, 'skills', 'Cafe\u0301s', 'Crème', 'SKILL.md'), skillMd({ name: 'Crème Brûlée', description: 'Straße ＦＵＬＬ', tags: '[Ｄocker, Ünïcode]' }));
    const queries = ['', '?search=creme', '?search=STRASSE', '?search=full', '?tag=docker', '?tag=unicode', '?category=caf%C3%A9s', '?category=ops'];
    const t0 = await instance();
    const before = await Promise.all(queries.map(async (q) => (await t0.fetch(`/api/skills${q}`)).json()));
    t0.close();
    open.splice(open.indexOf(t0), 1);
    const t = await instance();
    const after = await Promise.all(queries.map(async (q) => (await t.fetch(`/api/skills${q}`)).json()));
    expect(t.deps.skills.filesRead).toBe(0);
    expect(after).toEqual(before);
    expect(after.map((b) => (b as { total: number }).total)).toEqual([11, 1, 1, 1, 1, 1, 1, 5]);
  });

  test('a file of format 3 (the records as one JSON object) is used once, then saved again as format 4', async () => {
    const before = await firstRun();
    writeFileSync(savedFile, onePieceText(parseSavedIndex(readFileSync(savedFile, 'utf8'))));
    const t = await instance();
    expect(await listing(t)).toEqual(before);
    expect(t.deps.skills.filesRead).toBe(0);
    // Nothing changed in the tree, yet the file is written again, in this version's format.
    t.deps.skills.flushSave();
    const file = parseSavedIndex(readFileSync(savedFile, 'utf8'));
    expect(file.head).toMatchObject({ version: SAVED_FORMAT, count: 10 });
    expect(file.rows).toHaveLength(10);
    const next = await instance();
    expect(await listing(next)).toEqual(before);
    expect(next.deps.skills.filesRead).toBe(0);
  });

  test('a record the file holds for a path outside the walk is never listed (its id 404s)', async () => {
    await firstRun();
    const file = parseSavedIndex(readFileSync(savedFile, 'utf8'));
    const row = [...(file.rows[0] as unknown[])];
    [row[0], row[1], row[8]] = ['planted', 'planted', '/etc/passwd'];
    file.rows.push(row);
    writeFileSync(savedFile, savedIndexText({ head: { ...file.head, count: undefined }, rows: file.rows }));
    const t = await instance();
    expect((await listing(t)).skills.map((s) => s.name)).not.toContain('planted');
    expect((await t.fetch('/api/skills/planted')).status).toBe(404);
  });
});

/** The saved file's text with one change made to its first record. */
function editRow(text: string, edit: (row: unknown[]) => void): string {
  const file = parseSavedIndex(text);
  edit(file.rows[0] as unknown[]);
  return savedIndexText(file);
}

describe('a saved index that cannot be used is ignored: a full scan, one log line, never an error', () => {
  const cases: [string, (text: string) => void][] = [
    ['truncated (torn) JSON', (text) => writeFileSync(savedFile, text.slice(0, Math.floor(text.length / 2)))],
    ['not JSON at all', () => writeFileSync(savedFile, '\0\0\0garbage')],
    ['empty', () => writeFileSync(savedFile, '')],
    ['another format version', (text) => writeFileSync(savedFile, text.replace(`"version":${SAVED_FORMAT}`, `"version":${SAVED_FORMAT + 1}`))],
    ['the wrong shape', (text) => writeFileSync(savedFile, text.replace('"local",', '"local","x",'))],
    ['a record with named fields (format 1)', (text) => writeFileSync(savedFile, text.replace('\n[', '\n{"id":"x"},\n['))],
    ['a format-3 file whose skills are not a list', (text) => writeFileSync(savedFile, onePieceText(parseSavedIndex(text)).replace('"skills":[', '"skills":{"0":[').replace(/\]\}$/, ']}}'))],
    ['a format-3 file with a record of the wrong shape', (text) => writeFileSync(savedFile, onePieceText(parseSavedIndex(text)).replace('"local",', '"local","x",'))],
    ['a header whose count is not a number', (text) => writeFileSync(savedFile, text.replace(/"count":\d+/, '"count":"10"'))],
    ['a record whose tags are not a list', (text) => writeFileSync(savedFile, editRow(text, (row) => (row[4] = 'a,b')))],
    ['a record whose stamp is text (format 2)', (text) => writeFileSync(savedFile, editRow(text, (row) => (row[11] = '1:2:3:4')))],
    ['a record whose stamp is not four numbers', (text) => writeFileSync(savedFile, editRow(text, (row) => (row[11] = [1, 2, 3, '4'])))],
    ['a record whose tag keys do not pair with its tags', (text) => writeFileSync(savedFile, editRow(text, (row) => (row[15] = ['extra'])))],
    ['no keys tag', (text) => writeFileSync(savedFile, text.replace(`"keys":"${keysTag()}",`, ''))],
    ['search keys folded by another version of foldKey', (text) => writeFileSync(savedFile, text.replace(`"keys":"${keysTag()}"`, `"keys":"${FOLD_KEY_VERSION + 1}/${process.versions.unicode}"`))],
    ['search keys folded with other Unicode tables', (text) => writeFileSync(savedFile, text.replace(`"keys":"${keysTag()}"`, `"keys":"${FOLD_KEY_VERSION}/1.0"`))],
    ['made for other roots', (text) => writeFileSync(savedFile, text.replace(/"rootsKey":"[0-9a-f]/, '"rootsKey":"x'))],
    ['larger than the limit', () => truncateSync(savedFile, 65 * 1024 * 1024)],
    ['a directory', () => {
      rmSync(savedFile);
      mkdirSync(savedFile);
    }],
  ];
  for (const [what, spoil] of cases) {
    test(what, async () => {
      const before = await firstRun();
      spoil(readFileSync(savedFile, 'utf8'));
      const { log, lines } = capture();
      const t = await instance({ log });
      // Read on the first skills request, not at start-up.
      expect(lines.filter((l) => l.includes('saved index'))).toEqual([]);
      expect(await listing(t)).toEqual(before);
      expect(t.deps.skills.filesRead).toBe(10);
      expect(lines.filter((l) => l.includes('saved index'))).toHaveLength(1);
    });
  }

  test('a file that is missing: a full scan and no log line', async () => {
    const { log, lines } = capture();
    const t = await instance({ log });
    expect((await listing(t)).skills).toHaveLength(10);
    // Saved after the answer, not before it.
    expect(existsSync(savedFile)).toBe(false);
    t.deps.skills.flushSave();
    expect(existsSync(savedFile)).toBe(true);
    expect(lines.filter((l) => l.includes('skills:'))).toEqual([]);
  });
});

test('an index that cannot be written: the listing works as before, with one log line however many saves fail', async () => {
  const { log, lines } = capture();
  // Root can write into any folder, so the write is made to fail by a folder where the file goes:
  // the rename of the temp file over it fails.
  mkdirSync(savedFile, { recursive: true });
  const t = await instance({ log });
  expect((await listing(t)).skills).toHaveLength(10);
  t.deps.skills.flushSave();
  writeSkill('web/more', 'more');
  expect((await listing(t)).skills).toHaveLength(11);
  t.deps.skills.flushSave();
  expect(readdirSync(dataDir).filter((n) => n.startsWith('skills-index'))).toEqual([basename(savedFile)]);
  expect(lines.filter((l) => l.includes('cannot be saved'))).toHaveLength(1);
  // The other line: the folder in the file's place, ignored on load.
  expect(lines.filter((l) => l.includes('skills:'))).toHaveLength(2);
});

test('a save that failed (a full disk, then freed) is made by a later rescan of the same tree: the next process reads no SKILL.md', async () => {
  const { log, lines } = capture();
  await firstRun();
  await nextTick();
  writeSkill('ops/s1', 'ops-1', 'Edited while stopped');
  const t = await instance({ log });
  expect((await listing(t)).skills.find((s) => s.name === 'ops-1')?.description).toBe('Edited while stopped');
  // The save of the edit fails: a folder where the file goes (root writes into any folder), the rename fails.
  rmSync(savedFile);
  mkdirSync(join(savedFile, 'in-the-way'), { recursive: true });
  t.deps.skills.flushSave();
  expect(lines.filter((l) => l.includes('cannot be saved'))).toHaveLength(1);
  rmSync(savedFile, { recursive: true });
  // A rescan (a folder changed) that finds every SKILL.md as it was.
  await nextTick();
  writeFileSync(join(home, 'skills', 'ops', 'notes.txt'), 'not a skill');
  expect((await listing(t)).skills).toHaveLength(10);
  expect(t.deps.skills.filesRead).toBe(1);
  t.deps.skills.flushSave();
  expect(existsSync(savedFile)).toBe(true);
  const next = await instance();
  expect((await listing(next)).skills.find((s) => s.name === 'ops-1')?.description).toBe('Edited while stopped');
  expect(next.deps.skills.filesRead).toBe(0);
});

test('a failed save that leaves the older file in place says so: a restart reads only the SKILL.md files changed since, not every one', async () => {
  const { log, lines } = capture();
  await firstRun();
  await nextTick();
  writeSkill('ops/s1', 'ops-1', 'Edited while stopped');
  const t = await instance({ log });
  expect((await listing(t)).skills).toHaveLength(10);
  // The temp file cannot be made (its name taken), so the older file stays: a full disk does the same.
  const uuid = spyOn(crypto, 'randomUUID').mockReturnValue('0badf00d-0000-4000-8000-000000000000');
  mkdirSync(`${savedFile}.${process.pid}.0badf00d.tmp`);
  try {
    t.deps.skills.flushSave();
  } finally {
    uuid.mockRestore();
  }
  const said = lines.filter((l) => l.includes('cannot be saved'));
  expect(said).toHaveLength(1);
  expect(said[0]).not.toContain('every SKILL.md again');
  expect(said[0]).toContain('a restart reads again only the SKILL.md files changed since the index in place was saved');
  const next = await instance();
  expect((await listing(next)).skills.find((s) => s.name === 'ops-1')?.description).toBe('Edited while stopped');
  expect(next.deps.skills.filesRead).toBe(1);
});

test("temp files of a process killed while saving are removed by the next save, once they are a minute old; another writer's fresh one is kept", async () => {
  mkdirSync(dataDir, { recursive: true });
  const stale = join(dataDir, `${SKILLS_INDEX_FILE}.4242.0badf00d.tmp`);
  const fresh = join(dataDir, `${SKILLS_INDEX_FILE}.4343.0badf00d.tmp`);
  writeFileSync(stale, '{"version":');
  writeFileSync(fresh, '{"version":');
  utimesSync(stale, 1_700_000_000, 1_700_000_000);
  const t = await instance();
  await listing(t);
  t.deps.skills.flushSave();
  expect(readdirSync(dataDir).filter((n) => n.startsWith('skills-index')).sort()).toEqual([basename(savedFile), basename(fresh)].sort());
});
