/**
 * The chat-completions fallback against the ways a real Hermes gateway ends or refuses a turn:
 * what the transcript keeps (the next turn's context) and what the client is told.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test';
import { makeTestApp, post, type TestApp } from './helpers/app';
import { lastRequest, useFakeHermes } from './helpers/fake-app';
import { sseEvents, sseReader, type SseEvent } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

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

  test('a failed agent run as newer gateways end it (finish_reason "error" with an error object) fails the turn the same way, with the same code', async () => {
    await t.json('POST', '/api/sessions', { id: 'failed-run' });
    fake.behavior.crashAfterTokens = 2;
    fake.behavior.crashStyle = 'result';
    const events = await sseEvents(await post(t, '/api/sessions/failed-run/chat/stream', { message: 'one two three four' }));
    expect(events.map((e) => e.event)).toEqual(['session', 'content', 'content', 'error']);
    // The code does not depend on the gateway's wire form (until 2026-12-06 this one was upstream_error);
    // the gateway's own (redacted) reason is kept in the message.
    const message = 'The agent stopped with an error before its answer was complete: Agent run failed: the model provider returned an error';
    expect(events.at(-1)?.data).toEqual({ error: message, code: 'agent_incomplete', session_id: 'failed-run' });
    const reply = await t.json('POST', '/api/sessions/failed-run/chat', { message: 'five six' });
    expect([reply.status, reply.body]).toEqual([502, { detail: message, code: 'agent_incomplete' }]);
    expect((await t.json('GET', '/api/sessions/failed-run/messages')).body).toMatchObject({ total: 0, items: [] });
  });

  /**
   * A new session's first turn that streams slowly and is cut off after 6 tokens (~200 ms); returns
   * once its `session` event arrived, with a function reading the rest. Turns saying "second…" are
   * answered "ok", one token, so the cut never reaches them.
   */
  async function failingFirstTurn(id: string) {
    fake.behavior.tokenDelayMs = 40;
    fake.behavior.dropAfterTokens = 6;
    fake.behavior.reply = (messages) => {
      const said = String(messages.at(-1)?.content);
      return said.startsWith('second') ? 'ok' : `You said: ${said}`;
    };
    const first = sseReader(await post(t, '/api/sessions/new/chat/stream', { message: 'a b c d e f g h', session_id: id }));
    expect((await first.next())?.data).toMatchObject({ session_id: id, status: 'created' });
    return async () => {
      const rest: SseEvent[] = [];
      for (let e = await first.next(); e; e = await first.next()) rest.push(e);
      return rest;
    };
  }

  test('a failing first turn does not remove its session when another turn of it finished meanwhile', async () => {
    const finishFirst = await failingFirstTurn('busy');
    const other = await t.json('POST', '/api/sessions/busy/chat', { message: 'second' });
    expect(other.body).toMatchObject({ message: { content: 'ok' } });
    expect((await finishFirst()).at(-1)?.data).toMatchObject({ code: 'upstream_disconnected' });
    // The other turn was answered: its session and messages stay.
    expect((await t.json('GET', '/api/sessions/busy')).body).toMatchObject({ session: { origin: 'sidecar', message_count: 2 } });
    expect((await t.json('GET', '/api/sessions/busy/messages')).body).toMatchObject({ items: [{ role: 'user', content: 'second' }, { role: 'assistant', content: 'ok' }] });
  });

  test('… nor when another turn of it is still streaming, which then keeps its messages', async () => {
    const finishFirst = await failingFirstTurn('busy2');
    fake.behavior.firstTokenDelayMs = 400; // read by turns starting from now on
    const other = sseReader(await post(t, '/api/sessions/busy2/chat/stream', { message: 'second turn' }));
    expect((await other.next())?.event).toBe('session');
    expect((await finishFirst()).at(-1)?.data).toMatchObject({ code: 'upstream_disconnected' });
    const rest: SseEvent[] = [];
    for (let e = await other.next(); e; e = await other.next()) rest.push(e);
    expect(rest.map((e) => e.event)).toEqual(['content', 'done']);
    expect((await t.json('GET', '/api/sessions/busy2')).body).toMatchObject({ session: { origin: 'sidecar', message_count: 2 } });
    expect((await t.json('GET', '/api/sessions/busy2/messages')).body).toMatchObject({ items: [{ role: 'user', content: 'second turn' }, { role: 'assistant', content: 'ok' }] });
  });
});

