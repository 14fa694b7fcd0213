/**
 * Real answers of a representative set of routes, successes and each kind of error, checked against
 * what /openapi/json says for their status (or `default`): content type and JSON Schema.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { closedUrl, jsonOf, makeTestApp, type TestApp } from './helpers/app';
import { undocumented, type Doc } from './helpers/openapi';

type Call = [method: string, path: string, body?: unknown, headers?: Record<string, string>];

/** Sends each call (a string body is sent as is) and checks its answer against the document: the problems, and the statuses seen. */
async function check(t: TestApp, doc: Doc, calls: Call[], auth: Record<string, string> = {}) {
  const problems: string[] = [];
  const statuses: number[] = [];
  for (const [method, path, body, headers] of calls) {
    const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...auth, ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await t.fetch(path, init);
    statuses.push(res.status);
    problems.push(...(await undocumented(doc, method, path, res)));
  }
  return { problems, statuses };
}

const documentOf = async (t: TestApp, headers: Record<string, string> = {}) => (await (await t.fetch('/openapi/json', { headers })).json()) as Doc;

describe('with nothing configured (open)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  let doc: Doc;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.17' });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' } });
    await t.deps.probe.probeNow();
    fake.addSession({ id: 'up1', title: 'T', messages: [{ role: 'user', content: 'hi' }] });
    doc = await documentOf(t);
  });
  afterAll(async () => {
    t.close();
    await fake.stop();
  });

  test('gateway, sessions and chat: 200/201 and SSE, 400, 404, 409, 413, 415, 422 (body and query)', async () => {
    // The check itself sees a wrong body, a field the document does not name, and an undocumented content type.
    const answer = (body: string, status = 200, type = 'application/json') => new Response(body, { status, headers: { 'content-type': type } });
    expect(await undocumented(doc, 'GET', '/api/sessions/x', answer('{"session":{"id":5}}'))).not.toEqual([]);
    expect(await undocumented(doc, 'GET', '/api/sessions/x', answer('{"detail":"d","code":"c","extra":1}', 404))).toEqual([
      'GET /api/sessions/x → 404: $: "extra" is sent but not documented',
    ]);
    expect(await undocumented(doc, 'GET', '/health', answer('ok', 200, 'text/plain'))).not.toEqual([]);
    const { problems, statuses } = await check(t, doc, [
      ['GET', '/health'],
      ['GET', '/api/gateway-status'],
      ['GET', '/api/sessions'],
      ['POST', '/api/sessions', { id: 'conf-1', title: 'x' }],
      ['POST', '/api/sessions'],
      ['POST', '/api/sessions', { id: 'conf-1' }],
      ['POST', '/api/sessions', { id: 'bad id!' }],
      ['POST', '/api/sessions', '{'],
      ['POST', '/api/sessions', JSON.stringify({ title: 'x'.repeat(1_100_000) })],
      ['POST', '/api/sessions', '{}', { 'content-encoding': 'gzip' }],
      ['GET', '/api/sessions?limit=0'],
      ['GET', '/api/sessions/nope'],
      ['POST', '/api/sessions/up1/chat/stream', { message: 'hello' }],
      ['POST', '/api/sessions/nope/chat/stream', { message: 'hello' }],
      ['POST', '/api/sessions/up1/chat/stream?format=zzz', { message: 'hello' }],
      ['POST', '/api/sessions/new/chat/stream', { message: 'hello', session_id: 'up1' }],
    ]);
    expect(statuses).toEqual([200, 200, 200, 201, 201, 409, 422, 400, 413, 415, 422, 404, 200, 404, 422, 409]);
    expect(problems).toEqual([]);
  });

  test('OpenAI-envelope routes: the SSE proxy (200, 400, 422) and /v1/*', async () => {
    const { problems, statuses } = await check(t, doc, [
      ['POST', '/api/chat/completions/stream', { messages: [{ role: 'user', content: 'hi' }] }],
      ['POST', '/api/chat/completions/stream', { messages: [] }],
      ['POST', '/api/chat/completions/stream', '{'],
      ['GET', '/v1/models'],
    ]);
    expect(statuses).toEqual([200, 422, 400, 200]);
    expect(problems).toEqual([]);
  });

  test('/v1/* documents each method as the sidecar answers it: OPTIONS is its own 204, TRACE is not an operation', async () => {
    // The generator lists a `.all()` route under every method, each with "the upstream answer".
    const answered: string[] = [];
    for (const method of Object.keys(doc.paths['/v1/*'])) {
      const res = await t.fetch('/v1/models', { method: method.toUpperCase() });
      const documented = doc.paths['/v1/*'][method].responses[String(res.status)];
      answered.push(`${method} ${res.status} ${documented ? 'documented' : 'only as default'}`);
      expect(await undocumented(doc, method.toUpperCase(), '/v1/models', res)).toEqual([]);
    }
    expect(answered.filter((a) => !/ (200|405) /.test(a))).toEqual(['options 204 documented']);
    expect(doc.paths['/v1/*'].trace).toBeUndefined();
    expect(Object.keys(doc.paths['/v1/*'].options.responses['204'].headers)).toEqual(['Allow']);
    expect(doc.paths['/v1/*'].options.responses['200']).toBeUndefined();
  });

  test('config, skills, tasks, memory and escrow: successes, 404, 409 with their own fields, 422', async () => {
    const open = await jsonOf(await t.fetch('/api/tasks', { method: 'POST', body: JSON.stringify({ title: 'a' }) }));
    const escrow = await jsonOf(await t.fetch('/api/wallet/escrow', { method: 'POST', body: JSON.stringify({ task_id: 't1', amount: '2', recipient: 'bob', gaze_required: false }) }));
    const { problems, statuses } = await check(t, doc, [
      ['POST', '/api/config', { nope: 1 }],
      ['GET', '/api/skills?limit=0'],
      ['POST', '/api/tasks', { title: 'b', depends_on: [open.task_id] }],
      ['GET', '/api/tasks?status=Nope'],
      ['POST', `/api/tasks/${open.task_id}/claim`, { agent_name: 'al' }],
      ['POST', `/api/tasks/${open.task_id}/claim`, { agent_name: 'al' }],
      ['POST', `/api/tasks/${open.task_id}/complete`, { agent_name: 'eve' }],
      ['POST', '/api/memory', { content: 'Alice likes Bob' }],
      ['DELETE', '/api/memory/424242'],
      ['POST', '/api/wallet/escrow/release', { escrow_id: escrow.escrow_id, recipient: 'bob' }],
      ['POST', '/api/wallet/escrow/release', { escrow_id: escrow.escrow_id, recipient: 'bob' }],
      ['POST', `/api/wallet/escrow/${escrow.escrow_id}/refund`],
    ]);
    expect(statuses).toEqual([422, 422, 201, 422, 200, 409, 403, 201, 404, 200, 409, 409]);
    expect(problems).toEqual([]);
  });
});

