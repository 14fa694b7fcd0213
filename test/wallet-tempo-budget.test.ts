/**
 * The per-caller budget of metered calls under concurrency (docs/wallet.md, "Per-caller budget"):
 * each call holds its maximum cost before it goes upstream, so parallel calls, from one sidecar or
 * several on one data dir, cannot together spend past the budget; holds are settled, released, and
 * expire when their process died.
 */
import { afterAll, afterEach, beforeEach, describe, expect, setSystemTime, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeHermes } from './fakes/hermes';
import { hostClock } from '../src/lib/time';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { readListeningUrl } from './helpers/binary';

type Json = Record<string, any>;
const hermes = await startFakeHermes();
afterAll(() => hermes.stop());

const apps: TestApp[] = [];
beforeEach(() => hermes.reset());
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

// hermes-agent takes the default price. Its input is free, so a call's maximum cost is max_tokens ×
// 0.01/1k + 0.001: 0.011 USD for max_tokens 1000, exactly what the fake bills when it reports 1000
// completion tokens. A 0.05 budget allows 4 such calls.
const PRICING = 'token: USDC\nmargin_per_call_usd: 0.001\ndefault: { input_per_1k_usd: 0, output_per_1k_usd: 0.01 }\nmodels:\n  big: { input_per_1k_usd: 0.5, output_per_1k_usd: 0.02 }\n';

function env(extra: Record<string, string> = {}): Record<string, string> {
  const pricing = join(tempDir('pricing-'), 'pricing.yaml');
  writeFileSync(pricing, PRICING);
  return { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: 'test-upstream-key', TEMPO_PRICING: pricing, TEMPO_CALLER_BUDGET_USD: '0.05', ...extra };
}

async function open(extra: Record<string, string> = {}): Promise<TestApp> {
  const t = await makeTestApp({ env: env(extra) });
  apps.push(t);
  return t;
}

const call = (t: TestApp, body: Json = {}) => t.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'spender', model: 'hermes-agent', prompt: 'x', max_tokens: 1000, ...body });
const holds = (t: TestApp) => t.deps.db.sqlite.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM tempo_holds').get()!.n;
const billed = async (t: TestApp) => (await t.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=spender')).body;
const completions = () => hermes.requests.filter((r) => r.path === '/v1/chat/completions');
const tally = (rs: { status: number }[]) => rs.reduce<Record<number, number>>((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {});

describe('parallel metered calls', () => {
  test('10 parallel calls against a budget for 4: 4 run, 6 are refused (429), nothing past the budget', async () => {
    const t = await open();
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 1000 };
    hermes.behavior.firstTokenDelayMs = 300;
    // Before the holds, each call checked "spent < budget" before any was recorded: all 10 ran, 0.11 billed of 0.05.
    const rs = await Promise.all(Array.from({ length: 10 }, () => call(t)));
    expect(tally(rs)).toEqual({ 200: 4, 429: 6 });
    const refused = rs.find((r) => r.status === 429)!;
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body).toMatchObject({ code: 'budget_held', caller_id: 'spender', budget_usd: '0.05', call_max_usd: '0.011' });
    expect(completions()).toHaveLength(4);
    const usage = await billed(t);
    expect([usage.total, usage.totals.total_billed_usd]).toEqual([4, '0.044']);
    expect(holds(t)).toBe(0);
    // Sequentially the rule is what it was: 0.006 left, nothing in flight, so one more call runs and
    // may pass the budget by its own cost; then the budget is used up (402).
    expect((await call(t)).status).toBe(200);
    const over = await call(t);
    expect([over.status, over.body.code, over.body.spent_usd]).toEqual([402, 'budget_exceeded', '0.055']);
  });

  test('two sidecars on one data dir share the budget', async () => {
    const dataDir = join(tempDir('shared-'), 'data');
    const a = await open({ OPTX_DATA_DIR: dataDir });
    const b = await open({ OPTX_DATA_DIR: dataDir });
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 1000 };
    hermes.behavior.firstTokenDelayMs = 300;
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 ? a : b)));
    expect(tally(rs)).toEqual({ 200: 4, 429: 6 });
    for (const t of [a, b]) {
      const usage = await billed(t);
      expect([usage.total, usage.totals.total_billed_usd]).toEqual([4, '0.044']);
    }
    expect(holds(a)).toBe(0);
  });

  test('a call without max_tokens has no bound: it runs alone', async () => {
    const t = await open();
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 10 };
    hermes.behavior.firstTokenDelayMs = 300;
    const rs = await Promise.all([call(t, { max_tokens: undefined }), Bun.sleep(30).then(() => call(t, { max_tokens: undefined }))]);
    expect(rs.map((r) => r.status)).toEqual([200, 429]);
    expect(rs[1]!.body).toMatchObject({ held_usd: '0.05', spent_usd: '0', call_max_usd: null });
    expect(rs[1]!.body.detail).toContain('no max_tokens');
  });
});

