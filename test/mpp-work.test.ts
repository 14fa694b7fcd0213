/**
 * A paid request whose work started — the upstream answered a metered call, ran a chat turn or planned
 * a swarm — spends its credential whatever its answer: a 503/507 of our storage after that work (the
 * ledger row, the turn's record, the swarm's tasks not written) keeps the receipt, and the same
 * credential does not pay for the upstream again. The same 503/507 before any work still gives it back.
 * Real mppx client and server against the fake Tempo node (test/mpp-refusal.test.ts for the rest).
 */
import { describe, expect, test } from 'bun:test';
import type { TestApp } from './helpers/app';
import { newCredential, sendWithAuth, useMppApps } from './helpers/mpp';
import { holdLock } from './helpers/lock-holder';
import { failWritesTo } from './helpers/storage-faults';
import { createStateDb } from './fixtures/state-db';

type Json = Record<string, any>;
const { chain, hermes, open } = await useMppApps({ open: { dbBusyWaitMs: 200 } });

const KEY = { authorization: 'Bearer good-key' };
const send = sendWithAuth;
const credential = (app: TestApp) => newCredential(app, chain);
const asked = (path: string) => hermes.requests.filter((r) => r.path === path).length;
const openMetered = () => open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key' });

const CALL = '{"caller_id":"c","prompt":"hi"}';
const FAULTS = [['SQLITE_BUSY', 503, 'storage_busy'], ['SQLITE_FULL', 507, 'storage_full']] as const;

/** Sends `path` paid with `cred`: its status, code and whether it kept the receipt. */
async function outcome(app: TestApp, cred: string, method: string, path: string, body?: string): Promise<[number, unknown, boolean]> {
  const res = await send(app, cred, method, path, body);
  const json = (await res.json().catch(() => ({}))) as Json;
  return [res.status, json.code, res.headers.get('payment-receipt') !== null];
}

describe('a 503/507 after the paid work spends the credential', () => {
  for (const [fault, status, code] of FAULTS) {
    test(`a metered call HEDGEHOG answered whose ledger row is refused (${status} ${code})`, async () => {
      const app = await openMetered();
      failWritesTo(app, 'tempo_calls', fault);
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([status, code, true]);
      expect(asked('/v1/chat/completions')).toBe(1);
      // The upstream is not asked again on the same payment.
      expect((await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL))[0]).toBe(402);
      expect(asked('/v1/chat/completions')).toBe(1);
      expect(chain.transactions).toHaveLength(1);
    });

    // The storage failure's own status (docs/sessions-chat.md), not a 502, and still spent.
    test(`a chat turn the agent answered whose record is refused (${status} ${code})`, async () => {
      const app = await open();
      const id = 'paid-turn';
      expect((await app.json('POST', '/api/sessions', { id }, KEY)).status).toBe(201);
      failWritesTo(app, 'chat_sessions', fault);
      const before = hermes.requests.length;
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', `/api/sessions/${id}/chat`, '{"message":"hi"}')).toEqual([status, code, true]);
      const turns = () => hermes.requests.slice(before).filter((r) => r.method === 'POST' && (r.path.endsWith('/chat/stream') || r.path === '/v1/chat/completions')).length;
      expect(turns()).toBe(1);
      expect((await outcome(app, cred, 'POST', `/api/sessions/${id}/chat`, '{"message":"hi"}'))[0]).toBe(402);
      expect(turns()).toBe(1);
    });

    test(`a swarm the LLM planned whose tasks are refused (${status} ${code})`, async () => {
      const app = await openMetered();
      failWritesTo(app, 'tasks', fault);
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/tasks/swarm', '{"goal":"ship it","strategy":"parallel"}')).toEqual([status, code, true]);
      expect(asked('/v1/chat/completions')).toBe(1);
      expect((await outcome(app, cred, 'POST', '/api/tasks/swarm', '{"goal":"ship it","strategy":"parallel"}'))[0]).toBe(402);
      expect(asked('/v1/chat/completions')).toBe(1);
    });
  }
});

