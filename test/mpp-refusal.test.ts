/**
 * A paid MPP request refused before any work (4xx, 503) gives its credential back: the refusal has no
 * `Payment-Receipt`, and the same credential pays for one more request — once, also under races. A
 * served answer (2xx, a stream included) or a 500/502/504 spends it, but a 502 for an upstream
 * never reached (test/mpp-unreached.test.ts). Real mppx client and server against the fake Tempo
 * node, as in test/mpp.test.ts.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import { Credential } from 'mppx';
import { join } from 'node:path';
import { tempDir, type TestApp } from './helpers/app';
import { holdLock } from './helpers/lock-holder';
import { credentialFor, PATH_USD, payer, RECIPIENT, sendWithAuth, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const { chain, hermes, open, close } = await useMppApps({ open: { dbBusyWaitMs: 200 } });

const KEY = { authorization: 'Bearer good-key' };
const send = sendWithAuth;
const received = () => chain.balanceOf(PATH_USD, RECIPIENT);

/** A fresh payer's credential, paid for `path`'s challenge (the challenge is the same for every route). */
async function credential(app: TestApp): Promise<string> {
  return credentialFor(app, payer(app, chain).client);
}

describe('a refusal before any work gives the credential back', () => {
  test('422, 400, 404, 409, 413, 402 budget_exceeded and 503: no receipt, and the same credential then pays for one served request', async () => {
    const app = await open({ MAX_BODY_BYTES: '2048', TEMPO_CALLER_BUDGET_USD: '0', HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });
    const created = await app.json<Json>('POST', '/api/tasks', { title: 'done already', description: 'd' }, KEY);
    await app.json('DELETE', `/api/tasks/${created.body.task_id}`, undefined, KEY);
    const gated = await app.json<Json>('POST', '/api/tasks', { title: 'gated', description: 'd', gaze_required: true }, KEY);
    const cases: [string, string, string, string | undefined, number, string][] = [
      ['validation', 'POST', '/api/memory', '{"content":""}', 422, 'validation_error'],
      ['malformed JSON', 'POST', '/api/memory', '{"content":', 400, 'malformed_json'],
      ['unknown id', 'GET', '/api/tasks/no-such-task', undefined, 404, 'task_not_found'],
      ['conflict', 'DELETE', `/api/tasks/${created.body.task_id}`, undefined, 409, ''],
      ['body too large', 'POST', '/api/memory', JSON.stringify({ content: 'x'.repeat(4096) }), 413, 'payload_too_large'],
      // A budget of 0: every metered call is over it, refused before HEDGEHOG is asked.
      ['over budget', 'POST', '/api/wallet/tempo/call', '{"caller_id":"c","prompt":"hi"}', 402, 'budget_exceeded'],
      ['dependency down', 'POST', `/api/tasks/${gated.body.task_id}/claim`, '{"agent_name":"a","gaze_session_id":"g"}', 503, 'gaze_unavailable'],
    ];
    for (const [what, method, path, body, status, code] of cases) {
      const cred = await credential(app);
      const before = received();
      const refused = await send(app, cred, method, path, body);
      const problem = (await refused.json()) as Json;
      expect([what, refused.status, refused.headers.get('payment-receipt')]).toEqual([what, status, null]);
      if (code) expect([what, problem.code]).toEqual([what, code]);
      // The corrected request, with the same credential: served, with the receipt; nothing paid again.
      const served = await send(app, cred, 'POST', '/api/memory', JSON.stringify({ content: `after ${what}` }));
      expect([what, served.status, served.headers.get('payment-receipt')]).toEqual([what, 201, expect.any(String)]);
      expect(received() - before).toBe(100_000n);
      // …and only once.
      const again = await send(app, cred, 'POST', '/api/memory', JSON.stringify({ content: `again ${what}` }));
      expect([what, again.status]).toEqual([what, 402]);
    }
    expect(chain.transactions).toHaveLength(cases.length);
  });

  test('a credential given back can be refused again and still pays once; the credit survives a restart', async () => {
    const dataDir = join(tempDir('mpp-credit-'), 'data');
    mkdirSync(dataDir, { recursive: true });
    const first = await open({ OPTX_DATA_DIR: dataDir });
    const cred = await credential(first);
    for (let i = 0; i < 3; i++) expect((await send(first, cred, 'POST', '/api/memory', '{}')).status).toBe(422);
    close(first);
    const second = await open({ OPTX_DATA_DIR: dataDir });
    expect((await send(second, cred, 'GET', '/api/tasks')).status).toBe(200);
    expect((await send(second, cred, 'GET', '/api/tasks')).status).toBe(402);
    expect(chain.transactions).toHaveLength(1);
  });
});

