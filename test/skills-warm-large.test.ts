/**
 * The skills warm-up on a large tree (SkillsIndex.warm): at 20,000 skills it held the event loop for
 * 0.2–0.35 s in one piece after its paced scan (scripts/bench/skills.ts --stall-only), a request arriving
 * then waiting that long. Two pieces did it: its own listing stat'ed every SKILL.md again (the scan took
 * over the once-a-second check, RECHECK_MS) and the listing's JSON text was made in one piece.
 * Neither may change an answer: the requests that come between the steps, and those after, get what an
 * index without the warm-up gives for any query, a change made after its scan included.
 */
import { afterEach, describe, expect, spyOn, test } from 'bun:test';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { warmDeps } from '../src/deps';
import { HermesHome } from '../src/hermes/home';
import { LISTING_CHUNK } from '../src/modules/skills/listing-json';
import type { SkillsQuery } from '../src/modules/skills/model';
import { Pace } from '../src/modules/skills/pace';
import { SkillsIndex } from '../src/modules/skills/service';
import { makeTestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';
import { tempDir } from './helpers/temp';

const restore: (() => void)[] = [];
afterEach(() => {
  for (const r of restore.splice(0)) r();
});

/** Every slice of the warm-up used up at once: a turn wherever it may give one, so requests come between its steps. */
function turnAtEveryStep(): void {
  const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
    return !this.urgent;
  });
  restore.push(() => due.mockRestore());
}

/** GET /api/skills's text for a query, as an index with no warm-up (a new one, reading the disk now) makes it. */
const fresh = async (home: string, q: Partial<SkillsQuery>) => JSON.stringify(await new SkillsIndex(new HermesHome(home)).list({ offset: 0, ...q }));

function tree(skills: number): HermesHome {
  const home = join(tempDir('optx-skills-warm-large-'), 'home');
  for (let i = 0; i < skills; i++) writeFile(join(home, 'skills', `cat${i % 4}`, `s${i}`, 'SKILL.md'), skillMd({ name: `skill-${i}`, description: `Does ${i}` }));
  return new HermesHome(home);
}