test('a swarm whose LLM had the request and did not answer in time (the fallback plan) spends it too', async () => {
  const app = await open({ HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: 'test-upstream-key', HEDGEHOG_TIMEOUT_S: '0.2' });
  hermes.behavior.hang = { '/v1/chat/completions': true };
  failWritesTo(app, 'tasks', 'SQLITE_FULL');
  const cred = await credential(app);
  expect(await outcome(app, cred, 'POST', '/api/tasks/swarm', '{"goal":"ship it","strategy":"parallel"}')).toEqual([507, 'storage_full', true]);
  expect(asked('/v1/chat/completions')).toBe(1);
  expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
});

describe('before any work, a 503/507 or an upstream refusal still gives it back', () => {
  for (const [fault, status, code] of FAULTS) {
    test(`a swarm with its subtasks given (no LLM) whose tasks are refused (${status} ${code})`, async () => {
      const app = await openMetered();
      failWritesTo(app, 'tasks', fault);
      const cred = await credential(app);
      const swarm = '{"goal":"ship it","strategy":"parallel","subtasks":[{"title":"a"}]}';
      expect(await outcome(app, cred, 'POST', '/api/tasks/swarm', swarm)).toEqual([status, code, false]);
      expect(asked('/v1/chat/completions')).toBe(0);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
    });
  }

  test('a chat turn whose history read meets the agent\'s lock on state.db (503 state_db_busy): the agent never had it', async () => {
    const app = await open();
    expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
    const fx = createStateDb(app.home, 'v19');
    fx.db.run('PRAGMA journal_mode = DELETE');
    const agent = await holdLock(fx.path, { begin: 'BEGIN EXCLUSIVE', end: 'COMMIT' });
    const cred = await credential(app);
    try {
      expect(await outcome(app, cred, 'POST', '/api/sessions/mine/chat', '{"message":"hi"}')).toEqual([503, 'state_db_busy', false]);
    } finally {
      await agent.release();
      fx.close();
    }
    expect(asked('/v1/chat/completions') + asked('/api/sessions/mine/chat/stream')).toBe(0);
    expect((await outcome(app, cred, 'POST', '/api/sessions/mine/chat', '{"message":"hi"}')).slice(0, 1)).toEqual([200]);
  });

  test('a metered call HEDGEHOG refuses (its 400 → 422 hedgehog_rejected): its tokens were never produced', async () => {
    const app = await openMetered();
    hermes.behavior.statusOverride = { '/v1/chat/completions': 400 };
    const cred = await credential(app);
    expect(await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).toEqual([422, 'hedgehog_rejected', false]);
    hermes.behavior.statusOverride = {};
    expect((await outcome(app, cred, 'POST', '/api/wallet/tempo/call', CALL)).slice(0, 1)).toEqual([200]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  });
});

describe('one credential pays for the upstream once, however requests race', () => {
  test('refused (422) and worked-then-503 metered calls racing with one credential: the upstream is asked once, nothing is served', async () => {
    const app = await openMetered();
    failWritesTo(app, 'tempo_calls', 'SQLITE_BUSY');
    for (let round = 1; round <= 3; round++) {
      const cred = await credential(app);
      const racing = await Promise.all(Array.from({ length: 8 }, (_, i) => send(app, cred, 'POST', '/api/wallet/tempo/call', i % 2 ? CALL : '{"caller_id":"c"}')));
      // A refusal that held it last gives it back: the first of these then does the work, the second finds it spent.
      const later = [await send(app, cred, 'POST', '/api/wallet/tempo/call', CALL), await send(app, cred, 'POST', '/api/wallet/tempo/call', CALL)];
      const all = [...racing, ...later];
      expect(asked('/v1/chat/completions')).toBe(round);
      expect(all.every((r) => [402, 422, 503].includes(r.status))).toBe(true);
      expect(all.filter((r) => r.status === 503)).toHaveLength(1);
      expect(later[1]?.status).toBe(402);
      // A receipt only where the credential was spent: the worked request.
      for (const r of all) expect([r.status, r.headers.get('payment-receipt') !== null]).toEqual([r.status, r.status === 503]);
    }
  });
});
