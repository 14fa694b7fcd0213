/**
 * The saved skills index's file read in pieces (src/modules/skills/saved-format.ts): a header line, then one
 * record a line, parsed a chunk of lines at a time, so the paced warm-up loads it without holding the
 * event loop for the whole file (at 20,000 skills its one-piece JSON.parse was the warm-up's longest
 * stall). What the one-piece file guaranteed must still hold: a file torn anywhere, spoiled in the
 * middle of a record or of another shape is not used (a full scan, never a wrong listing).
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from 'bun:test';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HermesHome } from '../src/hermes/home';
import { createLogger, type Logger } from '../src/lib/log';
import { Pace, pacedSteps } from '../src/modules/skills/pace';
import { SavedIndex, SKILLS_INDEX_FILE } from '../src/modules/skills/saved';
import { indexFileFor } from '../src/modules/skills/saved-files';
import { SkillsIndex } from '../src/modules/skills/service';
import { RACY_MS } from '../src/modules/skills/stamps';
import { tempDir } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';
import { skillRecords } from './helpers/skill-records';

let dir: string;
let base: string;
let path: string;
beforeEach(() => {
  dir = tempDir('optx-skills-format-');
  base = join(dir, SKILLS_INDEX_FILE);
  path = indexFileFor(base, 'roots');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }), lines };
}

/** Saves `n` records for the roots 'roots'; returns the file's text. */
function saveRecords(n: number): string {
  const saved = new SavedIndex(base, capture().log);
  saved.schedule('roots', skillRecords(n));
  saved.flush();
  return readFileSync(path, 'utf8');
}

/** What a new process loads from the file (ids in order), in one piece or paced with a turn between all steps; null when not used. */
async function loadIds(paced: boolean, log = capture().log): Promise<string[] | null> {
  const saved = new SavedIndex(base, log);
  const records = paced ? await pacedSteps(saved.loadSteps('roots'), new Pace(0)) : saved.load('roots');
  return records && [...records.values()].map((r) => r.id);
}

const ids = (n: number) => skillRecords(n).map((r) => r.id);

describe('the saved index read in pieces', () => {
  test('paced, JSON.parse is never handed the whole file: the records come a chunk of lines at a time, with turns of the event loop between', async () => {
    const text = saveRecords(3000);
    expect(text.length).toBeGreaterThan(1_000_000);
    const parse = spyOn(JSON, 'parse');
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    try {
      expect(await loadIds(true)).toEqual(ids(3000));
      const sizes = parse.mock.calls.map((c) => String(c[0]).length);
      expect(Math.max(...sizes)).toBeLessThan(100_000);
      expect(sizes.length).toBeGreaterThan(10);
      expect(turns).toBeGreaterThan(10);
    } finally {
      clearInterval(timer);
      parse.mockRestore();
    }
  });

  test('one JSON object: its header on the first line, then one record a line, all but the first after a comma', () => {
    const text = saveRecords(5);
    const lines = text.split('\n');
    expect(lines).toHaveLength(8);
    expect(lines.slice(-2)).toEqual([']}', '']);
    expect(JSON.parse(`${lines[0]}]}`)).toMatchObject({ version: 4, count: 5, skills: [] });
    lines.slice(1, 6).forEach((line, i) => expect(Array.isArray(JSON.parse(i ? line.slice(1) : line))).toBe(true));
    expect((JSON.parse(text) as { skills: unknown[] }).skills).toHaveLength(5);
  });

  for (const paced of [false, true]) {
    const how = paced ? 'paced' : 'in one piece';
    test(`${how}: a file cut at any line boundary, or just before one, is not used`, async () => {
      const text = saveRecords(40);
      const ends = [...text.matchAll(/\n/g)].map((m) => (m.index as number) + 1);
      expect(ends).toHaveLength(42);
      for (const end of ends.slice(0, -1)) {
        for (const cut of [end, end - 1, end - 2]) {
          writeFileSync(path, text.slice(0, cut));
          expect(await loadIds(paced)).toBeNull();
        }
      }
      writeFileSync(path, text);
      expect(await loadIds(paced)).toEqual(ids(40));
    });

    test(`${how}: a file spoiled in the middle of a record, or of another shape there, is not used (one log line)`, async () => {
      const text = saveRecords(600);
      const lines = text.split('\n');
      const at = 300;
      const line = lines[at] as string;
      const spoiled: string[] = [
        line.slice(0, line.length >> 1) + '#' + line.slice((line.length >> 1) + 1), // not JSON any more
        line.replace('"local"', '"nowhere"'), // JSON, not a record
        ',[1,2,3]', // JSON, the wrong shape
        '', // an empty line
        line.slice(1), // the comma before the record missing
        `${line}${line}`, // two records on one line, one of them more than the header counts
      ];
      for (const bad of spoiled) {
        writeFileSync(path, [...lines.slice(0, at), bad, ...lines.slice(at + 1)].join('\n'));
        const { log, lines: logged } = capture();
        expect(await loadIds(paced, log)).toBeNull();
        expect(logged.filter((l) => l.includes('saved index'))).toHaveLength(1);
      }
      // A record left out, or one more than the header counts.
      for (const kept of [[...lines.slice(0, at), ...lines.slice(at + 1)], [...lines.slice(0, at), line, ...lines.slice(at)]]) {
        writeFileSync(path, kept.join('\n'));
        expect(await loadIds(paced)).toBeNull();
      }
      writeFileSync(path, text);
      expect(await loadIds(paced)).toEqual(ids(600));
    });
  }

  test('a file cut at any byte, its last newline too, is not used, in one piece or paced', async () => {
    const text = saveRecords(4);
    const bytes = Buffer.from(text);
    const used: string[] = [];
    for (let cut = 0; cut < bytes.length; cut++) {
      writeFileSync(path, bytes.subarray(0, cut));
      for (const paced of [false, true]) if ((await loadIds(paced)) !== null) used.push(`${paced ? 'paced' : 'in one piece'} at ${cut} of ${bytes.length}`);
    }
    expect(used).toEqual([]);
    writeFileSync(path, text);
    for (const paced of [false, true]) expect(await loadIds(paced)).toEqual(ids(4));
  });

  test('a header that is not a format-4 header, or counts other records, is not used', async () => {
    const text = saveRecords(3);
    const [head, ...rest] = text.split('\n');
    const h = JSON.parse(`${head}]}`) as Record<string, unknown>;
    for (const bad of [{ ...h, count: -1 }, { ...h, count: 1.5 }, { ...h, count: '3' }, { ...h, count: 2 }, { ...h, keys: 1 }, { ...h, version: 5 }]) {
      writeFileSync(path, [JSON.stringify(bad).slice(0, -2), ...rest].join('\n'));
      for (const paced of [false, true]) expect(await loadIds(paced)).toBeNull();
    }
    writeFileSync(path, [JSON.stringify(h).slice(0, -2), ...rest].join('\n'));
    expect(await loadIds(true)).toEqual(ids(3));
  });
});

