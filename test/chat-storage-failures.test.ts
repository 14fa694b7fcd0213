/**
 * A chat turn that fails on the sidecar's own storage — the history read meeting the agent's lock on
 * state.db, the finished turn's record refused by a locked or full database — is answered as that
 * storage failure: the non-streaming route with its 503/507 and Retry-After (until 2026-12-06 a 502
 * "upstream" error without it), the streams with an `error` event carrying the storage code.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { jsonOf, makeTestApp, post, type TestApp } from './helpers/app';
import { UPSTREAM_KEY } from './helpers/fake-app';
import { holdLock } from './helpers/lock-holder';
import { sseEvents } from './helpers/sse-events';
import { failWritesTo } from './helpers/storage-faults';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.12' });
});
afterAll(() => fake.stop());

async function open(): Promise<TestApp> {
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY }, open: { dbBusyWaitMs: 200 } });
  await t.deps.probe.probeNow();
  return t;
}
const turnsAsked = () => fake.requests.filter((r) => r.path === '/v1/chat/completions').length;

describe('the history read meets the agent\'s lock on state.db (before the upstream is asked)', () => {
  let t: TestApp;
  let fx: StateDbFixture;
  beforeAll(async () => {
    t = await open();
    fx = createStateDb(t.home, 'v19');
    // Hermes' fallback where WAL does not work: a writer's exclusive lock keeps readers out.
    fx.db.run('PRAGMA journal_mode = DELETE');
  });
  afterAll(() => {
    fx.close();
    t.close();
  });

  test('non-streaming: 503 state_db_busy with Retry-After, not a 502; streaming: an error event with the same code', async () => {
    // The sidecar's own session is known without reading state.db: the lock is first met by the history read.
    expect((await t.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
    const before = turnsAsked();
    const agent = await holdLock(fx.path, { begin: 'BEGIN EXCLUSIVE', end: 'COMMIT' });
    try {
      const res = await post(t, '/api/sessions/mine/chat', { message: 'hi' });
      expect([res.status, res.headers.get('retry-after'), (await jsonOf(res)).code]).toEqual([503, '1', 'state_db_busy']);
      const events = await sseEvents(await post(t, '/api/sessions/mine/chat/stream', { message: 'hi' }));
      expect(events.map((e) => [e.event, e.data.code])).toEqual([['session', undefined], ['error', 'state_db_busy']]);
    } finally {
      await agent.release();
    }
    expect(turnsAsked()).toBe(before);
  });
});

describe('the finished turn\'s record is refused', () => {
  for (const [fault, status, code] of [['SQLITE_BUSY', 503, 'storage_busy'], ['SQLITE_FULL', 507, 'storage_full']] as const) {
    test(`${fault}: non-streaming ${status} ${code}, streaming an error event ${code}; nothing kept`, async () => {
      const t = await open();
      try {
        expect((await t.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
        failWritesTo(t, 'chat_sessions', fault);
        const res = await post(t, '/api/sessions/mine/chat', { message: 'hi' });
        const retryAfter = fault === 'SQLITE_BUSY' ? '1' : null;
        expect([res.status, res.headers.get('retry-after'), (await jsonOf(res)).code]).toEqual([status, retryAfter, code]);
        const events = await sseEvents(await post(t, '/api/sessions/mine/chat/stream', { message: 'hi' }));
        expect(events.at(-1)).toMatchObject({ event: 'error', data: { code } });
        expect((await t.json('GET', '/api/sessions/mine/messages')).body).toMatchObject({ total: 0 });
      } finally {
        t.close();
      }
    });
  }
});

describe('the session of a `new` turn cannot be created (before any stream)', () => {
  for (const [fault, status, code] of [['SQLITE_BUSY', 503, 'storage_busy'], ['SQLITE_FULL', 507, 'storage_full']] as const) {
    test(`${fault}: a JSON ${status} ${code}, no stream, the upstream not asked`, async () => {
      const t = await open();
      try {
        failWritesTo(t, 'chat_sessions', fault);
        const before = turnsAsked();
        const res = await post(t, '/api/sessions/new/chat/stream', { message: 'hi', session_id: 'fresh' });
        expect([res.status, res.headers.get('content-type'), (await jsonOf(res)).code]).toEqual([status, 'application/json; charset=utf-8', code]);
        expect(turnsAsked()).toBe(before);
      } finally {
        t.close();
      }
    });
  }
});
