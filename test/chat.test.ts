/**
 * SSE chat against the fake Hermes: the native session stream (0.17) and the chat-completions
 * fallback (0.12), read the way JettChat reads the optx envelope and the way Hermes Workspace reads
 * the hermes-native format.
 */
import { describe, expect, test } from 'bun:test';
import { post, type TestApp } from './helpers/app';
import { appOn, UPSTREAM_KEY as KEY, useFakeHermes } from './helpers/fake-app';
import { sseEvents, type SseEvent } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';
import { createStateDb } from './fixtures/state-db';

/** What JettChat does: take the session id from `session`, append every `content`, stop at `done`. */
function jettChat(events: SseEvent[]) {
  const session = events[0];
  let text = '';
  for (const e of events) if (e.event === 'content') text += e.data.content;
  return { session, text, last: events.at(-1) };
}

/** What Hermes Workspace does: deltas until assistant.completed, then usage from run.completed. */
function workspace(events: SseEvent[]) {
  let text = '';
  let completed: string | null = null;
  let usage: unknown = null;
  for (const e of events) {
    if (e.event === 'assistant.delta') text += e.data.delta;
    if (e.event === 'assistant.completed') completed = e.data.content;
    if (e.event === 'run.completed') usage = e.data.usage;
  }
  return { names: events.map((e) => e.event), text, completed, usage };
}

