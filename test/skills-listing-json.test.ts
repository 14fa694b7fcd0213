/**
 * listingJsonSteps builds GET /api/skills's body in chunks by string surgery; it must stay byte for byte
 * what JSON.stringify makes of the listing, and a listing the hand check refuses must fail as it did
 * before the chunks (z.parse's error, a 500 at the route).
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { join } from 'node:path';
import { HermesHome } from '../src/hermes/home';
import { z } from '../src/lib/zod';
import { LISTING_CHUNK, listingJsonSteps } from '../src/modules/skills/listing-json';
import { SkillsList, type SkillSummary } from '../src/modules/skills/model';
import { runSteps } from '../src/modules/skills/pace';
import { SkillsIndex } from '../src/modules/skills/service';
import { skillMd, writeFile } from './helpers/hermes-home';
import { tempDir } from './helpers/temp';

// Any UTF-16 text, lone surrogates, quotes, backslashes and control characters included.
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', 'é', '\u0000') }));
const nullable = fc.option(text, { nil: null });

const summary: fc.Arbitrary<SkillSummary> = fc.record({
  id: text,
  name: text,
  description: text,
  category: nullable,
  tags: fc.array(text, { maxLength: 3 }),
  version: nullable,
  author: nullable,
  platforms: fc.array(text, { maxLength: 2 }),
  path: text,
  source: fc.constantFrom('local' as const, 'external' as const),
  installed: fc.constant(true as const),
  enabled: fc.boolean(),
  // Absent, undefined (omitted by JSON.stringify) or set.
  error: fc.constantFrom(undefined, 'parse_failed' as const),
}, { requiredKeys: ['id', 'name', 'description', 'category', 'tags', 'version', 'author', 'platforms', 'path', 'source', 'installed', 'enabled'] });

// Lengths around the chunk edges, repeated summaries so that 1,001 of them cost little to make.
const lengths = fc.constantFrom(0, 1, LISTING_CHUNK - 1, LISTING_CHUNK, LISTING_CHUNK + 1, 2 * LISTING_CHUNK, 2 * LISTING_CHUNK + 1);
const skills = fc.oneof(
  fc.array(summary, { maxLength: 8 }),
  fc.tuple(lengths, fc.array(summary, { minLength: 1, maxLength: 5 })).map(([n, pool]) => Array.from({ length: n }, (_, i) => pool[i % pool.length] as SkillSummary)),
);

// In the key order listing() builds: skills first; warnings absent, undefined or set.
const list: fc.Arbitrary<SkillsList> = fc
  .tuple(skills, fc.nat(), fc.array(text, { maxLength: 3 }), fc.constantFrom('absent', 'undefined', 'set'), fc.array(text, { maxLength: 2 }))
  .map(([s, total, categories, w, warnings]) => ({
    skills: s,
    total,
    categories,
    ...(w === 'absent' ? {} : { warnings: w === 'set' ? warnings : undefined }),
  }));

describe('listingJsonSteps', () => {
  test('gives JSON.stringify of any listing, byte for byte', () => {
    fc.assert(
      fc.property(list, (body) => {
        expect(runSteps(listingJsonSteps(body))).toBe(JSON.stringify(body));
      }),
      { numRuns: 300 },
    );
  });

  test('a listing the hand check refuses, in any chunk or outside the skills, throws the error z.parse throws', () => {
    const good = { id: 'a', name: 'a', description: '', category: null, tags: [], version: null, author: null, platforms: [], path: '/a', source: 'local', installed: true, enabled: true } as const;
    const bad = [
      { skills: Array.from({ length: LISTING_CHUNK + 3 }, (_, i) => (i === LISTING_CHUNK + 1 ? { ...good, tags: [1] } : good)), total: 1, categories: [] },
      { skills: [good], total: 1.5, categories: [] },
      { skills: [], total: 0, categories: [], warnings: [null] },
    ] as unknown as SkillsList[];
    for (const body of bad) {
      let expected: unknown;
      try {
        z.parse(SkillsList, body);
      } catch (err) {
        expected = err;
      }
      expect(expected).toBeInstanceOf(Error);
      expect(() => runSteps(listingJsonSteps(body))).toThrow((expected as Error).message);
    }
  });

  test('an index\'s listings, whatever the query, are the JSON text of list()', async () => {
    const home = join(tempDir('optx-skills-listing-json-'), 'home');
    for (let i = 0; i < LISTING_CHUNK + 2; i++) writeFile(join(home, 'skills', `cat${i % 3}`, `s${i}`, 'SKILL.md'), skillMd({ name: `skill-${i}`, description: `Does "${i}" ü`, tags: `[t${i % 2}]` }));
    writeFile(join(home, 'config.yaml'), 'skills:\n  external_dirs: [/nonexistent-optx-dir]\n');
    const index = new SkillsIndex(new HermesHome(home));
    const queries = [{ offset: 0 }, { offset: 0, limit: LISTING_CHUNK }, { offset: 1, limit: LISTING_CHUNK }, { offset: 10_000 }, { offset: 0, category: 'nothing' }, { offset: 0, tag: 'T1' }, { offset: 3, search: 'skill-1' }];
    expect((await index.list({ offset: 0 })).warnings?.length).toBe(1);
    expect((await index.list({ offset: 0, tag: 't1' })).total).toBe((LISTING_CHUNK + 2) / 2);
    for (const q of queries) expect(await index.listJson(q)).toBe(JSON.stringify(await index.list(q)));
  });
});
