/**
 * What the real Hermes gateway does that a looser fake would hide (test/fakes/hermes.ts follows the
 * gateway's api_server): the session chat reads only `message` (or `input`), as text or content
 * parts; session titles are unique; capabilities name endpoints rather than `*_api` flags.
 */
import { describe, expect, test } from 'bun:test';
import { post, type TestApp } from './helpers/app';
import { lastRequest, useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';


describe('native session stream (Hermes 0.17)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('attachments reach the agent: the message goes as content parts', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', {
      message: 'what is this?',
      attachments: [{ type: 'image', url: 'https://example.test/cat.png' }, { name: 'notes.txt', text: 'some notes' }],
    }));
    const id = events[0]?.data.session_id as string;
    expect(events.at(-1)?.event).toBe('done');
    const parts = [
      { type: 'text', text: 'what is this?' },
      { type: 'image_url', image_url: { url: 'https://example.test/cat.png' } },
      { type: 'text', text: 'notes.txt:\nsome notes' },
    ];
    expect(JSON.parse(lastRequest(fake, `/api/sessions/${id}/chat/stream`).body).message).toEqual(parts);
    expect(fake.sessions.get(id)?.messages[0]).toMatchObject({ role: 'user', content: parts });
    expect((await t.json('GET', `/api/sessions/${id}/messages`)).body).toMatchObject({ items: [{ role: 'user', content: parts }, { role: 'assistant' }] });
  });

  test('a message without attachments is still sent as plain text', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'plain' }));
    const id = events[0]?.data.session_id as string;
    expect(JSON.parse(lastRequest(fake, `/api/sessions/${id}/chat/stream`).body).message).toBe('plain');
  });
});

describe('session titles (Hermes 0.17: unique)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('a new chat whose title another session has is answered, the title kept by the sidecar', async () => {
    expect((await t.json('POST', '/api/sessions', { id: 'first', title: 'Chat' })).status).toBe(201);
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'hi', title: 'Chat' }));
    const id = events[0]?.data.session_id as string;
    expect(events.map((e) => e.event)).toEqual(['session', 'content', 'content', 'content', 'done']);
    expect(fake.sessions.get(id)?.title).toBeNull();
    expect((await t.json('GET', `/api/sessions/${id}`)).body).toMatchObject({ session: { id, title: 'Chat', message_count: 2 } });
  });

  test('POST /api/sessions and PATCH pass the agent\'s refusal of a title on (400 invalid_title)', async () => {
    expect((await t.json('POST', '/api/sessions', { id: 'first', title: 'Chat' })).status).toBe(201);
    const second = await t.json('POST', '/api/sessions', { id: 'second', title: 'Chat' });
    expect(second.status).toBe(400);
    expect(second.body).toMatchObject({ code: 'invalid_title' });
    expect(fake.sessions.has('second')).toBe(false);
    expect((await t.json('PATCH', '/api/sessions/first', { title: 'x'.repeat(150) })).body).toMatchObject({ code: 'invalid_title' });
    expect(fake.sessions.get('first')?.title).toBe('Chat');
  });
});

describe('an agent run that raises (Hermes 0.17: error, then done)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('optx: the stream ends with the agent\'s error, not done', async () => {
    fake.behavior.agentException = 'provider exploded';
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'hi there' }));
    const id = events[0]?.data.session_id as string;
    expect(events.map((e) => e.event)).toEqual(['session', 'content', 'content', 'content', 'content', 'error']);
    // The same code as a failed run on the chat-completions fallback (test/chat-fallback.test.ts), the agent's reason kept.
    expect(events.at(-1)?.data).toMatchObject({ error: 'The agent stopped with an error before its answer was complete: provider exploded', code: 'agent_incomplete', session_id: id });
  });

  test('hermes format: the agent\'s error frame is passed on and the run ends there', async () => {
    fake.behavior.agentException = 'provider exploded';
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream?format=hermes', { message: 'hi there' }));
    const names = events.map((e) => e.event);
    expect(names.filter((n) => n === 'error')).toHaveLength(1);
    expect(names).not.toContain('run.completed');
    expect(events.find((e) => e.event === 'error')?.data).toMatchObject({ message: 'provider exploded' });
  });

  test('non-streaming chat answers the failure as an error status', async () => {
    fake.behavior.agentException = 'provider exploded';
    const created = await t.json<{ session: { id: string } }>('POST', '/api/sessions', {});
    const res = await t.json('POST', `/api/sessions/${created.body.session.id}/chat`, { message: 'hi' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'agent_incomplete' });
  });
});

describe('chat completions fallback against a gateway that checks X-Hermes-Session-Id', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.12', (f, app) => {
    fake = f;
    t = app;
  });

  test('a session the gateway does not know (404) or an id it refuses (400): the turn runs on the history alone', async () => {
    fake.behavior.strictSessionHeader = true;
    fake.behavior.reply = (messages) => `turn ${messages.filter((m) => m.role === 'user').length}`;
    const first = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'my name is Ada' }));
    const id = first[0]?.data.session_id as string;
    expect(first.map((e) => e.event)).toEqual(['session', 'content', 'content', 'done']);
    const second = await sseEvents(await post(t, `/api/sessions/${id}/chat/stream`, { message: 'and you?' }));
    expect(second.at(-1)?.event).toBe('done');
    expect(second.filter((e) => e.event === 'content').map((e) => e.data.content).join('')).toBe('turn 2');
    const own = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'hi', session_id: 'my-chat' }));
    expect(own.at(-1)?.event).toBe('done');
  });

  test('a refused id is not sent again: each later turn is one request (was two, the whole body each time)', async () => {
    fake.behavior.strictSessionHeader = true;
    fake.behavior.reply = (messages) => `turn ${messages.filter((m) => m.role === 'user').length}`;
    expect((await t.json('POST', '/api/sessions', { id: 'my-chat' })).status).toBe(201);
    const answers: unknown[] = [];
    for (const message of ['my name is Ada', 'and you?', 'what is my name?']) answers.push((await t.json('POST', '/api/sessions/my-chat/chat', { message })).body.message);
    expect(answers).toEqual([1, 2, 3].map((n) => ({ role: 'assistant', content: `turn ${n}` })));
    const calls = fake.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(calls.map((r) => r.headers['x-hermes-session-id'] ?? null)).toEqual(['my-chat', null, null, null]);
  });
});
