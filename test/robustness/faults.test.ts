/**
 * Everything external fails in turn — the Hermes upstream (down, slow, stalled, dropping, garbage),
 * SpacetimeDB and the balance RPCs — while the sidecar keeps serving what is local, answers the
 * failures with readable errors and no hang, and recovers by itself when they come back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeEvmRpc } from '../fakes/evm-rpc';
import { startFakeHermes, type FakeHermes } from '../fakes/hermes';
import { startFakeSpacetime, type FakeSpacetime } from '../fakes/spacetimedb';
import { jsonOf, makeTestApp, readSse, type TestApp } from '../helpers/app';

const EVM_OWNER = '0x2222222222222222222222222222222222222222';
let hermes: FakeHermes;
let stdb: FakeSpacetime;
const evm = startFakeEvmRpc({ chainId: 8453 });
let t: TestApp;

beforeAll(async () => {
  hermes = await startFakeHermes({ version: '0.17' });
  stdb = startFakeSpacetime();
  evm.setNative(EVM_OWNER, 5n * 10n ** 18n);
  t = await makeTestApp({
    env: {
      HERMES_AGENT_URL: hermes.url,
      HERMES_API_KEY: hermes.apiKey ?? '',
      MEMORY_BACKEND: 'spacetimedb',
      MEMORY_DB_URL: stdb.url,
      SPACETIMEDB_DB: stdb.db,
      SPACETIMEDB_TIMEOUT_S: '1',
      EVM_ADDRESS: EVM_OWNER,
      EVM_RPC_URLS: `base=${evm.url}`,
      RPC_TIMEOUT_S: '1',
      UPSTREAM_IDLE_TIMEOUT_S: '0.5',
      UPSTREAM_TIMEOUT_S: '2',
      PROBE_INTERVAL_S: '0.2',
      PROBE_TIMEOUT_S: '1',
    },
  });
  t.deps.probe.start();
  await t.deps.probe.probeNow();
});
afterAll(async () => {
  t.close();
  await hermes.stop();
  await stdb.stop();
  await evm.stop();
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await Bun.sleep(25);
  }
  return cond();
}

/** A chat turn on a new session; returns the event names and the final event's data. */
async function chat(message: string): Promise<{ events: string[]; last: Record<string, unknown> }> {
  const res = await t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
  expect(res.status).toBe(200);
  const frames = await readSse(res);
  return { events: frames.map((f) => f.event), last: JSON.parse(frames.at(-1)!.data) };
}

/**
 * Every local capability answers 200 whatever the outside world is doing. Sessions are the agent's
 * (here behind its session API): while it is down they are reported unreachable, never shown as empty.
 */
async function localStillServes(upstreamDown = false): Promise<void> {
  const task = await t.json('POST', '/api/tasks', { title: 'keeps working', description: 'local' });
  expect(task.status).toBe(201);
  const escrow = await t.json('POST', '/api/wallet/escrow', { task_id: 'local-task', amount: '1', gaze_required: false });
  expect(escrow.status).toBe(201);
  for (const path of ['/health', '/api/gateway-status', '/api/tasks/stats', '/api/skills', '/api/config', '/api/sessions', '/api/wallet/tempo/pricing', '/api/wallet/escrow']) {
    const res = await t.fetch(path);
    const expected = upstreamDown && path === '/api/sessions' ? 502 : 200;
    expect([path, res.status]).toEqual([path, expected]);
  }
}