describe('settle and release', () => {
  test('the ledger records the real cost, not the hold; a call naming no model holds the dearest price', async () => {
    const t = await open();
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 10 };
    hermes.behavior.firstTokenDelayMs = 200;
    const first = call(t, { model: undefined, max_tokens: 100 });
    while (completions().length === 0) await Bun.sleep(5);
    // "x" sends 31 bytes of messages: held at the table's dearest prices (`big`), 31 × 0.5/1k + 100 × 0.02/1k + 0.001.
    const second = await call(t, { model: undefined, max_tokens: 2000 });
    expect([second.status, second.body.held_usd, second.body.call_max_usd]).toEqual([429, '0.0185', '0.0565']);
    const r = await first;
    expect([r.status, r.body.billing.total_usd]).toEqual([200, '0.0011']);
    expect(holds(t)).toBe(0);
    expect((await billed(t)).totals.total_billed_usd).toBe('0.0011');
  });

  test('a call that fails without cost gives its hold back (502, 504, client gone)', async () => {
    const t = await open({ HEDGEHOG_TIMEOUT_S: '0.3' });
    hermes.behavior.statusOverride['/v1/chat/completions'] = 500;
    expect((await call(t, { max_tokens: 4000 })).status).toBe(502);
    hermes.behavior.statusOverride = {};
    hermes.behavior.hang['/v1/chat/completions'] = true;
    expect((await call(t, { max_tokens: 4000 })).status).toBe(504);
    const ac = new AbortController();
    const gone = t.fetch('/api/wallet/tempo/call', {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify({ caller_id: 'spender', prompt: 'x', max_tokens: 4000 }),
    }).catch(() => null);
    while (completions().length < 3) await Bun.sleep(5);
    ac.abort();
    await gone;
    while (holds(t) > 0) await Bun.sleep(5);
    hermes.behavior.hang = {};
    // 4000 tokens hold 0.041 of the 0.05: it fits only because every failed call gave its hold back.
    expect((await call(t, { max_tokens: 4000 })).status).toBe(200);
    expect((await billed(t)).total).toBe(1);
  });

  test('a refusal changes nothing', async () => {
    const t = await open({ TEMPO_CALLER_BUDGET_USD: '0.001' });
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 10 };
    expect((await call(t)).status).toBe(200);
    const r = await call(t);
    expect([r.status, r.body.code, r.body.spent_usd, r.body.held_usd]).toEqual([402, 'budget_exceeded', '0.0011', '0']);
    expect([holds(t), (await billed(t)).total, completions().length]).toEqual([0, 1, 1]);
  });
});