describe('the skills warm-up on a large tree', () => {
  test('its own listing does not stat every SKILL.md again when its scan took longer than the once-a-second check', async () => {
    let clock = 0;
    const index = new SkillsIndex(tree(24), { now: () => clock, eagerLimit: 8 });
    const stat = spyOn(fs, 'statSync');
    restore.push(() => stat.mockRestore());
    const warming = index.warm();
    // The scan took its start time; the listing after it comes past RECHECK_MS (a scan of 20,000 skills takes ~1–2 s).
    clock = 5_000;
    await warming;
    const skillStats = stat.mock.calls.filter(([p]) => String(p).endsWith('SKILL.md')).length;
    // Was 24: the files the scan had just read, stat'ed once more in one piece (0.15 s at 20,000 skills).
    expect(skillStats).toBe(0);
    expect(index.filesRead).toBe(24);
    // A request's listing still checks them (the once-a-second check), and finds nothing changed.
    expect((await index.list({ offset: 0 })).total).toBe(24);
    expect(stat.mock.calls.filter(([p]) => String(p).endsWith('SKILL.md')).length).toBe(24);
    expect(index.filesRead).toBe(24);
  });

  test('the JSON text is made in pieces of LISTING_CHUNK skills with a turn of the event loop between them, the same text as in one piece', async () => {
    const skills = LISTING_CHUNK * 2 + 7;
    const home = tree(skills);
    const index = new SkillsIndex(home);
    // Every slice used up at once: a turn wherever the warm-up may give one.
    const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
      return !this.urgent;
    });
    restore.push(() => due.mockRestore());
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const pieces: { size: number; turn: number }[] = [];
    const real = JSON.stringify;
    const stringify = spyOn(JSON, 'stringify').mockImplementation(((value: unknown, ...rest: []) => {
      const list = Array.isArray(value) ? value : (value as { skills?: unknown } | null)?.skills;
      if (Array.isArray(list) && (list[0] as { id?: unknown } | undefined)?.id !== undefined) pieces.push({ size: list.length, turn: turns });
      return real(value, ...rest);
    }) as typeof JSON.stringify);
    restore.push(() => stringify.mockRestore());
    await index.warm();
    ticking = false;
    stringify.mockRestore();
    // Was one piece of all 1,007 skills, made without a turn.
    expect(Math.max(...pieces.map((p) => p.size))).toBeLessThanOrEqual(LISTING_CHUNK);
    expect(pieces.length).toBe(3);
    expect(new Set(pieces.map((p) => p.turn)).size).toBe(3);
    const fresh = new SkillsIndex(home);
    expect(await index.listJson({ offset: 0 })).toBe(JSON.stringify(await fresh.list({ offset: 0 })));
  });

  test('GET /api/skills during and after the warm-up answers every query as an index without one does (filters, pages, disabled, warnings)', async () => {
    const dir = tempDir('optx-skills-warm-large-');
    const home = join(dir, 'home');
    const skills = LISTING_CHUNK * 2 + 7;
    for (let i = 0; i < skills; i++) writeFile(join(home, 'skills', `cat${i % 4}`, `s${i}`, 'SKILL.md'), skillMd({ name: `skill-${i}`, description: `Does ${i} ü`, tags: `[t${i % 3}]` }));
    writeFile(join(home, 'config.yaml'), 'skills:\n  disabled: [skill-1, skill-600]\n  external_dirs: [/nonexistent-optx-dir]\n');
    turnAtEveryStep();
    const t = await makeTestApp({ env: { HERMES_HOME: home, OPTX_DATA_DIR: join(dir, 'data') } });
    restore.push(() => t.close());
    const queries: Partial<SkillsQuery>[] = [
      {}, { limit: LISTING_CHUNK }, { offset: LISTING_CHUNK - 1, limit: 3 }, { offset: skills }, { category: 'CAT1' }, { category: 'cat1', offset: 100, limit: 200 },
      { tag: 'T2' }, { search: 'skill-6' }, { search: 'ü', limit: 1 }, { category: '' }, { category: 'nothing' }, { category: 'cat0', tag: 't0', search: 'does' },
    ];
    const text = async (q: Partial<SkillsQuery>) => {
      const res = await t.fetch(`/api/skills?${new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)]))}`);
      expect(res.status).toBe(200);
      return res.text();
    };
    const expected = await Promise.all(queries.map((q) => fresh(home, q)));
    let warmed = false;
    const warming = warmDeps(t.deps).then(() => (warmed = true));
    let during = 0;
    // The first request waits for the scan; the ones after come between the steps of the warm-up's own
    // listing, each after a turn of the event loop (in-process requests alone never give one).
    // Not the bare listing first: the warm-up would find that one's text made and have nothing to make.
    for (let i = 1; !warmed; i++, during++) {
      expect([i, await text(queries[i % queries.length] as Partial<SkillsQuery>)]).toEqual([i, expected[i % queries.length] as string]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await warming;
    expect(during).toBeGreaterThan(2);
    for (const [i, q] of queries.entries()) expect([i, await text(q)]).toEqual([i, expected[i] as string]);
    // The warm-up's text is the one a bare listing is sent.
    expect(t.deps.skills.filesRead).toBe(skills);
  });

  test('a tree changed between the warm-up\'s scan and its own listing\'s text: the next listing shows the change, not the warm-up\'s text', async () => {
    const skills = LISTING_CHUNK + 3;
    const changes: Record<string, (home: string) => void> = {
      'a skill added': (home) => writeFile(join(home, 'skills', 'cat0', 'late', 'SKILL.md'), skillMd({ name: 'late', description: 'written after the scan' })),
      'a SKILL.md edited in place': (home) => writeFile(join(home, 'skills', 'cat1', 's1', 'SKILL.md'), skillMd({ name: 'skill-1', description: 'edited in place after the scan' })),
      'skills.disabled edited': (home) => writeFile(join(home, 'config.yaml'), 'skills:\n  disabled: [skill-2]\n'),
    };
    for (const [name, change] of Object.entries(changes)) {
      const hermes = tree(skills);
      let clock = 0;
      const index = new SkillsIndex(hermes, { now: () => clock });
      // The warm-up's listing has a Pace of its own: the change is made at its first step, once the
      // listing it serialises is made from the index as the scan left it.
      const scanPaces = new Set<Pace>();
      let changed = false;
      const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
        if (!changed && scanPaces.size && !scanPaces.has(this)) {
          changed = true;
          change(hermes.paths.home);
        }
        if (!changed) scanPaces.add(this);
        return !this.urgent;
      });
      try {
        await index.warm();
      } finally {
        due.mockRestore();
      }
      expect([name, changed]).toEqual([name, true]);
      // Past the once-a-second check of a tree over 256 skills, so an edit in place is looked for.
      clock = 5_000;
      expect([name, await index.listJson({ offset: 0 })]).toEqual([name, await fresh(hermes.paths.home, {})]);
    }
  });
});
