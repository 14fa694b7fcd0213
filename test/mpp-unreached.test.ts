/**
 * A paid request whose upstream could not be reached at all — nothing listening (connection refused),
 * no such host, a failed TLS handshake — was never passed on: its 502 gives the credential back, on
 * every route that answers one (metered call, non-streaming chat turn, /v1 proxy). An upstream that
 * had the request (the connection dropped after it was sent, or no answer in time) may have worked on
 * it: that 502/504 still spends it. Real mppx client and server against the fake Tempo node.
 */
import { describe, expect, test } from 'bun:test';
import { createServer, type Server } from 'node:net';
import { closedUrl, type TestApp } from './helpers/app';
import { newCredential, paidOutcome, sendWithAuth, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const { chain, hermes, open } = await useMppApps();

const KEY = { authorization: 'Bearer good-key' };
const CALL = '{"caller_id":"c","prompt":"hi"}';
const send = sendWithAuth;
const credential = (app: TestApp) => newCredential(app, chain);

const outcome = paidOutcome;

/** A server that reads the request and then drops the connection without an answer: the request reached it. */
async function droppingServer(): Promise<{ url: string; got: () => number; stop: () => void }> {
  let got = 0;
  const server: Server = createServer((c) => c.once('data', () => { got++; c.destroy(); }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, got: () => got, stop: () => void server.close() };
}

describe('an upstream that could not be reached gives the credential back', () => {
  test('a metered call whose HEDGEHOG refuses the connection (502 hedgehog_unreachable)', async () => {
    const app = await open({ HEDGEHOG_URL: await closedUrl() });
    const cred = await credential(app);
    expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([502, 'hedgehog_unreachable', false]);
    // The same credential pays for one more request, once.
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    expect(chain.transactions).toHaveLength(1);
  });

  test('a metered call whose HEDGEHOG does not speak TLS on its https port (handshake failed)', async () => {
    const plain = Bun.serve({ port: 0, fetch: () => new Response('{}') });
    try {
      const app = await open({ HEDGEHOG_URL: `https://127.0.0.1:${plain.port}` });
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([502, 'hedgehog_unreachable', false]);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    } finally {
      await plain.stop(true);
    }
  });

  test('a non-streaming chat turn whose Hermes gateway refuses the connection (502 upstream_unreachable)', async () => {
    const app = await open({ HERMES_AGENT_URL: await closedUrl() });
    expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
    const cred = await credential(app);
    expect(await outcome(app, cred, 'POST', '/api/sessions/mine/chat', '{"message":"hi"}')).toEqual([502, 'upstream_unreachable', false]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a /v1 proxy call whose Hermes gateway refuses the connection', async () => {
    const app = await open({ HERMES_AGENT_URL: await closedUrl() });
    const cred = await credential(app);
    expect(await outcome(app, cred, 'GET', '/v1/models')).toEqual([502, 'upstream_unreachable', false]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
  });

  test('an OpenAI-compatible chat stream whose Hermes gateway refuses the connection (502 before the stream)', async () => {
    const app = await open({ HERMES_AGENT_URL: await closedUrl() });
    const cred = await credential(app);
    expect(await outcome(app, cred, 'POST', '/api/chat/completions/stream', '{"messages":[{"role":"user","content":"hi"}]}')).toEqual([502, 'upstream_unreachable', false]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
  });

  // A chat stream's 200 spends it: a paid stream waits for the upstream's first answer before its
  // status goes out (nothing reaches the client earlier anyway), so one never reached is refused as JSON.
  test('a paid chat stream of an existing session whose gateway refuses the connection: JSON 502 instead of a stream', async () => {
    const app = await open({ HERMES_AGENT_URL: await closedUrl() });
    expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/sessions/mine/chat/stream', '{"message":"hi"}');
    expect([res.status, res.headers.get('content-type'), res.headers.get('payment-receipt')]).toEqual([502, expect.stringContaining('application/json'), null]);
    expect(((await res.json()) as Json).code).toBe('upstream_unreachable');
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a paid new-session chat stream whose gateway refuses the connection: JSON 502, no session left behind', async () => {
    const app = await open({ HERMES_AGENT_URL: await closedUrl() });
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/sessions/new/chat/stream?format=hermes', '{"message":"hi","session_id":"fresh"}');
    expect([res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt')]).toEqual([502, 'upstream_unreachable', null]);
    expect((await app.json('GET', '/api/sessions/fresh', undefined, KEY)).status).toBe(404);
    // The retry with the same credential and the same id is not refused as a conflict.
    expect((await send(app, cred, 'POST', '/api/sessions', '{"id":"fresh"}')).status).toBe(201);
  });

  test('a paid new-session stream whose gateway (with a session API) went down after the probe: JSON 502, given back', async () => {
    const app = await open();
    await app.deps.probe.probeNow();
    await hermes.pause();
    try {
      // Without an id the session is made on the agent's side as the turn starts; with one, its id is
      // first checked there (before the stream).
      for (const body of ['{"message":"hi"}', '{"message":"hi","session_id":"later"}']) {
        const cred = await credential(app);
        const res = await send(app, cred, 'POST', '/api/sessions/new/chat/stream', body);
        expect([body, res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt')]).toEqual([body, 502, 'upstream_unreachable', null]);
        expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
      }
    } finally {
      await hermes.resume();
    }
  });
});

describe('an upstream that had the request spends it', () => {
  test('a metered call whose HEDGEHOG read the request and dropped the connection (502): it may have worked', async () => {
    const drop = await droppingServer();
    try {
      const app = await open({ HEDGEHOG_URL: drop.url });
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([502, 'hedgehog_unreachable', true]);
      expect(drop.got()).toBe(1);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      drop.stop();
    }
  });

  test('a non-streaming chat turn whose gateway read it and dropped the connection (502)', async () => {
    const drop = await droppingServer();
    try {
      const app = await open({ HERMES_AGENT_URL: drop.url });
      expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
      const cred = await credential(app);
      const [status, , receipt] = await outcome(app, cred, 'POST', '/api/sessions/mine/chat', '{"message":"hi"}');
      expect([status, receipt]).toEqual([502, true]);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      drop.stop();
    }
  });

  test('a paid chat stream the gateway answers is a 200 stream with the receipt, `session` first', async () => {
    const app = await open();
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/sessions/new/chat/stream', '{"message":"hi"}');
    expect([res.status, res.headers.get('payment-receipt') !== null]).toEqual([200, true]);
    const text = await res.text();
    expect(text.indexOf('event: session')).toBe(0);
    expect(text).toContain('event: done');
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a paid chat stream whose gateway takes longer than a heartbeat to answer starts as a 200 stream with a ping (spent)', async () => {
    const app = await open({ SSE_HEARTBEAT_S: '0.05', UPSTREAM_TIMEOUT_S: '0.5' });
    expect((await app.json('POST', '/api/sessions', { id: 'slow' }, KEY)).status).toBe(201);
    hermes.behavior.hang = { '/v1/chat/completions': true, '/api/sessions/slow/chat/stream': true };
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/sessions/slow/chat/stream', '{"message":"hi"}');
    expect([res.status, res.headers.get('payment-receipt') !== null]).toEqual([200, true]);
    const text = await res.text();
    expect(text.startsWith(': ping\n')).toBe(true);
    expect(text).toContain('event: session');
    expect(text).toContain('upstream_timeout');
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a paid chat stream whose gateway read the turn and dropped the connection: a 200 stream ending in an error, spent', async () => {
    const drop = await droppingServer();
    try {
      const app = await open({ HERMES_AGENT_URL: drop.url });
      expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
      const cred = await credential(app);
      const res = await send(app, cred, 'POST', '/api/sessions/mine/chat/stream', '{"message":"hi"}');
      expect([res.status, res.headers.get('payment-receipt') !== null]).toEqual([200, true]);
      expect(await res.text()).toContain('event: error');
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      drop.stop();
    }
  });

  test('a metered call whose HEDGEHOG did not answer in time (504)', async () => {
    const app = await open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key', HEDGEHOG_TIMEOUT_S: '0.2' });
    hermes.behavior.hang = { '/v1/chat/completions': true };
    const cred = await credential(app);
    expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([504, 'hedgehog_timeout', true]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });

  test('a swarm whose LLM refuses the connection is served with the fallback plan (201): spent, as any served request', async () => {
    const app = await open({ HEDGEHOG_URL: await closedUrl() });
    const cred = await credential(app);
    const [status, , receipt] = await outcome(app, cred, 'POST', '/api/tasks/swarm', '{"goal":"ship it","strategy":"parallel"}');
    expect([status, receipt]).toEqual([201, true]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });
});
