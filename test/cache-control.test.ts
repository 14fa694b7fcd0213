/**
 * No answer of the sidecar may be kept by a browser's cache or a shared proxy: GET /api/config,
 * sessions, memories, tasks, wallet, usage… had no Cache-Control at all, which lets a browser keep them
 * on disk and a shared proxy serve them heuristically. Every answer now says `no-store` unless it says
 * something of its own: the /v1 proxy passes the upstream's, event streams say `no-cache, no-store`.
 */
import { describe, expect, test } from 'bun:test';
import type { FakeHermes } from './fakes/hermes';
import { readSse, type TestApp } from './helpers/app';
import { chatBody, useFakeHermes } from './helpers/fake-app';
import { credentialFor, paid, payer, useMppApps } from './helpers/mpp';

const mpp = await useMppApps({ hermes: false });

const cacheOf = (res: Response) => res.headers.get('cache-control');

describe('the sidecar\'s own answers', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('every GET route, with its data, its 404 or its 422, says no-store; so do HEAD, OPTIONS and writes', async () => {
    fake.addSession({ id: 'up1', title: 'T', messages: [{ role: 'user', content: 'secret' }] });
    expect((await t.json('POST', '/api/memory', { content: 'private' })).status).toBe(201);
    const gets = t.app.routes.filter((r) => r.method === 'GET').map((r) => r.path.replace(/:[a-z_]+/g, 'nope'));
    expect(gets.length).toBeGreaterThan(20);
    for (const path of [...gets, '/api/sessions/up1', '/api/sessions/up1/messages', '/api/memory/recall?query=private']) {
      const res = await t.fetch(path);
      await res.arrayBuffer();
      expect([path, cacheOf(res)]).toEqual([path, 'no-store']);
    }
    const writes = [
      await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'more' }) }),
      await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
      await t.fetch('/api/config', { method: 'HEAD' }),
      await t.fetch('/api/config', { method: 'OPTIONS' }),
      await t.fetch('/api/config', { method: 'PUT' }),
      await t.fetch('/api/nothing'),
    ];
    expect(writes.map((r) => [r.status, cacheOf(r)])).toEqual([[201, 'no-store'], [400, 'no-store'], [200, 'no-store'], [204, 'no-store'], [405, 'no-store'], [404, 'no-store']]);
  });

  test('refusals before routing say no-store too (a foreign page\'s write, a rebound host name)', async () => {
    const csrf = await t.fetch('/api/memory', { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: '{}' });
    const rebound = await t.fetch('/api/config', { headers: { host: 'evil.example:8643', 'sec-fetch-site': 'same-origin' } });
    expect([[csrf.status, cacheOf(csrf)], [rebound.status, cacheOf(rebound)]]).toEqual([[403, 'no-store'], [403, 'no-store']]);
  });

  test('the sidecar\'s event streams say no-cache, no-store', async () => {
    const chat = await t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hi' }) });
    expect(cacheOf(chat)).toBe('no-cache, no-store');
    await readSse(chat);
  });

  test('the /v1 proxy passes the upstream\'s Cache-Control as it came, and says no-store only where the upstream said nothing', async () => {
    const bare = await t.fetch('/v1/models');
    expect([bare.status, cacheOf(bare)]).toEqual([200, 'no-store']);
    await bare.arrayBuffer();
    fake.behavior.responseHeaders = { 'cache-control': 'public, max-age=60' };
    const own = await t.fetch('/v1/models');
    expect([own.status, cacheOf(own)]).toEqual([200, 'public, max-age=60']);
    await own.arrayBuffer();
    fake.behavior.responseHeaders = {};
    // The upstream's event stream keeps its own `no-cache`.
    const stream = await t.fetch('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('hi', { stream: true }) });
    expect([stream.status, cacheOf(stream)]).toEqual([200, 'no-cache']);
    await stream.arrayBuffer();
  });
});

describe('MPP', () => {
  test('a paid answer is private, as MPP asks of one with a receipt, and no-store like every other', async () => {
    const app = await mpp.open({ API_KEY: '' });
    const { client } = payer(app, mpp.chain);
    const res = await paid(app, await credentialFor(app, client, '/api/memory'), '/api/memory');
    expect([res.status, res.headers.has('payment-receipt'), cacheOf(res)]).toEqual([200, true, 'private, no-store']);
    const challenge = await app.fetch('/api/memory');
    expect([challenge.status, cacheOf(challenge)]).toEqual([402, 'no-store']);
  });
});
