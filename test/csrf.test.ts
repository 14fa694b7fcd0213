/**
 * Cross-site request forgery: a web page the user visits can send a "simple" request (text/plain, a
 * form) to the sidecar on localhost without a preflight. CORS keeps the answer from the page, but the
 * write happened: POST /api/config pointed the agent's model.base_url at the attacker. Writes from a
 * page of a foreign origin are refused before they act; clients without an Origin are unaffected.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';
import { appOn, chatBody } from './helpers/fake-app';

const EVIL = 'https://evil.example';
const simple = (origin: string, extra: Record<string, string> = {}) => ({ origin, 'content-type': 'text/plain;charset=UTF-8', ...extra });

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
});
afterAll(() => fake.stop());

/** The app with one record of each kind, written by a client without an Origin. */
async function seeded(env: Record<string, string> = {}) {
  const t = await appOn(fake, env);
  const memory = (await t.json<{ memory: { id: string } }>('POST', '/api/memory', { content: 'kept' })).body.memory.id;
  const task = (await t.json<{ task_id: string }>('POST', '/api/tasks', { title: 't', description: 'd' })).body.task_id;
  expect((await t.json('POST', '/api/sessions', { id: 's1', title: 'kept' })).status).toBe(201);
  expect((await t.json('POST', '/api/config', { key: 'model.base_url', value: 'https://good.example/v1' })).status).toBe(200);
  return { t, memory, task };
}

describe('writes from a page of a foreign origin', () => {
  let t: TestApp;
  let ids: { memory: string; task: string };
  beforeAll(async () => {
    const s = await seeded();
    t = s.t;
    ids = s;
  });
  afterAll(() => t.close());

  test('every unsafe method of every module family is refused 403 in its envelope, and nothing is done', async () => {
    fake.reset();
    const cases: [string, string, unknown][] = [
      ['POST', '/api/config', { key: 'model.base_url', value: 'https://evil.example/v1' }],
      ['PATCH', '/api/config', { model: { base_url: 'https://evil.example/v1' } }],
      ['POST', '/api/config/model', { base_url: 'https://evil.example/v1' }],
      ['POST', '/api/memory', { content: 'planted' }],
      ['DELETE', `/api/memory/${ids.memory}`, undefined],
      ['POST', '/api/tasks', { title: 'planted', description: 'd' }],
      ['DELETE', `/api/tasks/${ids.task}`, undefined],
      ['POST', '/api/sessions', { id: 'planted' }],
      ['PATCH', '/api/sessions/s1', { title: 'renamed' }],
      ['DELETE', '/api/sessions/s1', undefined],
      ['POST', '/api/sessions/new/chat/stream', { message: 'run a tool' }],
      ['POST', '/api/wallet/escrow', { task_id: ids.task, amount: 1 }],
      ['POST', '/api/chat/completions/stream', JSON.parse(chatBody('run a tool'))],
      ['POST', '/v1/chat/completions', JSON.parse(chatBody('run a tool'))],
      ['PUT', '/v1/models', {}],
      ['PATCH', '/v1/models', {}],
      ['DELETE', '/v1/models', undefined],
    ];
    for (const origin of [EVIL, 'null', 'http://localhost:9999']) {
      for (const [method, path, body] of cases) {
        const res = await t.fetch(path, { method, headers: simple(origin, { host: 'localhost:8643' }), body: body === undefined ? undefined : JSON.stringify(body) });
        const json = (await res.json()) as { code?: string; detail?: string; error?: { code: string; message: string } };
        const openai = path.startsWith('/v1/') || path === '/api/chat/completions/stream';
        const code = openai ? json.error?.code : json.code;
        expect([origin, method, path, res.status, code]).toEqual([origin, method, path, 403, 'origin_not_allowed']);
        expect(openai ? json.error?.message : json.detail).toContain('CORS_ORIGINS');
      }
    }
    // Read back: everything as the trusted client left it, and the agent was never called.
    const config = await t.json<{ base_url: string }>('GET', '/api/config');
    expect(config.body.base_url).toBe('https://good.example/v1');
    const memories = await t.json<{ memories: { content: string }[] }>('GET', '/api/memory');
    expect(memories.body.memories.map((m) => m.content)).toEqual(['kept']);
    const tasks = await t.json<{ tasks: { title: string; status: string }[] }>('GET', '/api/tasks');
    expect(tasks.body.tasks.map((x) => [x.title, x.status])).toEqual([['t', 'Open']]);
    const session = await t.json<{ session: { title: string } }>('GET', '/api/sessions/s1');
    expect([session.status, session.body.session.title]).toEqual([200, 'kept']);
    expect((await t.json('GET', '/api/sessions/planted')).status).toBe(404);
    expect((await t.json<{ total: number }>('GET', '/api/wallet/escrow')).body.total).toBe(0);
    expect(fake.requests.filter((r) => !r.path.startsWith('/health') && r.method !== 'GET')).toEqual([]);
  });

  test('reads, preflights and clients without an Origin are unaffected', async () => {
    expect((await t.fetch('/api/config', { headers: { origin: EVIL } })).status).toBe(200);
    expect((await t.fetch('/api/config', { method: 'HEAD', headers: { origin: EVIL } })).status).toBe(200);
    // A preflight from a foreign origin stays a 403 (saying why: cors.test.ts), from nowhere an Allow list.
    const pre = await t.fetch('/api/config', { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    expect([pre.status, ((await pre.json()) as { code: string }).code, pre.headers.get('access-control-allow-origin')]).toEqual([403, 'origin_not_allowed', null]);
    expect((await t.fetch('/api/config', { method: 'OPTIONS' })).status).toBe(204);
    const res = await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ content: 'curl' }) });
    expect(res.status).toBe(201);
  });

  test('a page served by the sidecar itself (its origin is the Host) may write', async () => {
    // Under a host name of its own (agent.lan) too, once that name is allowed: dns-rebinding.test.ts.
    const pages: [string, string][] = [['http://localhost:8643', 'localhost:8643'], ['http://LocalHost:8643', 'localhost:8643'], ['http://127.0.0.1', '127.0.0.1:80'], ['https://[::1]', '[::1]']];
    for (const [origin, host] of pages) {
      const res = await t.fetch('/api/memory', { method: 'POST', headers: simple(origin, { host }), body: JSON.stringify({ content: `same ${origin} ${host}` }) });
      expect([origin, host, res.status]).toEqual([origin, host, 201]);
    }
    // Another port of the same host is another origin.
    const other = await t.fetch('/api/memory', { method: 'POST', headers: simple('http://localhost:3000', { host: 'localhost:8643' }), body: JSON.stringify({ content: 'other port' }) });
    expect(other.status).toBe(403);
  });

  test('a page behind a proxy that rewrites Host (a dev server, nginx by default) may write: the browser says same-origin', async () => {
    // What Vite's server.proxy (changeOrigin) passes on from the page at localhost:5173 calling its own /api.
    const proxied = await t.fetch('/api/memory', { method: 'POST', headers: simple('http://localhost:5173', { host: 'localhost:8643', 'sec-fetch-site': 'same-origin' }), body: JSON.stringify({ content: 'dev server' }) });
    expect(proxied.status).toBe(201);
    for (const site of ['cross-site', 'same-site', 'none']) {
      const res = await t.fetch('/api/memory', { method: 'POST', headers: simple(EVIL, { host: 'localhost:8643', 'sec-fetch-site': site }), body: JSON.stringify({ content: site }) });
      expect([site, res.status]).toEqual([site, 403]);
    }
  });
});

