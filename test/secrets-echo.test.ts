/**
 * Some OpenAI-compatible gateways quote the credential they refused in their error answer. That
 * credential is the sidecar's own (HERMES_API_KEY, HEDGEHOG_API_KEY): whatever route relays the
 * answer (the /v1 proxy, the chat streams, metered calls) must not hand it to the client.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';

const KEY = 'sk-sidecar-upstream-7f3a9c21e5';
let upstream: ReturnType<typeof Bun.serve>;
let t: TestApp;

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === '/v1/events') return openErrorStream(req.headers.get('authorization') ?? '');
      if (path === '/v1/big') return new Response(`${'x'.repeat(2 * 1024 * 1024)} ${req.headers.get('authorization')}`, { status: 400 });
      if (path === '/health') return Response.json({ status: 'ok', platform: 'hermes-agent', version: '0.18.2' });
      const message = `Invalid API key: ${req.headers.get('authorization')}`;
      return Response.json({ error: { message, type: 'invalid_request_error', code: 'invalid_api_key' } }, { status: 401 });
    },
  });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: `http://127.0.0.1:${upstream.port}`, HERMES_API_KEY: KEY, UPSTREAM_TIMEOUT_S: '2' } });
});
/** A 500 event stream that stays open after its first frame, which quotes the key across two chunks. */
function openErrorStream(auth: string): Response {
  const frame = `data: {"error":{"message":"refused ${auth}"}}\n\n`;
  const split = frame.indexOf(KEY) + 5;
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(new TextEncoder().encode(frame.slice(0, split)));
      await Bun.sleep(20);
      c.enqueue(new TextEncoder().encode(frame.slice(split)));
    },
  });
  return new Response(body, { status: 500, headers: { 'content-type': 'text/event-stream' } });
}

afterAll(() => {
  t.close();
  upstream.stop(true);
});

test('an upstream error answer quoting the sidecar key reaches the client with the key hidden, on every route that relays it', async () => {
  const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  const calls: [string, RequestInit][] = [
    ['/v1/models', {}],
    ['/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat) }],
    ['/api/chat/completions/stream', { method: 'POST', body: JSON.stringify(chat) }],
    ['/api/sessions/new/chat/stream', { method: 'POST', body: JSON.stringify({ message: 'hi' }) }],
    ['/api/wallet/tempo/call', { method: 'POST', body: JSON.stringify({ caller_id: 'c', prompt: 'hi' }) }],
  ];
  for (const [path, init] of calls) {
    const res = await t.fetch(path, { ...init, headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    expect([path, text.includes(KEY), text.includes('Invalid API key: Bearer ***')]).toEqual([path, false, true]);
  }
});

test('/v1 error answers are passed on as they stream, whatever their size, with the key hidden across chunks', async () => {
  const res = await t.fetch('/v1/events');
  expect(res.status).toBe(500);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let seen = '';
  while (!seen.endsWith('\n\n')) seen += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  expect(seen).toBe('data: {"error":{"message":"refused Bearer ***"}}\n\n');

  const big = await t.fetch('/v1/big');
  const text = await big.text();
  expect([big.status, text.length, text.endsWith(' Bearer ***')]).toEqual([400, 2 * 1024 * 1024 + 11, true]);
});

test('an upstream reached through user:password@ in its URL (no key set) that quotes the Basic credential has it hidden, on every route that relays it', async () => {
  const basic = Buffer.from('proxy-user:pw-7e4b1d90c3').toString('base64');
  const viaProxy = await makeTestApp({ env: { HERMES_AGENT_URL: `http://proxy-user:pw-7e4b1d90c3@127.0.0.1:${upstream.port}`, UPSTREAM_TIMEOUT_S: '2' } });
  try {
    const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const calls: [string, RequestInit][] = [
      ['/v1/models', {}],
      ['/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat) }],
      ['/v1/events', {}],
      ['/api/chat/completions/stream', { method: 'POST', body: JSON.stringify(chat) }],
      ['/api/sessions/new/chat/stream', { method: 'POST', body: JSON.stringify({ message: 'hi' }) }],
      ['/api/wallet/tempo/call', { method: 'POST', body: JSON.stringify({ caller_id: 'c', prompt: 'hi' }) }],
    ];
    for (const [path, init] of calls) {
      const res = await viaProxy.fetch(path, { ...init, headers: { 'content-type': 'application/json' } });
      const text = path === '/v1/events' ? await firstFrame(res) : await res.text();
      expect([path, text.includes(basic), text.includes('Basic ***')]).toEqual([path, false, true]);
    }
  } finally {
    viaProxy.close();
  }
});

/** The first SSE frame of an answer that stays open. */
async function firstFrame(res: Response): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let seen = '';
  while (!seen.endsWith('\n\n')) seen += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  return seen;
}
