/**
 * Bookkeeping rows: what the transcript store keeps for a session of the agent's (usage of turns
 * streamed through the sidecar, a title set here). They are not sessions by themselves: once the agent
 * deletes the session, its id answers 404, and creating it again must work and start fresh.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';
import { appOn, UPSTREAM_KEY, useFakeHermes } from './helpers/fake-app';
import { holdUpstreamCalls } from './helpers/held-call';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';

const T0 = 1_780_000_000;

const newChat = (t: TestApp, body: Record<string, unknown>) =>
  t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The agent deleting a session itself (`hermes sessions delete`, a state.db reset). */
function agentDeletes(fx: StateDbFixture, id: string): void {
  fx.db.run('DELETE FROM messages WHERE session_id = ?', [id]);
  fx.db.run('DELETE FROM sessions WHERE id = ?', [id]);
}

describe('a state.db session with bookkeeping here, deleted by the agent', () => {
  let fake: FakeHermes;
  let t: TestApp;
  let fx: StateDbFixture;
  beforeEach(async () => {
    fake = await startFakeHermes({ version: '0.12' });
    t = await appOn(fake);
    fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 's_chat', source: 'cli', started_at: T0 }, [{ role: 'user', content: 'hello', timestamp: T0 + 1 }]);
    fx.addSession({ id: 's_named', source: 'cli', started_at: T0 }, []);
    // A turn through the sidecar leaves usage, a rename leaves a title: both bookkeeping rows.
    fake.behavior.usage = { input_tokens: 1000, output_tokens: 2000 };
    expect((await t.json('POST', '/api/sessions/s_chat/chat', { message: 'hi again' })).status).toBe(200);
    fake.behavior.usage = null;
    expect((await t.json('PATCH', '/api/sessions/s_named', { title: 'Renamed' })).status).toBe(200);
    agentDeletes(fx, 's_chat');
    agentDeletes(fx, 's_named');
  });
  afterEach(async () => {
    fx.close();
    t.close();
    await fake.stop();
  });

  test('POST /api/sessions with its id creates a new session, with nothing of the old one (was 409)', async () => {
    expect((await t.json('GET', '/api/sessions/s_chat')).status).toBe(404);
    const made = await t.json('POST', '/api/sessions', { id: 's_chat', title: 'Again' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ session: { id: 's_chat', origin: 'sidecar', title: 'Again', input_tokens: 0, output_tokens: 0, message_count: 0 } });
    expect((await t.json('GET', '/api/sessions/s_chat')).body).toMatchObject({ session: { origin: 'sidecar', title: 'Again', input_tokens: 0 } });
    const renamed = await t.json('POST', '/api/sessions', { id: 's_named' });
    expect(renamed).toMatchObject({ status: 201, body: { session: { id: 's_named', title: null } } });
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 2 });
    // Now it exists: the usual 409.
    expect((await t.json('POST', '/api/sessions', { id: 's_chat' })).body).toMatchObject({ code: 'session_exists' });
  });

  test('new/chat/stream with its id creates it and chats; only the new turn\'s usage counts (was 409)', async () => {
    const res = await newChat(t, { session_id: 's_chat', message: 'one two' });
    expect(res.status).toBe(200);
    const events = await sseEvents(res);
    expect(events[0]).toMatchObject({ event: 'session', data: { session_id: 's_chat', status: 'created' } });
    expect(events.at(-1)?.event).toBe('done');
    const got = await t.json<{ session: { input_tokens: number; output_tokens: number } }>('GET', '/api/sessions/s_chat');
    expect(got.body.session).toMatchObject({ origin: 'sidecar', message_count: 2 });
    expect(got.body.session.input_tokens).toBeLessThan(1000);
    expect(got.body.session.output_tokens).toBeLessThan(2000);
    expect((await newChat(t, { session_id: 's_named', message: 'x' })).status).toBe(200);
    expect((await t.json('GET', '/api/sessions/s_named')).body).toMatchObject({ session: { title: null } });
  });

  test('of many concurrent creates with that id exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.json('POST', '/api/sessions', { id: 's_chat', title: `t${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 's_chat', input_tokens: 0 }] });
  });
});

