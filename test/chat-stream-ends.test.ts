/**
 * How a native (Hermes 0.17) chat turn ends, in both formats: an answer that comes only in
 * `assistant.completed` (a failing model's text, SPEC §14), and an upstream that closes without `done`.
 */
import { describe, expect, test } from 'bun:test';
import { post, type TestApp } from './helpers/app';
import { useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';

const stream = async (t: TestApp, format: 'optx' | 'hermes', message = 'hi') =>
  sseEvents(await post(t, `/api/sessions/new/chat/stream?format=${format}`, { message }));

describe('the final text of assistant.completed', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });
  const failure = 'API call failed after 3 retries: 503 model overloaded';

  test('an answer sent only in assistant.completed (no deltas) reaches the optx client as content', async () => {
    fake.behavior.reply = () => failure;
    fake.behavior.tokens = () => [];
    const events = await stream(t, 'optx');
    expect(events.map((e) => e.event)).toEqual(['session', 'content', 'done']);
    expect(events[1]?.data.content).toBe(failure);
  });

  test('the hermes format passes the upstream events on as they were, with no delta of its own added', async () => {
    fake.behavior.reply = () => failure;
    fake.behavior.tokens = () => [];
    const events = await stream(t, 'hermes');
    expect(events.map((e) => e.event)).toEqual(['run.started', 'message.started', 'tool.progress', 'assistant.completed', 'run.completed', 'done']);
    expect(events[3]?.data.content).toBe(failure);
    expect(events.map((e) => e.data.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('text the deltas left out is sent once, after them; a final text that replaced the streamed one adds nothing', async () => {
    fake.behavior.tokens = (reply) => [reply.slice(0, 5)];
    const optx = await stream(t, 'optx', 'hello there');
    expect(optx.filter((e) => e.event === 'content').map((e) => e.data.content)).toEqual(['You s', 'aid: hello there']);
    const hermes = await stream(t, 'hermes', 'hello there');
    expect(hermes.filter((e) => e.event === 'assistant.delta').map((e) => e.data.delta)).toEqual(['You s']);
    expect(hermes.filter((e) => e.event === 'assistant.completed').map((e) => e.data.content)).toEqual(['You said: hello there']);

    fake.behavior.tokens = () => ['Let me look that up.'];
    const replaced = await stream(t, 'optx', 'hello there');
    expect(replaced.filter((e) => e.event === 'content').map((e) => e.data.content)).toEqual(['Let me look that up.']);
    expect(replaced.at(-1)?.event).toBe('done');
    // The non-streaming answer is the final text.
    const id = ((await t.json('POST', '/api/sessions', {})).body as { session: { id: string } }).session.id;
    const reply = await t.json('POST', `/api/sessions/${id}/chat`, { message: 'hello there' });
    expect(reply.body).toMatchObject({ message: { role: 'assistant', content: 'You said: hello there' } });
  });
});

describe('an upstream that closes after run.completed without done', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('the hermes format still ends with one done, continuing the run and its sequence', async () => {
    fake.behavior.omitDone = true;
    const events = await stream(t, 'hermes');
    expect(events.map((e) => e.event).slice(-3)).toEqual(['assistant.completed', 'run.completed', 'done']);
    const [completed, done] = events.slice(-2);
    expect(done?.data).toMatchObject({ session_id: completed?.data.session_id, run_id: completed?.data.run_id, seq: completed!.data.seq + 1 });
    // The optx format ends as always.
    expect((await stream(t, 'optx')).at(-1)?.event).toBe('done');
  });

  test("with the upstream's own done there is still exactly one", async () => {
    const events = await stream(t, 'hermes');
    expect(events.filter((e) => e.event === 'done').length).toBe(1);
    expect(events.at(-1)?.event).toBe('done');
  });
});
