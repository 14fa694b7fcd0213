/**
 * The proxies lift the server's idle timeout while they wait on the upstream (lib/connection.ts). A
 * request refused because every upstream stream slot is taken (503 upstream_busy) must give it back:
 * a kept-alive connection that got that refusal was otherwise never reaped, and with the slots full
 * (the very moment the server is loaded) every refused client could keep its connection for good.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import net from 'node:net';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';
import { chatBody } from './helpers/fake-app';
import { until } from './helpers/sse-events';

/** Seconds; Bun checks idle timeouts every few seconds, so a reaped connection closes within ~2-3x this. */
const IDLE_S = 1;

let fake: FakeHermes;
let t: TestApp;
let port = 0;
const holders = new AbortController();

beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
  // 18 requests at once for Bun → 2 upstream streams.
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', BUN_CONFIG_MAX_HTTP_REQUESTS: '18' }, idleTimeoutS: IDLE_S });
  await t.deps.probe.probeNow();
  t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: IDLE_S });
  port = t.app.server!.port!;
  // Both slots taken by requests whose upstream never answers (held until the end of the file).
  fake.behavior.hang['/v1/chat/completions'] = true;
  for (let i = 0; i < 2; i++) {
    void fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', body: chatBody('x', { stream: true }), signal: holders.signal }).catch(() => {});
  }
  await until(() => fake.requests.filter((r) => r.path === '/v1/chat/completions').length === 2, 10_000);
});

afterAll(async () => {
  holders.abort();
  await t.app.stop(true);
  t.close();
  await fake.stop();
});

const post = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const refused: [string, string][] = [
  ['/v1/models', 'GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['/api/chat/completions/stream', post('/api/chat/completions/stream', chatBody('hi'))],
];

for (const [name, request] of refused) {
  test(`${name}: a kept-alive connection refused with upstream_busy is reaped by the idle timeout (it was held for good)`, async () => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    const closed = new Promise<boolean>((resolve) => s.on('close', () => resolve(true)));
    s.write(request);
    await until(() => got.includes('"upstream_busy"'), 10_000);
    expect(got).toStartWith('HTTP/1.1 503');
    // The hang detector: several idle timeouts and Bun's 4 s sweeps.
    expect(await Promise.race([closed, Bun.sleep(15_000).then(() => false)])).toBe(true);
    s.destroy();
  }, 60_000);
}
