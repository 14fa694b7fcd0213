/**
 * A fallback chat turn reads the conversation so far from the agent's state.db when it is there. The
 * agent may hold the file locked for a moment (rollback-journal mode, a checkpoint): every other read
 * of state.db waits that out with the event loop free, and so must the chat turn's history read.
 */
import { afterAll, beforeAll, expect, spyOn, test } from 'bun:test';
import { appOn } from './helpers/fake-app';
import { post, type TestApp } from './helpers/app';
import { holdLock } from './helpers/lock-holder';
import { sseEvents } from './helpers/sse-events';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { StateDb } from '../src/modules/sessions/state-db';
import { unavailable } from '../src/modules/sessions/state-db-failures';

let fake: FakeHermes;
let t: TestApp;
let fx: StateDbFixture;

beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.12' });
  t = await appOn(fake);
  fx = createStateDb(t.home, 'v19');
  fx.addSession({ id: 'agent-made', source: 'api_server', started_at: 1_780_000_000 }, [
    { role: 'user', content: 'my name is Ada', timestamp: 1_780_000_001 },
    { role: 'assistant', content: 'hello Ada', timestamp: 1_780_000_002 },
  ]);
  // Hermes' fallback where WAL does not work: a writer's exclusive lock keeps readers out.
  fx.db.run('PRAGMA journal_mode = DELETE');
});
afterAll(async () => {
  fx.close();
  t.close();
  await fake.stop();
});

test('a turn whose history read meets a short lock waits it out, with the event loop free, and sends the history', async () => {
  // The sidecar's own session is known without reading state.db: the lock is first met by the history read.
  expect((await t.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
  for (const id of ['mine', 'agent-made']) {
    const agent = await holdLock(fx.path, { begin: 'BEGIN EXCLUSIVE', end: 'COMMIT' });
    const turn = post(t, `/api/sessions/${id}/chat/stream`, { message: 'what is my name?' }).then(sseEvents);
    // Other requests are answered while the turn waits for the lock.
    const started = performance.now();
    expect((await t.fetch('/health')).status).toBe(200);
    const healthMs = performance.now() - started;
    await Bun.sleep(200);
    await agent.release();
    const events = await turn;
    // A blocked event loop would answer only after the sidecar's 5 s busy wait; free, in milliseconds
    // (over 100 ms on a busy CI box, the bound this had).
    expect({ id, healthMs: healthMs < 2500, events: events.map((e) => e.event) }).toEqual({ id, healthMs: true, events: ['session', ...events.slice(1, -1).map(() => 'content'), 'done'] });
  }
  const sent = fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => JSON.parse(r.body).messages);
  expect(sent.at(-1)).toEqual([
    { role: 'user', content: 'my name is Ada' },
    { role: 'assistant', content: 'hello Ada' },
    { role: 'user', content: 'what is my name?' },
  ]);
});

test('a lock that outlasts the wait fails the turn (503) after one wait, not two: whether the agent holds the session is asked after the history read', async () => {
  expect((await t.json('POST', '/api/sessions', { id: 'mine-locked' })).status).toBe(201);
  const agent = await holdLock(fx.path, { begin: 'BEGIN EXCLUSIVE', end: 'COMMIT' });
  const waits = spyOn(StateDb.prototype, 'waitReadable');
  try {
    const events = await sseEvents(await post(t, '/api/sessions/mine-locked/chat/stream', { message: 'hi' }));
    expect(events.map((e) => [e.event, e.data.code])).toEqual([['session', undefined], ['error', 'state_db_busy']]);
    // Each wait lasts READ_WAIT_MS: the agentLacks check waited once before the history read waited again.
    expect(waits).toHaveBeenCalledTimes(1);
  } finally {
    waits.mockRestore();
    await agent.release();
  }
});

test('a state.db locked again between the wait and the check of whether the agent holds the session: not known, so the turn goes on (with the header), not a 502', async () => {
  expect((await t.json('POST', '/api/sessions', { id: 'mine-relocked' })).status).toBe(201);
  expect((await t.json('POST', '/api/sessions/mine-relocked/chat', { message: 'my name is Ada' })).status).toBe(200);
  // The check meets a lock and waits it out; the agent takes the lock again before the lookup.
  const readableSoon = StateDb.prototype.readableSoon;
  const has = StateDb.prototype.has;
  let relocked = false;
  const soon = spyOn(StateDb.prototype, 'readableSoon').mockImplementation(function (this: StateDb) {
    if (soon.mock.calls.length === 2) {
      relocked = true;
      return Promise.resolve(true);
    }
    return readableSoon.call(this);
  });
  const lookup = spyOn(StateDb.prototype, 'has').mockImplementation(function (this: StateDb, id: string) {
    if (relocked) throw unavailable(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }));
    return has.call(this, id);
  });
  try {
    const reply = await t.json('POST', '/api/sessions/mine-relocked/chat', { message: 'what is my name?' });
    expect([relocked, reply.status]).toEqual([true, 200]);
    expect(fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.headers['x-hermes-session-id']).toBe('mine-relocked');
  } finally {
    soon.mockRestore();
    lookup.mockRestore();
  }
});