test('a hold left by a sidecar killed mid-call blocks only until it expires, then counts as nothing', async () => {
  const dataDir = join(tempDir('killed-'), 'data');
  const childEnv = env({ OPTX_DATA_DIR: dataDir, HERMES_HOME: join(tempDir(), 'home'), HEDGEHOG_TIMEOUT_S: '60', LOG_LEVEL: 'warn' });
  const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
    env: { PATH: process.env.PATH ?? '', ...childEnv }, stdout: 'pipe', stderr: 'pipe',
  });
  const base = await readListeningUrl(proc.stdout);
  hermes.behavior.hang['/v1/chat/completions'] = true;
  const started = Date.now();
  const pending = fetch(`${base}/api/wallet/tempo/call`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ caller_id: 'spender', model: 'hermes-agent', prompt: 'x', max_tokens: 2000 }),
  }).catch(() => null);
  while (completions().length === 0) await Bun.sleep(5);
  proc.kill('SIGKILL');
  await proc.exited;
  await pending;
  hermes.behavior.hang = {};

  const t = await open({ OPTX_DATA_DIR: dataDir });
  const rows = t.deps.db.sqlite.query<{ hold_micro: number; expires_at_ms: number; boot_id: string }, []>('SELECT hold_micro, expires_at_ms, boot_id FROM tempo_holds').all();
  expect(rows.map((r) => r.hold_micro)).toEqual([21_000]);
  // The call's own deadline (60 s) plus the grace of a ledger write that waits for the lock.
  expect(rows[0]!.expires_at_ms - started).toBeGreaterThanOrEqual(60_000);
  expect(rows[0]!.expires_at_ms - started).toBeLessThan(120_000);
  expect(rows[0]!.boot_id).toBe(hostClock()!.boot);
  expect((await billed(t)).total).toBe(0);
  // While it counts: 0.021 held, 0.041 does not fit.
  hermes.behavior.usage = { input_tokens: 50, output_tokens: 10 };
  const blocked = await call(t, { max_tokens: 4000 });
  expect([blocked.status, blocked.body.held_usd]).toEqual([429, '0.021']);
  // Past its expiry (the host's clock since boot moved on): it counts as nothing and is gone.
  t.deps.db.sqlite.run('UPDATE tempo_holds SET expires_uptime_ms = ?', [hostClock()!.uptimeMs - 1]);
  const r = await call(t, { max_tokens: 4000 });
  expect([r.status, r.body.billing?.total_usd]).toEqual([200, '0.0011']);
  expect([holds(t), (await billed(t)).totals.total_billed_usd]).toEqual([0, '0.0011']);
}, 120_000);

describe('holds and the wall clock', () => {
  const insertHold = (t: TestApp, hold: { boot: string | null; uptimeMs: number | null; expiresAtMs: number }) =>
    t.deps.db.sqlite.run(
      'INSERT INTO tempo_holds (id, caller_id, hold_micro, created_at, expires_at_ms, boot_id, expires_uptime_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [`hold_${hold.boot}`, 'spender', 21_000, new Date().toISOString(), hold.expiresAtMs, hold.boot, hold.uptimeMs],
    );

  test('the wall clock stepped a day forward (NTP) while calls are in flight: their holds still count', async () => {
    const t = await open();
    hermes.behavior.usage = { input_tokens: 50, output_tokens: 1000 };
    hermes.behavior.firstTokenDelayMs = 300;
    const first = Array.from({ length: 4 }, () => call(t));
    while (completions().length < 4) await Bun.sleep(5);
    setSystemTime(new Date(Date.now() + 86_400_000));
    try {
      // Expired by the wall clock, the 4 holds were dropped: 4 more calls ran, 0.088 billed of 0.05.
      const more = await Promise.all(Array.from({ length: 4 }, () => call(t)));
      expect(tally([...(await Promise.all(first)), ...more])).toEqual({ 200: 4, 429: 4 });
      const usage = await billed(t);
      expect([usage.total, usage.totals.total_billed_usd]).toEqual([4, '0.044']);
    } finally {
      setSystemTime();
    }
  });

  test('the wall clock stepped back a day: a dead process\'s hold still expires on time', async () => {
    const t = await open();
    const host = hostClock()!;
    insertHold(t, { boot: host.boot, uptimeMs: host.uptimeMs - 1, expiresAtMs: Date.now() + 86_400_000 });
    expect((await call(t, { max_tokens: 4000 })).status).toBe(200);
    expect(holds(t)).toBe(0);
  });

  test('a hold of an earlier boot counts as nothing; one without a boot goes by the wall clock', async () => {
    const t = await open();
    const host = hostClock()!;
    // Written before a reboot, at a larger uptime: its process is gone.
    insertHold(t, { boot: 'an-earlier-boot', uptimeMs: host.uptimeMs + 3_600_000, expiresAtMs: Date.now() + 3_600_000 });
    // Written by an older version (no boot): it expires by its wall-clock time, still ahead.
    insertHold(t, { boot: null, uptimeMs: null, expiresAtMs: Date.now() + 3_600_000 });
    // Only the second counts (a refusal writes nothing, so neither is deleted here).
    const blocked = await call(t, { max_tokens: 4000 });
    expect([blocked.status, blocked.body.held_usd]).toEqual([429, '0.021']);
  });
});