describe('origins CORS_ORIGINS allows', () => {
  test('a listed origin writes, with its CORS headers; others are refused', async () => {
    const { t } = await seeded({ CORS_ORIGINS: 'https://app.example,null' });
    try {
      for (const origin of ['https://app.example', 'null']) {
        const res = await t.fetch('/api/config', { method: 'POST', headers: simple(origin), body: JSON.stringify({ key: 'model.base_url', value: `https://${origin}.example/v1` }) });
        expect([origin, res.status, res.headers.get('access-control-allow-origin')]).toEqual([origin, 200, origin]);
      }
      const v1 = await t.fetch('/v1/chat/completions', { method: 'POST', headers: simple('https://app.example', { 'content-type': 'application/json' }), body: chatBody('hi') });
      expect(v1.status).toBe(200);
      const evil = await t.fetch('/api/config', { method: 'POST', headers: simple(EVIL), body: JSON.stringify({ key: 'model.base_url', value: 'https://evil.example/v1' }) });
      expect(evil.status).toBe(403);
      expect((await t.json<{ base_url: string }>('GET', '/api/config')).body.base_url).toBe('https://null.example/v1');
    } finally {
      t.close();
    }
  });

  test('`*` allows any origin to write, `null` (sandboxed frames, file: pages) included, as before the origin check', async () => {
    const t = await makeTestApp({ env: { CORS_ORIGINS: '*' } });
    try {
      const res = await t.fetch('/api/memory', { method: 'POST', headers: simple(EVIL), body: JSON.stringify({ content: 'any' }) });
      expect([res.status, res.headers.get('access-control-allow-origin')]).toEqual([201, '*']);
      const sandboxed = await t.fetch('/api/memory', { method: 'POST', headers: simple('null'), body: JSON.stringify({ content: 'null' }) });
      expect([sandboxed.status, sandboxed.headers.get('access-control-allow-origin')]).toEqual([201, '*']);
    } finally {
      t.close();
    }
  });
});

test('the OpenAPI document lists the origin 403 on writes only', async () => {
  const t = await makeTestApp();
  try {
    const doc = (await (await t.fetch('/openapi/json')).json()) as { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
    const config = doc.paths['/api/config'];
    expect(config?.post?.responses['403']?.description).toContain('origin_not_allowed');
    // A read's 403 is the Host check's alone (dns-rebinding.test.ts).
    expect(config?.get?.responses['403']?.description ?? '').not.toContain('origin_not_allowed');
    expect(doc.paths['/v1/{*}']?.delete?.responses['403']?.description ?? doc.paths['/v1/*']?.delete?.responses['403']?.description).toContain('CORS_ORIGINS');
  } finally {
    t.close();
  }
});
