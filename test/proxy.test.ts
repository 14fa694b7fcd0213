/** The /v1/* reverse proxy and the OpenAI-compatible stream route against the fake Hermes (SPEC §6). */
import { describe, expect, test } from 'bun:test';
import type { FakeHermes } from './fakes/hermes';
import { jsonOf, makeTestApp, readSse } from './helpers/app';
import { chatBody, lastRequest as lastRequestOf, useListeningApp } from './helpers/fake-app';

let fake: FakeHermes;
let base: string;
// A real socket between client and sidecar, so chunk boundaries and disconnects are real.
useListeningApp((f, _app, b) => {
  fake = f;
  base = b;
}, { UPSTREAM_IDLE_TIMEOUT_S: '0.4', SSE_HEARTBEAT_S: '0.05', UPSTREAM_TIMEOUT_S: '0.5' });

const lastRequest = (path: string) => lastRequestOf(fake, path);

async function waitFor(cond: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await Bun.sleep(10);
  return cond();
}

describe('/v1/* reverse proxy', () => {
  test('GET /v1/models passes through with status, body and query string', async () => {
    const res = await fetch(`${base}/v1/models?x=1&y=two`);
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).data[0].id).toBe('hermes-agent');
    expect(lastRequest('/v1/models').search).toBe('?x=1&y=two');
  });

  test('non-streaming completion: body passed through, answer unchanged', async () => {
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('hello') });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).choices[0].message.content).toBe('You said: hello');
    expect(JSON.parse(lastRequest('/v1/chat/completions').body).messages[0].content).toBe('hello');
  });

  test('header hygiene: client credentials never reach the upstream, the sidecar key does; hop-by-hop dropped', async () => {
    await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer client-secret-key',
        cookie: 'session=abc',
        'payment-receipt': 'r',
        'x-api-key': 'client-other',
        'proxy-authorization': 'Basic x',
        te: 'trailers',
        'x-custom': 'kept',
      },
      body: chatBody('hi'),
    });
    const h = lastRequest('/v1/chat/completions').headers;
    expect(h.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(JSON.stringify(h)).not.toContain('client-secret-key');
    expect(h.cookie).toBeUndefined();
    expect(h['payment-receipt']).toBeUndefined();
    expect(h['x-api-key']).toBeUndefined();
    expect(h['proxy-authorization']).toBeUndefined();
    expect(h['x-custom']).toBe('kept');
  });

  test("the Azure OpenAI SDK's `api-key` header is a client credential too: never forwarded", async () => {
    // AzureOpenAI({ azure_endpoint: <sidecar>, api_key }) sends its key in `api-key`, not Authorization.
    await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'Api-Key': 'azure-client-secret' }, body: chatBody('hi') });
    const h = lastRequest('/v1/chat/completions').headers;
    expect(JSON.stringify(h)).not.toContain('azure-client-secret');
    expect(h.authorization).toBe(`Bearer ${fake.apiKey}`);
  });

  test('X-Hermes-Session-Id and Idempotency-Key pass both ways', async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hermes-session-id': 'sess-42', 'idempotency-key': 'idem-1' },
      body: chatBody('hi'),
    });
    await res.text();
    expect(lastRequest('/v1/chat/completions').headers['x-hermes-session-id']).toBe('sess-42');
    expect(res.headers.get('x-hermes-session-id')).toBe('sess-42');
    expect(res.headers.get('idempotency-key')).toBe('idem-1');
  });

  test('streamed chunks arrive incrementally, not buffered', async () => {
    fake.behavior.tokenDelayMs = 150;
    fake.behavior.reply = () => 'one two three';
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { stream: true }) });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let seen = '';
    while (!seen.includes('"one"')) seen += dec.decode((await reader.read()).value, { stream: true });
    // The first token is here while the upstream has not produced the last one yet.
    expect(seen).not.toContain('three');
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      seen += dec.decode(value, { stream: true });
    }
    expect(seen).toContain('three');
    expect(seen.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  test('a multi-byte character split across upstream writes arrives intact', async () => {
    fake.behavior.splitUtf8 = true;
    fake.behavior.reply = () => 'héllo wörld €uro 😀 ok';
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { stream: true }) });
    const frames = await readSse(res);
    const text = frames.filter((f) => f.data !== '[DONE]').map((f) => JSON.parse(f.data).choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('héllo wörld €uro 😀 ok');
  });

  test('a client abort cancels the upstream request', async () => {
    fake.behavior.tokenDelayMs = 100;
    fake.behavior.reply = () => 'a b c d e f g h i j k l m n o p';
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { stream: true }), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
  });

  test('server shutdown ends an open passthrough stream at once with an error frame and [DONE], and cancels the upstream', async () => {
    const shutdown = new AbortController();
    const s = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' }, open: { shutdown: shutdown.signal } });
    fake.behavior.tokenDelayMs = 1000;
    fake.behavior.reply = () => 'a b c d e f g';
    const res = await s.fetch('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { stream: true }) });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let seen = '';
    while (!seen.includes('"a"')) seen += dec.decode((await reader.read()).value, { stream: true });
    const t0 = performance.now();
    shutdown.abort();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      seen += dec.decode(value, { stream: true });
    }
    // Well before the next token (1 s away), let alone the 5 s grace of a stop.
    expect(performance.now() - t0).toBeLessThan(900);
    const frames = seen.trim().split('\n\n');
    expect(frames.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(frames.at(-2)!.slice('data: '.length)).error.code).toBe('server_shutting_down');
    expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
    s.close();
  });

  test('OPTIONS is answered by the sidecar (Allow), not sent upstream', async () => {
    const res = await fetch(`${base}/v1/models`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(fake.requests.filter((r) => r.method === 'OPTIONS')).toEqual([]);
  });

  test("HEAD is forwarded as HEAD and answered as Hermes' aiohttp answers it (200 where GET is, no body)", async () => {
    const head = await fetch(`${base}/v1/models`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'application/json; charset=utf-8', '']);
    // The sidecar's background probe may hit the fake meanwhile: look for the proxied request itself.
    expect(fake.requests.findLast((r) => r.path === '/v1/models')).toMatchObject({ method: 'HEAD', path: '/v1/models' });
  });

  test('HEAD says the length GET answers with (RFC 9110 §8.6), not the `Content-Length: 0` Bun writes for a bodiless answer', async () => {
    const get = new Uint8Array(await (await fetch(`${base}/v1/models`)).arrayBuffer());
    const head = await fetch(`${base}/v1/models`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(get.byteLength)]);
  });

  test("Hermes' text 404/405 (aiohttp's own, for a path or method it has no route for) reach the client in the OpenAI envelope, status and Allow kept", async () => {
    const put = await fetch(`${base}/v1/models`, { method: 'PUT', body: '{}' });
    expect([put.status, put.headers.get('allow'), await put.json()]).toEqual([405, 'GET,HEAD', {
      error: { message: 'The Hermes upstream answered 405.', type: 'invalid_request_error', code: 'upstream_405', param: null },
    }]);
    const missing = await fetch(`${base}/v1/nothing`);
    expect([missing.status, missing.headers.get('content-type'), ((await missing.json()) as { error: { code: string } }).error.code])
      .toEqual([404, 'application/json; charset=utf-8', 'upstream_404']);
    // The agent's own JSON errors pass unchanged.
    fake.behavior.statusOverride['/v1/models'] = 404;
    expect(await (await fetch(`${base}/v1/models`)).json()).toEqual({ error: { message: 'Fake Hermes: forced HTTP 404', type: 'invalid_request_error', param: null, code: 'not_found' } });
  });

  test('a passthrough stream that stalls past UPSTREAM_IDLE_TIMEOUT_S is cut and the upstream request cancelled', async () => {
    fake.behavior.stallAfterTokens = 1;
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('a b c', { stream: true }) });
    let failed = false;
    try {
      await res.text();
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
  });

  test('upstream status codes and error bodies are passed through', async () => {
    fake.behavior.statusOverride = { '/v1/chat/completions': 500 };
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody('x') });
    expect(res.status).toBe(500);
    expect((await jsonOf(res)).error).toBeDefined();
  });

  test('an upstream that does not answer in time → 504 in the OpenAI envelope', async () => {
    fake.behavior.hang = { '/v1/models': true };
    const res = await fetch(`${base}/v1/models`);
    expect(res.status).toBe(504);
    expect((await jsonOf(res)).error.code).toBe('upstream_timeout');
    expect(await waitFor(() => fake.aborted.includes('/v1/models'))).toBe(true);
  });
});

