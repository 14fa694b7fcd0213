/**
 * Clients that are slow or stop half-way, on a real socket: the server's idle timeout (main.ts) must
 * still reap a connection whose request never finishes, while an exchange whose request is complete
 * may stay quiet for as long as the upstream thinks.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import net from 'node:net';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { createLogger } from '../src/lib/log';
import { makeTestApp, type TestApp } from './helpers/app';
import { chatBody } from './helpers/fake-app';

/** Seconds; Bun checks idle timeouts every few seconds, so a reaped connection closes within ~2-3x this. */
const IDLE_S = 1;

let fake: FakeHermes;
let t: TestApp;
let port: number;
/** What the app logged at error level. */
const errors: string[] = [];
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
  const log = createLogger({ level: 'error', format: 'json', write: (line) => errors.push(line) });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' }, patch: (deps) => Object.assign(deps, { log }) });
  t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: IDLE_S });
  port = t.app.server!.port!;
});
afterAll(async () => {
  await t.app.stop(true);
  t.close();
  await fake.stop();
});

/** Sends `data` on a raw connection; resolves with what came back and after how many ms the server closed it (null: still open at `waitMs`). */
function exchange(data: string, waitMs: number): Promise<{ got: string; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => {});
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ got, closedAfterMs: null });
    }, waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ got, closedAfterMs: performance.now() - t0 });
    });
    s.write(data);
  });
}

test('a request body that stops half-way: the idle timeout closes the connection on every route, /v1 included (it was held forever)', async () => {
  const paths = ['/v1/chat/completions', '/api/chat/completions/stream', '/api/memory'];
  const closed = await Promise.all(paths.map(async (path) => {
    const { closedAfterMs } = await exchange(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model"`, 12_000);
    return [path, closedAfterMs !== null];
  }));
  expect(closed).toEqual(paths.map((p) => [p, true]));
}, 15_000);

test('/v1: a complete request whose upstream stream is silent longer than the idle timeout is still streamed to its end', async () => {
  fake.behavior.firstTokenDelayMs = IDLE_S * 1000 * 6;
  const body = chatBody('slow thinker', { stream: true });
  const { got } = await exchange(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 15_000);
  expect(got).toStartWith('HTTP/1.1 200');
  expect(got).toContain('data: [DONE]');
}, 20_000);

test('a client that leaves in the middle of its request body is no server error (/v1/* answered it 500 and logged `unhandled error`)', async () => {
  errors.length = 0;
  fake.reset();
  const framings = ['Content-Length: 100\r\n\r\n{"model"', 'Transfer-Encoding: chunked\r\n\r\n8\r\n{"model"\r\n'];
  for (const path of ['/v1/chat/completions', '/api/chat/completions/stream', '/api/memory']) {
    for (const framing of framings) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${framing}`);
      await Bun.sleep(100);
      s.destroy();
    }
  }
  await Bun.sleep(200);
  expect(errors).toEqual([]);
  expect(fake.requests.filter((r) => r.path === '/v1/chat/completions')).toEqual([]);
});
