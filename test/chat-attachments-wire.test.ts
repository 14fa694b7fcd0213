/**
 * Attachments the real gateway refuses (`_normalize_multimodal_content` in Hermes' api_server): an
 * image part needs an http(s) URL or a `data:image/...` URL. The sidecar builds those parts itself,
 * so an attachment that cannot make an acceptable part is the client's error, refused before any
 * session is created or any turn sent upstream.
 */
import { describe, expect, test } from 'bun:test';
import { post, type TestApp } from './helpers/app';
import { lastRequest, useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';

const refused = [
  { type: 'image', url: 'ftp://example.test/a.png' },
  { type: 'image', url: '/uploads/a.png' },
  { mime_type: 'image/png', url: 'data:text/plain,hello' },
  { type: 'image', mime_type: 'application/pdf', data: 'AAAA' },
];

for (const version of ['0.17', '0.12'] as const) {
  describe(`image attachments the gateway cannot take (Hermes ${version})`, () => {
    let fake: FakeHermes;
    let t: TestApp;
    useFakeHermes(version, (f, app) => {
      fake = f;
      t = app;
    });

    test('are refused with 422 before anything is created or sent upstream', async () => {
      expect((await t.json('POST', '/api/sessions', { id: 'held' })).status).toBe(201);
      fake.requests.length = 0;
      for (const a of refused) {
        const streamed = await post(t, '/api/sessions/new/chat/stream', { message: 'look', attachments: [a] });
        expect(streamed.status).toBe(422);
        expect(await streamed.json()).toMatchObject({ code: 'validation_error', errors: [{ path: 'attachments.0' }] });
        for (const path of ['/api/sessions/held/chat/stream', '/api/sessions/held/chat']) {
          expect((await t.json('POST', path, { message: 'look', attachments: [a] })).status).toBe(422);
        }
      }
      expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 'held', message_count: 0 }] });
    });

    test('http(s) and data:image URLs, and image data, are sent as image parts', async () => {
      const events = await sseEvents(await post(t, '/api/sessions/new/chat/stream', {
        message: 'look',
        attachments: [{ type: 'image', url: 'HTTPS://example.test/a.png' }, { type: 'image', url: 'data:image/gif;base64,R0lG' }, { data: 'AAAA', type: 'image' }],
      }));
      expect(events.at(-1)?.event).toBe('done');
      const path = version === '0.17' ? `/api/sessions/${events[0]?.data.session_id as string}/chat/stream` : '/v1/chat/completions';
      expect(lastRequest(fake, path).body).toContain('data:image/png;base64,AAAA');
    });

    test('image data beside an empty url (a client that sends every field) is sent as the data, as before the url check', async () => {
      const res = await post(t, '/api/sessions/new/chat/stream', { message: 'look', attachments: [{ type: 'image', url: '', mime_type: 'image/jpeg', data: 'BBBB' }] });
      expect(res.status).toBe(200);
      const events = await sseEvents(res);
      expect(events.at(-1)?.event).toBe('done');
      const path = version === '0.17' ? `/api/sessions/${events[0]?.data.session_id as string}/chat/stream` : '/v1/chat/completions';
      expect(lastRequest(fake, path).body).toContain('data:image/jpeg;base64,BBBB');
    });

    // As a message with one is (4a7f88b): the turn kept the part's text with the surrogate, and the
    // session's preview in GET /api/sessions carried a lone `\ud83d`, which strict JSON decoders refuse.
    test('an attachment with half an emoji (a lone surrogate) in any text is a 422 before anything is created or sent', async () => {
      expect((await t.json('POST', '/api/sessions', { id: 'held' })).status).toBe(201);
      fake.requests.length = 0;
      const halves = [{ name: 'notes\ud83d.txt', text: 'x' }, { text: 'tail \udc00' }, { type: 'image', url: 'https://example.test/\ud83d.png' }, { type: 'fil\ud83d' }, { mime_type: 'text/\udc00' }];
      for (const a of halves) {
        for (const path of ['/api/sessions/new/chat/stream', '/api/sessions/held/chat/stream', '/api/sessions/held/chat']) {
          const r = await t.json('POST', path, { message: 'look', attachments: [a] });
          expect([path, JSON.stringify(a), r.status, r.body.code]).toEqual([path, JSON.stringify(a), 422, 'validation_error']);
        }
      }
      expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 'held', message_count: 0 }] });
    });
  });
}