describe('native session stream (Hermes 0.17)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('new/chat/stream: a JettChat client reads session, content…, done and gets the exact text', async () => {
    const res = await post(t, '/api/sessions/new/chat/stream', { message: 'hello there', title: 'Greeting' }, { authorization: 'Bearer client-secret' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-store');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const raw = await res.text();
    expect(raw).not.toContain('\r');
    for (const frame of raw.split('\n\n').filter(Boolean)) expect(frame).toMatch(/^event: [a-z]+\ndata: \{[^\n]*\}$/);
    const events = await sseEvents(new Response(raw));
    const { session, text, last } = jettChat(events);
    const id = session?.data.session_id as string;
    expect(session).toEqual({ event: 'session', data: { session_id: id, status: 'created', upstream: 'session-api' } });
    expect(text).toBe('You said: hello there');
    expect(events.filter((e) => e.event === 'content').map((e) => e.data)).toEqual(
      ['You', ' said:', ' hello', ' there'].map((content) => ({ content, session_id: id })),
    );
    expect(last).toEqual({ event: 'done', data: { session_id: id, status: 'complete', usage: { input_tokens: 2, output_tokens: 4, total_tokens: 6 } } });
    expect(res.headers.get('x-hermes-session-id')).toBe(id);
    // Created upstream first (with its title), then streamed; the sidecar's key, never the client's.
    const calls = fake.requests.filter((r) => r.method === 'POST');
    expect(calls.map((r) => r.path)).toEqual(['/api/sessions', `/api/sessions/${id}/chat/stream`]);
    expect(JSON.parse(calls[0]?.body ?? '{}')).toEqual({ id, title: 'Greeting' });
    for (const r of calls) expect(r.headers.authorization).toBe(`Bearer ${KEY}`);
    // Usage is recorded on the session in the transcript store.
    const row = t.deps.db.sqlite.query('SELECT input_tokens, output_tokens, last_upstream, title FROM chat_sessions WHERE id = ?').get(id);
    expect(row).toEqual({ input_tokens: 2, output_tokens: 4, last_upstream: 'session-api', title: 'Greeting' });
    expect((await t.json('GET', `/api/sessions/${id}`)).body).toMatchObject({ session: { id, title: 'Greeting', message_count: 2 } });
  });

  test('{id}/chat/stream opens an existing session; tools are reported; _thinking never becomes content', async () => {
    fake.addSession({ id: 'known', messages: [{ role: 'user', content: 'before' }] });
    fake.behavior.tools = true;
    const events = await sseEvents(await post(t, '/api/sessions/known/chat/stream', { message: 'search cats' }));
    expect(events[0]).toEqual({ event: 'session', data: { session_id: 'known', status: 'opened', upstream: 'session-api' } });
    expect(events.map((e) => e.event)).toEqual(['session', 'tool', 'tool', 'content', 'content', 'content', 'content', 'done']);
    expect(events[1]?.data).toEqual({ session_id: 'known', tool: 'web_search', status: 'started', preview: 'web_search: "search cats"' });
    expect(events[2]?.data).toEqual({ session_id: 'known', tool: 'web_search', status: 'completed' });
    expect(jettChat(events).text).toBe('You said: search cats');
  });

  test('multi-byte text split across network writes arrives intact', async () => {
    fake.behavior.splitUtf8 = true;
    fake.behavior.reply = () => 'héllo wörld — 你好 🌍 done';
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'x' }));
    expect(jettChat(events).text).toBe('héllo wörld — 你好 🌍 done');
  });

  test('?format=hermes passes the agent\'s own events through, as Hermes Workspace reads them', async () => {
    fake.addSession({ id: 'ws' });
    const events = await sseEvents(await post(t, '/api/sessions/ws/chat/stream?format=hermes', { message: 'hi there' }));
    const w = workspace(events);
    expect(w.names).toEqual(['run.started', 'message.started', 'assistant.delta', 'assistant.delta', 'assistant.delta', 'assistant.delta', 'tool.progress', 'assistant.completed', 'run.completed', 'done']);
    expect(w.text).toBe('You said: hi there');
    expect(w.completed).toBe('You said: hi there');
    expect(w.usage).toEqual({ input_tokens: 2, output_tokens: 4, total_tokens: 6 });
    const runId = events[0]?.data.run_id;
    expect(runId).toMatch(/^run_/);
    events.forEach((e, i) => expect(e.data).toMatchObject({ session_id: 'ws', run_id: runId, seq: i + 1 }));
    expect(events[0]?.data.user_message).toBe('hi there');
  });

  test('?format=hermes: a failure mid-run is an error event continuing the agent\'s run and sequence', async () => {
    fake.addSession({ id: 'wsfail' });
    fake.behavior.garbageAfterTokens = 2;
    const events = await sseEvents(await post(t, '/api/sessions/wsfail/chat/stream?format=hermes', { message: 'one two' }));
    expect(events.map((e) => e.event)).toEqual(['run.started', 'message.started', 'assistant.delta', 'assistant.delta', 'error']);
    const before = events.at(-2)?.data ?? {};
    expect(events.at(-1)?.data).toMatchObject({
      session_id: 'wsfail', run_id: before.run_id, seq: before.seq + 1, code: 'upstream_bad_chunk', message: 'The Hermes upstream sent a malformed stream frame.',
    });
  });

  test('CHAT_STREAM_FORMAT=hermes makes hermes the default; ?format=optx still gets the envelope', async () => {
    const h = await appOn(fake, { CHAT_STREAM_FORMAT: 'hermes' });
    const hermes = await sseEvents(await post(h, '/api/sessions/new/chat/stream', { message: 'a b' }));
    expect(hermes[0]?.event).toBe('run.started');
    expect(hermes.at(-1)?.event).toBe('done');
    const optx = await sseEvents(await post(h, '/api/sessions/new/chat/stream?format=optx', { message: 'a b' }));
    expect(optx.map((e) => e.event)).toEqual(['session', 'content', 'content', 'content', 'content', 'done']);
    h.close();
  });

  for (const status of [404, 405]) {
    test(`a ${status} from the native stream falls back to chat completions at once`, async () => {
      fake.addSession({ id: 'fb' });
      fake.behavior.statusOverride = { '/api/sessions/*/chat/stream': status };
      const events = await sseEvents(await post(t, '/api/sessions/fb/chat/stream', { message: 'fall back' }));
      expect(events[0]?.data).toEqual({ session_id: 'fb', status: 'opened', upstream: 'chat-completions' });
      expect(jettChat(events).text).toBe('You said: fall back');
      expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual(['/api/sessions/fb/chat/stream', '/v1/chat/completions']);
    });
  }

  test('POST {id}/chat answers without streaming', async () => {
    fake.addSession({ id: 'plain' });
    const res = await t.json('POST', '/api/sessions/plain/chat', { message: 'ping pong' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      session_id: 'plain', run_id: expect.stringMatching(/^run_/) as unknown as string,
      message: { role: 'assistant', content: 'You said: ping pong' }, usage: { input_tokens: 2, output_tokens: 4, total_tokens: 6 },
    });
  });

  test('refusals come as JSON before any stream: unknown session, bad body, bad format, taken id', async () => {
    const unknown = await post(t, '/api/sessions/ghost/chat/stream', { message: 'hi' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'session_not_found' });
    expect((await t.json('POST', '/api/sessions/ghost/chat', { message: 'hi' })).status).toBe(404);
    for (const body of [{}, { message: '' }, { message: '   ' }, { message: 5 }, { message: 'x', temperature: 9 }, { message: 'x', attachments: 'no' }]) {
      const r = await post(t, '/api/sessions/new/chat/stream', body);
      expect(r.status).toBe(422);
    }
    const badFormat = await post(t, '/api/sessions/new/chat/stream?format=xml', { message: 'x' });
    expect(badFormat.status).toBe(422);
    // It names the formats there are (it said only "Invalid input").
    expect(await badFormat.json()).toMatchObject({ errors: [{ path: 'format', message: 'expected optx or hermes' }] });
    expect((await post(t, '/api/sessions/new/chat/stream', { message: 'x', session_id: 'new' })).status).toBe(422);
    fake.addSession({ id: 'taken' });
    const taken = await post(t, '/api/sessions/new/chat/stream', { message: 'x', session_id: 'taken' });
    expect(taken.status).toBe(409);
    // Nothing was streamed or created upstream by any of these.
    expect(fake.requests.filter((r) => r.method === 'POST')).toEqual([]);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1 });
  });

  test('the static new/chat/stream route wins over {id}/chat/stream', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'x', session_id: 'chosen' }));
    expect(events[0]?.data).toMatchObject({ session_id: 'chosen', status: 'created' });
    expect(fake.sessions.has('new')).toBe(false);
  });
});

