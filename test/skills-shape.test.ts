/**
 * The hand-written check of a skills listing (isSkillsList, used instead of zod for thousands of
 * summaries) must accept exactly what the SkillsList schema accepts, field by field.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { z } from '../src/lib/zod';
import { isSkillsList, SkillsList } from '../src/modules/skills/model';

const text = fc.string({ maxLength: 8 });
const nullableText = fc.option(text, { nil: null });
const texts = fc.array(text, { maxLength: 3 });
const notText = [1, null, undefined, true, ['a'], { a: 1 }];
const notTexts = ['a', [1], ['a', null], null, undefined, { 0: 'a' }];

/** Per field: what the schema takes, and values it refuses (wrong type, missing, out of range). */
const summaryFields: Record<string, [fc.Arbitrary<unknown>, unknown[]]> = {
  id: [text, notText],
  name: [text, notText],
  description: [text, notText],
  category: [nullableText, [1, undefined, false]],
  tags: [texts, notTexts],
  version: [nullableText, [1, undefined, []]],
  author: [nullableText, [0, undefined, {}]],
  platforms: [texts, notTexts],
  path: [text, notText],
  source: [fc.constantFrom('local', 'external'), ['remote', 'Local', null, undefined]],
  installed: [fc.constant(true), [false, 'true', 1, undefined]],
  enabled: [fc.boolean(), ['false', 0, null, undefined]],
  error: [fc.constantFrom(undefined, 'parse_failed'), [null, 'broken', 1]],
};
const bodyFields: Record<string, [fc.Arbitrary<unknown>, unknown[]]> = {
  total: [fc.integer({ min: 0, max: 10_000 }), [1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '3', null, undefined]],
  categories: [texts, notTexts],
  warnings: [fc.option(texts, { nil: undefined }), ['w', [1], null]],
};

/** A valid object of these fields with at most one of them spoiled (more would hide a lax check behind another). */
function spoiledAtMostOnce(fields: Record<string, [fc.Arbitrary<unknown>, unknown[]]>): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(fields);
  const valid = fc.record(Object.fromEntries(names.map((n) => [n, (fields[n] as [fc.Arbitrary<unknown>, unknown[]])[0]])));
  const spoil = fc.option(fc.constantFrom(...names).chain((n) => fc.constantFrom(...(fields[n] as [fc.Arbitrary<unknown>, unknown[]])[1]).map((v) => [n, v] as const)), { nil: null });
  return fc.tuple(valid, spoil).map(([obj, bad]) => withoutUndefined(bad ? { ...obj, [bad[0]]: bad[1] } : obj));
}

const summary = spoiledAtMostOnce(summaryFields);
const body = fc.tuple(
  spoiledAtMostOnce(bodyFields),
  fc.oneof(fc.array(summary, { maxLength: 3 }), fc.constantFrom(null, {}, [null], ['x'])),
).map(([b, skills]) => ({ ...b, skills }));

/** The object without its undefined fields (a field the generator left undefined is a missing one). */
function withoutUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

describe('skills listing shape', () => {
  test('the hand check accepts exactly what SkillsList accepts', () => {
    fc.assert(
      fc.property(body, (generated) => {
        const b = generated as unknown as SkillsList;
        expect(isSkillsList(b)).toBe(z.safeParse(SkillsList, b).success);
      }),
      { numRuns: 5000 },
    );
  });

  test('a real summary passes both', () => {
    const b: SkillsList = {
      skills: [{ id: 'a', name: 'a', description: '', category: null, tags: [], version: null, author: null, platforms: [], path: '/s/a/SKILL.md', source: 'local', installed: true, enabled: true }],
      total: 1,
      categories: [],
    };
    expect(isSkillsList(b)).toBe(true);
    expect(z.safeParse(SkillsList, b).success).toBe(true);
  });
});
