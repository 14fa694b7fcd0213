/**
 * The agent changes while one sidecar keeps running: Hermes upgraded (0.12 → 0.17, the session API
 * appears) or downgraded in place on the same port, with the agent's stored sessions kept across the
 * switch as its state.db keeps them. The periodic probe (PROBE_INTERVAL_S) is far away in these
 * tests: what they check is what requests see before it comes.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, post, type TestApp } from './helpers/app';
import { lastRequest, UPSTREAM_KEY } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes, type FakeSession, type HermesVersion } from './fakes/hermes';

let fake: FakeHermes;
let t: TestApp;
const agentSessions = new Map<string, FakeSession>();

/** The agent stopped and started again on the same port, as `version`. */
async function switchTo(version: HermesVersion): Promise<void> {
  const port = fake.port;
  await fake.stop();
  fake = await startFakeHermes({ version, port, sessions: agentSessions });
  // The reply shows what the agent was given as the conversation.
  fake.behavior.reply = (messages) => messages.map((m) => `${m.role}:${String(m.content)}`).join(' | ');
}

async function start(version: HermesVersion): Promise<void> {
  agentSessions.clear();
  fake = await startFakeHermes({ version, sessions: agentSessions });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
  await t.deps.probe.probeNow();
}

afterEach(async () => {
  t.close();
  await fake.stop();
});

const say = async (path: string, body: Record<string, unknown>) => sseEvents(await post(t, path, body));

test('downgraded 0.17 → 0.12: the session list is answered from the sidecar at once, not as the upstream\'s 404 until the next probe', async () => {
  await start('0.17');
  expect((await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'native' }))[0]?.data).toMatchObject({ upstream: 'session-api' });
  await switchTo('0.12');
  const checkedAt = t.deps.probe.state.checkedAt;
  const list = await t.json('GET', '/api/sessions');
  expect(list.status).toBe(200);
  expect(list.body).toMatchObject({ total: 1, items: [{ id: 'native', origin: 'sidecar' }] });
  // The chat falls back at once too, and the agent continues the session it stored.
  const turn = await say('/api/sessions/native/chat/stream', { message: 'who am I?' });
  expect(turn[0]?.data).toMatchObject({ upstream: 'chat-completions' });
  expect(turn.at(-1)?.event).toBe('done');
  expect(turn.filter((e) => e.event === 'content').map((e) => e.data.content).join('')).toContain('user:my name is Ann');
  // The probe was asked to look again rather than in PROBE_INTERVAL_S.
  for (let i = 0; i < 40 && t.deps.probe.state.checkedAt === checkedAt; i++) await Bun.sleep(50);
  expect(t.deps.probe.state).toMatchObject({ connected: true, sessionsApiSeen: false, upstreamVersion: '0.12.0' });
});

test('upgraded 0.12 → 0.17: a session the sidecar kept is listed once and keeps its context on the native path', async () => {
  await start('0.12');
  await say('/api/sessions/new/chat/stream', { message: 'my name is Ann', session_id: 'kept' });
  // With the sidecar's key the 0.12 gateway honoured X-Hermes-Session-Id and filed the turn under the id.
  expect(agentSessions.get('kept')?.messages).toHaveLength(2);
  await switchTo('0.17');
  await t.deps.probe.probeNow();
  expect(t.deps.probe.state.sessionsApiSeen).toBe(true);
  const turn = await say('/api/sessions/kept/chat/stream', { message: 'who am I?' });
  // The agent knows the session: the turn goes by its session stream, which continues its record.
  // (A keyless 0.12 filed nothing under the id: test/chat-fallback-unknown-to-agent.test.ts.)
  expect(turn[0]?.data).toMatchObject({ upstream: 'session-api' });
  expect(turn.filter((e) => e.event === 'content').map((e) => e.data.content).join('')).toContain('user:my name is Ann');
  const list = await t.json('GET', '/api/sessions');
  expect(list.body).toMatchObject({ total: 1, items: [{ id: 'kept', origin: 'upstream', message_count: 4 }] });
});

test('the agent\'s key rotated in $HERMES_HOME/.env (no HERMES_API_KEY): the sidecar sends the new one without a restart', async () => {
  fake = await startFakeHermes({ version: '0.17', apiKey: 'key-before-rotation' });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url } });
  mkdirSync(t.home, { recursive: true });
  writeFileSync(join(t.home, '.env'), 'API_SERVER_KEY=key-before-rotation\n');
  await t.deps.probe.probeNow();
  expect((await say('/api/sessions/new/chat/stream', { message: 'hello', session_id: 'k1' })).at(-1)?.event).toBe('done');
  // `hermes` writes a new key and restarts the gateway with it.
  const port = fake.port;
  await fake.stop();
  fake = await startFakeHermes({ version: '0.17', apiKey: 'key-after-rotation', port });
  writeFileSync(join(t.home, '.env'), '# rotated\nAPI_SERVER_KEY=key-after-rotation\n');
  const turn = await say('/api/sessions/new/chat/stream', { message: 'still there?', session_id: 'k2' });
  expect(turn.at(-1)?.event).toBe('done');
  expect(lastRequest(fake, '/api/sessions/k2/chat/stream').headers.authorization).toBe('Bearer key-after-rotation');
  // The probe looks again once the key changed, rather than reporting the refusal until PROBE_INTERVAL_S.
  await t.deps.probe.probeNow();
  writeFileSync(join(t.home, '.env'), 'API_SERVER_KEY=key-after-rotation-2\n');
  expect((await t.json('GET', '/api/sessions')).status).toBe(502);
  for (let i = 0; i < 40 && !t.deps.probe.state.keyRefused; i++) await Bun.sleep(50);
  // (Not toMatchObject with expect.stringContaining: Bun 1.4's replaces the matched value in the object it checks.)
  expect(t.deps.probe.state.keyRefused).toBe(true);
  // /health says why chat fails, never with the key.
  const health = await t.fetch('/health');
  const text = await health.text();
  // "set HERMES_API_KEY" read wrong to an operator who had set it to a stale key.
  expect(JSON.parse(text).upstream).toMatchObject({ connected: true, error: "the upstream refused the sidecar's key (401): check HERMES_API_KEY, or API_SERVER_KEY in $HERMES_HOME/.env when it is unset" });
  expect(text).not.toContain('key-after-rotation');
});

test('an explicit HERMES_API_KEY is not replaced by the agent\'s .env', async () => {
  fake = await startFakeHermes({ version: '0.17' });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
  mkdirSync(t.home, { recursive: true });
  writeFileSync(join(t.home, '.env'), 'API_SERVER_KEY=some-other-key\n');
  await t.deps.probe.probeNow();
  expect((await say('/api/sessions/new/chat/stream', { message: 'hello', session_id: 'e1' })).at(-1)?.event).toBe('done');
  expect(lastRequest(fake, '/api/sessions/e1/chat/stream').headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
});
