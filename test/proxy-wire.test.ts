/**
 * What the proxies (SPEC §6) pass on, header by header and frame by frame, between a client on a real
 * socket and the fake Hermes: request encodings, SSE event names, browser CORS headers, OpenAI nulls.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { FakeHermes } from './fakes/hermes';
import { jsonOf, makeTestApp, readSse, type TestApp } from './helpers/app';
import { chatBody, lastRequest as lastRequestOf, useListeningApp } from './helpers/fake-app';

let fake: FakeHermes;
let base: string;
// A real socket between client and sidecar, so chunk boundaries and disconnects are real.
useListeningApp((f, _app, b) => {
  fake = f;
  base = b;
});

const lastRequest = (path: string) => lastRequestOf(fake, path);

describe('request bodies', () => {
  test('a gzip-compressed body reaches the upstream with its Content-Encoding, which unpacks it', async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: Bun.gzipSync(chatBody('compressed hello')),
    });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).choices[0].message.content).toBe('You said: compressed hello');
    const seen = lastRequest('/v1/chat/completions');
    expect(seen.headers['content-encoding']).toBe('gzip');
    // The length fetch wrote is that of the bytes sent, the compressed ones.
    expect(Number(seen.headers['content-length'])).toBe(Bun.gzipSync(chatBody('compressed hello')).byteLength);
  });
});

describe('POST /api/chat/completions/stream: named events', () => {
  test("Hermes' `event: hermes.tool.progress` frames become chunks without choices (the OpenAI SDKs take every frame for a chunk); /v1 keeps them as sent", async () => {
    fake.behavior.tools = true;
    const res = await fetch(`${base}/api/chat/completions/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('weather') });
    const raw = await res.text();
    const frames = await readSse(new Response(raw));
    // Every frame is unnamed, and every one but [DONE] is a chunk.
    expect(frames.every((f) => f.event === 'message')).toBe(true);
    expect(frames.at(-1)?.data).toBe('[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && Array.isArray(c.choices))).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('You said: weather');
    const progress = chunks.filter((c) => c.hermes_event);
    expect(progress.map((c) => [c.hermes_event.event, c.hermes_event.data.tool, c.hermes_event.data.status, c.choices.length]))
      .toEqual([['hermes.tool.progress', 'web_search', 'running', 0], ['hermes.tool.progress', 'web_search', 'completed', 0]]);
    // They carry the stream's own id, created and model.
    expect(progress[0].id).toBe(chunks[0].id);
    expect([progress[0].created, progress[0].model]).toEqual([chunks[0].created, chunks[0].model]);
    // The transparent proxy passes the agent's named frames on unchanged.
    const viaV1 = await readSse(await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody('weather', { stream: true, stream_options: { include_usage: true } }) }));
    expect(viaV1.filter((f) => f.event === 'hermes.tool.progress').length).toBe(2);
  });

  test('a chunk that is not a JSON object (`data: null`) before a named event does not end the stream as a lost connection', async () => {
    const chunk = '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}';
    const sse = `data: null\n\nevent: hermes.tool.progress\ndata: {"tool":"x"}\n\ndata: ${chunk}\n\ndata: [DONE]\n\n`;
    const upstream = Bun.serve({ port: 0, fetch: () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }) });
    const app = await makeTestApp({ env: { HERMES_AGENT_URL: `http://127.0.0.1:${upstream.port}`, HERMES_API_KEY: 'k' } });
    try {
      const res = await app.fetch('/api/chat/completions/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('hi') });
      const data = (await readSse(res)).map((f) => f.data);
      expect(data[0]).toBe('null');
      expect(JSON.parse(data[1] as string)).toMatchObject({ id: 'chatcmpl-hermes', choices: [], hermes_event: { event: 'hermes.tool.progress', data: { tool: 'x' } } });
      expect(data.slice(2)).toEqual([chunk, '[DONE]']);
    } finally {
      app.close();
      await upstream.stop(true);
    }
  });
});

describe('browser clients (CORS is the sidecar’s, never the upstream’s)', () => {
  const origin = 'http://app.example';
  let browserApp: TestApp;
  let url: string;
  beforeAll(async () => {
    browserApp = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', CORS_ORIGINS: origin } });
    browserApp.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
    url = `http://127.0.0.1:${browserApp.app.server!.port}`;
  });
  afterAll(async () => {
    await browserApp.app.stop(true);
    browserApp.close();
  });

  test('an allowed Origin is answered by the sidecar and not sent upstream, where a default Hermes refuses any Origin', async () => {
    const h = { origin, 'content-type': 'application/json', 'access-control-request-headers': 'content-type' };
    const models = await fetch(`${url}/v1/models`, { headers: h });
    expect(models.status).toBe(200);
    expect(models.headers.get('access-control-allow-origin')).toBe(origin);
    const chat = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: h, body: chatBody('from a browser', { stream: true }) });
    expect(chat.status).toBe(200);
    expect(await chat.text()).toContain('browser');
    const seen = fake.requests.filter((r) => r.path.startsWith('/v1/'));
    expect(seen.filter((r) => r.path === '/v1/models').length).toBeGreaterThan(0);
    expect(seen.filter((r) => r.body.includes('from a browser')).length).toBe(1);
    for (const r of seen) expect(Object.keys(r.headers).filter((k) => k === 'origin' || k.startsWith('access-control-'))).toEqual([]);
  });

  test("the upstream's own access-control-* headers never replace the sidecar's; Vary keeps Origin", async () => {
    fake.behavior.responseHeaders = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', vary: 'Accept-Encoding' };
    for (const init of [{}, { method: 'POST', body: chatBody('x', { stream: true }) }]) {
      const path = 'method' in init ? '/v1/chat/completions' : '/v1/models';
      const res = await fetch(`${url}${path}`, { ...init, headers: { origin } });
      await res.text();
      expect([path, res.headers.get('access-control-allow-origin'), res.headers.get('access-control-allow-credentials')]).toEqual([path, origin, 'true']);
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
      expect(res.headers.get('vary')?.split(/\s*,\s*/).sort()).toEqual(['Accept-Encoding', 'Origin']);
    }
    // No Origin: no CORS headers at all, and the upstream's Vary with Origin, since the answer to an
    // allowed page differs (CORS_ORIGINS is set: cors.test.ts, 'Vary: Origin').
    const plain = await fetch(`${url}/v1/models`);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    expect(plain.headers.get('vary')?.split(/\s*,\s*/).sort()).toEqual(['Accept-Encoding', 'Origin']);
  });
});

