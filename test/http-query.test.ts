/**
 * How query strings are read, as docs/ARCHITECTURE.md ("Errors") and README settle it: numbers are
 * plain decimal digits, `+` is a space as `%20` is, and a repeated parameter is a 422 on a route that
 * takes query parameters, while a route that takes none ignores its query string whole.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(() => t.close());

describe('query strings', () => {
  test('a number is decimal digits only: 1e3, 0x10, 5.0, padded or signed values are a 422 naming the range', async () => {
    for (const limit of ['1e3', '0x10', '5.0', '%205', '5%20', '+5', '-1', '99999999999999999999']) {
      const res = await t.json<{ code: string; errors: { path: string }[] }>('GET', `/api/tasks?limit=${limit}`);
      expect([limit, res.status, res.body.code, res.body.errors[0]?.path]).toEqual([limit, 422, 'validation_error', 'limit']);
    }
    expect((await t.json<{ limit: number }>('GET', '/api/tasks?limit=07')).body.limit).toBe(7);
  });

  test('`+` and `%20` are both a space', async () => {
    await t.json('POST', '/api/memory', { content: 'hello wide world' });
    for (const q of ['hello+wide', 'hello%20wide']) {
      const res = await t.json<{ memories: { content: string }[] }>('GET', `/api/memory?query=${q}`);
      expect([q, res.status, res.body.memories.map((m) => m.content)]).toEqual([q, 200, ['hello wide world']]);
    }
  });

  test('a repeated parameter is a 422 where the route takes parameters, any name; a route that takes none ignores them', async () => {
    for (const qs of ['limit=1&limit=2', 'foo=1&foo=2', 'status[]=Open&status=Done']) {
      expect([qs, (await t.json('GET', `/api/tasks?${qs}`)).status]).toEqual([qs, 422]);
    }
    for (const path of ['/health', '/api/tasks/stats', '/api/config']) {
      expect([path, (await t.json('GET', `${path}?x=1&x=2`)).status]).toEqual([path, 200]);
    }
  });
});
