/**
 * JSON in state.db nested deeper than any message needs. `tool_calls` and multimodal content are JSON
 * the agent wrote; a row whose tool_calls opened 200,000 arrays inside each other was parsed (most of a
 * second) and then could not be sent: the page of messages was a 500. Such a value is read as what it
 * is, unreadable: tool_calls null, content shown as its text.
 */
import { afterEach, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';

const T0 = 1_780_000_000;
let t: TestApp | undefined;
let fx: StateDbFixture | undefined;
afterEach(() => {
  fx?.close();
  t?.close();
});

test('a message whose tool_calls or content nest 200,000 levels deep is shown unparsed, not a 500', async () => {
  t = await makeTestApp();
  fx = createStateDb(t.home, 'v19');
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  const fits = `[${'['.repeat(127)}${']'.repeat(127)}]`;
  fx.addSession({ id: 's_deep', source: 'cli', started_at: T0 }, [
    { role: 'user', content: `\u0000json:${deep}`, timestamp: T0 + 1 },
    { role: 'assistant', content: 'ok', tool_calls: deep, timestamp: T0 + 2 },
    { role: 'assistant', content: 'ok', tool_calls: fits, timestamp: T0 + 3 },
  ]);
  const res = await t.json<{ items: { content: unknown; tool_calls: unknown }[] }>('GET', '/api/sessions/s_deep/messages');
  expect(res.status).toBe(200);
  expect(res.body.items.map((m) => [m.content === deep, m.tool_calls])).toEqual([
    [true, null],
    [false, null],
    [false, JSON.parse(fits)],
  ]);
  expect((await t.json('GET', '/api/sessions/s_deep')).status).toBe(200);
});
