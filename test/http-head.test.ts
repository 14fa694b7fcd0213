/**
 * HEAD on every GET route over a real socket (Bun writes the answer's framing itself, which
 * `app.handle` never shows): the GET's status and Content-Type, no body, and a Date as on every other
 * answer (RFC 9110 §6.6.1: an origin server with a clock sends one on every 2xx, 3xx and 4xx).
 */
import { describe, expect, test } from 'bun:test';
import { useListeningApp } from './helpers/fake-app';

let base = '';
useListeningApp((_fake, _t, b) => {
  base = b;
});

/** The GET paths of the OpenAPI document, each `{param}` filled with an id no store holds. */
async function getPaths(): Promise<string[]> {
  const doc = (await (await fetch(`${base}/openapi/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).filter(([, ops]) => 'get' in ops).map(([p]) => p.replace('/*', '/models').replace(/\{[^}]+\}/g, 'no-such-id'));
}

describe('HEAD on GET routes', () => {
  test('answers as GET does, without a body, with a Date', async () => {
    const paths = await getPaths();
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) {
      const get = await fetch(`${base}${path}`);
      await get.arrayBuffer();
      const head = await fetch(`${base}${path}`, { method: 'HEAD' });
      const seen = { path, status: head.status, type: head.headers.get('content-type'), body: await head.text(), dated: head.headers.has('date') };
      expect(seen).toEqual({ path, status: get.status, type: get.headers.get('content-type'), body: '', dated: true });
    }
  });

  test('an error answer to HEAD (404, 405, 400) has its Date too', async () => {
    for (const [method, path] of [['HEAD', '/nothing'], ['HEAD', '/api/memory/search'], ['HEAD', '/api/tasks/%ZZ']] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect({ path, status: res.status, dated: res.headers.has('date') }).toEqual({ path, status: ({ '/nothing': 404, '/api/memory/search': 405, '/api/tasks/%ZZ': 400 })[path], dated: true });
    }
  });
});
