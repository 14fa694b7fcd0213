/**
 * MPP and the server's stop: a paid request the stop answers 503 server_shutting_down got nothing, and
 * its client cannot bring a stop about, so no retry loop can have the upstream work for free through
 * it: the credential is given back, whether or not the upstream had the request. Reproduced before:
 * a non-streaming chat turn the agent had begun answering kept its payment spent (a retry with the
 * same credential got 402), while a metered call cut the same way gave it back. And a paid chat stream
 * still waiting for its upstream's first answer (before its 200) was answered 200 with only `session`
 * and `error` — in `?format=hermes` an empty body — and its credential spent.
 * Real mppx client and server against the fake Tempo node.
 */
import { expect, test } from 'bun:test';
import type { OpenOptions } from '../src/deps';
import type { TestApp } from './helpers/app';
import { credentialFor, payer, useMppApps } from './helpers/mpp';

const stop: Omit<OpenOptions, 'log'> = {};
const { chain, hermes, open } = await useMppApps({ open: stop });
const KEY = { authorization: 'Bearer good-key' };

/** An app whose stop is `ac`. */
async function openStoppable(env: Record<string, string> = {}): Promise<[TestApp, AbortController]> {
  const ac = new AbortController();
  stop.shutdown = ac.signal;
  return [await open(env), ac];
}

const post = (app: TestApp, cred: string, path: string, body: string) =>
  app.fetch(path, { method: 'POST', headers: { authorization: cred, 'content-type': 'application/json' }, body });

async function settled(res: Promise<Response>): Promise<[number, unknown, boolean]> {
  const r = await res;
  const json = (await r.json().catch(() => ({}))) as { code?: unknown };
  expect(r.headers.get('retry-after')).toBe('5');
  return [r.status, json.code, r.headers.get('payment-receipt') !== null];
}

/** Whether `cred` pays for one more request (given back), or is refused as used (spent). */
const paysAgain = async (app: TestApp, cred: string) => (await app.fetch('/api/wallet/tempo/pricing', { headers: { authorization: cred } })).status === 200;

const turnSent = (since: number) => hermes.requests.slice(since).some((r) => r.method === 'POST' && (r.path.endsWith('/chat/stream') || r.path === '/v1/chat/completions'));

test('a chat turn the agent began answering, cut by the stop: 503 server_shutting_down, the credential given back', async () => {
  const [app, ac] = await openStoppable();
  expect((await app.json('POST', '/api/sessions', { id: 'cut' }, KEY)).status).toBe(201);
  hermes.behavior.stallAfterTokens = 1;
  const before = hermes.requests.length;
  const cred = await credentialFor(app, payer(app, chain).client);
  const turn = post(app, cred, '/api/sessions/cut/chat', '{"message":"hi"}');
  // The agent took the turn (its stream is open) and stalls after a token.
  while (!turnSent(before)) await Bun.sleep(5);
  await Bun.sleep(50);
  ac.abort();
  expect(await settled(turn)).toEqual([503, 'server_shutting_down', false]);
});

test('a metered call HEDGEHOG had when the stop came: 503 server_shutting_down, the credential given back', async () => {
  const [app, ac] = await openStoppable({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });
  hermes.behavior.hang = { '/v1/chat/completions': true };
  const cred = await credentialFor(app, payer(app, chain).client);
  const call = post(app, cred, '/api/wallet/tempo/call', '{"caller_id":"c","prompt":"hi"}');
  while (!hermes.requests.some((r) => r.path === '/v1/chat/completions')) await Bun.sleep(5);
  ac.abort();
  expect(await settled(call)).toEqual([503, 'server_shutting_down', false]);
});

const streams = [
  ['a session\'s stream', '/api/sessions/held/chat/stream', '{"message":"hi"}'],
  ['a session\'s stream, format=hermes', '/api/sessions/held/chat/stream?format=hermes', '{"message":"hi"}'],
  ['a stream of a new session', '/api/sessions/new/chat/stream', '{"message":"hi","session_id":"fresh"}'],
] as const;
for (const upstream of ['session-api', 'chat-completions'] as const) {
  for (const [what, path, body] of streams) {
    test(`${what} (${upstream}) paid and still waiting for the agent's first answer when the stop comes: 503, no stream, the credential given back`, async () => {
      // The heartbeat far away: the stream would otherwise start with its ping, and be spent, after one.
      const [app, ac] = await openStoppable({ SSE_HEARTBEAT_S: '3600' });
      // Found by the probe, the agent's session API takes the turn; else chat completions do.
      if (upstream === 'session-api') await app.deps.probe.probeNow();
      expect((await app.json('POST', '/api/sessions', { id: 'held' }, KEY)).status).toBe(201);
      hermes.behavior.hang = { '/v1/chat/completions': true, '/api/sessions/*/chat/stream': true };
      const before = hermes.requests.length;
      const cred = await credentialFor(app, payer(app, chain).client);
      const turn = post(app, cred, path, body);
      while (!turnSent(before)) await Bun.sleep(5);
      ac.abort();
      expect(await settled(turn)).toEqual([503, 'server_shutting_down', false]);
      expect(hermes.requests.slice(before).some((r) => r.path === (upstream === 'session-api' ? '/v1/chat/completions' : '/api/sessions/held/chat/stream'))).toBe(false);
      expect(await paysAgain(app, cred)).toBe(true);
      // A `new` session the sidecar made for the turn is removed: the retry with its id is not a 409.
      // (One the agent made stays there: the stop gives up every call to it, its DELETE too.)
      if (upstream === 'chat-completions') expect((await app.json('GET', '/api/sessions/fresh', undefined, KEY)).status).toBe(404);
    });
  }
}

