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
      if (new URL(req.url).pathname === '/health') return Response.json({ status: 'ok', platform: 'hermes-agent', version: '0.18.2' });
      const message = `Invalid API key: ${req.headers.get('authorization')}`;
      return Response.json({ error: { message, type: 'invalid_request_error', code: 'invalid_api_key' } }, { status: 401 });
    },
  });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: `http://127.0.0.1:${upstream.port}`, HERMES_API_KEY: KEY } });
});
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
