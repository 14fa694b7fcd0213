/**
 * Saving the skills index without holding the event loop (src/modules/skills/saved.ts, saved-write.ts):
 * the file is written a slice per turn of the loop, so timers (and requests, and streams) run while a
 * save is under way; what the save did at once must still hold — the file replaced whole, never older
 * records over newer ones, at most one save at a time, nothing left or written after a stop, and a
 * process killed at any point leaves the old file or the new one.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log';
import { SavedIndex, SKILLS_INDEX_FILE } from '../src/modules/skills/saved';
import { indexFileFor } from '../src/modules/skills/saved-files';
import { SkillsIndex } from '../src/modules/skills/service';
import { replaceFileSteps } from '../src/modules/skills/saved-write';
import { RACY_MS } from '../src/modules/skills/stamps';
import { makeTestApp, tempDir } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';
import { parseSavedIndex, savedIndexText } from './helpers/saved-index';
import { skillRecords } from './helpers/skill-records';

let dir: string;
/** What a SavedIndex is made with (the legacy file's name), and the file of the roots these tests save. */
let base: string;
let path: string;
beforeEach(() => {
  dir = tempDir('optx-skills-save-');
  base = join(dir, SKILLS_INDEX_FILE);
  path = indexFileFor(base, 'roots');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** This dir's temp files: saves being written, and replaced files not unlinked yet (`.old.tmp`). */
const temps = () => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
const writing = () => temps().filter((n) => !n.endsWith('.old.tmp'));
/** The ids the file holds, as a new process loads them; null when it cannot be used. */
const savedIds = () => {
  const records = new SavedIndex(base, silentLogger).load('roots');
  return records && [...records.values()].map((r) => r.id);
};
const ids = (tag: string, n: number) => skillRecords(n, tag).map((r) => r.id);

/** Calls `look` on every turn of the event loop (a 0 ms timer) until it returns true. */
function everyTurn(look: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const turn = () => (look() ? resolve() : void setTimeout(turn, 0));
    turn();
  });
}

/** Resolves on the first turn of the event loop that finds a save's temp file being written. */
const whileWriting = () => everyTurn(() => writing().length > 0);

test('the save after a scan lets timers run while it writes: one finds its temp file, the file not yet in place', async () => {
  const saved = new SavedIndex(base, silentLogger);
  saved.schedule('roots', skillRecords(8000));
  const seen = new Set<string>();
  await everyTurn(() => {
    const temp = writing().length > 0;
    const file = existsSync(path);
    seen.add(`${temp ? 'temp' : 'no temp'}, ${file ? 'file' : 'no file'}`);
    return file && !temp;
  });
  expect(seen).toContain('temp, no file');
  expect(savedIds()).toEqual(ids('a', 8000));
  // Whole: a header line counting the records, then each record's line, as a save at once writes it.
  const text = readFileSync(path, 'utf8');
  expect(savedIndexText(parseSavedIndex(text))).toBe(text);
  expect(parseSavedIndex(text).head.count).toBe(8000);
  await saved.save();
  expect(temps()).toEqual([]);
});

test('a scan overtaking a save under way: the save ends, then the newer records replace it; never two saves at once', async () => {
  const saved = new SavedIndex(base, silentLogger);
  saved.schedule('roots', skillRecords(8000, 'a'));
  const saving = saved.save();
  await whileWriting();
  saved.schedule('roots', skillRecords(3000, 'b'));
  let most = 0;
  let done = false;
  void saving.then(() => (done = true));
  await everyTurn(() => {
    most = Math.max(most, writing().length);
    return done;
  });
  expect(most).toBe(1);
  expect(savedIds()).toEqual(ids('b', 3000));
  expect(temps()).toEqual([]);
});

test('a save overtaken, then flushed: the newer records at once, the older save dropped, and it writes nothing later', async () => {
  const saved = new SavedIndex(base, silentLogger);
  saved.schedule('roots', skillRecords(2000, 'old'));
  saved.flush();
  saved.schedule('roots', skillRecords(8000, 'a'));
  const saving = saved.save();
  await whileWriting();
  saved.schedule('roots', skillRecords(3000, 'b'));
  saved.flush();
  expect(savedIds()).toEqual(ids('b', 3000));
  expect(temps()).toEqual([]);
  await saving;
  // Whatever the dropped save still had waiting (a timer turn, its fdatasync) has run by now.
  await Bun.sleep(50);
  expect(savedIds()).toEqual(ids('b', 3000));
  expect(temps()).toEqual([]);
});

