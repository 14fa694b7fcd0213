/** The error model of SPEC §4 through the real app: every class, both envelopes, never a stack trace. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonOf, makeTestApp, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp({ env: { MAX_BODY_BYTES: '2048', PROXY_MAX_BODY_BYTES: '4096' } });
});
afterAll(() => t.close());

const CHAT = '/api/chat/completions/stream';

/** A body that ends without a byte, after a turn: fetch then sends it chunked, its length unknown up front. */
const emptyStream = () => new ReadableStream({ pull: async (c) => {
  await Bun.sleep(1);
  c.close();
} });

function noLeak(text: string) {
  expect(text).not.toMatch(/at .*\.ts:\d+|Error:|node_modules/);
}

describe('error model', () => {
  test('unknown route under /api → 404 JSON with detail and code', async () => {
    const res = await t.fetch('/api/nothing-here');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await jsonOf(res)).toEqual({ detail: 'No such route.', code: 'not_found' });
  });

  test('a short Host header without a port (`api` on port 80 behind a proxy) routes like any other', async () => {
    for (const host of ['a', 'ab', 'api', 'x.y', 'localhost:8643']) {
      const health = await t.app.handle(new Request(`http://${host}/health`));
      const tasks = await t.app.handle(new Request(`http://${host}/api/tasks?limit=1`));
      const missing = await t.app.handle(new Request(`http://${host}/api/nothing-here`));
      expect({ host, health: health.status, tasks: tasks.status, missing: missing.status }).toEqual({ host, health: 200, tasks: 200, missing: 404 });
    }
  });

  test('a known path with a method it does not take → 405 with Allow, and nothing done', async () => {
    const cases: [string, string, string][] = [
      ['PUT', '/api/config', 'GET, HEAD, OPTIONS, PATCH, POST'],
      ['GET', '/api/memory/1', 'DELETE, OPTIONS'],
      ['DELETE', '/api/memory', 'GET, HEAD, OPTIONS, POST'],
      ['POST', '/health', 'GET, HEAD, OPTIONS'],
      ['GET', '/api/sessions/abc/chat', 'OPTIONS, POST'],
      ['PATCH', '/api/tasks/', 'GET, HEAD, OPTIONS, POST'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await t.fetch(path, { method, headers: { 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }) });
      expect({ method, path, status: res.status, allow: res.headers.get('allow') }).toEqual({ method, path, status: 405, allow });
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await jsonOf(res)).toEqual({ detail: `${method} is not supported on this path; it accepts ${allow}.`, code: 'method_not_allowed' });
    }
    expect((await t.fetch('/api/memory/1/extra')).status).toBe(404);
    expect((await t.fetch('/api/sessions//chat', { method: 'GET' })).status).toBe(404);
    expect((await jsonOf(await t.fetch('/api/memory'))).total).toBe(0);
  });

  test('OPTIONS on a known path (no Origin: not a preflight) → 204 with Allow, the list a 405 gives; unknown path → 404', async () => {
    const cases: [string, string][] = [
      ['/api/tasks', 'GET, HEAD, OPTIONS, POST'],
      ['/api/tasks/t1', 'DELETE, GET, HEAD, OPTIONS'],
      ['/api/config', 'GET, HEAD, OPTIONS, PATCH, POST'],
      ['/health', 'GET, HEAD, OPTIONS'],
      ['/openapi', 'GET, HEAD, OPTIONS'],
      ['/openapi/json', 'GET, HEAD, OPTIONS'],
      ['/api/sessions/abc/chat/stream', 'OPTIONS, POST'],
    ];
    for (const [path, allow] of cases) {
      const res = await t.fetch(path, { method: 'OPTIONS' });
      expect({ path, status: res.status, allow: res.headers.get('allow'), body: await res.text() }).toEqual({ path, status: 204, allow, body: '' });
    }
    const unknown = await t.fetch('/api/nothing-here', { method: 'OPTIONS' });
    expect([unknown.status, await jsonOf(unknown)]).toEqual([404, { detail: 'No such route.', code: 'not_found' }]);
  });

  test('a bad whole-number query parameter names its range, whatever is wrong with it', async () => {
    const routes = ['/api/memory', '/api/tasks', '/api/sessions', '/api/skills', '/api/wallet/escrow'];
    for (const route of routes) {
      for (const bad of ['abc', '1.5', '-1', '1e2', '0x10', ' 5', '99999999999999999999']) {
        const res = await t.fetch(`${route}?limit=${bad}`);
        const body = await jsonOf(res);
        expect({ route, bad, status: res.status, code: body.code }).toEqual({ route, bad, status: 422, code: 'validation_error' });
        expect(body.errors[0].message).toMatch(/^expected an integer from 1 to \d+$/);
      }
    }
    expect((await jsonOf(await t.fetch('/api/memory?limit=007'))).limit).toBe(7);
  });

  test('a repeated query parameter is a 422 that says so, on every route that reads its query', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/api/memory/recall?query=a&query=b', 'query'],
      ['GET', '/api/memory?limit=5&limit=6', 'limit'],
      ['GET', '/api/memory?category=a&category=b', 'category'],
      ['GET', '/api/tasks?status=Open&status=Failed', 'status'],
      ['GET', '/api/tasks?status=Open&status[]=Failed', 'status'],
      ['GET', '/api/tasks?status[]=Open&status[]=Failed', 'status'],
      ['GET', '/api/sessions?source=a&source=b', 'source'],
      ['GET', '/api/sessions/x/messages?offset=0&offset=1', 'offset'],
      ['GET', '/api/skills?tag=a&tag=b', 'tag'],
      ['GET', '/api/wallet/escrow?task_id=a&task_id=b', 'task_id'],
      ['GET', '/api/wallet/tempo/usage?caller_id=a&caller_id=b', 'caller_id'],
      ['POST', '/api/config/model?model=a&model=b', 'model'],
      ['POST', '/api/sessions/new/chat/stream?format=optx&format=hermes', 'format'],
    ];
    for (const [method, path, name] of cases) {
      const res = await t.fetch(path, { method, ...(method === 'POST' ? { body: JSON.stringify({ message: 'hi' }) } : {}) });
      expect({ path, status: res.status, body: await jsonOf(res) }).toEqual({
        path, status: 422,
        body: { detail: `Invalid request query: ${name}: given 2 times; send it once.`, code: 'validation_error', errors: [{ path: name, message: 'given 2 times; send it once' }] },
      });
    }
    // One value, bracketed or not, is read as ever.
    expect((await t.fetch('/api/memory/recall?query[]=a')).status).toBe(200);
  });

  test('an empty query parameter is the parameter left out (`?status=&task_id=`, as forms send unset filters)', async () => {
    const t = await makeTestApp();
    await t.json('POST', '/api/tasks', { title: 'one' });
    await t.json('POST', '/api/memory', { content: 'a fact', category: 'notes' });
    const cases: [string, string][] = [
      ['/api/tasks?status=&assigned_agent=&limit=', '/api/tasks'],
      ['/api/memory?category=&limit=&offset=', '/api/memory'],
      ['/api/sessions?source=&limit=', '/api/sessions'],
      ['/api/skills?category=&search=&tag=', '/api/skills'],
      ['/api/wallet/escrow?status=&task_id=', '/api/wallet/escrow'],
    ];
    for (const [withEmpty, without] of cases) {
      const [a, b] = await Promise.all([t.fetch(withEmpty), t.fetch(without)]);
      expect([withEmpty, a.status]).toEqual([withEmpty, 200]);
      expect(await jsonOf(a)).toEqual(await jsonOf(b));
    }
    // A value that is there is still judged: a blank one is not empty.
    expect((await t.fetch('/api/tasks?status=%20')).status).toBe(422);
    // On a write an empty value is a value: it clears base_url rather than being ignored.
    writeFileSync(join(t.home, 'config.yaml'), 'model:\n  default: a\n  base_url: http://x\n');
    const written = await t.json<{ keys: string[] }>('POST', '/api/config/model?model=b&base_url=');
    expect([written.status, written.body.keys]).toEqual([200, ['model.default', 'model.base_url']]);
    // A POST that does not write its query reads an empty option as left out: `format=` is the default format.
    const chat = (q: string) => t.fetch(`/api/sessions/new/chat/stream${q}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hi' }) });
    const stream = await chat('?format=');
    expect([stream.status, (await stream.text()).split('\n')[0]]).toEqual([200, 'event: session']);
    expect((await chat('?format=bogus')).status).toBe(422);
    t.close();
  });

  test('a bracketed parameter (`?status[]=Open`, as axios and qs send arrays) is that parameter, never a filter dropped', async () => {
    const t = await makeTestApp();
    await t.json('POST', '/api/tasks', { title: 'one' });
    await t.json('POST', '/api/memory', { content: 'a fact', category: 'notes' });
    const total = async (path: string) => {
      const res = await t.fetch(path);
      return [path, res.status, (await jsonOf(res)).total];
    };
    expect(await total('/api/tasks?status[]=Completed')).toEqual(['/api/tasks?status[]=Completed', 200, 0]);
    expect(await total('/api/tasks?status%5B%5D=Open')).toEqual(['/api/tasks?status%5B%5D=Open', 200, 1]);
    expect(await total('/api/memory?category[]=other')).toEqual(['/api/memory?category[]=other', 200, 0]);
    // Several values are judged like a repeated parameter: these filters take one.
    expect((await t.fetch('/api/tasks?status[]=Open&status[]=Completed')).status).toBe(422);
    t.close();
  });

  test('unknown route anywhere else is a JSON 404 too', async () => {
    const res = await t.fetch('/favicon.ico');
    expect(res.status).toBe(404);
    expect((await jsonOf(res)).code).toBe('not_found');
  });

  test('malformed JSON → 400 malformed_json (OpenAI envelope on the OpenAI route)', async () => {
    const res = await t.fetch(CHAT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages": [' });
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(body).toEqual({ error: { message: 'The request body is not valid JSON.', type: 'invalid_request_error', code: 'malformed_json', param: null } });
  });

  test('JSON is read whatever the content type says (curl -d sends form encoding)', async () => {
    const res = await t.fetch(CHAT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"messages": []}' });
    expect(res.status).toBe(422);
  });

  test('an empty body is no body whatever its content type or framing (curl -d "", chunked, on a real socket); a blank one is not JSON', async () => {
    t.app.listen({ port: 0, hostname: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${t.app.server!.port}`;
      for (const type of ['application/json', 'application/x-www-form-urlencoded', 'text/plain']) {
        const model = await fetch(`${base}/api/config/model?model=m-${type.length}`, { method: 'POST', headers: { 'content-type': type }, body: '' });
        expect({ type, status: model.status }).toEqual({ type, status: 200 });
        expect((await jsonOf(model)).model).toBe(`m-${type.length}`);
        const config = await fetch(`${base}/api/config`, { method: 'POST', headers: { 'content-type': type }, body: '' });
        expect({ type, status: config.status }).toEqual({ type, status: 422 });
        // The same empty body sent chunked (a client streaming a body of unknown length): no body either.
        const chunked = await fetch(`${base}/api/config/model?model=c-${type.length}`, { method: 'POST', headers: { 'content-type': type }, body: emptyStream() });
        expect({ type, status: chunked.status }).toEqual({ type, status: 200 });
        const session = await fetch(`${base}/api/sessions`, { method: 'POST', headers: { 'content-type': type }, body: emptyStream() });
        expect({ type, status: session.status }).toEqual({ type, status: 201 });
        const blank = await fetch(`${base}/api/config/model?model=blank`, { method: 'POST', headers: { 'content-type': type }, body: ' \n' });
        expect({ type, status: blank.status, code: (await jsonOf(blank)).code }).toEqual({ type, status: 400, code: 'malformed_json' });
      }
    } finally {
      await t.app.stop(true);
    }
  });

  test('invalid UTF-8 → 400 invalid_utf8', async () => {
    const res = await t.fetch(CHAT, { method: 'POST', body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).error.code).toBe('invalid_utf8');
  });

  test('a compressed body → 415 unsupported_content_encoding, nothing stored; a UTF-8 BOM is fine', async () => {
    const gz = Bun.gzipSync(new TextEncoder().encode('{"content":"compressed fact"}'));
    for (const coding of ['gzip', 'br', 'deflate, gzip']) {
      const res = await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': coding }, body: gz });
      expect({ coding, status: res.status, accept: res.headers.get('accept-encoding') }).toEqual({ coding, status: 415, accept: 'identity' });
      expect((await jsonOf(res)).code).toBe('unsupported_content_encoding');
    }
    expect((await jsonOf(await t.fetch('/api/memory'))).total).toBe(0);
    const identity = await t.fetch('/api/memory', { method: 'POST', headers: { 'content-encoding': 'Identity' }, body: '\uFEFF{"content":"plain fact"}' });
    expect(identity.status).toBe(201);
    expect((await jsonOf(await t.fetch(`/api/memory/${(await jsonOf(identity)).memory.id}`, { method: 'DELETE' }))).deleted).toBe(true);
  });

  test('validation failure → 422 with the failing path', async () => {
    const res = await t.fetch(CHAT, { method: 'POST', body: JSON.stringify({ messages: [{ role: '' }] }) });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(body.error.code).toBe('validation_error');
    expect(body.error.param).toBe('messages.0.role');
    expect(body.error.message).toContain('messages.0.role');
  });

  test("a body that is wrong as a whole names no param: OpenAI's null, not an empty string", async () => {
    for (const raw of ['[]', '"x"', 'null']) {
      const res = await t.fetch(CHAT, { method: 'POST', body: raw });
      expect([raw, res.status, (await jsonOf(res)).error.param]).toEqual([raw, 422, null]);
    }
  });

  test('wrong JSON types (array, string, null) → 422, never 500', async () => {
    for (const raw of ['[]', '"x"', 'null', '42', '{"messages": "no"}']) {
      const res = await t.fetch(CHAT, { method: 'POST', body: raw });
      expect([raw, res.status]).toEqual([raw, 422]);
    }
  });

  test('a body over MAX_BODY_BYTES → 413, by declared length and by streamed length', async () => {
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const declared = await t.fetch(CHAT, { method: 'POST', body: big });
    expect(declared.status).toBe(413);
    expect((await jsonOf(declared)).error.code).toBe('payload_too_large');
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        c.close();
      },
    });
    const streamed = await t.fetch(CHAT, { method: 'POST', body: chunked });
    expect(streamed.status).toBe(413);
  });

  test('the /v1 proxy has its own larger limit and answers 413 in the OpenAI envelope', async () => {
    const ok = await t.fetch('/v1/chat/completions', { method: 'POST', body: 'x'.repeat(3000) });
    expect(ok.status).toBe(502); // under the proxy limit: forwarded (and the test upstream is down)
    const res = await t.fetch('/v1/chat/completions', { method: 'POST', body: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect((await jsonOf(res)).error.code).toBe('payload_too_large');
  });

  test('a 413 closes the connection, so the unread rest of the body is not read', async () => {
    const res = await t.fetch('/api/tasks', { method: 'POST', body: JSON.stringify({ title: 'x'.repeat(5000) }) });
    expect([res.status, res.headers.get('connection')]).toEqual([413, 'close']);
  });

  test('JSON nested deeper than 128 levels is a quick 400, in each envelope', async () => {
    const deep = (n: number) => `{"title":${'['.repeat(n)}${']'.repeat(n)}}`;
    const big = await makeTestApp();
    try {
      for (const path of ['/api/tasks', '/api/memory', CHAT]) {
        const res = await big.fetch(path, { method: 'POST', body: deep(20_000) });
        const body = await jsonOf(res);
        expect([path, res.status, body.code ?? body.error?.code]).toEqual([path, 400, 'json_too_deep']);
      }
      // 128 levels are fine as JSON (the schema decides about the value).
      expect((await big.fetch('/api/tasks', { method: 'POST', body: deep(127) })).status).toBe(422);
      // Brackets inside strings do not count.
      expect((await big.fetch('/api/tasks', { method: 'POST', body: JSON.stringify({ title: '['.repeat(500) }) })).status).toBe(201);
    } finally {
      big.close();
    }
  });

  test('the OpenAI envelope follows the route, with or without its trailing slash', async () => {
    const res = await t.fetch(`${CHAT}/`, { method: 'POST', body: '{"messages": "no"}' });
    expect([res.status, (await jsonOf(res)).error?.code]).toEqual([422, 'validation_error']);
  });

  test('a malformed percent-escape in the path is a 400 saying so', async () => {
    for (const path of ['/api/tasks/%', '/api/tasks/%zz', '/api/memory/%E0%A4%A']) {
      const res = await t.fetch(path);
      expect([path, res.status, (await jsonOf(res)).code]).toEqual([path, 400, 'malformed_path']);
    }
    expect((await t.fetch('/api/tasks/task%5Fnone')).status).toBe(404);
  });

  test('upstream unreachable on /v1 → 502 in the OpenAI envelope', async () => {
    const res = await t.fetch('/v1/models');
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { message: 'The Hermes upstream is unreachable.', type: 'upstream_error', code: 'upstream_unreachable', param: null } });
    noLeak(text);
  });
});

