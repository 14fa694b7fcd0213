/**
 * The chat-completions fallback for a session the agent has no record of. With X-Hermes-Session-Id
 * the gateway takes the conversation from its own store, not from the request (SPEC §14): an id it
 * has nothing under starts empty, and the history the sidecar sent is not read. So the header must not
 * go with a history when the agent is known not to hold the session, or the agent forgets it.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, post, type TestApp } from './helpers/app';
import { lastRequest, UPSTREAM_KEY } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes, type FakeSession } from './fakes/hermes';

let fake: FakeHermes;
let t: TestApp;
let stateDb: StateDbFixture | null = null;

afterEach(async () => {
  stateDb?.close();
  stateDb = null;
  t.close();
  await fake.stop();
});

/** The reply shows what the agent was given as the conversation. */
const showContext = (f: FakeHermes): void => {
  f.behavior.reply = (messages) => messages.map((m) => `${m.role}:${String(m.content)}`).join(' | ');
};
const say = async (path: string, body: Record<string, unknown>) => sseEvents(await post(t, path, body));
const text = (events: Awaited<ReturnType<typeof say>>) => events.filter((e) => e.event === 'content').map((e) => e.data.content).join('');

/** A session made on a keyless 0.12 agent (which filed its turn under an id of its own), the agent then upgraded to 0.17. */
async function keptThenUpgraded(): Promise<void> {
  const agentSessions = new Map<string, FakeSession>();
  fake = await startFakeHermes({ version: '0.12', apiKey: null, sessions: agentSessions });
  showContext(fake);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url } });
  await t.deps.probe.probeNow();
  // No key anywhere: the turn goes without X-Hermes-Session-Id, and the agent files it under an api-… id.
  expect((await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'kept' })).at(-1)?.event).toBe('done');
  expect(agentSessions.has('kept')).toBe(false);

  // 0.15+ will not start without a key: `hermes` writes one and the gateway comes back with it.
  const port = fake.port;
  await fake.stop();
  mkdirSync(t.home, { recursive: true });
  writeFileSync(join(t.home, '.env'), 'API_SERVER_KEY=key-now\n');
  fake = await startFakeHermes({ version: '0.17', apiKey: 'key-now', port, sessions: agentSessions });
  showContext(fake);
  await t.deps.probe.probeNow();
}

test('a keyless 0.12 agent upgraded to 0.17: the sidecar\'s session, unknown to the agent, keeps its context on the fallback', async () => {
  await keptThenUpgraded();
  const turn = await say('/api/sessions/kept/chat/stream', { message: 'who am I?' });
  // Its every turn went without the header, so the agent holds none of it: the turn goes by chat
  // completions at once (until 2026-12-07 the session stream was asked first and answered 404 session_not_found).
  expect(turn[0]?.data).toMatchObject({ upstream: 'chat-completions' });
  expect(fake.requests.filter((r) => r.path === '/api/sessions/kept/chat/stream')).toHaveLength(0);
  expect(turn.at(-1)?.event).toBe('done');
  expect(text(turn)).toContain('user:my name is Ann');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBeUndefined();
});

test('a session of the sidecar\'s own that the agent\'s state.db does not hold (deleted there) keeps its context', async () => {
  fake = await startFakeHermes({ version: '0.12' });
  showContext(fake);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
  stateDb = createStateDb(t.home, 'v19');
  await t.deps.probe.probeNow();
  // The first turn has no history: the header goes, and the agent files the turn under the session's id.
  expect((await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'kept' })).at(-1)?.event).toBe('done');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBe('kept');
  // `hermes sessions delete kept` (or a state.db reset): the agent no longer has it; the sidecar's own session stays.
  fake.sessions.delete('kept');
  const turn = await say('/api/sessions/kept/chat/stream', { message: 'who am I?' });
  expect(turn.at(-1)?.event).toBe('done');
  expect(text(turn)).toContain('user:my name is Ann');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBeUndefined();
});