test('a stop during a save: that save is finished at once, nothing is left, nothing is written after', async () => {
  const saved = new SavedIndex(base, silentLogger);
  saved.schedule('roots', skillRecords(2000, 'old'));
  saved.flush();
  saved.schedule('roots', skillRecords(8000, 'a'));
  const saving = saved.save();
  await whileWriting();
  saved.close();
  expect(savedIds()).toEqual(ids('a', 8000));
  expect(temps()).toEqual([]);
  const text = readFileSync(path, 'utf8');
  saved.schedule('roots', skillRecords(10, 'after'));
  await saving;
  await saved.save();
  await Bun.sleep(50);
  expect(readFileSync(path, 'utf8')).toBe(text);
  expect(temps()).toEqual([]);
});

test('a stop during a save overtaken by a newer scan: the newer records are written, the older save dropped', async () => {
  const saved = new SavedIndex(base, silentLogger);
  saved.schedule('roots', skillRecords(8000, 'a'));
  const saving = saved.save();
  await whileWriting();
  saved.schedule('roots', skillRecords(3000, 'b'));
  saved.close();
  expect(savedIds()).toEqual(ids('b', 3000));
  expect(temps()).toEqual([]);
  await saving;
  await Bun.sleep(50);
  expect(savedIds()).toEqual(ids('b', 3000));
  expect(temps()).toEqual([]);
});

test('a listing whose scan ends after the app stopped saves nothing: the data dir is no longer this app\'s', async () => {
  const home = join(dir, 'home');
  const dataDir = join(dir, 'data');
  for (let i = 0; i < 20; i++) writeFile(join(home, 'skills', 'ops', `s${i}`, 'SKILL.md'), skillMd({ name: `s${i}` }));
  const t = await makeTestApp({
    env: { HERMES_HOME: home, OPTX_DATA_DIR: dataDir },
    patch: (d) => {
      d.skills = new SkillsIndex(d.home, { savePath: join(dataDir, SKILLS_INDEX_FILE), log: d.log, now: () => Date.now() + RACY_MS + 1000 });
    },
  });
  // The scan reads the files off the event loop: it ends after the stop below.
  const listing = t.fetch('/api/skills');
  t.close();
  expect((await listing).status).toBe(200);
  // Past the save's 1 s timer, which a scan ending after the stop used to set.
  await Bun.sleep(1300);
  expect(readdirSync(dataDir).filter((n) => n.startsWith('skills-index'))).toEqual([]);
});

test('a process killed (SIGKILL) at any point of a save leaves the old file or the new one, whole', async () => {
  const fixture = join(import.meta.dir, 'fixtures/skills-save-killed.ts');
  const outcomes = new Set<string>();
  for (const turn of ['1', '8', '32', '128', 'saved']) {
    for (const name of readdirSync(dir)) rmSync(join(dir, name));
    const proc = Bun.spawn(['bun', fixture, base, turn], { stdout: 'ignore', stderr: 'pipe' });
    await proc.exited;
    expect([proc.signalCode, await new Response(proc.stderr).text()]).toEqual(['SIGKILL', '']);
    const held = savedIds();
    expect([ids('old', 1000), ids('new', 4000)]).toContainEqual(held as string[]);
    outcomes.add(`${held?.length} records${writing().length ? ', a temp file left' : ''}`);
  }
  // Killed before and while the new file was written, and after it was in place.
  expect(outcomes).toContain('1000 records, a temp file left');
  expect(outcomes).toContain('4000 records');
});

test('a save whose temp file went before the rename (swept by another sidecar) leaves no second name of the old file', async () => {
  writeFile(path, 'the index in place');
  const steps = replaceFileSteps(path, ['{', '}'], 1000);
  // Up to the fdatasync: the next step links the old file, then renames the temp file into place.
  for (let step = steps.next(); !step.done; step = steps.next()) {
    if (step.value) {
      await step.value;
      break;
    }
  }
  for (const name of writing()) rmSync(join(dir, name));
  expect(() => steps.next()).toThrow();
  // Until 2026-12-07 the `.old.tmp` link stayed: after the next save it kept the old file's blocks on disk
  // until a later process's first save swept it.
  expect(temps()).toEqual([]);
  expect(readFileSync(path, 'utf8')).toBe('the index in place');
});
