/**
 * HERMES_AGENT_URL as edge devices and reverse proxies write it: an IPv6 literal, a path prefix with a
 * trailing slash, a user and password for the proxy. Every upstream call keeps the prefix; the
 * password is never shown (/health is public) nor logged.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';
import { createLogger } from '../src/lib/log';

let fake: FakeHermes;
let proxy: ReturnType<typeof Bun.serve>;
let t: TestApp;
const seen: string[] = [];
const lines: string[] = [];

beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17', hostname: '::1' });
  // A reverse proxy serving the gateway under /hermes/.
  proxy = Bun.serve({
    hostname: '::1',
    port: 0,
    idleTimeout: 0,
    fetch(req) {
      const u = new URL(req.url);
      seen.push(`${req.method} ${u.pathname}${u.search}`);
      if (!u.pathname.startsWith('/hermes/')) return new Response('not here', { status: 404 });
      const headers = new Headers(req.headers);
      headers.delete('host');
      return fetch(fake.url + u.pathname.slice('/hermes'.length) + u.search, { method: req.method, headers, body: req.body, signal: req.signal });
    },
  });
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
  t = await makeTestApp({ log, env: { HERMES_AGENT_URL: `http://proxyuser:PROXY-SECRET@[::1]:${proxy.port}/hermes/`, HERMES_API_KEY: fake.apiKey ?? '', LOG_LEVEL: 'debug' } });
  await t.deps.probe.probeNow();
});

afterAll(async () => {
  t.close();
  await proxy.stop(true);
  await fake.stop();
});

test('probe, /v1 proxy, sessions and both chat paths reach the upstream under its prefix', async () => {
  const health = await t.json('GET', '/health');
  expect(health.body).toMatchObject({ mode: 'enhanced-hermes', upstream: { url: `http://[::1]:${proxy.port}/hermes`, connected: true } });
  expect((await t.fetch('/v1/models')).status).toBe(200);
  expect((await t.fetch('/api/sessions')).status).toBe(200);
  const chat = await t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hi' }) });
  expect(await chat.text()).toContain('event: done');
  const completions = await t.fetch('/api/chat/completions/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
  expect(await completions.text()).toContain('data: [DONE]');
  expect(seen.length).toBeGreaterThan(8);
  expect(seen.filter((s) => !/^\S+ \/hermes\//.test(s))).toEqual([]);
});

test('the proxy password appears in no answer and no log line, the upstream down included', async () => {
  const bodies = [await (await t.fetch('/health')).text(), await (await t.fetch('/api/gateway-status')).text()];
  await proxy.stop(true);
  await t.deps.probe.probeNow();
  bodies.push(await (await t.fetch('/health')).text(), await (await t.fetch('/v1/models')).text());
  expect(JSON.parse(bodies[2] as string)).toMatchObject({ upstream: { connected: false } });
  expect(bodies.filter((b) => b.includes('PROXY-SECRET') || b.includes('proxyuser'))).toEqual([]);
  expect(lines.filter((l) => l.includes('PROXY-SECRET'))).toEqual([]);
});
