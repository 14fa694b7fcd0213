/**
 * The empty session a killed sidecar's `new` turn left is replaced by the same call again only when the
 * agent's side was asked and does not have it: a session the native path created on the agent's side
 * is the agent's (it holds the cut turn's message), and 409.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { THIS_PROCESS } from '../src/lib/process-mark';
import { TranscriptStore } from '../src/modules/sessions/transcripts';
import { makeTestApp, post, type TestApp } from './helpers/app';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

let fake: FakeHermes;
let t: TestApp;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey as string } });
});
afterAll(async () => {
  t.close();
  await fake.stop();
});

async function deadPid(): Promise<number> {
  const p = Bun.spawn(['true']);
  await p.exited;
  return p.pid;
}

test('a leftover the native path created on the agent\'s side stays 409 while the sidecar has not yet seen the session API (was replaced, the cut turn sent again)', async () => {
  // As a killed sidecar left it: created here for a `new` turn, and on the agent's side by the native path.
  await new TranscriptStore(t.deps.db).create({ id: 'native-cut' }, { opener: { ...THIS_PROCESS, pid: await deadPid(), token: 'earlier' } });
  fake.addSession({ id: 'native-cut' });
  // A sidecar just started: its first probe has not answered yet, so no source of the agent's could be asked.
  expect(t.deps.probe.state.checkedAt).toBeNull();
  const res = await post(t, '/api/sessions/new/chat/stream', { message: 'hello', session_id: 'native-cut' });
  await res.text();
  expect(res.status).toBe(409);
  expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([]);
});

test('… and once the probe has seen the session API, a leftover the agent does not have is replaced', async () => {
  await t.deps.probe.probeNow();
  await new TranscriptStore(t.deps.db).create({ id: 'local-cut' }, { opener: { ...THIS_PROCESS, pid: await deadPid(), token: 'earlier' } });
  const res = await post(t, '/api/sessions/new/chat/stream', { message: 'hello', session_id: 'local-cut' });
  await res.text();
  expect(res.status).toBe(200);
  expect(fake.sessions.has('local-cut')).toBe(true);
});
