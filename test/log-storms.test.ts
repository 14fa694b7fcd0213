/**
 * Failures that repeat once per request must not write one log line each (docs/ARCHITECTURE.md,
 * "Logs"): at the rate clients send they fill an edge device's disk and trip journald's rate limit.
 * The first is logged, the rest counted into one summary line per window.
 */
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { Mppx as ClientMppx, tempo as clientTempo } from 'mppx/client';
import { createClient, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { tempoModerato } from 'viem/chains';
import { createLogger } from '../src/lib/log';
import { logRepeated } from '../src/lib/log-repeats';
import { startFakeHermes } from './fakes/hermes';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { closedUrl, makeTestApp, tempDir } from './helpers/app';
import { holdLock } from './helpers/lock-holder';

const hermes = await startFakeHermes({ version: '0.17' });
afterAll(() => hermes.stop());

/** A logger at debug level and what it wrote, parsed. */
function captured() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines, msgs: () => lines.map((l) => `${String(l.level)} ${String(l.msg)}`) };
}

test('logRepeated: the first occurrence at once, the rest as one summary per window, a quiet window ends the series', async () => {
  const { log, lines } = captured();
  for (let i = 0; i < 50; i++) logRepeated(log, 'warn', 'thing failed', { n: i }, { windowMs: 100 });
  logRepeated(log, 'error', 'other failure', { code: 'x' }, { windowMs: 100 });
  expect(lines.map((l) => [l.msg, l.n ?? l.code])).toEqual([['thing failed', 0], ['other failure', 'x']]);
  await Bun.sleep(150);
  expect(lines[2]).toMatchObject({ level: 'warn', msg: 'thing failed', n: 49, repeated: 49, window_s: 0.1 });
  expect(lines.length).toBe(3);
  // The window after the summary saw nothing: the series is over, and the next one is logged at once.
  await Bun.sleep(150);
  logRepeated(log, 'warn', 'thing failed', { n: 100 }, { windowMs: 100 });
  expect(lines.length).toBe(4);
  expect(lines[3]).toMatchObject({ msg: 'thing failed', n: 100 });
  expect(lines[3]).not.toHaveProperty('repeated');
});

test('the own database locked by another process: one storage error line for a burst of writes, not one per request', async () => {
  const { log, msgs } = captured();
  const t = await makeTestApp({ log });
  const lock = await holdLock(join(t.config.dataDir, 'optx-api.db'), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  try {
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => t.json('POST', '/api/tasks', { title: `t${i}` }).then((r) => r.status)));
    expect(statuses).toEqual(Array(12).fill(503));
  } finally {
    await lock.release();
    t.close();
  }
  expect(msgs()).toEqual(['error storage error']);
}, 120_000);

test('/v1: clients leaving their streams mid-way is not an upstream failure and logs nothing', async () => {
  const { log, msgs } = captured();
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: hermes.apiKey ?? '' }, log });
  await t.deps.probe.probeNow();
  hermes.behavior.tokenDelayMs = 5;
  t.app.listen({ port: 0, hostname: '127.0.0.1' });
  try {
    const leave = async () => {
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${t.app.server!.port}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
        body: JSON.stringify({ model: 'x', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight' }] }),
      });
      await res.body!.getReader().read();
      ac.abort();
    };
    await Promise.all(Array.from({ length: 10 }, leave));
    await Bun.sleep(300);
  } finally {
    hermes.reset();
    await t.app.stop(true);
    t.close();
  }
  expect(msgs().filter((m) => m !== 'info upstream probe')).toEqual([]);
});

test('MPP: credentials from payers with empty wallets (a client can send them at any rate), then the Tempo node down: one warning per cause, not one per request', async () => {
  const { log, lines, msgs } = captured();
  const chain = startFakeTempoRpc();
  const t = await makeTestApp({
    log,
    env: { MPP_ENABLED: 'true', MPP_RECIPIENT: '0x742d35Cc6634c0532925a3b844bC9e7595F8fE00', MPP_SECRET_KEY: 'mpp-test-secret-0123456789abcdef-xyz', MPP_AMOUNT: '0.10', MPP_NETWORK: 'testnet', TEMPO_RPC_URL: chain.url, RPC_TIMEOUT_S: '0.5' },
  });
  const client = ClientMppx.create({
    methods: [clientTempo.charge({ account: privateKeyToAccount(generatePrivateKey()), getClient: () => createClient({ chain: tempoModerato, transport: http(chain.url, { retryCount: 0 }) }) })],
    polyfill: false,
    fetch: ((input: string | URL | Request, init?: RequestInit) => t.app.handle(input instanceof Request ? new Request(input, init) : new Request(String(input), init))) as typeof fetch,
  });
  const path = '/api/wallet/tempo/pricing';
  try {
    const credentials = await Promise.all(Array.from({ length: 8 }, async () => client.createCredential(await t.fetch(path))));
    const statuses = await Promise.all(credentials.map((c) => t.fetch(path, { headers: { authorization: c } }).then((r) => r.status)));
    expect(statuses).toEqual(Array(8).fill(402));
    expect(msgs()).toEqual(['warn MPP payment not verified']);
    // Then the Tempo node goes away: a new cause, shown at once (and then summarised in turn).
    await chain.stop();
    const down = await Promise.all(credentials.map((c) => t.fetch(path, { headers: { authorization: c } }).then((r) => r.status)));
    expect(down).toEqual(Array(8).fill(503));
    expect(msgs()).toEqual(['warn MPP payment not verified', 'warn MPP payment not verified']);
    expect(lines[1]).toMatchObject({ step: 'validate', error: 'An unknown RPC error occurred.' });
  } finally {
    t.close();
    await chain.stop();
  }
});

