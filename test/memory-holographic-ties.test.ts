/**
 * Holographic search picks 3 × limit candidates by FTS5 rank. Facts that differ only in case and
 * punctuation have the same rank, score and vector: the best `limit` are then the newest (docs/memory.md,
 * "ties newest first"), whichever limit is asked, also when the tie straddles the candidates' cut.
 */
import { afterEach, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp;
afterEach(() => t.close());

test('equally relevant matches: the newest first for every limit, the cut of the candidates falling inside the tie', async () => {
  t = await makeTestApp();
  const contents = ['redis', 'Redis', 'REDIS', 'redis.', 'redis!', 'redis?', '(redis)'];
  for (const content of contents) expect((await t.json('POST', '/api/memory', { content })).status).toBe(201);
  const newestFirst = [...contents].reverse();
  for (const limit of [1, 2, 3, 7]) {
    const r = await t.json<{ results: { content: string }[]; total: number }>('POST', '/api/memory/search', { query: 'redis', limit });
    expect([limit, r.body.total, r.body.results.map((m) => m.content)]).toEqual([limit, 7, newestFirst.slice(0, limit)]);
  }
});

test('a better-ranked match stays a candidate when equal ranks straddle the cut', async () => {
  t = await makeTestApp();
  // The old fact repeats the word: a better FTS5 rank than the tied single-word facts after it.
  const contents = ['redis redis', 'redis', 'Redis', 'REDIS', 'redis.', 'redis!'];
  for (const content of contents) expect((await t.json('POST', '/api/memory', { content })).status).toBe(201);
  const r = await t.json<{ results: { content: string }[] }>('POST', '/api/memory/search', { query: 'redis', limit: 1 });
  const all = await t.json<{ results: { content: string }[] }>('POST', '/api/memory/search', { query: 'redis', limit: 6 });
  expect(r.body.results.map((m) => m.content)).toEqual(all.body.results.slice(0, 1).map((m) => m.content));
});