describe('a credential never pays for two served requests', () => {
  test('a copy of a given-back credential with another expiry finds no credit: the credit never outlives the challenge', async () => {
    const app = await open();
    const cred = await credential(app);
    expect((await send(app, cred, 'POST', '/api/memory', '{}')).status).toBe(422);
    const c = Credential.deserialize(cred);
    const later = Credential.serialize({ ...c, challenge: { ...c.challenge, expires: '2100-01-01T00:00:00.000Z' } });
    // Not taken through the credit (mppx refuses the copy), and so not given back with the year 2100.
    expect((await send(app, later, 'POST', '/api/memory', '{}')).status).toBe(402);
    const credits = app.deps.db.sqlite.query("SELECT expires_at_ms FROM mpp_store WHERE key LIKE 'optx:credit:%'").all() as { expires_at_ms: number }[];
    expect(credits.map((r) => r.expires_at_ms)).toEqual([Date.parse(c.challenge.expires ?? '')]);
    expect((await send(app, cred, 'POST', '/api/memory', '{"content":"paid"}')).status).toBe(201);
  });

  test('refused and served requests racing with one credential: exactly one is served, however they interleave', async () => {
    const app = await open();
    for (let round = 0; round < 3; round++) {
      const cred = await credential(app);
      const racing = await Promise.all(Array.from({ length: 8 }, (_, i) => send(app, cred, 'POST', '/api/memory', i % 2 ? `{"content":"race ${round}.${i}"}` : '{"content":""}')));
      // Whatever lost the race to a refusal may find the credential given back afterwards.
      const later = [await send(app, cred, 'POST', '/api/memory', `{"content":"later ${round}"}`), await send(app, cred, 'POST', '/api/memory', `{"content":"last ${round}"}`)];
      const all = [...racing, ...later];
      expect(all.filter((r) => r.status === 201)).toHaveLength(1);
      expect(all.every((r) => [201, 402, 422].includes(r.status))).toBe(true);
      // A receipt only where the credential was spent.
      for (const r of all) expect([r.status, r.headers.get('payment-receipt') !== null]).toEqual([r.status, r.status === 201]);
    }
    expect(chain.transactions).toHaveLength(3);
  });

  test('a credential given back is taken by one of many concurrent requests', async () => {
    const app = await open();
    const cred = await credential(app);
    expect((await send(app, cred, 'POST', '/api/memory', '{}')).status).toBe(422);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => send(app, cred, 'GET', `/api/tasks?limit=${i + 1}`)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 402, 402, 402, 402, 402, 402, 402]);
  });

  test('a served request spends the credential: a replay is 402, a refused replay too (never a free 422)', async () => {
    const app = await open();
    const cred = await credential(app);
    const served = await send(app, cred, 'POST', '/api/memory', '{"content":"paid"}');
    expect(served.status).toBe(201);
    expect(served.headers.get('payment-receipt')).not.toBeNull();
    expect((await send(app, cred, 'POST', '/api/memory', '{}')).status).toBe(402);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });
});