test('LOG_LEVEL=warn (no access log) still shows the upstream going away, at warn, and coming back, at info', async () => {
  const { log, msgs } = captured();
  const up = await startFakeHermes({ version: '0.17' });
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: up.url, HERMES_API_KEY: up.apiKey ?? '', PROBE_TIMEOUT_S: '0.3' }, log });
  try {
    await t.deps.probe.probeNow();
    up.behavior.hang = { '/health': true, '/health/detailed': true, '/v1/capabilities': true, '/v1/models': true, '/api/sessions': true };
    await t.deps.probe.probeNow();
    up.reset();
    await t.deps.probe.probeNow();
  } finally {
    t.close();
    await up.stop();
  }
  expect(msgs()).toEqual(['info upstream probe', 'warn upstream probe', 'info upstream probe']);
}, 120_000);

test('SpacetimeDB unreachable: memory and task requests answer 503 and the log says why once, then that it is back', async () => {
  const { log, lines, msgs } = captured();
  const stdb = startFakeSpacetime({ token: 'stdb-secret-token' });
  const t = await makeTestApp({
    log,
    env: { MEMORY_BACKEND: 'spacetimedb', TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: stdb.url, SPACETIMEDB_DB: stdb.db, SPACETIMEDB_TOKEN: 'stdb-secret-token', SPACETIMEDB_TIMEOUT_S: '1' },
  });
  try {
    await stdb.pause();
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? t.fetch('/api/memory') : t.fetch('/api/tasks')).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([503]));
    stdb.resume();
    expect((await t.fetch('/api/memory')).status).toBe(200);
  } finally {
    t.close();
    await stdb.stop();
  }
  expect(msgs()).toEqual(['warn SpacetimeDB request failed', 'info SpacetimeDB reachable again']);
  expect(lines[0]).toMatchObject({ kind: 'unreachable' });
  expect(JSON.stringify(lines)).not.toContain('stdb-secret-token');
});

test('chat turns the upstream fails (500s, then streams cut) come to clients in 200 streams: the log says so once per kind', async () => {
  const { log, lines, msgs } = captured();
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: hermes.apiKey ?? '' }, log });
  await t.deps.probe.probeNow();
  const chat = async () => {
    const res = await t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'my private question' }) });
    return `${res.status} ${(await res.text()).includes('error') ? 'error' : 'ok'}`;
  };
  try {
    hermes.behavior.statusOverride = { '/v1/chat/completions': 500, '/api/sessions/*/chat/stream': 500 };
    expect(await Promise.all(Array.from({ length: 10 }, chat))).toEqual(Array(10).fill('200 error'));
    hermes.reset();
    hermes.behavior.dropAfterTokens = 1;
    expect(await Promise.all(Array.from({ length: 10 }, chat))).toEqual(Array(10).fill('200 error'));
  } finally {
    hermes.reset();
    t.close();
  }
  expect(msgs().filter((m) => m !== 'info upstream probe')).toEqual(['warn chat turn failed', 'warn chat turn failed']);
  expect(JSON.stringify(lines)).not.toContain('private question');
});

test('the start-up banner says who may use the API: open, or how many keys (never the keys)', async () => {
  const banner = async (env: Record<string, string>) => {
    const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', OPTX_DATA_DIR: join(tempDir(), 'data'), HERMES_HOME: join(tempDir(), 'home'), HERMES_AGENT_URL: await closedUrl(), ...env },
      stdout: 'pipe',
    });
    let out = '';
    const reader = proc.stdout.getReader();
    while (!/data dir/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    proc.kill('SIGTERM');
    await proc.exited;
    return out.split('\n').find((l) => l.trim().startsWith('auth:'));
  };
  expect(await banner({})).toBe('  auth: none, every route is open to whoever reaches this address by an IP, localhost or a LAN name (API_KEY sets keys; ALLOWED_HOSTS adds names)');
  const keyed = await banner({ API_KEY: 'key-one-SECRET,key-two-SECRET' });
  expect(keyed).toBe('  auth: API key (2 accepted)');
  // The names ALLOWED_HOSTS and CORS_ORIGINS add are served too: a banner leaving them out told the
  // operator the sidecar answered only IPs and LAN names while agent.office.net reached everything.
  const named = await banner({ ALLOWED_HOSTS: 'agent.office.net,.example.com', CORS_ORIGINS: 'https://app.example:8443,null' });
  expect(named).toBe('  auth: none, every route is open to whoever reaches this address by an IP, localhost, a LAN name or agent.office.net, .example.com, app.example (API_KEY sets keys; ALLOWED_HOSTS adds names)');
}, 120_000);

test('a 5xx leaves a line that names the route it failed on (a storage error and an unhandled error; the access log is off at warn)', async () => {
  const { log, lines } = captured();
  const t = await makeTestApp({ log });
  const lock = await holdLock(join(t.config.dataDir, 'optx-api.db'), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  try {
    expect((await t.json('POST', '/api/tasks', { title: 't' })).status).toBe(503);
  } finally {
    await lock.release();
  }
  try {
    t.deps.tasks.stats = () => Promise.reject(new TypeError('boom'));
    expect((await t.json('GET', '/api/tasks/stats?secret=1')).status).toBe(500);
  } finally {
    t.close();
  }
  expect(lines.find((l) => l.msg === 'storage error')).toMatchObject({ level: 'error', method: 'POST', path: '/api/tasks' });
  expect(lines.find((l) => l.msg === 'unhandled error')).toMatchObject({ level: 'error', method: 'GET', path: '/api/tasks/stats' });
}, 120_000);
