/**
 * SIGTERM while requests wait for an upstream's answer (its headers, or a whole JSON answer): they
 * are answered 503 server_shutting_down at once, and the upstream request is cancelled. Reproduced
 * with the executable: the chat completions stream, the /v1 proxy, metered calls and swarm
 * decomposition ignored the shutdown, held the stop for the whole grace (6 s), then had their
 * connections reset with no answer at all.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp } from './helpers/app';

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes();
});
afterAll(() => fake.stop());

test('requests waiting for the upstream at shutdown get 503 server_shutting_down at once; nothing is billed or created', async () => {
  fake.reset();
  fake.behavior.hang['/v1/chat/completions'] = true;
  fake.behavior.hang['/v1/models'] = true;
  const shutdown = new AbortController();
  // HEDGEHOG (metered calls, decomposition) defaults to the same gateway.
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' }, open: { shutdown: shutdown.signal } });
  try {
    const post = (path: string, body: unknown) => t.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const session = (await t.json<{ session: { id: string } }>('POST', '/api/sessions', {})).body.session.id;
    const turnPath = `/api/sessions/${session}/chat/stream`;
    fake.behavior.hang[turnPath] = true;
    const waiting = {
      '/api/chat/completions/stream': post('/api/chat/completions/stream', { messages: [{ role: 'user', content: 'hi' }] }),
      '/v1/chat/completions': post('/v1/chat/completions', { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      '/v1/models': t.fetch('/v1/models'),
      '/api/wallet/tempo/call': post('/api/wallet/tempo/call', { caller_id: 'c1', prompt: 'hi' }),
      '/api/tasks/swarm': post('/api/tasks/swarm', { goal: 'build a shed' }),
      '/api/sessions/:id/chat': post(`/api/sessions/${session}/chat`, { message: 'hi' }),
    };
    const upstreamCalls = () => fake.requests.filter((r) => ['/v1/chat/completions', '/v1/models', turnPath].includes(r.path)).length;
    while (upstreamCalls() < Object.keys(waiting).length) await Bun.sleep(5);
    shutdown.abort();

    const answers = await Promise.all(Object.entries(waiting).map(async ([path, res]) => {
      const r = await res;
      const body = await r.json() as { code?: string; error?: { code?: string } };
      return { path, status: r.status, code: body.code ?? body.error?.code };
    }));
    expect(answers).toEqual(Object.keys(waiting).map((path) => ({ path, status: 503, code: 'server_shutting_down' })));
    expect((await t.json('GET', '/api/wallet/tempo/usage')).body.total).toBe(0);
    expect((await t.json('GET', '/api/tasks')).body.total).toBe(0);
  } finally {
    t.close();
  }
});
