/**
 * Time to first token on the chat-completions fallback: when the history is local and nothing holds
 * state.db locked, the upstream request is sent while the turn's stream is being set up, not after
 * it. Awaited, the history read let the response be built first and the request left ~0.1 ms
 * later (docs/sessions-chat.md, Benchmarks). Only the order of calls is checked, never a duration.
 */
import { afterAll, beforeAll, expect, spyOn, test } from 'bun:test';
import { appOn } from './helpers/fake-app';
import type { TestApp } from './helpers/app';
import { sseEvents } from './helpers/sse-events';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { workOf } from '../src/lib/work';

let fake: FakeHermes;
let t: TestApp;
let fx: StateDbFixture;

beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.12' });
  t = await appOn(fake);
});
afterAll(async () => {
  fx?.close();
  t.close();
  await fake.stop();
});

/** Starts a streamed turn on `id` and says whether the upstream was asked before `stream()` gave control back. */
async function sentBeforeStreamReturned(id: string, message: string): Promise<{ sentAtOnce: boolean; events: string[] }> {
  const request = new Request(`http://localhost/api/sessions/${id}/chat/stream`, { method: 'POST' });
  const turn = await t.deps.chat.open({ id }, { message }, request.signal, workOf(request));
  const spy = spyOn(t.deps.upstream, 'fetch');
  try {
    const response = t.deps.chat.stream(turn, 'optx');
    const sentAtOnce = spy.mock.calls.length === 1;
    const events = (await sseEvents(await response)).map((e) => e.event);
    return { sentAtOnce, events };
  } finally {
    spy.mockRestore();
  }
}

test('a session of the sidecar\'s own: the fallback request is sent before the stream is set up, with its history', async () => {
  expect((await t.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
  expect((await sentBeforeStreamReturned('mine', 'first')).sentAtOnce).toBe(true);
  const second = await sentBeforeStreamReturned('mine', 'second');
  expect(second.sentAtOnce).toBe(true);
  expect(second.events.at(0)).toBe('session');
  expect(second.events.at(-1)).toBe('done');
  const sent = JSON.parse(fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body ?? '{}');
  expect(sent.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user']);
  expect(sent.messages.at(-1)).toEqual({ role: 'user', content: 'second' });
});

test('a session in the agent\'s state.db, unlocked: the same', async () => {
  fx = createStateDb(t.home, 'v19');
  fx.addSession({ id: 'agent-made', source: 'api_server', started_at: 1_780_000_000 }, [
    { role: 'user', content: 'my name is Ada', timestamp: 1_780_000_001 },
    { role: 'assistant', content: 'hello Ada', timestamp: 1_780_000_002 },
  ]);
  const turn = await sentBeforeStreamReturned('agent-made', 'what is my name?');
  expect(turn).toEqual({ sentAtOnce: true, events: ['session', ...turn.events.slice(1, -1).map(() => 'content'), 'done'] });
  expect(JSON.parse(fake.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body ?? '{}').messages).toEqual([
    { role: 'user', content: 'my name is Ada' },
    { role: 'assistant', content: 'hello Ada' },
    { role: 'user', content: 'what is my name?' },
  ]);
});
