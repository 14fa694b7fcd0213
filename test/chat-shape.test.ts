/**
 * The hand check of each `/v1/chat/completions` chunk (isChunk, with the usage in it: isUpstreamUsage),
 * on the fallback's path from the upstream's token to the client's, must take exactly what its zod
 * schema takes, on generated values with near-misses; and a check loosened on one field must be caught.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { z } from '../src/lib/zod';
import { Chunk, isChunk } from '../src/modules/chat/adapters/completions';
import { isUpstreamUsage, UpstreamUsage } from '../src/modules/chat/adapters/shared';

type Fields = Record<string, [fc.Arbitrary<unknown>, unknown[]]>;
type Check = (v: unknown) => boolean;

/** A valid object of these fields with at most one of them spoiled (more would hide a lax check behind another). */
function spoiledAtMostOnce(fields: Fields): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(fields);
  const valid = fc.record(Object.fromEntries(names.map((n) => [n, (fields[n] as Fields[string])[0]])));
  const spoilable = names.filter((n) => (fields[n] as Fields[string])[1].length > 0);
  const spoil = fc.option(fc.constantFrom(...spoilable).chain((n) => fc.constantFrom(...(fields[n] as Fields[string])[1]).map((v) => [n, v] as const)), { nil: null, freq: 2 });
  return fc.tuple(valid, spoil).map(([obj, bad]) => withoutUndefined(bad ? { ...obj, [bad[0]]: bad[1] } : obj));
}

/** The object without its undefined fields (a field the generator left undefined is a missing one). */
function withoutUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const nullish = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, fc.constantFrom(null, undefined));
const notObjects = fc.constantFrom(null, undefined, 'x', 1, true, [], [{}]);
const text = fc.string({ maxLength: 6 });

const count: Fields[string] = [opt(fc.nat()), [-1, 1.5, 2 ** 60, Number.NaN, '1', null, true]];
const usage = fc.oneof(
  { weight: 9, arbitrary: spoiledAtMostOnce({ input_tokens: count, output_tokens: count, prompt_tokens: count, completion_tokens: count, total_tokens: count, other: [opt(fc.constantFrom(1, 'x', null)), []] }) },
  { weight: 1, arbitrary: notObjects },
);
const nullishText: Fields[string] = [nullish(text), [1, false, ['a'], {}]];
const choice = spoiledAtMostOnce({
  finish_reason: [nullish(fc.constantFrom('stop', 'error', 'length')), [1, true, {}]],
  delta: [nullish(spoiledAtMostOnce({ content: nullishText, reasoning_content: nullishText, reasoning: nullishText, role: [opt(fc.constant('assistant')), []] })), ['x', 1, [], true]],
  index: [opt(fc.nat(3)), []],
});
const chunk = fc.oneof(
  { weight: 9, arbitrary: spoiledAtMostOnce({
    choices: [nullish(fc.array(choice, { maxLength: 2 })), ['x', 1, {}, [null], [1], [[]]]],
    usage: [nullish(usage), []],
    error: [nullish(fc.constantFrom('boom', {}, { message: 'm' }, { code: 5 }, { message: 'm', code: 'c', other: 1 })), [1, true, ['x'], { message: 1 }, { message: null }]],
    id: [opt(fc.constantFrom('c1', 2, null)), []],
  }) },
  { weight: 1, arbitrary: notObjects },
);

const takes = (schema: z.ZodMiniType) => (v: unknown) => z.safeParse(schema, v).success;

const cases: [string, Check, (v: unknown) => boolean, fc.Arbitrary<unknown>][] = [
  ['UpstreamUsage', isUpstreamUsage, takes(UpstreamUsage), usage],
  ['completions Chunk', isChunk, takes(Chunk), chunk],
];

const disagreement = (check: Check, zodSays: (v: unknown) => boolean, values: fc.Arbitrary<unknown>) =>
  fc.check(fc.property(values, (v) => check(v) === zodSays(v)), { numRuns: 4000 });

/** The check with one optional field taken out before it looks: any value there passes. */
const loosened = (check: Check, field: string): Check => (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return check(v);
  const { [field]: _, ...rest } = v as Record<string, unknown>;
  return check(rest);
};
const loosen: Record<string, string> = { UpstreamUsage: 'total_tokens', 'completions Chunk': 'usage' };

describe('completions chunk hand check agrees with zod', () => {
  for (const [name, check, zodSays, values] of cases) {
    test(`${name}: the hand check takes exactly what zod takes`, () => {
      const run = disagreement(check, zodSays, values);
      expect(run.failed ? run.counterexample : null).toBeNull();
    });
    test(`${name}: a check loosened on \`${loosen[name]}\` is caught`, () => {
      expect(disagreement(loosened(check, loosen[name] as string), zodSays, values).failed).toBe(true);
    });
  }

  test('chunks as gateways send them pass the hand check', () => {
    expect(isChunk({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'x' }, finish_reason: null }] })).toBe(true);
    expect(isChunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } })).toBe(true);
    expect(isChunk({ id: 'c', choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] })).toBe(true);
  });

  test('objects that are not plain (null prototype, class instance, Date, Map, boxed string, RegExp) and functions, at each place: the hand check takes what zod takes', () => {
    // The checks share isPlainObject (lib/api-schemas.ts), "not null, typeof object, not an array", as
    // each had written it; zod's object check is the same test, so a check that asks more (a prototype
    // of Object, as plain-object checks elsewhere do) refuses a null-prototype chunk zod takes.
    class Fields {
      content = 'x';
      prompt_tokens = 1;
    }
    const odd = (): unknown[] => [Object.assign(Object.create(null), { content: 'x', prompt_tokens: 1 }), new Fields(), new Date(0), new Map([['content', 1]]), new String('x'), /x/, () => 'x'];
    const places: [string, (v: unknown) => unknown, Check, (v: unknown) => boolean][] = [
      ['chunk', (v) => v, isChunk, takes(Chunk)],
      ['choice', (v) => ({ choices: [v] }), isChunk, takes(Chunk)],
      ['delta', (v) => ({ choices: [{ delta: v }] }), isChunk, takes(Chunk)],
      ['error', (v) => ({ error: v }), isChunk, takes(Chunk)],
      ['usage in a chunk', (v) => ({ usage: v }), isChunk, takes(Chunk)],
      ['usage', (v) => v, isUpstreamUsage, takes(UpstreamUsage)],
    ];
    for (const [place, at, check, zodSays] of places) {
      for (const [i, v] of odd().entries()) expect([place, i, check(at(v))]).toEqual([place, i, zodSays(at(v))]);
    }
  });
});

