/**
 * The chat-completions fallback against the ways a real Hermes gateway ends or refuses a turn:
 * what the transcript keeps (the next turn's context) and what the client is told.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';
import { useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

const post = (t: TestApp, path: string, body: unknown) =>
  t.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('chat-completions fallback (Hermes 0.12)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.12', (f, app) => {
    fake = f;
    t = app;
  });

  test('an agent that crashes mid-answer (finish_reason "error", then [DONE]) fails the turn; its fragment is not kept as context', async () => {
    await t.json('POST', '/api/sessions', { id: 'crash' });
    fake.behavior.crashAfterTokens = 2;
    const events = await sseEvents(await post(t, '/api/sessions/crash/chat/stream', { message: 'one two three four' }));
    expect(events.map((e) => e.event)).toEqual(['session', 'content', 'content', 'error']);
    expect(events.at(-1)?.data).toEqual({ error: 'The agent stopped with an error before its answer was complete.', code: 'agent_incomplete', session_id: 'crash' });
    const reply = await t.json('POST', '/api/sessions/crash/chat', { message: 'five six' });
    expect(reply.status).toBe(502);
    expect(reply.body).toMatchObject({ code: 'agent_incomplete' });
    expect((await t.json('GET', '/api/sessions/crash/messages')).body).toMatchObject({ total: 0, items: [] });
    fake.behavior.crashAfterTokens = null;
    await sseEvents(await post(t, '/api/sessions/crash/chat/stream', { message: 'again' }));
    expect(JSON.parse(fake.requests.at(-1)?.body ?? '{}').messages).toEqual([{ role: 'user', content: 'again' }]);
  });
});
