/**
 * The skills warm-up (SKILLS_WARM, SkillsIndex.warm, deps.ts warmDeps): once started, the server builds
 * the index in the background, paced (pace.ts), so the first listing finds it ready; a listing that comes
 * meanwhile waits for that scan instead of starting another; it can be turned off, a failure in it is
 * logged and changes nothing, and a stop ends it without anything written after.
 */
import { afterEach, describe, expect, spyOn, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { warmDeps } from '../src/deps';
import { HermesHome } from '../src/hermes/home';
import { createLogger, type Logger } from '../src/lib/log';
import { Pace, pacedSteps, runSteps } from '../src/modules/skills/pace';
import { readSkillsSettings } from '../src/modules/skills/roots';
import { scanRoots } from '../src/modules/skills/scan';
import { RACY_MS } from '../src/modules/skills/stamps';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { readFirstLine } from './helpers/binary';
import { skillMd, writeFile } from './helpers/hermes-home';

/** The saved skills indexes in a data dir (a file per set of roots, saved-files.ts; none when the dir does not exist). */
const savedIndexes = (dataDir: string): string[] => (existsSync(dataDir) ? readdirSync(dataDir).filter((n) => /^skills-index\.[0-9a-f]{16}\.json$/.test(n)) : []);

const SKILLS = 24;
const open: TestApp[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

function writeTree(home: string): void {
  for (let i = 0; i < SKILLS; i++) writeFile(join(home, 'skills', `cat${i % 3}`, `s${i}`, 'SKILL.md'), skillMd({ name: `skill-${i}`, description: `Does ${i}` }));
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }), lines };
}

async function app(env: Record<string, string> = {}, log?: Logger): Promise<TestApp> {
  const dir = tempDir('optx-skills-warm-');
  const home = join(dir, 'home');
  writeTree(home);
  const t = await makeTestApp({ env: { HERMES_HOME: home, OPTX_DATA_DIR: join(dir, 'data'), ...env }, log });
  open.push(t);
  return t;
}

const total = async (t: TestApp) => {
  const res = await t.fetch('/api/skills');
  expect(res.status).toBe(200);
  return ((await res.json()) as { total: number }).total;
};

