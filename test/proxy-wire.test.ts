/**
 * What the proxies (SPEC §6) pass on, header by header and frame by frame, between a client on a real
 * socket and the fake Hermes: request encodings, SSE event names, browser CORS headers, OpenAI nulls.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { jsonOf, makeTestApp, readSse, type TestApp } from './helpers/app';

let fake: FakeHermes;
let t: TestApp;
let base: string;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' } });
  t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
  base = `http://127.0.0.1:${t.app.server!.port}`;
});
afterAll(async () => {
  await t.app.stop(true);
  t.close();
  await fake.stop();
});
afterEach(() => fake.reset());

const chatBody = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'hermes-agent', messages: [{ role: 'user', content }], ...extra });
const lastRequest = (path: string) => [...fake.requests].reverse().find((r) => r.path === path)!;

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
  test("Hermes' `event: hermes.tool.progress` frames keep their name, as through /v1, so they are not taken for chunks", async () => {
    fake.behavior.tools = true;
    const res = await fetch(`${base}/api/chat/completions/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('weather') });
    const raw = await res.text();
    const frames = await readSse(new Response(raw));
    const progress = frames.filter((f) => f.event === 'hermes.tool.progress').map((f) => JSON.parse(f.data));
    expect(progress.map((p) => [p.tool, p.status])).toEqual([['web_search', 'running'], ['web_search', 'completed']]);
    expect(raw).toContain('event: hermes.tool.progress\ndata: {');
    // Every unnamed frame is what an OpenAI client reads as a chunk.
    const unnamed = frames.filter((f) => f.event === 'message').map((f) => f.data);
    expect(unnamed.at(-1)).toBe('[DONE]');
    const chunks = unnamed.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.every((c) => Array.isArray(c.choices))).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('You said: weather');
    // The same frame names, in the same order, as the transparent proxy gives.
    const viaV1 = await readSse(await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody('weather', { stream: true, stream_options: { include_usage: true } }) }));
    expect(frames.map((f) => f.event)).toEqual(viaV1.map((f) => f.event));
  });
});
