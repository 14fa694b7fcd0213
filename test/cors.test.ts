/** What a browser client on an allowed origin needs from the sidecar's CORS answers (CORS_ORIGINS). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { ConfigError, loadConfig } from '../src/config';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';

const ORIGIN = 'https://app.example';
let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp({ env: { CORS_ORIGINS: ORIGIN } });
});
afterAll(() => t.close());

const preflight = (origin: string, requested: string) =>
  t.fetch('/v1/chat/completions', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requested } });

describe('preflight', () => {
  test("the OpenAI SDK's own headers (x-stainless-*) are allowed, or the browser drops every call it makes", async () => {
    // What openai-node sends from a browser besides content-type and authorization.
    const sdk = 'authorization, content-type, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout';
    const res = await preflight(ORIGIN, sdk);
    expect(res.status).toBe(204);
    const allowed = new Set(res.headers.get('access-control-allow-headers')?.split(/\s*,\s*/));
    expect(sdk.split(', ').filter((h) => !allowed.has(h))).toEqual([]);
    // The answer depends on the headers asked for: a cache must not give it to another preflight.
    expect(res.headers.get('vary')?.split(/\s*,\s*/)).toEqual(['Origin', 'Access-Control-Request-Headers']);
  });

  test('only header names are echoed, and a foreign origin gets a 403 without CORS headers', async () => {
    const res = await preflight(ORIGIN, 'X-Custom, bad header, x-ok');
    const allowed = res.headers.get('access-control-allow-headers')?.split(/\s*,\s*/) ?? [];
    expect(allowed).toContain('x-custom');
    expect(allowed).toContain('x-ok');
    expect(allowed).not.toContain('bad header');
    const foreign = await preflight('https://evil.example', 'x-custom');
    expect([foreign.status, foreign.headers.get('access-control-allow-headers')]).toEqual([403, null]);
  });

  test("a refused preflight says why in the route's envelope (it was an empty 403: curl and the browser's network tab showed nothing)", async () => {
    const ask = (path: string) => t.fetch(path, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    const detail = 'A web page of origin https://evil.example may not call the sidecar; add it to CORS_ORIGINS to allow it.';
    const api = await ask('/api/tasks');
    expect([api.status, api.headers.get('content-type'), await api.json()]).toEqual([403, 'application/json; charset=utf-8', { detail, code: 'origin_not_allowed' }]);
    const v1 = await ask('/v1/chat/completions');
    expect([v1.status, await v1.json()]).toEqual([403, { error: { message: detail, type: 'invalid_request_error', code: 'origin_not_allowed', param: null } }]);
  });

  test('without CORS_ORIGINS every preflight is refused so, on every kind of path', async () => {
    const c = await makeTestApp();
    try {
      for (const path of ['/health', '/api/memory', '/api/chat/completions/stream', '/v1/models', '/nothing']) {
        const res = await c.fetch(path, { method: 'OPTIONS', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'GET' } });
        const body = (await res.json()) as { code?: string; error?: { code: string } };
        expect([path, res.status, body.code ?? body.error?.code, res.headers.get('access-control-allow-origin')]).toEqual([path, 403, 'origin_not_allowed', null]);
      }
    } finally {
      c.close();
    }
  });
});

describe('answers', () => {
  test('a page can read Allow of a 405 and Retry-After of a 503, as any other client backs off and corrects itself', async () => {
    const res = await t.fetch('/api/config', { method: 'PUT', headers: { origin: ORIGIN } });
    expect([res.status, res.headers.get('allow')]).toEqual([405, 'GET, HEAD, OPTIONS, PATCH, POST']);
    const exposed = res.headers.get('access-control-expose-headers')?.split(/\s*,\s*/) ?? [];
    expect(exposed).toContain('allow');
    expect(exposed).toContain('retry-after');
  });
});

describe('Vary: Origin', () => {
  // An upstream whose /v1/models a shared cache may store (Cache-Control passes through the proxy).
  let upstream: ReturnType<typeof Bun.serve>;
  let c: TestApp;
  beforeAll(async () => {
    upstream = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json({ object: 'list', data: [] }, { headers: { 'cache-control': 'public, max-age=60' } }) });
    c = await makeTestApp({ env: { CORS_ORIGINS: ORIGIN, HERMES_AGENT_URL: `http://127.0.0.1:${upstream.port}` } });
  });
  afterAll(async () => {
    c.close();
    await upstream.stop(true);
  });
  const varies = (res: Response) => (res.headers.get('vary') ?? '').toLowerCase().split(/\s*,\s*/).includes('origin');

  test('a storable answer without CORS headers says it varies by Origin, or a cache serves it to an allowed page, which then fails', async () => {
    const allowed = await c.fetch('/v1/models', { headers: { origin: ORIGIN } });
    expect([allowed.headers.get('access-control-allow-origin'), varies(allowed)]).toEqual([ORIGIN, true]);
    for (const headers of [{}, { origin: 'https://evil.example' }] as Record<string, string>[]) {
      const res = await c.fetch('/v1/models', { headers });
      expect([headers, res.status, res.headers.get('cache-control'), res.headers.get('access-control-allow-origin'), varies(res)]).toEqual([headers, 200, 'public, max-age=60', null, true]);
    }
  });

  test("the sidecar's own answers say so too while CORS_ORIGINS is set, and not without it", async () => {
    expect(varies(await c.fetch('/api/tasks'))).toBe(true);
    expect(varies(await c.fetch('/nothing'))).toBe(true);
    expect(varies(await t.fetch('/health', { headers: { origin: 'https://evil.example' } }))).toBe(true);
    const plain = await makeTestApp();
    try {
      expect(varies(await plain.fetch('/api/tasks'))).toBe(false);
    } finally {
      plain.close();
    }
  });
});

describe('CORS_ORIGINS', () => {
  test('an origin written as pasted from the address bar (case, default port, final slash) is the origin a browser sends', async () => {
    const c = await makeTestApp({ env: { CORS_ORIGINS: 'https://App.Example:443/, http://localhost:3000/, app://obsidian.md/' } });
    try {
      expect(c.config.server.corsOrigins).toEqual(['https://app.example', 'http://localhost:3000', 'app://obsidian.md']);
      for (const origin of ['https://app.example', 'http://localhost:3000', 'app://obsidian.md']) {
        const res = await c.fetch('/api/memory', { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ content: origin }) });
        expect([origin, res.status, res.headers.get('access-control-allow-origin')]).toEqual([origin, 201, origin]);
      }
    } finally {
      c.close();
    }
  });

  test("Electron's `file://` (the Origin of its file: pages) can be listed, as before the entries were checked", async () => {
    const c = await makeTestApp({ env: { CORS_ORIGINS: 'file://' } });
    try {
      const res = await c.fetch('/api/memory', { method: 'POST', headers: { origin: 'file://', 'content-type': 'application/json' }, body: JSON.stringify({ content: 'desktop' }) });
      expect([res.status, res.headers.get('access-control-allow-origin')]).toEqual([201, 'file://']);
    } finally {
      c.close();
    }
  });

  test('a value that is no origin (no scheme, a path) stops start-up naming it', () => {
    const cwd = tempDir();
    for (const bad of ['app.example', 'localhost:3000', 'https://app.example/chat']) {
      let message = 'started';
      try {
        loadConfig({ argv: [], env: { HERMES_HOME: cwd, CORS_ORIGINS: `https://ok.example,${bad}` }, cwd, home: cwd });
      } catch (err) {
        message = err instanceof ConfigError ? err.message : String(err);
      }
      expect(message).toStartWith(`Invalid CORS_ORIGINS: ${bad} is not an origin`);
    }
  });
});