describe('a Hermes 0.12 gateway without API_SERVER_KEY, the sidecar without HERMES_API_KEY', () => {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.12', apiKey: null });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url } });
    await t.deps.probe.probeNow();
  });
  afterAll(async () => {
    t.close();
    await fake.stop();
  });

  test('turns are not refused for X-Hermes-Session-Id (403 without a key): the history carries the context', async () => {
    fake.behavior.reply = (messages) => `turn ${messages.filter((m) => m.role === 'user').length}`;
    const first = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'my name is Ada' }));
    expect(first.map((e) => e.event)).toEqual(['session', 'content', 'content', 'done']);
    const id = first[0]?.data.session_id as string;
    const second = await t.json('POST', `/api/sessions/${id}/chat`, { message: 'what is my name?' });
    expect(second.body).toMatchObject({ session_id: id, message: { role: 'assistant', content: 'turn 2' } });
    const calls = fake.requests.filter((r) => r.path === '/v1/chat/completions');
    // Mapped to a marker: Bun's toEqual skips trailing `undefined` entries, so [undefined, undefined] would pass on 0 to 2 calls.
    expect(calls.map((r) => r.headers['x-hermes-session-id'] ?? 'none')).toEqual(['none', 'none']);
    expect(JSON.parse(calls[1]?.body ?? '{}').messages).toEqual([
      { role: 'user', content: 'my name is Ada' }, { role: 'assistant', content: 'turn 1' }, { role: 'user', content: 'what is my name?' },
    ]);
  });
});

describe('a Hermes 0.12 gateway without API_SERVER_KEY, the sidecar with HERMES_API_KEY (the key it sends is not checked)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.12', apiKey: null });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: 'key-the-gateway-lacks' } });
    await t.deps.probe.probeNow();
  });
  afterAll(async () => {
    t.close();
    await fake.stop();
  });

  test('a turn refused for X-Hermes-Session-Id (403) goes again without it; later turns go without it at once, the history carrying the context', async () => {
    fake.behavior.reply = (messages) => `turn ${messages.filter((m) => m.role === 'user').length}`;
    const first = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'my name is Ada', session_id: 'k403' }));
    expect(first.map((e) => e.event)).toEqual(['session', 'content', 'content', 'done']);
    const second = await t.json('POST', '/api/sessions/k403/chat', { message: 'what is my name?' });
    expect(second.body).toMatchObject({ session_id: 'k403', message: { role: 'assistant', content: 'turn 2' } });
    const calls = fake.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(calls.map((r) => r.headers['x-hermes-session-id'] ?? 'none')).toEqual(['k403', 'none', 'none']);
    expect(JSON.parse(calls[2]?.body ?? '{}').messages).toEqual([
      { role: 'user', content: 'my name is Ada' }, { role: 'assistant', content: 'turn 1' }, { role: 'user', content: 'what is my name?' },
    ]);
  });
});

describe('a keyed gateway behind a proxy that answers 403 (not the keyless refusal of X-Hermes-Session-Id)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.12' });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: 'test-upstream-key' } });
    await t.deps.probe.probeNow();
  });
  afterAll(async () => {
    t.close();
    await fake.stop();
  });

  test('a 403 of its own is the turn\'s answer: sent once, not again without the header, and the id not remembered as refused', async () => {
    fake.behavior.statusOverride['/v1/chat/completions'] = 403;
    expect((await t.json('POST', '/api/sessions', { id: 'proxied' })).status).toBe(201);
    const refused = await t.json('POST', '/api/sessions/proxied/chat', { message: 'hello' });
    expect([refused.status, refused.body]).toMatchObject([502, { code: 'forbidden', detail: 'The Hermes upstream answered 403: Fake Hermes: forced HTTP 403' }]);
    const calls = () => fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.headers['x-hermes-session-id'] ?? 'none');
    expect(calls()).toEqual(['proxied']);
    delete fake.behavior.statusOverride['/v1/chat/completions'];
    expect((await t.json('POST', '/api/sessions/proxied/chat', { message: 'again' })).status).toBe(200);
    expect(calls()).toEqual(['proxied', 'proxied']);
  });
});