describe('POST /api/chat/completions/stream', () => {
  const post = (body: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${base}/api/chat/completions/stream`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal });

  test('forces stream and include_usage, forwards frames unchanged, ends with [DONE]', async () => {
    const res = await post(chatBody('ping', { stream: false, stream_options: { other: 1 } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-store');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const frames = (await readSse(res)).map((f) => f.data);
    const sent = JSON.parse(lastRequest('/v1/chat/completions').body);
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toEqual({ other: 1, include_usage: true });
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('You said: ping');
    // The Hermes gateway ignores include_usage: usage rides on its finish_reason chunk.
    expect(chunks.find((c) => c.choices[0]?.finish_reason === 'stop')?.usage).toEqual({ prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
  });

  test('session headers pass both ways', async () => {
    const res = await post(chatBody('x'), { 'x-hermes-session-id': 's-9' });
    await res.text();
    expect(lastRequest('/v1/chat/completions').headers['x-hermes-session-id']).toBe('s-9');
    expect(res.headers.get('x-hermes-session-id')).toBe('s-9');
  });

  test('fields the sidecar does not check pass through as sent, a key named __proto__ included', async () => {
    // The body's schema (z.looseObject) rebuilt the body and each message by assignment: a `__proto__`
    // key at either level was dropped before the request was forwarded.
    const body = '{"model":"hermes-agent","messages":[{"role":"user","content":"hi","__proto__":{"name":"x"}}],"__proto__":{"user":"u1"},"constructor":1}';
    const res = await post(body);
    await res.text();
    expect(res.status).toBe(200);
    const sent = JSON.parse(lastRequest('/v1/chat/completions').body);
    expect(sent).toEqual({ ...JSON.parse(body), stream: true, stream_options: { include_usage: true } });
    expect(Object.keys(sent.messages[0])).toEqual(['role', 'content', '__proto__']);
    expect(Object.keys(sent)).toContain('__proto__');
    // Still checked: a message without a role is a 422.
    expect((await post('{"messages":[{"content":"x","__proto__":{"role":"user"}}]}')).status).toBe(422);
  });

  test('an upstream error before the first byte returns that status with a JSON error', async () => {
    fake.behavior.statusOverride = { '/v1/chat/completions': 429 };
    const res = await post(chatBody('x'));
    expect(res.status).toBe(429);
    expect((await jsonOf(res)).error.type).toBe('invalid_request_error');
    fake.behavior.statusOverride = { '/v1/chat/completions': 401 };
    const res401 = await post(chatBody('x'));
    expect(res401.status).toBe(401);
    expect((await jsonOf(res401)).error.message).toContain('HERMES_API_KEY');
  });

  test('a dropped connection mid-stream → data: {"error":…} then data: [DONE]', async () => {
    fake.behavior.dropAfterTokens = 2;
    const frames = (await readSse(await post(chatBody('a b c d e')))).map((f) => f.data);
    expect(frames.at(-1)).toBe('[DONE]');
    expect(JSON.parse(frames.at(-2)!).error.code).toBe('upstream_disconnected');
  });

  test('a stalled upstream ends with an idle-timeout error, with heartbeats while waiting', async () => {
    fake.behavior.stallAfterTokens = 1;
    const res = await post(chatBody('a b c'));
    const raw = await res.text();
    expect(raw).toContain(': ping\n');
    expect(raw).toContain('upstream_idle_timeout');
    expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
  });

  test('a client abort cancels the upstream request', async () => {
    fake.behavior.tokenDelayMs = 100;
    fake.behavior.reply = () => 'a b c d e f g h i j';
    const ac = new AbortController();
    const res = await post(chatBody('x'), {}, ac.signal);
    await res.body!.getReader().read();
    ac.abort();
    expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
  });

  test('upstream down → 502 JSON error, and the server stays healthy', async () => {
    await fake.pause();
    const res = await post(chatBody('x'));
    expect(res.status).toBe(502);
    expect((await jsonOf(res)).error.code).toBe('upstream_unreachable');
    await fake.resume();
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});

describe('upstream stream slots on the proxies', () => {
  test('/v1/* event streams hold a slot until they end or the client hangs up; answers that are not streams give it back at once', async () => {
    // 18 requests at once for Bun → 2 streams.
    const small = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', BUN_CONFIG_MAX_HTTP_REQUESTS: '18' } });
    small.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
    const url = `http://127.0.0.1:${small.app.server!.port}`;
    try {
      for (let i = 0; i < 5; i++) expect((await fetch(`${url}/v1/models`)).status).toBe(200);
      fake.behavior.tokenDelayMs = 100;
      fake.behavior.reply = () => 'a b c d e f g h';
      const streamNow = async (signal?: AbortSignal) => {
        const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('x', { stream: true }), signal });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        await reader.read();
        return reader;
      };
      const ac = new AbortController();
      const [, finishing] = [await streamNow(ac.signal), await streamNow()];
      const busy = await fetch(`${url}/v1/models`);
      expect(busy.status).toBe(503);
      expect((await jsonOf(busy)).error.code).toBe('upstream_busy');
      ac.abort();
      expect(await waitFor(() => fake.aborted.includes('/v1/chat/completions'))).toBe(true);
      expect((await fetch(`${url}/v1/models`)).status).toBe(200);
      while (!(await finishing.read()).done);
      const last = await streamNow();
      while (!(await last.read()).done);
      expect((await fetch(`${url}/v1/models`)).status).toBe(200);
    } finally {
      await small.app.stop(true);
      small.close();
    }
  });
});