test('a session the agent holds still goes with the header, and the agent continues it from its own record', async () => {
  fake = await startFakeHermes({ version: '0.12' });
  showContext(fake);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
  await t.deps.probe.probeNow();
  expect((await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'held' })).at(-1)?.event).toBe('done');
  // No state.db to read: whether the agent holds it is not known, and it does.
  const turn = await say('/api/sessions/held/chat/stream', { message: 'who am I?' });
  expect(text(turn)).toContain('user:my name is Ann');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBe('held');
});

test('a session stream that 404s as a missing route (0.17 downgraded to 0.12, not yet probed) says nothing of the session: the state.db, lacking it, is still asked', async () => {
  const agentSessions = new Map<string, FakeSession>();
  fake = await startFakeHermes({ version: '0.12', sessions: agentSessions });
  showContext(fake);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
  stateDb = createStateDb(t.home, 'v19');
  await t.deps.probe.probeNow();
  expect((await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'kept' })).at(-1)?.event).toBe('done');
  // Deleted on the agent's side (its state.db never had it either).
  agentSessions.delete('kept');
  const restart = async (version: '0.12' | '0.17') => {
    const port = fake.port;
    await fake.stop();
    fake = await startFakeHermes({ version, port, sessions: agentSessions });
    showContext(fake);
  };
  await restart('0.17');
  await t.deps.probe.probeNow();
  expect(t.deps.sessions.upstreamApi).toBe(true);
  await restart('0.12');
  const turn = await say('/api/sessions/kept/chat/stream', { message: 'who am I?' });
  expect(turn[0]?.data).toMatchObject({ upstream: 'chat-completions' });
  expect(turn.at(-1)?.event).toBe('done');
  expect(text(turn)).toContain('user:my name is Ann');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBeUndefined();
});

test('an agent\'s session with turns the sidecar keeps (made keyless, filed by the agent elsewhere) keeps them once a key appears', async () => {
  const agentSessions = new Map<string, FakeSession>();
  fake = await startFakeHermes({ version: '0.12', apiKey: null, sessions: agentSessions });
  showContext(fake);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url } });
  stateDb = createStateDb(t.home, 'v19');
  const telegram = [{ role: 'user' as const, content: 'hello from telegram', timestamp: 1_790_000_001 }, { role: 'assistant' as const, content: 'hi', timestamp: 1_790_000_002 }];
  stateDb.addSession({ id: 'tg', source: 'telegram', started_at: 1_790_000_000 }, telegram);
  fake.addSession({ id: 'tg', source: 'telegram', messages: telegram });
  await t.deps.probe.probeNow();
  // No key: the turn goes without the header, the agent files it under an api-… id, the sidecar keeps it.
  expect((await say('/api/sessions/tg/chat/stream', { message: 'my name is Ann' })).at(-1)?.event).toBe('done');
  expect(agentSessions.get('tg')?.messages).toHaveLength(2);

  // The agent is given a key (`hermes` writes one to .env), which the sidecar reads without a restart.
  const port = fake.port;
  await fake.stop();
  writeFileSync(join(t.home, '.env'), 'API_SERVER_KEY=key-now\n');
  fake = await startFakeHermes({ version: '0.12', apiKey: 'key-now', port, sessions: agentSessions });
  showContext(fake);
  const turn = await say('/api/sessions/tg/chat/stream', { message: 'who am I?' });
  expect(turn.at(-1)?.event).toBe('done');
  // With the header the agent would answer from its record of `tg`, which lacks the kept turn.
  expect(text(turn)).toContain('user:my name is Ann');
  expect(lastRequest(fake, '/v1/chat/completions').headers['x-hermes-session-id']).toBeUndefined();
});

test('… and its turns do not ask the agent\'s session API for the messages of the session it just said it lacks: that API failing (500) does not fail the turn', async () => {
  await keptThenUpgraded();
  fake.behavior.statusOverride['/api/sessions/kept/messages'] = 500;
  const turn = await say('/api/sessions/kept/chat/stream', { message: 'who am I?' });
  expect(turn.at(-1)?.event).toBe('done');
  expect(text(turn)).toContain('user:my name is Ann');
  // Until 2026-12-07 each such turn asked, after the stream's 404 session_not_found: one more round trip, and its failure was the turn's (502).
  expect(fake.requests.filter((r) => r.path === '/api/sessions/kept/messages')).toHaveLength(0);
});