test('a listing that comes while the warm-up is loading the saved index waits for it and gets the tree as it is now', async () => {
  const home = join(dir, 'home');
  const N = 400;
  for (let i = 0; i < N; i++) writeFile(join(home, 'skills', `cat${i % 4}`, `s${i}`, 'SKILL.md'), skillMd({ name: `skill-${i}`, description: `Does ${i}` }));
  const hermes = new HermesHome(home);
  const now = () => Date.now() + RACY_MS + 1000;
  const first = new SkillsIndex(hermes, { savePath: base, now });
  expect((await first.list({ offset: 0 })).total).toBe(N);
  first.flushSave();
  // Changed while no process ran: the listing must show it, not the saved record.
  await Bun.sleep(25);
  writeFile(join(home, 'skills', 'cat1', 's1', 'SKILL.md'), skillMd({ name: 'skill-1', description: 'Edited while stopped' }));
  const next = new SkillsIndex(hermes, { savePath: base, now });
  // Every slice used up at once: the paced load gives the event loop a turn between all its steps, whatever the machine's speed.
  const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
    return !this.urgent;
  });
  // The listing is sent from inside the warm-up's parse of its first chunk of records: in the middle of the paced load.
  const realParse = JSON.parse;
  let chunks = 0;
  let listing: ReturnType<SkillsIndex['list']> | undefined;
  const parse = spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    if (text.startsWith('[[') && chunks++ === 0) listing = next.list({ offset: 0, limit: 1000 });
    return realParse(text, reviver);
  });
  try {
    await next.warm();
    expect(chunks).toBeGreaterThan(2);
    expect(listing).toBeDefined();
    const body = await (listing as ReturnType<SkillsIndex['list']>);
    expect(body.total).toBe(N);
    expect(body.skills.find((s) => s.name === 'skill-1')?.description).toBe('Edited while stopped');
    expect(next.filesRead).toBe(1);
  } finally {
    parse.mockRestore();
    due.mockRestore();
  }
});

test('a warm-up stopped while it reads the saved index in steps leaves the file closed', async () => {
  saveRecords(3000);
  // Every slice used up at once, so the read takes several steps (READ_BYTES each) with turns between.
  const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
    return !this.urgent;
  });
  const openOnIt = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed meanwhile (the fd readdir itself used)
    }
  });
  try {
    // The save's own fd on the file closes once its fdatasync, off the event loop, has ended.
    for (let i = 0; i < 2000 && openOnIt().length > 0; i++) await Bun.sleep(1);
    expect(openOnIt()).toEqual([]);
    const pace = new Pace();
    const loading = pacedSteps(new SavedIndex(base, capture().log).loadSteps('roots'), pace);
    await new Promise((resolve) => setImmediate(resolve));
    expect(openOnIt()).toHaveLength(1);
    pace.stop();
    await expect(loading).rejects.toThrow('stopped');
    expect(openOnIt()).toEqual([]);
  } finally {
    due.mockRestore();
  }
});