test('API key set: 401 in each envelope; public routes answer without a key', async () => {
  const t = await makeTestApp({ env: { API_KEY: 'k1' } });
  const doc = await documentOf(t, { authorization: 'Bearer k1' });
  const { problems, statuses } = await check(t, doc, [['GET', '/api/tasks'], ['POST', '/v1/chat/completions', {}], ['GET', '/health'], ['GET', '/openapi']]);
  t.close();
  expect(statuses).toEqual([401, 401, 200, 200]);
  expect(problems).toEqual([]);
});

test('MPP enabled: the 402 challenge is problem+json as documented', async () => {
  const chain = startFakeTempoRpc();
  const t = await makeTestApp({
    env: {
      API_KEY: 'k1',
      MPP_ENABLED: 'true',
      MPP_RECIPIENT: '0x742d35Cc6634c0532925a3b844bC9e7595F8fE00',
      MPP_SECRET_KEY: 'mpp-test-secret-0123456789abcdef-xyz',
      TEMPO_RPC_URL: chain.url,
    },
  });
  const doc = await documentOf(t, { authorization: 'Bearer k1' });
  const { problems, statuses } = await check(t, doc, [['GET', '/api/tasks'], ['POST', '/v1/chat/completions', {}]]);
  t.close();
  await chain.stop();
  expect(statuses).toEqual([402, 402]);
  expect(problems).toEqual([]);
});

test('backends down: SpacetimeDB 503 and upstream 502 as documented', async () => {
  const down = await closedUrl();
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: down, MEMORY_BACKEND: 'spacetimedb', TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: down, SPACETIMEDB_DB: 'optx-cortex' } });
  const doc = await documentOf(t);
  const { problems, statuses } = await check(t, doc, [
    ['GET', '/api/memory'],
    ['DELETE', '/api/memory/abc'],
    ['GET', '/api/tasks/stats'],
    ['GET', '/v1/models'],
    ['POST', '/api/chat/completions/stream', { messages: [{ role: 'user', content: 'hi' }] }],
  ]);
  t.close();
  expect(statuses).toEqual([503, 503, 503, 502, 502]);
  expect(problems).toEqual([]);
});