describe('answers that spend the credential', () => {
  test('a stream is served once its 2xx status goes out, even if the upstream then fails; a stream refused before it starts is not', async () => {
    const app = await open();
    let cred = await credential(app);
    const refused = await send(app, cred, 'POST', '/api/sessions/new/chat/stream', '{}');
    expect([refused.status, refused.headers.get('payment-receipt')]).toEqual([422, null]);
    hermes.behavior.statusOverride = { '/v1/chat/completions': 500, '/api/sessions': 500, '/api/sessions/*/chat/stream': 500 };
    const stream = await send(app, cred, 'POST', '/api/sessions/new/chat/stream', '{"message":"hi"}');
    expect(stream.status).toBe(200);
    expect(stream.headers.get('payment-receipt')).not.toBeNull();
    expect(await stream.text()).toContain('event: error');
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);

    hermes.behavior.statusOverride = {};
    cred = await credential(app);
    const ok = await send(app, cred, 'POST', '/api/sessions/new/chat/stream', '{"message":"hi"}');
    expect([ok.status, ok.headers.get('payment-receipt') !== null]).toEqual([200, true]);
    expect(await ok.text()).toContain('event: done');
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a client that leaves while the upstream works on its request spends it (499): one payment does not run the upstream again and again', async () => {
    const app = await open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });
    const cred = await credential(app);
    hermes.behavior.hang = { '/v1/chat/completions': true };
    const ac = new AbortController();
    const call = app.fetch('/api/wallet/tempo/call', { method: 'POST', signal: ac.signal, headers: { authorization: cred, 'content-type': 'application/json' }, body: '{"caller_id":"c","prompt":"hi"}' });
    while (!hermes.requests.some((r) => r.path === '/v1/chat/completions')) await Bun.sleep(10);
    ac.abort();
    expect((await call).status).toBe(499);
    hermes.behavior.hang = {};
    expect((await send(app, cred, 'POST', '/api/wallet/tempo/call', '{"caller_id":"c","prompt":"hi"}')).status).toBe(402);
    expect(hermes.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
  });

  test('a paid swarm whose client left before any upstream was asked (499, nothing created) gives it back; one that left while the LLM planned spends it', async () => {
    const app = await open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });
    const llmAsked = () => hermes.requests.filter((r) => r.path === '/v1/chat/completions').length;
    const before = llmAsked();
    const swarm = (cred: string, body: string, signal: AbortSignal) =>
      app.fetch('/api/tasks/swarm', { method: 'POST', signal, headers: { authorization: cred, 'content-type': 'application/json' }, body });
    const gone = AbortSignal.abort();
    for (const body of ['{"goal":"ship it","strategy":"parallel","subtasks":[{"title":"a"}]}', '{"goal":"ship it","strategy":"parallel"}']) {
      const cred = await credential(app);
      const r = await swarm(cred, body, gone);
      // A 499 spends the credential (an upstream may have worked): here nothing was done for it.
      expect([body, r.status, r.headers.get('payment-receipt') !== null]).toEqual([body, 499, false]);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    }
    expect(llmAsked()).toBe(before);
    expect((await app.json<Json>('GET', '/api/tasks', undefined, KEY)).body.total).toBe(0);
    // The LLM had the request: spent, as a metered call's.
    const cred = await credential(app);
    hermes.behavior.hang = { '/v1/chat/completions': true };
    const leave = new AbortController();
    const planning = swarm(cred, '{"goal":"ship it","strategy":"parallel"}', leave.signal);
    while (llmAsked() === before) await Bun.sleep(10);
    leave.abort();
    const r = await planning;
    hermes.behavior.hang = {};
    expect([r.status, r.headers.get('payment-receipt') !== null]).toEqual([499, true]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });
  test('a paid /v1 call, chat completions stream or tempo call whose client left before its upstream was asked (499) gives it back', async () => {
    const app = await open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });
    const asked = () => hermes.requests.length;
    const before = asked();
    const chat = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    const cases: [string, string][] = [
      ['/v1/chat/completions', chat],
      ['/v1/chat/completions', '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'],
      ['/api/chat/completions/stream', chat],
      ['/api/wallet/tempo/call', '{"caller_id":"c","prompt":"hi"}'],
    ];
    for (const [path, body] of cases) {
      const cred = await credential(app);
      const r = await app.fetch(path, { method: 'POST', signal: AbortSignal.abort(), headers: { authorization: cred, 'content-type': 'application/json' }, body });
      // A 499 spends the credential (an upstream may have worked): here none was asked.
      expect([path, r.status, r.headers.get('payment-receipt') !== null]).toEqual([path, 499, false]);
      expect([path, (await send(app, cred, 'GET', '/api/tasks')).status]).toEqual([path, 200]);
    }
    expect(asked()).toBe(before);
  });
  test('a paid chat turn (stream, new stream, reply) whose client left before the route ran is a 499 that gives it back, nothing created', async () => {
    const app = await open();
    const session = (await app.json<Json>('POST', '/api/sessions', {}, KEY)).body.session.id as string;
    const sessions = async () => (await app.json<Json>('GET', '/api/sessions', undefined, KEY)).body.total;
    const had = await sessions();
    const asked = hermes.requests.length;
    for (const path of ['/api/sessions/new/chat/stream', `/api/sessions/${session}/chat/stream`, `/api/sessions/${session}/chat`]) {
      const cred = await credential(app);
      const r = await app.fetch(path, { method: 'POST', signal: AbortSignal.abort(), headers: { authorization: cred, 'content-type': 'application/json' }, body: '{"message":"hi"}' });
      // It was a 200 (streams: an error event, a session created by `new`) or a 499, both spending the credential.
      expect([path, r.status, r.headers.get('payment-receipt') !== null]).toEqual([path, 499, false]);
      expect([path, (await send(app, cred, 'GET', '/api/tasks')).status]).toEqual([path, 200]);
    }
    expect(hermes.requests.length).toBe(asked);
    expect(await sessions()).toBe(had);
  });
});

describe('our database failing around a credit', () => {
  test('the credit cannot be written: the credential stays spent and the refusal keeps its receipt', async () => {
    let app: TestApp | null = null;
    // AARON answers "unknown session" (a 403) after the database became read-only mid-request.
    const aaron = Bun.serve({ port: 0, fetch: () => { app!.deps.db.sqlite.run('PRAGMA query_only = 1'); return new Response('{}', { status: 404 }); } });
    try {
      app = await open({ AARON_URL: `http://127.0.0.1:${aaron.port}` });
      const gated = await app.json<Json>('POST', '/api/tasks', { title: 'gated', description: 'd', gaze_required: true }, KEY);
      const cred = await credential(app);
      const refused = await send(app, cred, 'POST', `/api/tasks/${gated.body.task_id}/claim`, '{"agent_name":"a","gaze_session_id":"g"}');
      expect([refused.status, refused.headers.get('payment-receipt') !== null]).toEqual([403, true]);
      app.deps.db.sqlite.run('PRAGMA query_only = 0');
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      await aaron.stop(true);
    }
  });

  test('the credit cannot be taken (another process holds the write lock): 503 retry later, and the credit is still there after', async () => {
    const app = await open();
    const cred = await credential(app);
    expect((await send(app, cred, 'POST', '/api/memory', '{}')).status).toBe(422);
    const lock = await holdLock(join(app.config.dataDir, 'optx-api.db'), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
    const busy = await send(app, cred, 'GET', '/api/tasks');
    await lock.release();
    expect([busy.status, ((await busy.json()) as Json).code, busy.headers.get('retry-after')]).toEqual([503, 'payment_verification_unavailable', '5']);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  }, 120_000);
});