test('a payment still being checked with the Tempo node when the stop comes: 503 payment_verification_unavailable at once, the credential not used up', async () => {
  // Before, the check waited for the node's answer or its RPC_TIMEOUT_S (a short one here, so that
  // the test ends: "could not be reached", 3 s late) and held the stop for its whole grace; the
  // executable then cut the connection with no answer.
  const [app, ac] = await openStoppable({ RPC_TIMEOUT_S: '3' });
  const cred = await credentialFor(app, payer(app, chain).client);
  let answer!: () => void;
  chain.behavior.holdUntil = new Promise<void>((resolve) => (answer = resolve));
  const before = chain.requests.length;
  const res = app.fetch('/api/wallet/tempo/pricing', { headers: { authorization: cred } });
  await chain.waitForRequests(before + 1);
  ac.abort();
  const r = await res;
  chain.behavior.holdUntil = null;
  answer();
  const body = (await r.json()) as { code?: unknown; detail?: unknown };
  expect([r.status, body.code, body.detail, r.headers.get('retry-after'), r.headers.get('payment-receipt')])
    .toEqual([503, 'payment_verification_unavailable', 'The sidecar is shutting down: the payment was not checked; retry the same credential later.', '5', null]);
  // Nothing was broadcast or claimed: the restarted server (the same data dir) takes the credential.
  expect(chain.methods().some((m) => m.startsWith('eth_sendRawTransaction'))).toBe(false);
  stop.shutdown = new AbortController().signal;
  const restarted = await open({ OPTX_DATA_DIR: app.config.dataDir });
  expect(await paysAgain(restarted, cred)).toBe(true);
});

test('a payment whose transaction was already sent when the stop comes is let settle: served with its receipt', async () => {
  const [app, ac] = await openStoppable();
  const cred = await credentialFor(app, payer(app, chain).client);
  let answer!: () => void;
  const hold = () => void (chain.behavior.holdUntil = new Promise<void>((resolve) => (answer = resolve)));
  hold();
  let n = chain.requests.length;
  const res = app.fetch('/api/wallet/tempo/pricing', { headers: { authorization: cred } });
  // Each call before the broadcast is answered; the broadcast is held.
  for (;;) {
    await chain.waitForRequests(n + 1);
    const methods = (chain.requests[n++] as { calls: { method: string }[] }).calls.map((c) => c.method);
    if (methods.some((m) => m.startsWith('eth_sendRawTransaction'))) break;
    const release = answer;
    hold();
    release();
  }
  ac.abort();
  chain.behavior.holdUntil = null;
  answer();
  const r = await res;
  expect([r.status, r.headers.get('payment-receipt') !== null]).toEqual([200, true]);
});

test('a broadcast still with the node at the stop\'s last call: 502 payment_outcome_unknown, the credential used', async () => {
  // main.ts aborts the last call just inside the grace: before, the request waited for the node (or
  // RPC_TIMEOUT_S) while the executable cut its connection (test/mpp-shutdown-broadcast.test.ts).
  const last = new AbortController();
  stop.shutdownLastCall = last.signal;
  const [app, ac] = await openStoppable({ RPC_TIMEOUT_S: '600' });
  stop.shutdownLastCall = undefined;
  const cred = await credentialFor(app, payer(app, chain).client);
  let answer!: () => void;
  chain.behavior.holdUntil = new Promise<void>((resolve) => (answer = resolve));
  const before = chain.requests.length;
  const res = app.fetch('/api/wallet/tempo/pricing', { headers: { authorization: cred } });
  // Each call before the broadcast is answered; the broadcast is held.
  let n = before;
  for (;;) {
    await chain.waitForRequests(n + 1);
    const methods = (chain.requests[n++] as { calls: { method: string }[] }).calls.map((c) => c.method);
    if (methods.some((m) => m.startsWith('eth_sendRawTransaction'))) break;
    const release = answer;
    chain.behavior.holdUntil = new Promise<void>((resolve) => (answer = resolve));
    release();
  }
  ac.abort();
  last.abort();
  const r = await res;
  chain.behavior.holdUntil = null;
  answer();
  const body = (await r.json()) as { code?: unknown; detail?: unknown };
  expect([r.status, body.code, r.headers.get('payment-receipt')]).toEqual([502, 'payment_outcome_unknown', null]);
  expect(body.detail).toContain('when the sidecar stopped');
  expect(await paysAgain(app, cred)).toBe(false);
});