describe('faults outside, service inside', () => {
  test('baseline: chat, memory and balances work', async () => {
    expect((await chat('hello there')).events.at(-1)).toBe('done');
    expect((await t.json('POST', '/api/memory', { content: 'baseline fact' })).status).toBe(201);
    const bal = await jsonOf(await t.fetch('/api/wallet/balances'));
    expect(bal.wallets.evm.chains[0].native_balance).toBe('5');
  });

  test('upstream down: chat ends with an error event, /v1 answers 502, local routes serve; it comes back by itself', async () => {
    // The probe must have seen the session API first (on a loaded machine the first probe can still
    // be running): only then are the agent's sessions reported unreachable rather than local.
    expect(await waitFor(() => t.deps.probe.state.mode === 'enhanced-hermes')).toBe(true);
    await hermes.pause();
    try {
      const down = await chat('are you there?');
      expect(down.events[0]).toBe('session');
      expect(down.events.at(-1)).toBe('error');
      expect(typeof down.last.error).toBe('string');
      expect((await t.fetch('/v1/models')).status).toBe(502);
      expect(await waitFor(() => t.deps.probe.state.mode === 'disconnected')).toBe(true);
      await localStillServes(true);
    } finally {
      // A failure above must not leave the upstream down for the tests after this one.
      await hermes.resume();
    }
    expect(await waitFor(() => t.deps.probe.state.mode === 'enhanced-hermes')).toBe(true);
    expect((await chat('back again')).events.at(-1)).toBe('done');
  });

  test('upstream slow: a slow answer still completes', async () => {
    hermes.behavior.firstTokenDelayMs = 300;
    hermes.behavior.tokenDelayMs = 30;
    expect((await chat('take your time')).events.at(-1)).toBe('done');
    hermes.reset();
  });

  test('upstream stalled, dropping and sending garbage: each ends with one readable error, then normal service', async () => {
    for (const fault of ['stallAfterTokens', 'dropAfterTokens', 'garbageAfterTokens'] as const) {
      hermes.reset();
      hermes.behavior[fault] = 1;
      hermes.behavior.statusOverride = { '/api/sessions/*/chat/stream': 404 }; // exercise the completions path too
      const r = await chat('one two three four');
      expect([fault, r.events.at(-1)]).toEqual([fault, 'error']);
      expect(r.events.filter((e) => e === 'error').length).toBe(1);
      expect(typeof r.last.error).toBe('string');
    }
    hermes.reset();
    expect((await chat('all good now')).events.at(-1)).toBe('done');
    await localStillServes();
  });

  test('SpacetimeDB unreachable: memory says so fast (503, stats unreachable), the rest serves; it recovers', async () => {
    await stdb.pause();
    const t0 = performance.now();
    const add = await t.json('POST', '/api/memory', { content: 'while down' });
    expect(add.status).toBe(503);
    const stats = await jsonOf(await t.fetch('/api/memory/stats'));
    expect(stats.status).toBe('unreachable');
    expect(performance.now() - t0).toBeLessThan(4000);
    await localStillServes();
    stdb.resume();
    expect((await t.json('POST', '/api/memory', { content: 'after recovery' })).status).toBe(201);
    expect((await jsonOf(await t.fetch('/api/memory/stats'))).status).toBe('ok');
  });

  test('SpacetimeDB hanging: bounded by SPACETIMEDB_TIMEOUT_S, never a hang', async () => {
    stdb.behavior.hang = true;
    const t0 = performance.now();
    const res = await t.json('POST', '/api/memory', { content: 'hang please' });
    expect([res.status, (res.body as { code: string }).code]).toEqual([504, 'spacetimedb_timeout']);
    expect(performance.now() - t0).toBeLessThan(4000);
    stdb.behavior.hang = false;
  });

  test('balance RPC failing or hanging: an error entry for that chain (never a silent 0), then recovery', async () => {
    evm.behavior.httpStatus = 503;
    let bal = await jsonOf(await t.fetch('/api/wallet/balances'));
    expect(bal.wallets.evm.chains[0].native_balance).toBeNull();
    expect(typeof bal.wallets.evm.chains[0].error).toBe('string');
    evm.behavior = { ...evm.behavior, httpStatus: null, hang: true };
    const t0 = performance.now();
    bal = await jsonOf(await t.fetch('/api/wallet/balances'));
    expect(typeof bal.wallets.evm.chains[0].error).toBe('string');
    expect(performance.now() - t0).toBeLessThan(4000);
    expect((await t.fetch('/api/wallet')).status).toBe(200);
    evm.reset();
    bal = await jsonOf(await t.fetch('/api/wallet/balances'));
    expect(bal.wallets.evm.chains[0].native_balance).toBe('5');
  });
});
