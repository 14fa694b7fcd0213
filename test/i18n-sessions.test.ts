/**
 * Sessions in other scripts: titles and model names must be well-formed text (no lone surrogate),
 * and previews are cut where a reader sees a character boundary, never inside
 * an emoji's surrogate pair (JSON then carries a lone `\ud83d`, which strict decoders — Swift's
 * JSONDecoder among them — refuse, failing the whole list) nor between a letter and its accent.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';
import { cutText } from '../src/lib/text';

const T0 = 1_780_000_000;
let t: TestApp;
let fx: StateDbFixture;

beforeEach(async () => {
  t = await makeTestApp();
  fx = createStateDb(t.home, 'v19');
});
afterEach(() => {
  fx.close();
  t.close();
});

test('a preview cut at 60 keeps emoji and accented letters whole', async () => {
  fx.addSession({ id: 's_emoji', source: 'cli', title: '東京旅行 🗼', started_at: T0 }, [{ role: 'user', content: `${'x'.repeat(59)}😀 after`, timestamp: T0 + 1 }]);
  fx.addSession({ id: 's_accent', source: 'cli', started_at: T0 + 10 }, [{ role: 'user', content: `${'e'.repeat(59)}e\u0301 and more`, timestamp: T0 + 11 }]);
  fx.addSession({ id: 's_cjk', source: 'cli', started_at: T0 + 20 }, [{ role: 'user', content: '我'.repeat(70), timestamp: T0 + 21 }]);
  const res = await t.fetch('/api/sessions');
  const raw = await res.text();
  expect(raw).not.toMatch(/\\ud[89ab]/i);
  const byId = Object.fromEntries((JSON.parse(raw) as { items: { id: string; title: string; preview: string }[] }).items.map((s) => [s.id, s]));
  expect(byId.s_emoji?.preview).toBe(`${'x'.repeat(59)}…`);
  expect(byId.s_emoji?.title).toBe('東京旅行 🗼');
  expect(byId.s_accent?.preview).toBe(`${'e'.repeat(59)}…`);
  expect(byId.s_cjk?.preview).toBe(`${'我'.repeat(60)}…`);
});

test('cutText: never longer than asked, whole graphemes only', () => {
  expect(cutText('short', 60)).toBe('short');
  expect(cutText('👨‍👩‍👧 family', 4)).toBe('…');
  expect(cutText('ab👨‍👩‍👧', 5)).toBe('ab…');
  for (const s of ['😀'.repeat(40), 'नमस्ते दुनिया '.repeat(8), 'e\u0301'.repeat(50)]) {
    const cut = cutText(s, 61);
    expect(cut.isWellFormed()).toBe(true);
    expect(cut.length).toBeLessThanOrEqual(62);
    expect(s.startsWith(cut.slice(0, -1))).toBe(true);
  }
});

test('a title, model or chat message with half an emoji (a lone surrogate) is a 422: stored, it came back as U+FFFD', async () => {
  fx.addSession({ id: 's_agent', source: 'cli', title: 'kept', started_at: T0 });
  const sends: [string, string, unknown][] = [
    ['POST', '/api/sessions', { id: 'own_1', title: 'trip \ud83d' }],
    ['POST', '/api/sessions', { id: 'own_2', model: 'gpt-\udc00' }],
    ['PATCH', '/api/sessions/s_agent', { title: '\ud83d tokyo' }],
    ['POST', '/api/sessions/new/chat/stream', { session_id: 'own_3', title: 'trip \ud83d', message: 'hi' }],
    ['POST', '/api/sessions/new/chat/stream', { session_id: 'own_4', model: '\ud83dgpt', message: 'hi' }],
    // The message too: the agent was sent the surrogate, the history kept U+FFFD and sent that next turn.
    ['POST', '/api/sessions/new/chat/stream', { session_id: 'own_5', message: 'hi \ud83d' }],
    ['POST', '/api/sessions/s_agent/chat', { message: '\udc00 there' }],
    ['POST', '/api/sessions/s_agent/chat/stream', { message: 'x\ud83d' }],
  ];
  for (const [method, path, body] of sends) {
    const r = await t.json(method, path, body);
    expect([path, r.status, r.body.code]).toEqual([path, 422, 'validation_error']);
  }
  expect((await t.json('GET', '/api/sessions/own_1')).status).toBe(404);
  for (const id of ['own_2', 'own_3', 'own_4', 'own_5']) expect((await t.json('GET', `/api/sessions/${id}`)).status).toBe(404);
  expect((await t.json<{ session: { title: string } }>('GET', '/api/sessions/s_agent')).body.session.title).toBe('kept');
  // Whole emoji, in any script, are titles like any other.
  const ok = await t.json<{ session: { title: string } }>('PATCH', '/api/sessions/s_agent', { title: '東京 🗼 नमस्ते' });
  expect([ok.status, ok.body.session.title]).toEqual([200, '東京 🗼 नमस्ते']);
});
