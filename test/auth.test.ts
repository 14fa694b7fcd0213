/** API-key authentication on every route of the app (SPEC §5). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { jsonOf, makeTestApp, type TestApp } from './helpers/app';
import { bearerToken } from '../src/modules/auth/service';

// The docs page holds no route (it fetches /openapi/json, which is not public).
const PUBLIC = new Set(['/health', '/api/gateway-status', '/openapi']);
let fake: FakeHermes;
let t: TestApp;
beforeAll(async () => {
  fake = await startFakeHermes();
  t = await makeTestApp({ env: { API_KEY: 'key-one,key-two', HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' } });
});
afterAll(async () => {
  t.close();
  await fake.stop();
});

/** Every route the app really has, with its parameters filled in, for each of its methods. */
function everyRoute(): { method: string; path: string }[] {
  return t.app.routes.map((r) => ({
    method: r.method === 'ALL' ? 'POST' : r.method,
    path: r.path.replace(/:[^/]+/g, 'x-1').replace('*', 'models'),
  }));
}

describe('API key authentication', () => {
  test('the route list is not empty and includes the proxies', () => {
    const paths = everyRoute().map((r) => r.path);
    expect(paths).toContain('/v1/models');
    expect(paths).toContain('/api/chat/completions/stream');
    expect(paths.length).toBeGreaterThan(4);
  });

  test('every route except /health, /api/gateway-status and the /openapi page refuses a request without a key', async () => {
    for (const { method, path } of everyRoute()) {
      const res = await t.fetch(path, { method, body: method === 'GET' || method === 'HEAD' ? undefined : '{}' });
      if (PUBLIC.has(path)) {
        expect([path, res.status]).toEqual([path, 200]);
        continue;
      }
      expect([method, path, res.status]).toEqual([method, path, 401]);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="hermes-optx-api"');
      const body = await jsonOf(res);
      if (path.startsWith('/v1/') || path === '/api/chat/completions/stream') expect(body.error.code).toBe('unauthorized');
      else expect(body).toEqual({ detail: 'Invalid or missing API key.', code: 'unauthorized' });
    }
  });

  test('a wrong key, another scheme or an empty bearer is refused', async () => {
    for (const authorization of ['Bearer key-three', 'Basic a2V5LW9uZQ==', 'Bearer', 'Bearer ', 'key-one', 'Bearer key-one extra']) {
      const res = await t.fetch('/openapi/json', { headers: { authorization } });
      expect([authorization, res.status]).toEqual([authorization, 401]);
    }
  });

  test('each configured key is accepted, scheme case-insensitive, on every route', async () => {
    for (const authorization of ['Bearer key-one', 'bearer key-two', 'BEARER key-one']) {
      for (const { method, path } of everyRoute()) {
        const res = await t.fetch(path, { method, headers: { authorization }, body: method === 'GET' ? undefined : '{}' });
        expect([path, res.status === 401]).toEqual([path, false]);
      }
    }
  });

  test('an unknown route without a key is 401 (routes are not revealed), with a key 404', async () => {
    expect((await t.fetch('/api/secret-thing')).status).toBe(401);
    expect((await t.fetch('/api/secret-thing', { headers: { authorization: 'Bearer key-one' } })).status).toBe(404);
    // Nor which methods a path takes: the 405 with Allow is for callers with a key.
    const put = await t.fetch('/api/config', { method: 'PUT' });
    expect([put.status, put.headers.get('allow')]).toEqual([401, null]);
    expect((await t.fetch('/api/config', { method: 'PUT', headers: { authorization: 'Bearer key-one' } })).status).toBe(405);
  });

  test('OPTIONS is checked like any other method', async () => {
    fake.requests.length = 0;
    for (const path of ['/v1/models', '/api/tasks', '/api/config']) {
      const variants: Record<string, string>[] = [{}, { 'access-control-request-method': 'GET' }, { origin: 'https://app.example', 'access-control-request-method': 'GET' }];
      for (const headers of variants) {
        const res = await t.fetch(path, { method: 'OPTIONS', headers });
        // With an Origin it is a preflight, refused by CORS (no origin is allowed here); otherwise 401.
        expect([path, headers, res.status]).toEqual([path, headers, 'origin' in headers ? 403 : 401]);
      }
    }
    expect(fake.requests.filter((r) => r.path === '/v1/models')).toEqual([]);
    // With a key, the sidecar answers it itself (it is never forwarded: see the proxy tests).
    const keyed = await t.fetch('/v1/models', { method: 'OPTIONS', headers: { authorization: 'Bearer key-one' } });
    expect(keyed.status).toBe(204);
  });

  test("the client's key is never forwarded upstream; the sidecar's is", async () => {
    fake.requests.length = 0;
    const res = await t.fetch('/v1/models', { headers: { authorization: 'Bearer key-one' } });
    expect(res.status).toBe(200);
    const sent = fake.requests.find((r) => r.path === '/v1/models')!;
    expect(sent.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
  });

  test('with nothing configured the app is open', async () => {
    const open = await makeTestApp();
    expect((await open.fetch('/openapi/json')).status).toBe(200);
    open.close();
  });

  test('CORS preflight is answered without a key for allowed origins only', async () => {
    const c = await makeTestApp({ env: { API_KEY: 'k', CORS_ORIGINS: 'https://app.example' } });
    const pre = (origin: string) => c.fetch('/api/gateway-status', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
    const ok = await pre('https://app.example');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await pre('https://evil.example')).status).toBe(403);
    const res = await c.fetch('/health', { headers: { origin: 'https://app.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await c.fetch('/health', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull();
    c.close();
  });

  test('every refusal an allowed origin gets carries the CORS headers, a malformed path too', async () => {
    // Without them the browser hides the answer: the client sees a network error, not the reason.
    const c = await makeTestApp({ env: { API_KEY: 'k', CORS_ORIGINS: 'https://app.example' } });
    const headers = { origin: 'https://app.example', authorization: 'Bearer k' };
    for (const [path, init, status] of [
      ['/api/tasks/%zz', { headers }, 400],
      ['/api/tasks', { headers: { origin: 'https://app.example' } }, 401],
      ['/api/nope', { headers }, 404],
    ] as const) {
      const res = await c.fetch(path, init);
      expect([path, res.status, res.headers.get('access-control-allow-origin')]).toEqual([path, status, 'https://app.example']);
    }
    c.close();
  });

  test('CORS * never allows credentials', async () => {
    const c = await makeTestApp({ env: { CORS_ORIGINS: '*' } });
    const res = await c.fetch('/health', { headers: { origin: 'https://any.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    c.close();
  });
});

test('bearerToken parses only well-formed Bearer headers', () => {
  expect(bearerToken('Bearer abc')).toBe('abc');
  expect(bearerToken('bEaReR   abc  ')).toBe('abc');
  expect(bearerToken('Bearer a b')).toBeNull();
  expect(bearerToken('Token abc')).toBeNull();
  expect(bearerToken(null)).toBeNull();
});