describe('a session that still exists is a 409, whatever is kept for it here', () => {
  test('in state.db, renamed here: 409, and its title stays', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 's_live', source: 'cli', started_at: T0 });
    expect((await t.json('PATCH', '/api/sessions/s_live', { title: 'Kept' })).status).toBe(200);
    expect((await t.json('POST', '/api/sessions', { id: 's_live' })).body).toMatchObject({ code: 'session_exists' });
    expect((await newChat(t, { session_id: 's_live', message: 'x' })).status).toBe(409);
    expect((await t.json('GET', '/api/sessions/s_live')).body).toMatchObject({ session: { origin: 'state-db', title: 'Kept' } });
    fx.close();
    t.close();
  });

  describe('behind the upstream session API (no state.db)', () => {
    let fake: FakeHermes;
    let t: TestApp;
    useFakeHermes('0.17', (f, app) => {
      fake = f;
      t = app;
    });

    test('renamed here: a client\'s id is a 409, and the title kept here survives', async () => {
      fake.addSession({ id: 'up' });
      expect((await t.json('PATCH', '/api/sessions/up', { title: 'Named' })).status).toBe(200);
      expect((await t.json('POST', '/api/sessions', { id: 'up' })).status).toBe(409);
      expect((await t.json('GET', '/api/sessions/up')).body).toMatchObject({ session: { origin: 'upstream', title: 'Named' } });
    });

    test('while the upstream is down its sessions cannot be checked: a client\'s id with a row here is not taken over (502)', async () => {
      fake.addSession({ id: 'up-down', title: 'upstream title' });
      expect((await t.json('PATCH', '/api/sessions/up-down', { title: 'Theirs' })).status).toBe(200);
      await fake.pause();
      await t.deps.probe.probeNow();
      expect(t.deps.probe.state.connected).toBe(false);
      expect((await t.json('POST', '/api/sessions', { id: 'up-down', title: 'mine' })).body).toMatchObject({ code: 'upstream_unreachable' });
      expect((await newChat(t, { session_id: 'up-down', message: 'x' })).status).toBe(502);
      await fake.resume();
      await t.deps.probe.probeNow();
      expect((await t.json('GET', '/api/sessions/up-down')).body).toMatchObject({ session: { origin: 'upstream', title: 'Theirs' } });
    });

    test('a PATCH that reaches the agent after a DELETE of the session: 404, and no title row is left holding the id', async () => {
      fake.addSession({ id: 'raced', title: 'theirs' });
      // The rename's call to the agent is held until the DELETE is done (as a slow network would).
      const rename = holdUpstreamCalls(t.deps.upstream, (_, init) => init.method === 'PATCH');
      const patched = t.json('PATCH', '/api/sessions/raced', { title: 'Mine' });
      await rename.reached;
      expect((await t.json('DELETE', '/api/sessions/raced')).status).toBe(200);
      rename.release();
      expect(await patched).toMatchObject({ status: 404, body: { code: 'session_not_found' } });
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all('raced')).toEqual([]);
    });

    test('deleted by the agent: its id can be created again, here and on the agent\'s side', async () => {
      fake.addSession({ id: 'gone' });
      expect((await t.json('PATCH', '/api/sessions/gone', { title: 'Old' })).status).toBe(200);
      fake.sessions.delete('gone');
      expect((await t.json('GET', '/api/sessions/gone')).status).toBe(404);
      const made = await t.json('POST', '/api/sessions', { id: 'gone' });
      expect(made).toMatchObject({ status: 201, body: { session: { id: 'gone' } } });
      expect(fake.sessions.get('gone')?.title ?? null).toBeNull();
      expect((await t.json('GET', '/api/sessions/gone')).body).toMatchObject({ session: { title: null } });
    });
  });

  describe('in state.db behind the session API too (Hermes 0.17+ with both)', () => {
    let fake: FakeHermes;
    let t: TestApp;
    let fx: StateDbFixture;
    useFakeHermes('0.17', (f, app) => {
      fake = f;
      t = app;
      fx = createStateDb(t.home, 'v19');
    });
    afterEach(() => fx.close());

    test('a PATCH that reaches the agent after a DELETE of the state.db session: 404, and no title row is left holding the id', async () => {
      // One session, seen in state.db and through the API (in Hermes both read the same file).
      fx.addSession({ id: 'raced', source: 'cli', started_at: T0 }, []);
      fake.addSession({ id: 'raced', title: 'theirs' });
      const rename = holdUpstreamCalls(t.deps.upstream, (_, init) => init.method === 'PATCH');
      const patched = t.json('PATCH', '/api/sessions/raced', { title: 'Mine' });
      await rename.reached;
      expect((await t.json('DELETE', '/api/sessions/raced')).status).toBe(200);
      // The DELETE went to state.db; the agent's API, reading the same file, no longer has it either.
      fake.sessions.delete('raced');
      rename.release();
      expect(await patched).toMatchObject({ status: 404, body: { code: 'session_not_found' } });
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all('raced')).toEqual([]);
    });

    test('a state.db session the API does not know still keeps its title here (the documented fallback)', async () => {
      fx.addSession({ id: 'only-file', source: 'cli', started_at: T0 }, []);
      expect(await t.json('PATCH', '/api/sessions/only-file', { title: 'Kept' })).toMatchObject({ status: 200, body: { session: { origin: 'state-db', title: 'Kept' } } });
      expect((await t.json('GET', '/api/sessions/only-file')).body).toMatchObject({ session: { title: 'Kept' } });
    });
  });
});

describe('made-up ids and bookkeeping rows', () => {
  test('a made-up id with a bookkeeping row is never used: the row is kept, another id is made up', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    fake.addSession({ id: 'agent-up' });
    let n = 0;
    const t = await makeTestApp({
      env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY },
      open: { newSessionId: () => (n++ === 0 ? 'agent-up' : 'mine') },
    });
    await t.deps.probe.probeNow();
    expect((await t.json('PATCH', '/api/sessions/agent-up', { title: 'Theirs' })).status).toBe(200);
    const made = await t.json('POST', '/api/sessions', {});
    expect(made).toMatchObject({ status: 201, body: { session: { id: 'mine' } } });
    expect((await t.json('GET', '/api/sessions/agent-up')).body).toMatchObject({ session: { origin: 'upstream', title: 'Theirs' } });
    t.close();
    await fake.stop();
  });
});