/** An app whose one route, GET /api/bad, answers `answer` against a schema it fails; its error lines in `lines`. */
async function appFailingItsSchema(answer: Record<string, unknown>) {
  const { Elysia } = await import('elysia');
  const { z } = await import('zod');
  const { toApiError, errorResponse } = await import('../src/lib/errors');
  const { createLogger } = await import('../src/lib/log');
  const lines: string[] = [];
  const log = createLogger({ level: 'error', format: 'json', write: (l) => lines.push(l) });
  const schema = z.object({ n: z.number(), ...(typeof answer.content === 'string' ? { content: z.string() } : {}) });
  const app = new Elysia()
    .onError(({ code, error, request }) => errorResponse(toApiError(code, error, log), new URL(request.url).pathname))
    // Deliberately not what the schema says.
    .get('/api/bad', () => answer as never, { response: { 200: schema } });
  return { app, lines };
}

test('a response that fails its own schema is a logged 500, not a 422 blamed on the client', async () => {
  const { app, lines } = await appFailingItsSchema({ n: 'not a number' });
  const res = await app.handle(new Request('http://localhost/api/bad'));
  expect(res.status).toBe(500);
  expect(await res.json()).toEqual({ detail: 'Internal server error.', code: 'internal_error' });
  expect(lines.join('')).toContain('response failed its schema');
});

test('a response that fails its schema is logged by where and why, never with the response itself (users\' chats and memories)', async () => {
  const { app, lines } = await appFailingItsSchema({ content: 'my private diary entry', n: 'not a number' });
  expect((await app.handle(new Request('http://localhost/api/bad'))).status).toBe(500);
  expect(lines.length).toBe(1);
  expect(lines[0]).not.toContain('private diary');
  expect(JSON.parse(JSON.parse(lines[0]!).issues)).toEqual([{ path: 'n', message: expect.stringContaining('number') }]);
});