describe('chat-completions fallback (Hermes 0.12)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.12', (f, app) => {
    fake = f;
    t = app;
  });

  const completionsCalls = () => fake.requests.filter((r) => r.path === '/v1/chat/completions');

  test('streams the envelope and records the turn in the transcript store', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'hello there', system_message: 'Be brief.', temperature: 0.2, max_tokens: 50 }));
    const { session, text, last } = jettChat(events);
    const id = session?.data.session_id as string;
    expect(session?.data).toEqual({ session_id: id, status: 'created', upstream: 'chat-completions' });
    expect(text).toBe('You said: hello there');
    expect(last?.data).toEqual({ session_id: id, status: 'complete', usage: { input_tokens: 4, output_tokens: 4, total_tokens: 8 } });
    const call = completionsCalls()[0];
    expect(call?.headers['x-hermes-session-id']).toBe(id);
    expect(call?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.parse(call?.body ?? '{}')).toEqual({
      model: 'hermes-agent', stream: true, stream_options: { include_usage: true }, temperature: 0.2, max_tokens: 50,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there' }],
    });
    const msgs = await t.json('GET', `/api/sessions/${id}/messages`);
    expect(msgs.body).toMatchObject({ total: 2, items: [{ role: 'user', content: 'hello there' }, { role: 'assistant', content: 'You said: hello there' }] });
    expect((await t.json('GET', `/api/sessions/${id}`)).body).toMatchObject({
      session: { origin: 'sidecar', message_count: 2, input_tokens: 4, output_tokens: 4, preview: 'hello there' },
    });
  });

  test("the agent's tool progress in its completions stream becomes tool events, in both formats", async () => {
    fake.behavior.tools = true;
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'search cats' }));
    const id = events[0]?.data.session_id as string;
    expect(events.map((e) => e.event)).toEqual(['session', 'tool', 'tool', 'content', 'content', 'content', 'content', 'done']);
    expect(events[1]?.data).toEqual({ session_id: id, tool: 'web_search', status: 'started', preview: 'web_search: "search cats"' });
    expect(events[2]?.data).toEqual({ session_id: id, tool: 'web_search', status: 'completed' });
    expect(jettChat(events).text).toBe('You said: search cats');
    const hermes = await sseEvents(await post(t, `/api/sessions/${id}/chat/stream?format=hermes`, { message: 'search dogs' }));
    expect(hermes.filter((e) => e.event.startsWith('tool.')).map((e) => [e.event, e.data.tool_name])).toEqual([['tool.started', 'web_search'], ['tool.completed', 'web_search']]);
  });

  test('the second turn carries the first: context is kept across turns', async () => {
    fake.behavior.reply = (messages) => `turn ${messages.filter((m) => m.role === 'user').length}`;
    const first = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'my name is Ada' }));
    const id = first[0]?.data.session_id as string;
    expect(jettChat(first).text).toBe('turn 1');
    const second = await sseEvents(await post(t, `/api/sessions/${id}/chat/stream`, { message: 'what is my name?' }));
    expect(second[0]?.data).toEqual({ session_id: id, status: 'opened', upstream: 'chat-completions' });
    expect(jettChat(second).text).toBe('turn 2');
    expect(JSON.parse(completionsCalls()[1]?.body ?? '{}').messages).toEqual([
      { role: 'user', content: 'my name is Ada' }, { role: 'assistant', content: 'turn 1' }, { role: 'user', content: 'what is my name?' },
    ]);
    expect((await t.json('GET', `/api/sessions/${id}`)).body).toMatchObject({ session: { message_count: 4 } });
  });

  test('attachments become content parts, kept in the transcript', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', {
      message: 'what is this?',
      attachments: [{ type: 'image', url: 'https://example.test/cat.png' }, { name: 'notes.txt', text: 'some notes' }, { mime_type: 'image/jpeg', data: 'AAAA' }],
    }));
    const id = events[0]?.data.session_id as string;
    const parts = [
      { type: 'text', text: 'what is this?' },
      { type: 'image_url', image_url: { url: 'https://example.test/cat.png' } },
      { type: 'text', text: 'notes.txt:\nsome notes' },
      { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
    ];
    expect(JSON.parse(completionsCalls()[0]?.body ?? '{}').messages).toEqual([{ role: 'user', content: parts }]);
    expect((await t.json('GET', `/api/sessions/${id}/messages`)).body).toMatchObject({ items: [{ role: 'user', content: parts }, { role: 'assistant' }] });
  });

  test('?format=hermes synthesises the agent\'s events with a run of our own', async () => {
    const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream?format=hermes', { message: 'hi there' }));
    const w = workspace(events);
    expect(w.names).toEqual(['run.started', 'message.started', 'assistant.delta', 'assistant.delta', 'assistant.delta', 'assistant.delta', 'assistant.completed', 'run.completed', 'done']);
    expect(w.text).toBe('You said: hi there');
    expect(w.completed).toBe('You said: hi there');
    expect(w.usage).toEqual({ input_tokens: 2, output_tokens: 4, total_tokens: 6 });
    const { session_id, run_id } = events[0]?.data ?? {};
    expect(run_id).toMatch(/^run_[0-9a-f]{24}$/);
    events.forEach((e, i) => expect(e.data).toMatchObject({ session_id, run_id, seq: i + 1, ts: expect.any(Number) }));
    expect(events[0]?.data.user_message).toBe('hi there');
    expect(events[1]?.data.message).toEqual({ id: events[2]?.data.message_id, role: 'assistant' });
  });

  test('POST {id}/chat answers without streaming and records the turn', async () => {
    const created = await t.json<{ session: { id: string } }>('POST', '/api/sessions', { title: 'Plain' });
    const id = created.body.session.id;
    const res = await t.json('POST', `/api/sessions/${id}/chat`, { message: 'one two' });
    expect(res.body).toEqual({ session_id: id, message: { role: 'assistant', content: 'You said: one two' }, usage: { input_tokens: 2, output_tokens: 4, total_tokens: 6 } });
    expect((await t.json('GET', `/api/sessions/${id}`)).body).toMatchObject({ session: { title: 'Plain', message_count: 2 } });
  });

  test('a state.db session continues with its history from state.db', async () => {
    const fx = createStateDb(t.home, 'v6');
    fx.addSession({ id: 'cli', started_at: 100 }, [
      { role: 'user', content: 'earlier question', timestamp: 101 },
      { role: 'assistant', content: '', tool_calls: [{ id: 'c', type: 'function', function: { name: 'x', arguments: '{}' } }], timestamp: 102 },
      { role: 'tool', content: 'tool output', tool_call_id: 'c', tool_name: 'x', timestamp: 103 },
      { role: 'assistant', content: 'earlier answer', timestamp: 104 },
    ]);
    const events = await sseEvents(await post(t, '/api/sessions/cli/chat/stream', { message: 'and now?' }));
    expect(events[0]?.data).toEqual({ session_id: 'cli', status: 'opened', upstream: 'chat-completions' });
    expect(JSON.parse(completionsCalls()[0]?.body ?? '{}').messages).toEqual([
      { role: 'user', content: 'earlier question' }, { role: 'assistant', content: 'earlier answer' }, { role: 'user', content: 'and now?' },
    ]);
    expect(completionsCalls()[0]?.headers['x-hermes-session-id']).toBe('cli');
    fx.close();
  });
});
