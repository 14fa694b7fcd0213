/**
 * Requests as they arrive on a real socket, shapes `fetch` never sends: HTTP/1.0 without a Host
 * (HAProxy's `option httpchk`, load balancers, `nc` scripts), an empty, repeated or unreadable Host.
 * Bun then gives the bare request target as the request's URL; every route must read it as a path.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import net from 'node:net';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';

/** Sends `head` (CRLF line ends added) on a new connection and returns the status line's code and the body. */
async function raw(port: number, head: string[]): Promise<{ status: number; body: string }> {
  const text = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(`${head.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => (buf += d.toString()));
    s.on('end', () => resolve(buf));
    s.on('error', reject);
  });
  const [status = '0'] = /^HTTP\/1\.1 (\d{3})/.exec(text)?.slice(1) ?? [];
  return { status: Number(status), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
});
afterAll(() => fake.stop());

function useApp(env: Record<string, string>) {
  const ctx = { t: null as unknown as TestApp, port: 0 };
  beforeAll(async () => {
    ctx.t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', ...env } });
    ctx.t.app.listen({ port: 0, hostname: '127.0.0.1' });
    ctx.port = ctx.t.app.server!.port!;
  });
  afterAll(async () => {
    await ctx.t.app.stop(true);
    ctx.t.close();
  });
  return ctx;
}

describe('HTTP/1.0 without a Host header', () => {
  const ctx = useApp({ API_KEY: 'k1' });
  const get = (path: string, headers: string[] = []) => raw(ctx.port, [`GET ${path} HTTP/1.0`, ...headers]);

  test('/health stays public with API keys set (it answered 401: the path read as "/")', async () => {
    expect((await get('/health')).status).toBe(200);
    expect((await get('/api/gateway-status')).status).toBe(200);
    expect((await get('/api/tasks')).status).toBe(401);
  });

  test('the /v1 proxy forwards the path it was asked (it sent /v1/models upstream as /models)', async () => {
    const res = await get('/v1/models?x=1', ['Authorization: Bearer k1']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ object: 'list' });
    expect(fake.requests.findLast((r) => r.path === '/v1/models')).toMatchObject({ path: '/v1/models', search: '?x=1' });
  });

  test('errors and 405s are worked out from the right path', async () => {
    const wrongMethod = await raw(ctx.port, ['DELETE /api/tasks HTTP/1.0', 'Authorization: Bearer k1']);
    expect(wrongMethod.status).toBe(405);
    const unknown = await get('/v1/nothing/here', ['Authorization: Bearer k1']);
    expect(JSON.parse(unknown.body)).toHaveProperty('error');
  });
});

describe('the Host header (RFC 9112 §3.2)', () => {
  const ctx = useApp({});

  test('an empty Host is a request without one; a repeated or unreadable one is a 400', async () => {
    expect((await raw(ctx.port, ['GET /health HTTP/1.1', 'Host:'])).status).toBe(200);
    for (const hosts of [['Host: a', 'Host: b'], ['Host: a b'], ['Host: a/b']]) {
      const res = await raw(ctx.port, ['GET /api/tasks HTTP/1.1', ...hosts]);
      expect({ hosts, status: res.status, body: JSON.parse(res.body) }).toEqual({ hosts, status: 400, body: { detail: 'The Host header is malformed or repeated.', code: 'bad_host' } });
    }
    expect((await raw(ctx.port, ['GET /api/tasks HTTP/1.1', 'Host: hermes_optx:8643'])).status).toBe(200);
  });

  test('HTTP/1.1 without a Host is refused by the server itself, at once', async () => {
    const started = performance.now();
    expect((await raw(ctx.port, ['GET /health HTTP/1.1'])).status).toBe(400);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