describe('the skills warm-up', () => {
  test('builds the index in the background: the first GET /api/skills after it reads no SKILL.md', async () => {
    const t = await app();
    expect(t.config.skills.warm).toBe(true);
    await warmDeps(t.deps);
    expect(t.deps.skills.filesRead).toBe(SKILLS);
    expect(await total(t)).toBe(SKILLS);
    expect(t.deps.skills.filesRead).toBe(SKILLS);
  });

  test('from the index a previous process saved, loaded in steps: no SKILL.md is read', async () => {
    const dir = tempDir('optx-skills-warm-');
    writeTree(join(dir, 'home'));
    // Past the racy window (RACY_MS), or the fresh files would not be saved as settled.
    await Bun.sleep(RACY_MS + 100);
    const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data') };
    const first = await makeTestApp({ env });
    await warmDeps(first.deps);
    await first.deps.skills.save();
    first.close();
    const again = await makeTestApp({ env });
    open.push(again);
    await warmDeps(again.deps);
    expect(again.deps.skills.filesRead).toBe(0);
    expect(await total(again)).toBe(SKILLS);
  });

  test('a listing that comes during it waits for that scan rather than starting another', async () => {
    const t = await app();
    const warming = warmDeps(t.deps);
    const [listed] = await Promise.all([total(t), warming]);
    expect(listed).toBe(SKILLS);
    expect(t.deps.skills.filesRead).toBe(SKILLS);
  });

  test('a skill written while it runs is in the listing asked for after the write', async () => {
    const t = await app();
    const warming = warmDeps(t.deps);
    writeFile(join(t.config.hermes.home, 'skills', 'cat0', 'late', 'SKILL.md'), skillMd({ name: 'late', description: 'written during the warm-up' }));
    expect(await total(t)).toBe(SKILLS + 1);
    await warming;
  });

  test('with no $HERMES_HOME/skills, or an empty one, it does nothing: no scan, no saved index written', async () => {
    for (const empty of [true, false]) {
      const dir = tempDir('optx-skills-warm-');
      if (empty) mkdirSync(join(dir, 'home', 'skills'), { recursive: true });
      const t = await makeTestApp({ env: { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data') } });
      open.push(t);
      const scans = spyOn(t.deps.skills, 'listJson');
      await warmDeps(t.deps);
      expect(scans).not.toHaveBeenCalled();
      await t.deps.skills.save();
      expect(savedIndexes(t.config.dataDir)).toEqual([]);
    }
  });

  test('SKILLS_WARM=false turns it off: nothing is scanned before the first listing', async () => {
    const t = await app({ SKILLS_WARM: 'false' });
    expect(t.config.skills.warm).toBe(false);
    await warmDeps(t.deps);
    expect(t.deps.skills.filesRead).toBe(0);
    expect(await total(t)).toBe(SKILLS);
  });

  test('a failure in it is logged, never thrown, and the first listing scans as without it', async () => {
    const { log, lines } = capture();
    const t = await app({}, log);
    const boom = spyOn(t.deps.skills, 'listJson').mockImplementationOnce(() => Promise.reject(new Error('disk on fire')));
    await warmDeps(t.deps);
    boom.mockRestore();
    const warned = lines.map((l) => JSON.parse(l) as { level: string; msg: string; error?: string }).filter((l) => l.level === 'warn');
    expect(warned).toEqual([expect.objectContaining({ msg: 'skills warm-up failed; the first listing scans instead', error: 'disk on fire' })]);
    expect(await total(t)).toBe(SKILLS);
  });

  test('a stop ends it: it resolves, logs nothing, and nothing is saved after the stop', async () => {
    const { log, lines } = capture();
    const t = await app({}, log);
    const warming = warmDeps(t.deps);
    t.deps.skills.closeSave();
    await warming;
    await Bun.sleep(20);
    expect(lines.filter((l) => l.includes('"warn"') || l.includes('"error"'))).toEqual([]);
    expect(savedIndexes(t.config.dataDir)).toEqual([]);
    // Nor does it start once stopped.
    await warmDeps(t.deps);
    expect(t.deps.skills.filesRead).toBe(0);
  });

  test('a stop in the middle of its walk, SKILL.md reads still under way, leaves no unhandled rejection behind', async () => {
    const t = await app();
    // Every slice used up at once (a turn of the event loop at each entry of the walk), and the stop made
    // at its 8th look: the walk has started reads of SKILL.md files and not reached the last folder.
    let looks = 0;
    const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
      if (++looks === 8) t.deps.skills.closeSave();
      return !this.urgent;
    });
    try {
      await warmDeps(t.deps);
      // The reads it left behind end now, each parse refused its turn (ScanStopped). bun test fails a test
      // in which a rejection goes unhandled; a server printed a stack trace per read (1,444 at 3,000 skills).
      await Bun.sleep(100);
      expect(looks).toBeGreaterThanOrEqual(8);
    } finally {
      due.mockRestore();
    }
  });

  test('a listing that comes while it waits for its turn of the event loop gets its answer even if a stop follows', async () => {
    const t = await app();
    // Every slice used up at once, so the scan waits for a turn (Pace.next) before each step; until the listing makes it urgent.
    const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
      return !this.urgent;
    });
    try {
      const warming = warmDeps(t.deps);
      // Queued before the scan's first turn: the listing comes, then the stop, while the scan waits for that turn.
      const listed = new Promise<Response>((resolve) =>
        setImmediate(() => {
          resolve(t.fetch('/api/skills'));
          t.deps.skills.closeSave();
        }),
      );
      const res = await listed;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { total: number }).total).toBe(SKILLS);
      await warming;
    } finally {
      due.mockRestore();
    }
  });

  test('skills.external_dirs edited while it runs: the listing scans the new roots, and nothing is read twice after', async () => {
    const t = await app();
    const external = join(t.config.dataDir, '..', 'external');
    for (let i = 0; i < 5; i++) writeFile(join(external, `e${i}`, 'SKILL.md'), skillMd({ name: `ext-${i}`, description: 'External' }));
    // A turn of the event loop before each step, so the warm-up (for the old roots) is still running when the listing comes.
    const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
      return !this.urgent;
    });
    try {
      const warming = warmDeps(t.deps);
      writeFile(join(t.config.hermes.home, 'config.yaml'), `skills:\n  external_dirs: ["${external}"]\n`);
      expect(await total(t)).toBe(SKILLS + 5);
      await warming;
      // The warm-up for the old roots neither replaced that index nor made the next listing read the external skills again.
      expect(await total(t)).toBe(SKILLS + 5);
      expect(t.deps.skills.filesRead).toBe(SKILLS + 5);
    } finally {
      due.mockRestore();
    }
  });

  test('not started once the server is shutting down', async () => {
    const stop = new AbortController();
    const dir = tempDir('optx-skills-warm-');
    writeTree(join(dir, 'home'));
    const t = await makeTestApp({ env: { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data') }, open: { shutdown: stop.signal } });
    open.push(t);
    stop.abort();
    await warmDeps(t.deps);
    expect(t.deps.skills.filesRead).toBe(0);
  });
});

describe('a paced scan', () => {
  /** Turns of the event loop while `scan` runs (a setImmediate loop counting them). */
  async function turnsDuring<T>(scan: () => Promise<T>): Promise<{ turns: number; result: T }> {
    let turns = 0;
    let on = true;
    const tick = () => {
      turns++;
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    const result = await scan();
    on = false;
    return { turns, result };
  }

  test('gives the event loop turns while it walks, and finds what an unpaced scan finds', async () => {
    const home = join(tempDir('optx-skills-pace-'), 'home');
    writeTree(home);
    const { roots } = readSkillsSettings(new HermesHome(home), null).settings;
    const first = await scanRoots(roots, new Map(), Date.now());
    // From known records (a restart with the saved index): no file is read, so nothing but the pace gives turns.
    const known = new Map(first.skills.map((s) => [s.path, s] as const));
    const flat = await turnsDuring(() => scanRoots(roots, known, Date.now()));
    expect(flat.result.filesRead).toBe(0);
    expect(flat.turns).toBe(0);
    // A slice of 0 ms: a turn before every folder entry.
    const paced = await turnsDuring(() => scanRoots(roots, known, Date.now(), new Pace(0)));
    expect(paced.result.filesRead).toBe(0);
    expect(paced.turns).toBeGreaterThanOrEqual(SKILLS);
    expect(paced.result.skills.map((s) => [s.id, s.name])).toEqual(first.skills.map((s) => [s.id, s.name]));
  });

  test('steps (the saved index\'s load) get a turn between them, and give what running them at once gives', async () => {
    function* steps(): Generator<void, string> {
      yield;
      yield;
      return 'loaded';
    }
    expect(runSteps(steps())).toBe('loaded');
    const paced = await turnsDuring(() => pacedSteps(steps(), new Pace(0)));
    expect(paced).toEqual({ turns: 2, result: 'loaded' });
  });

  test('runs flat out once urgent (a listing waits for it), even after a stop', async () => {
    const home = join(tempDir('optx-skills-pace-'), 'home');
    writeTree(home);
    const { roots } = readSkillsSettings(new HermesHome(home), null).settings;
    const first = await scanRoots(roots, new Map(), Date.now());
    const pace = new Pace(0);
    pace.urgent = true;
    // Stopped too (a stop while a listing waits for it): that listing still gets its answer.
    pace.stop();
    const urgent = await turnsDuring(() => scanRoots(roots, new Map(first.skills.map((s) => [s.path, s] as const)), Date.now(), pace));
    expect(urgent.turns).toBe(0);
    expect(urgent.result.skills).toHaveLength(SKILLS);
  });
});

describe('the server', () => {
  test('warms the index once started: the saved index is written with no request made', async () => {
    const dir = tempDir('optx-skills-warm-main-');
    writeTree(join(dir, 'home'));
    const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--host', '127.0.0.1', '--port', '0', '--hermes-url', 'http://127.0.0.1:1'], {
      env: { PATH: process.env.PATH ?? '', HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' },
      stdout: 'pipe',
      stderr: 'ignore',
    });
    try {
      expect(await readFirstLine(proc.stdout)).toContain('listening on');
      // The save follows the scan by 1 s (saved.ts); this waits for the file, not for a time.
      const data = join(dir, 'data');
      for (let i = 0; i < 200 && savedIndexes(data).length === 0; i++) await Bun.sleep(50);
      expect(savedIndexes(data)).toHaveLength(1);
    } finally {
      proc.kill('SIGTERM');
      await proc.exited;
    }
  });
});
