import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { type FakeHermes, MAX_REQUEST_BYTES, deriveChatSessionId, startFakeHermes } from './hermes';

const KEY = 'test-upstream-key';
const auth = { authorization: `Bearer ${KEY}` };

/** Read a whole body as text, also when the connection drops (returns what arrived + the error). */
async function readAll(res: Response): Promise<{ text: string; error: string | null }> {
  const reader = res.body?.getReader();
  if (!reader) return { text: '', error: null };
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return { text: text + decoder.decode(), error: null };
  } catch (e) {
    return { text, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Read until `predicate(text)` holds, then return the text (the stream stays open). */
interface ByteReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
}
async function readUntil(reader: ByteReader, predicate: (t: string) => boolean): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (!predicate(text)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

function dataPayloads(sse: string): string[] {
  return sse
    .split('\n\n')
    .filter((f) => f.startsWith('data: '))
    .map((f) => f.slice(6));
}

interface SessionEvent {
  event: string;
  data: Record<string, unknown>;
}
function sessionEvents(sse: string): SessionEvent[] {
  return sse
    .split('\n\n')
    .filter((f) => f.startsWith('event: '))
    .map((f) => {
      const [head = '', data = ''] = f.split('\n');
      return { event: head.slice(7), data: JSON.parse(data.slice(6)) as Record<string, unknown> };
    });
}

function chat(fake: FakeHermes, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${fake.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

const hello = { model: 'hermes-agent', messages: [{ role: 'user', content: 'hello there' }] };

async function until(cond: () => boolean, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await Bun.sleep(5);
}

let v17: FakeHermes;
let v12: FakeHermes;

beforeAll(async () => {
  v17 = await startFakeHermes();
  v12 = await startFakeHermes({ version: '0.12', apiKey: null, model: 'custom-model' });
});
afterAll(async () => {
  await v17.stop();
  await v12.stop();
});
beforeEach(() => {
  v17.reset();
  v12.reset();
});

describe('health, auth, models', () => {
  test('/health without auth on both versions (the session-API one answers as SPEC §14 observed Hermes 0.18.2)', async () => {
    const a = await (await fetch(`${v17.url}/health`)).json();
    expect(a).toEqual({ status: 'ok', platform: 'hermes-agent', version: '0.18.2' });
    const b = await (await fetch(`${v12.url}/health`)).json();
    expect(b).toEqual({ status: 'ok', platform: 'hermes-agent', version: '0.12.0' });
    expect(v17.url).toBe(`http://127.0.0.1:${v17.port}`);
  });

  test('a session-API gateway (Hermes >= 0.15) refuses to start without a key, as SPEC §14 says; an older one starts', async () => {
    await expect(startFakeHermes({ version: '0.17', apiKey: null })).rejects.toThrow(/API_SERVER_KEY/);
    const keyless = await startFakeHermes({ version: '0.12', apiKey: null });
    expect((await fetch(`${keyless.url}/v1/models`)).status).toBe(200);
    await keyless.stop();
  });

  test("HEAD wherever GET is (aiohttp's add_get), auth included; handler answers carry the security headers", async () => {
    for (const [path, headers, status] of [['/v1/models', auth, 200], ['/v1/models', {}, 401], ['/health', {}, 200], ['/api/sessions', auth, 200]] as const) {
      const res = await fetch(`${v17.url}${path}`, { method: 'HEAD', headers });
      expect({ path, status: res.status, body: await res.text(), nosniff: res.headers.get('x-content-type-options'), referrer: res.headers.get('referrer-policy') })
        .toEqual({ path, status, body: '', nosniff: 'nosniff', referrer: 'no-referrer' });
    }
  });

  test('every OPTIONS is answered by the CORS middleware before routing and auth: 403 unless the Origin is allowed', async () => {
    for (const path of ['/v1/models', '/health', '/nope']) {
      const res = await fetch(`${v17.url}${path}`, { method: 'OPTIONS', headers: auth });
      expect([path, res.status, await res.text()]).toEqual([path, 403, '']);
    }
    const cors = await startFakeHermes({ version: '0.17', corsOrigins: ['https://app.example'] });
    const pre = await fetch(`${cors.url}/v1/models`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect([pre.status, pre.headers.get('access-control-allow-origin')]).toEqual([200, 'https://app.example']);
    await cors.stop();
  });

  test('401 with the real envelope when the key is wrong or missing', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer nope' }];
    for (const headers of variants) {
      const res = await fetch(`${v17.url}/v1/models`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        error: { message: 'Invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' },
      });
    }
  });

  test('every route but /health needs the key (SPEC §14), /health/detailed included', async () => {
    for (const path of ['/health/detailed', '/v1/models', '/v1/capabilities', '/api/sessions']) {
      const res = await fetch(`${v17.url}${path}`, { headers: { authorization: 'Bearer nope' } });
      expect([path, res.status, ((await res.json()) as { error?: { code?: string } }).error?.code]).toEqual([path, 401, 'invalid_api_key']);
    }
    expect((await fetch(`${v17.url}/health`)).status).toBe(200);
  });

  test('models, capabilities, health/detailed', async () => {
    const models = (await (await fetch(`${v17.url}/v1/models`, { headers: auth })).json()) as { object: string; data: { id: string; owned_by: string }[] };
    expect(models.object).toBe('list');
    expect(models.data.map((m) => m.id)).toEqual(['hermes-agent']);
    expect(models.data[0]?.owned_by).toBe('hermes');
    // 0.12 without key: open; custom model
    const m12 = (await (await fetch(`${v12.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(m12.data[0]?.id).toBe('custom-model');

    const cap = (await (await fetch(`${v17.url}/v1/capabilities`, { headers: auth })).json()) as { model: string; features: Record<string, unknown> };
    expect(cap.model).toBe('hermes-agent');
    expect(cap.features.session_chat_streaming).toBe(true);
    const cap12 = (await (await fetch(`${v12.url}/v1/capabilities`)).json()) as { features: Record<string, unknown> };
    expect(cap12.features).toEqual({ chat_completions: true, streaming: true });

    const detailed = (await (await fetch(`${v17.url}/health/detailed`, { headers: auth })).json()) as Record<string, unknown>;
    expect(detailed.status).toBe('ok');
    expect(detailed.version).toBe('0.18.2');
    expect(typeof detailed.uptime_seconds).toBe('number');
    expect((await fetch(`${v12.url}/health/detailed`)).status).toBe(404);
  });

  test("unknown path or method → aiohttp's own text answers; requests are recorded with lower-case headers", async () => {
    const res = await fetch(`${v17.url}/nope?x=1`, { headers: { ...auth, 'X-Custom': 'Yes' } });
    expect([res.status, res.headers.get('content-type'), await res.text()]).toEqual([404, 'text/plain; charset=utf-8', '404: Not Found']);
    const put = await fetch(`${v17.url}/v1/models`, { method: 'PUT', headers: auth });
    expect([put.status, put.headers.get('allow'), await put.text()]).toEqual([405, 'GET,HEAD', '405: Method Not Allowed']);
    const onSession = await fetch(`${v17.url}/api/sessions/x`, { method: 'POST', headers: auth });
    expect([onSession.status, onSession.headers.get('allow')]).toEqual([405, 'DELETE,GET,HEAD,PATCH']);
    const rec = v17.requests.find((r) => r.path === '/nope');
    expect(rec).toMatchObject({ method: 'GET', path: '/nope', search: '?x=1', body: '' });
    expect(rec?.headers['x-custom']).toBe('Yes');
  });

  test('statusOverride and hang apply to any path, /health included', async () => {
    v17.behavior.statusOverride['/health'] = 503;
    v17.behavior.statusOverride['/api/sessions/*/messages'] = 500;
    const h = await fetch(`${v17.url}/health`);
    expect(h.status).toBe(503);
    expect(((await h.json()) as { error: { type: string } }).error.type).toBe('server_error');
    expect((await fetch(`${v17.url}/api/sessions/abc/messages`, { headers: auth })).status).toBe(500);

    v17.behavior.hang['/v1/models'] = true;
    const ac = new AbortController();
    const pending = fetch(`${v17.url}/v1/models`, { headers: auth, signal: ac.signal });
    await until(() => v17.requests.some((r) => r.path === '/v1/models'));
    ac.abort();
    await expect(pending).rejects.toThrow();
    await until(() => v17.aborted.includes('/v1/models'));
    expect(v17.aborted).toContain('/v1/models');
  });
});

describe('chat completions', () => {
  test('non-stream: chat.completion, usage, derived session id, echoed Idempotency-Key', async () => {
    const res = await chat(v17, hello, { 'Idempotency-Key': 'idem-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hermes-session-id')).toBe(deriveChatSessionId(null, 'hello there'));
    expect(res.headers.get('x-hermes-session-id')).toMatch(/^api-[0-9a-f]{16}$/);
    expect(res.headers.get('idempotency-key')).toBe('idem-1');
    const body = (await res.json()) as {
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message).toEqual({ role: 'assistant', content: 'You said: hello there' });
    expect(body.usage).toEqual({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    // The agent run files the turn under that id, as under any other (the gateway's api_server sessions).
    const filed = v17.sessions.get(deriveChatSessionId(null, 'hello there'));
    expect([filed?.source, filed?.messages.map((m) => m.role)]).toEqual(['api_server', ['user', 'assistant']]);
  });

  test('X-Hermes-Session-Id is echoed; bad JSON → 400 envelope', async () => {
    const res = await chat(v17, hello, { 'X-Hermes-Session-Id': 'api-0123456789abcdef' });
    expect(res.headers.get('x-hermes-session-id')).toBe('api-0123456789abcdef');
    await res.body?.cancel();
    const bad = await chat(v17, '{nope');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  test('with X-Hermes-Session-Id the history is the gateway\'s stored one, not the request\'s (SPEC §14): an unknown id starts empty, and the turn is filed under the id', async () => {
    const seen: string[][] = [];
    v17.behavior.reply = (messages) => {
      seen.push(messages.map((m) => `${m.role}:${String(m.content)}`));
      return 'noted';
    };
    const sent = { messages: [{ role: 'user', content: 'remember 42' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'which number?' }] };
    const first = await chat(v17, sent, { 'X-Hermes-Session-Id': 'api-00000000000000aa' });
    expect(first.status).toBe(200);
    await first.body?.cancel();
    // The two earlier messages of the request are not the agent's context: its store has none for this id.
    expect(seen[0]).toEqual(['user:which number?']);
    const filed = v17.sessions.get('api-00000000000000aa');
    expect([filed?.source, filed?.messages.map((m) => `${m.role}:${String(m.content)}`)]).toEqual(['api_server', ['user:which number?', 'assistant:noted']]);

    await (await chat(v17, { ...sent, stream: true }, { 'X-Hermes-Session-Id': 'api-00000000000000aa' })).text();
    expect(seen[1]).toEqual(['user:which number?', 'assistant:noted', 'user:which number?']);
    expect(v17.sessions.get('api-00000000000000aa')?.messages).toHaveLength(4);
  });

  test('body_limit_middleware: a Content-Length over 10 MB is refused with 413 body_too_large, before auth', async () => {
    const big = { messages: [{ role: 'user', content: 'x'.repeat(MAX_REQUEST_BYTES) }] };
    const res = await chat(v17, big, { authorization: 'Bearer wrong' });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { message: 'Request body too large.', type: 'invalid_request_error', param: null, code: 'body_too_large' } });
  });

  test('image parts the gateway cannot take are refused with 400, naming the part', async () => {
    const bad = await chat(v17, { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'ftp://x/a.png' } }] }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { message: 'Image inputs must use http(s) URLs or data:image/... URLs.', type: 'invalid_request_error', param: 'messages[0].content', code: 'invalid_image_url' } });
    const file = await chat(v17, { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] });
    expect(((await file.json()) as { error: { code: string } }).error.code).toBe('unsupported_content_type');
    const ok = await chat(v17, { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] }] });
    expect(ok.status).toBe(200);
  });

  test('stream: role chunk, one delta per token, stop with usage, [DONE] last; include_usage ignored like the gateway', async () => {
    const real = dataPayloads((await readAll(await chat(v17, { ...hello, stream: true, stream_options: { include_usage: true } }))).text);
    expect(real).toHaveLength(7);
    expect((JSON.parse(real[5] as string) as { usage?: unknown }).usage).toEqual({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });

    v17.behavior.usageChunk = true;
    const res = await chat(v17, { ...hello, stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const { text, error } = await readAll(res);
    expect(error).toBeNull();
    const payloads = dataPayloads(text);
    expect(payloads.at(-1)).toBe('[DONE]');
    const chunks = payloads.slice(0, -1).map((p) => JSON.parse(p) as { object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage?: unknown });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant' });
    expect(chunks.slice(1, 5).map((c) => c.choices[0]?.delta.content)).toEqual(['You', ' said:', ' hello', ' there']);
    expect(chunks[5]?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks[6]?.choices).toEqual([]);
    expect(chunks[6]?.usage).toEqual({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    expect(chunks).toHaveLength(7);

    // without include_usage: no usage-only chunk
    const plain = dataPayloads((await readAll(await chat(v17, { ...hello, stream: true }))).text);
    expect(plain).toHaveLength(7);
  });

  test('reply/tokens/usage overrides and splitUtf8 keep text intact', async () => {
    v17.behavior.reply = () => 'héllo wörld ✓';
    v17.behavior.tokens = (t) => [...t];
    v17.behavior.usage = { input_tokens: 10, output_tokens: 20 };
    v17.behavior.splitUtf8 = true;
    const res = await chat(v17, { ...hello, stream: true });
    const reader = res.body!.getReader();
    const raw: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      raw.push(value);
    }
    // some network chunk must end inside a multi-byte character
    const splitMid = raw.some((c) => {
      const last = c[c.length - 1] ?? 0;
      return last >= 0xc0;
    });
    expect(splitMid).toBe(true);
    const text = new TextDecoder().decode(Buffer.concat(raw));
    const content = dataPayloads(text)
      .filter((p) => p !== '[DONE]')
      .map((p) => (JSON.parse(p) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
    expect(content).toBe('héllo wörld ✓');
    expect(text).toContain('"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}');
  });

  test('garbageAfterTokens sends a malformed frame then continues', async () => {
    v17.behavior.garbageAfterTokens = 2;
    const { text } = await readAll(await chat(v17, { ...hello, stream: true }));
    const payloads = dataPayloads(text);
    expect(payloads[3]).toBe('{not json');
    expect(payloads.at(-1)).toBe('[DONE]');
  });

  test('dropAfterTokens drops the connection without [DONE]', async () => {
    v17.behavior.dropAfterTokens = 2;
    // The drop comes once this client has read the three frames before it: a reset that reaches the
    // reader first discards what it had not read yet (seen once in CI under load).
    const { promise: seenThree, resolve } = Promise.withResolvers<void>();
    v17.behavior.dropWhen = seenThree;
    const res = await chat(v17, { ...hello, stream: true });
    const reader = res.body?.getReader() as ByteReader;
    let text = await readUntil(reader, (t) => dataPayloads(t).length >= 3);
    resolve();
    let error: unknown = null;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    } catch (e) {
      error = e;
    }
    expect(error).not.toBeNull();
    expect(text).not.toContain('[DONE]');
    expect(dataPayloads(text)).toHaveLength(3);
    expect(v17.aborted).toEqual([]);
  });

  test('stallAfterTokens hangs silently; client abort is recorded and stops the stream', async () => {
    v17.behavior.stallAfterTokens = 1;
    v17.behavior.keepaliveMs = 10;
    const ac = new AbortController();
    const res = await chat(v17, { ...hello, stream: true }, {}, ac.signal);
    const reader = res.body!.getReader();
    const text = await readUntil(reader, (t) => t.includes('"You"'));
    expect(text).toContain('"You"');
    let extra = '';
    const more = reader.read().then((r) => {
      if (r.value) extra += new TextDecoder().decode(r.value);
    }, () => undefined);
    await Bun.sleep(60);
    expect(extra).toBe(''); // stalled: no keepalive, no tokens
    ac.abort();
    await more;
    await until(() => v17.aborted.length > 0);
    expect(v17.aborted).toEqual(['/v1/chat/completions']);
  });

  test('client abort during a slow non-streamed answer is recorded', async () => {
    v17.behavior.firstTokenDelayMs = 5_000;
    const ac = new AbortController();
    const pending = chat(v17, hello, {}, ac.signal);
    await until(() => v17.requests.length > 0);
    ac.abort();
    await expect(pending).rejects.toThrow();
    await until(() => v17.aborted.length > 0);
    expect(v17.aborted).toEqual(['/v1/chat/completions']);
  });

  test('keepalive comments while waiting for the first token', async () => {
    v17.behavior.firstTokenDelayMs = 50;
    v17.behavior.keepaliveMs = 10;
    const { text } = await readAll(await chat(v17, { ...hello, stream: true }));
    expect(text).toContain(': keepalive\n\n');
    expect(dataPayloads(text).at(-1)).toBe('[DONE]');
  });
});

describe('sessions (0.17)', () => {
  test('CRUD, list envelope, 409, 404 session_not_found', async () => {
    const post = (body: unknown) =>
      fetch(`${v17.url}/api/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await post({ id: 's1', title: 'First' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ object: 'hermes.session', session: { id: 's1', title: 'First', model: 'hermes-agent', message_count: 0 } });
    expect((await post({ id: 's1' })).status).toBe(409);
    const anon = (await (await post({})).json()) as { session: { id: string } };
    expect(anon.session.id).toMatch(/^api_\d+_[0-9a-f]{8}$/);
    // Titles are unique and at most 100 characters (SessionDB.set_session_title).
    const taken = await post({ id: 's7', title: ' First ' });
    expect(taken.status).toBe(400);
    expect(((await taken.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'invalid_title', message: "Title 'First' is already in use by session s1" });
    expect(v17.sessions.has('s7')).toBe(false);
    expect((await post({ id: 's7', title: 'x'.repeat(101) })).status).toBe(400);

    const list = (await (await fetch(`${v17.url}/api/sessions?limit=1&offset=0`, { headers: auth })).json()) as Record<string, unknown>;
    expect(list).toMatchObject({ object: 'list', limit: 1, offset: 0, has_more: true });
    expect(list.data).toHaveLength(1);

    const patch = (body: unknown) => fetch(`${v17.url}/api/sessions/s1`, { method: 'PATCH', headers: auth, body: JSON.stringify(body) });
    expect(((await (await patch({ title: 'Renamed' })).json()) as { session: { title: string } }).session.title).toBe('Renamed');
    expect(((await (await fetch(`${v17.url}/api/sessions/s1`, { headers: auth })).json()) as { session: { title: string } }).session.title).toBe('Renamed');
    expect(((await (await patch({ pinned: true })).json()) as { error: { code: string } }).error.code).toBe('unsupported_session_field');

    const del = await fetch(`${v17.url}/api/sessions/s1`, { method: 'DELETE', headers: auth });
    expect(((await del.json()) as { deleted: boolean }).deleted).toBe(true);
    const gone = await fetch(`${v17.url}/api/sessions/s1/messages`, { headers: auth });
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('session_not_found');
    expect(v17.sessions.has('s1')).toBe(false);
  });

  test('session stream: event order, envelope fields, stored messages', async () => {
    v17.addSession({ id: 's2' });
    const missing = await fetch(`${v17.url}/api/sessions/s2/chat/stream`, { method: 'POST', headers: auth, body: '{}' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('missing_message');

    const res = await fetch(`${v17.url}/api/sessions/s2/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'hi you' }) });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const { text } = await readAll(res);
    expect(text).not.toContain('\r');
    const events = sessionEvents(text);
    expect(events.map((e) => e.event)).toEqual([
      'run.started', 'message.started', 'assistant.delta', 'assistant.delta', 'assistant.delta', 'assistant.delta',
      'tool.progress', 'assistant.completed', 'run.completed', 'done',
    ]);
    events.forEach((e, i) => {
      expect(e.data.session_id).toBe('s2');
      expect(typeof e.data.run_id).toBe('string');
      expect(e.data.seq).toBe(i + 1);
      expect(typeof e.data.ts).toBe('number');
    });
    expect(events.filter((e) => e.event === 'assistant.delta').map((e) => e.data.delta).join('')).toBe('You said: hi you');
    expect(events[0]?.data.user_message).toBe('hi you');
    expect(events[6]?.data).toMatchObject({ tool_name: '_thinking', delta: 'You said: hi you' });
    expect(events[7]?.data).toMatchObject({ content: 'You said: hi you', completed: true, partial: false, interrupted: false });
    expect(events[8]?.data.usage).toEqual({ input_tokens: 2, output_tokens: 4, total_tokens: 6 });
    expect(events[8]?.data.messages).toHaveLength(2);

    const msgs = (await (await fetch(`${v17.url}/api/sessions/s2/messages`, { headers: auth })).json()) as { object: string; session_id: string; data: { role: string; content: string }[] };
    expect(msgs).toMatchObject({ object: 'list', session_id: 's2' });
    expect(msgs.data.map((m) => [m.role, m.content])).toEqual([['user', 'hi you'], ['assistant', 'You said: hi you']]);

    const unknown = await fetch(`${v17.url}/api/sessions/zzz/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'x' }) });
    expect(unknown.status).toBe(404);
  });

  test('tools: tool events before deltas and a stored tool turn', async () => {
    v17.addSession({ id: 's3' });
    v17.behavior.tools = true;
    const { text } = await readAll(await fetch(`${v17.url}/api/sessions/s3/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'search it' }) }));
    const names = sessionEvents(text).map((e) => e.event);
    expect(names.slice(0, 5)).toEqual(['run.started', 'message.started', 'tool.started', 'tool.completed', 'assistant.delta']);
    expect(v17.sessions.get('s3')?.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(v17.sessions.get('s3')?.messages[1]?.tool_calls?.[0]?.function.name).toBe('web_search');
  });

  test('switches apply to the session stream too', async () => {
    v17.addSession({ id: 's4' });
    v17.behavior.garbageAfterTokens = 1;
    const g = await readAll(await fetch(`${v17.url}/api/sessions/s4/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'a b' }) }));
    expect(g.text).toContain('event: assistant.delta\ndata: {not json\n\n');
    expect(g.text).toContain('event: done\n');

    v17.behavior.garbageAfterTokens = null;
    v17.behavior.dropAfterTokens = 1;
    const d = await readAll(await fetch(`${v17.url}/api/sessions/s4/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'a b' }) }));
    expect(d.error).not.toBeNull();
    expect(d.text).not.toContain('event: done');
  });

  test('client abort of a session stream is recorded and its timers stop', async () => {
    v17.addSession({ id: 's5' });
    v17.behavior.tokenDelayMs = 20;
    const ac = new AbortController();
    const res = await fetch(`${v17.url}/api/sessions/s5/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'one two three four' }), signal: ac.signal });
    const reader = res.body!.getReader();
    await readUntil(reader, (t) => t.includes('event: assistant.delta'));
    ac.abort();
    await until(() => v17.aborted.length > 0);
    expect(v17.aborted).toEqual(['/api/sessions/s5/chat/stream']);
    const detailed = (await (await fetch(`${v17.url}/health/detailed`, { headers: auth })).json()) as { active_agents: number };
    expect(detailed.active_agents).toBe(0);
    // the interrupted turn keeps the user message only
    expect(v17.sessions.get('s5')?.messages.map((m) => m.role)).toEqual(['user']);
  });

  test('non-streaming session chat', async () => {
    v17.addSession({ id: 's6', messages: [{ role: 'user', content: 'earlier' }, { role: 'assistant', content: 'ok' }] });
    let seen: unknown[] = [];
    v17.behavior.reply = (messages) => {
      seen = messages;
      return 'fine';
    };
    const res = await fetch(`${v17.url}/api/sessions/s6/chat`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'now' }) });
    expect(await res.json()).toMatchObject({ session_id: 's6', message: { role: 'assistant', content: 'fine' } });
    expect(seen).toEqual([{ role: 'user', content: 'earlier' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'now' }]);
    expect(v17.sessions.get('s6')?.message_count).toBe(4);
  });

  test('0.12 has no session routes', async () => {
    expect((await fetch(`${v12.url}/api/sessions`)).status).toBe(404);
    expect((await fetch(`${v12.url}/api/sessions/x/chat/stream`, { method: 'POST', body: '{"message":"m"}' })).status).toBe(404);
  });
});

describe('pause / resume', () => {
  test('connection refused while paused, same port after resume', async () => {
    const fake = await startFakeHermes();
    try {
      const port = fake.port;
      await fake.pause();
      await expect(fetch(`${fake.url}/health`)).rejects.toThrow();
      await fake.resume();
      expect(fake.port).toBe(port);
      expect((await fetch(`${fake.url}/health`)).status).toBe(200);
    } finally {
      await fake.stop();
    }
  });

  test('pause drops a stream in flight without recording an abort', async () => {
    const fake = await startFakeHermes();
    try {
      fake.behavior.stallAfterTokens = 1;
      const res = await chat(fake, { ...hello, stream: true });
      const reader = res.body!.getReader();
      await readUntil(reader, (t) => t.includes('"You"'));
      await fake.pause();
      await expect(readUntil(reader, () => false)).rejects.toThrow();
      expect(fake.aborted).toEqual([]);
    } finally {
      await fake.stop();
    }
  });
});
