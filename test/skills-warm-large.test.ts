/**
 * The skills warm-up on a large tree (SkillsIndex.warm): at 20,000 skills it held the event loop for
 * 0.2–0.35 s in one piece after its paced scan (scripts/bench/skills.ts --stall-only), a request arriving
 * then waiting that long. Two pieces did it: its own listing stat'ed every SKILL.md again (the scan took
 * over the once-a-second check, RECHECK_MS) and the listing's JSON text was made in one piece.
 */
import { afterEach, describe, expect, spyOn, test } from 'bun:test';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { HermesHome } from '../src/hermes/home';
import { LISTING_CHUNK } from '../src/modules/skills/listing-json';
import { Pace } from '../src/modules/skills/pace';
import { SkillsIndex } from '../src/modules/skills/service';
import { skillMd, writeFile } from './helpers/hermes-home';
import { tempDir } from './helpers/temp';

const restore: (() => void)[] = [];
afterEach(() => {
  for (const r of restore.splice(0)) r();
});

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
});