describe('a long history on the fallback', () => {
  let fake: FakeHermes;
  let t: TestApp;
  // Bodies of 3 MB, so a few turns pass the gateway's 10 MB request limit.
  useFakeHermes('0.12', (f, app) => {
    fake = f;
    t = app;
  }, { MAX_BODY_BYTES: String(4 * 1024 * 1024) });

  test('past the gateway\'s 10 MB request limit the oldest turns are left out of the request (was 413 on every later turn)', async () => {
    await t.json('POST', '/api/sessions', { id: 'long' });
    fake.behavior.reply = () => 'ok';
    const notes = 'n'.repeat(3_000_000);
    for (let i = 1; i <= 4; i++) {
      const res = await t.json('POST', '/api/sessions/long/chat', { message: `turn ${i}`, attachments: [{ name: 'notes.txt', text: notes }] });
      expect(res.status).toBe(200);
    }
    const last = fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1);
    expect(Buffer.byteLength(last?.body ?? '')).toBeLessThan(10_000_000);
    const sent = JSON.parse(last?.body ?? '{}').messages as { role: string; content: { text: string }[] }[];
    // Turn 1 left out; the request still starts on a user turn and ends with this one.
    expect(sent.map((m) => `${m.role}:${m.content[0]?.text ?? m.content}`)).toEqual([
      'user:turn 2', 'assistant:ok', 'user:turn 3', 'assistant:ok', 'user:turn 4',
    ]);
    // The transcript keeps every turn.
    expect((await t.json('GET', '/api/sessions/long/messages')).body).toMatchObject({ total: 8 });
  }, 120_000);

  test('a turn reads the transcript from its newest message back only as far as the request goes (was all of it: 1.9 s and ~700 MB per turn at 100,000 messages)', async () => {
    await t.json('POST', '/api/sessions', { id: 'years' });
    fake.behavior.reply = () => 'ok';
    // 4,000 messages of 5 KB, stored as content parts: 20 MB, twice what one request can carry.
    const add = t.deps.db.sqlite.prepare('INSERT INTO chat_messages (session_id, role, content, timestamp) VALUES (?, ?, ?, ?)');
    t.deps.db.sqlite.transaction(() => {
      for (let i = 0; i < 4000; i++) add.run('years', i % 2 ? 'assistant' : 'user', `\u0000json:${JSON.stringify([{ type: 'text', text: `#${i} ${'w'.repeat(5000)}` }])}`, i);
    })();
    // Each stored message read is decoded (parsed) once: that counts the messages read.
    const parse = spyOn(JSON, 'parse');
    const res = await t.json('POST', '/api/sessions/years/chat', { message: 'and now?' });
    const decoded = parse.mock.calls.filter(([text]) => text.startsWith('[{"type":"text","text":"#')).length;
    parse.mockRestore();
    expect(res.status).toBe(200);
    const sent = JSON.parse(lastRequest(fake, '/v1/chat/completions').body).messages as { role: string; content: unknown }[];
    // The newest turns that fit, from a user turn on, ending with this one.
    expect(sent.length).toBeGreaterThan(1800);
    expect(sent[0]?.role).toBe('user');
    expect(sent.at(-2)?.content).toEqual([{ type: 'text', text: `#3999 ${'w'.repeat(5000)}` }]);
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'and now?' });
    // What was sent, and at most one page more: not the 2,000 older messages.
    expect(decoded).toBeLessThan(sent.length + 250);
  }, 120_000);
});
