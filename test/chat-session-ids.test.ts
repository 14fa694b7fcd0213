/**
 * Session ids a header cannot carry as they are. Hermes keeps any id a client gave it (an
 * `X-Hermes-Session-Id` sent through /v1, a session created through its API), `会话-1` or `café`
 * included; the Fetch API refuses such a string in a header, and the chat stream had already opened
 * its upstream turn when it built its response headers: a 500, and an upstream stream slot lost for
 * good on every try, until every chat and /v1 stream was refused 503 upstream_busy.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { appOn } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { createStateDb } from './fixtures/state-db';
import { headerValue } from '../src/lib/http';

const ID = '会话-1';
/** What goes on the wire for ID: its UTF-8 bytes, one Latin-1 character each. */
const utf8Bytes = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
const post = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
// Three upstream stream slots: a turn that lost one would show at the fourth.
const FEW_SLOTS = { BUN_CONFIG_MAX_HTTP_REQUESTS: '19' };

describe('a session id outside Latin-1', () => {
  let fake: FakeHermes;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.17' });
  });
  afterAll(() => fake.stop());

  test('native stream: answered (never 500), the header carries the id as UTF-8, and no upstream slot is lost', async () => {
    const t = await appOn(fake, FEW_SLOTS);
    fake.addSession({ id: ID });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await t.fetch(`/api/sessions/${encodeURIComponent(ID)}/chat/stream`, post({ message: 'hi' }));
        expect(res.status).toBe(200);
        expect(utf8Bytes(res.headers.get('x-hermes-session-id') ?? '')).toBe(ID);
        const events = await sseEvents(res);
        expect(events.at(-1)?.event).toBe('done');
        expect(events[0]?.data.session_id).toBe(ID);
      }
    } finally {
      t.close();
    }
  });

  test('fallback path: the turn goes upstream with the id as UTF-8 bytes, as Hermes reads it', async () => {
    const old = await startFakeHermes({ version: '0.12' });
    const t = await appOn(old, FEW_SLOTS);
    const fx = createStateDb(t.home, 'v6');
    fx.addSession({ id: ID, started_at: 100 });
    try {
      const events = await sseEvents(await t.fetch(`/api/sessions/${encodeURIComponent(ID)}/chat/stream`, post({ message: 'hi' })));
      expect(events.at(-1)?.event).toBe('done');
      const sent = old.requests.find((r) => r.path === '/v1/chat/completions');
      expect(utf8Bytes(sent?.headers['x-hermes-session-id'] ?? '')).toBe(ID);
    } finally {
      fx.close();
      t.close();
      await old.stop();
    }
  });
});

test('headerValue: ASCII unchanged, other text as its UTF-8 bytes, control characters and edge spaces refused', () => {
  expect(headerValue('api-0123abcd')).toBe('api-0123abcd');
  expect(headerValue('café')).toBe('caf\u00c3\u00a9');
  expect(headerValue('a\r\nb')).toBeNull();
  expect(headerValue('a\u0000')).toBeNull();
  expect(headerValue(' a')).toBeNull();
});