describe('POST /api/chat/completions/stream: OpenAI nulls', () => {
  test('null is accepted where OpenAI allows it: stream_options null means none, other nulls pass on as sent; stream and include_usage still forced', async () => {
    const nulls = { stream_options: null, stream: null, temperature: null, max_tokens: null, tools: null, stop: null, user: null };
    const res = await fetch(`${base}/api/chat/completions/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('nothing set', nulls) });
    expect(res.status).toBe(200);
    const frames = await readSse(res);
    expect(frames.at(-1)?.data).toBe('[DONE]');
    const sent = JSON.parse(lastRequest('/v1/chat/completions').body);
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toEqual({ include_usage: true });
    expect(sent.temperature).toBeNull();
  });

  test('model stays a string when given (OpenAI does not take null there either)', async () => {
    const res = await fetch(`${base}/api/chat/completions/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { model: null }) });
    expect(res.status).toBe(422);
    expect((await jsonOf(res)).error).toBeDefined();
  });
});

describe('bounded answers', () => {
  test('a /v1 JSON answer that came whole keeps its Content-Length (a stream went out chunked, and to HTTP/1.0 ended by a close)', async () => {
    for (const [method, path, body] of [['POST', '/v1/chat/completions', chatBody('measured')], ['GET', '/v1/models', undefined]] as const) {
      const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
      const bytes = await res.bytes();
      expect(res.status).toBe(200);
      expect(res.headers.get('transfer-encoding')).toBeNull();
      expect(res.headers.get('content-length')).toBe(String(bytes.byteLength));
    }
  });
});
