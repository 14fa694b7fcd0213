/** The OpenAPI document covers every route with its schemas; the docs page works offline. */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { jsonOf, makeTestApp, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(() => t.close());

test('every route of the app is in /openapi/json, with request body schemas where it takes a body', async () => {
  const doc = await jsonOf(await t.fetch('/openapi/json'));
  expect(doc.openapi).toBe('3.1.2');
  expect(doc.info.title).toBe('hermes-optx-api');
  for (const r of t.app.routes) {
    const path = r.path.replace(/:([^/]+)/g, '{$1}');
    const methods = r.method === 'ALL' ? ['get', 'post'] : [r.method.toLowerCase()];
    for (const m of methods) {
      const op = doc.paths[path]?.[m];
      expect([r.method, path, op !== undefined]).toEqual([r.method, path, true]);
      expect(op.summary?.length ?? 0).toBeGreaterThan(0);
      if (r.hooks?.body) expect(Object.keys(op.requestBody.content)).toEqual(['application/json']);
    }
  }
});

test('the docs page is self-contained: no external script or stylesheet', async () => {
  const res = await t.fetch('/openapi');
  expect(res.headers.get('content-type')).toContain('text/html');
  const html = await res.text();
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
  expect(html).toContain('openapi/json');
});
