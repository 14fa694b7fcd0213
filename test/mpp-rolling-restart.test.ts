/**
 * A rolling restart: a newer sidecar migrates the database while this one has a paid metered call
 * with HEDGEHOG. The older one can never write again (503 storage_upgraded), so neither the call's
 * ledger row nor a credit giving the credential back can be written. Reproduced before: HEDGEHOG's
 * answer arrived, the ledger write was refused, and the payer — charged on chain — got a 503 with
 * the answer dropped. The answer is now served with its receipt, and the unrecorded call is logged
 * with every field of its ledger row for the operator to add to the ledger.
 * Real mppx client and server against the fake Tempo node; HEDGEHOG is a small server held by the test.
 */
import { afterAll, afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { makeTestApp, type TestApp } from './helpers/app';
import { credentialFor, mppEnv, payer, sendWithAuth } from './helpers/mpp';

const chain = startFakeTempoRpc();
let open: () => void = () => {};
let asked = 0;
const hedgehog = Bun.serve({
  port: 0,
  async fetch() {
    asked++;
    await new Promise<void>((resolve) => (open = resolve));
    return Response.json({
      model: 'm', choices: [{ message: { role: 'assistant', content: 'the answer' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1000, completion_tokens: 2000 },
    });
  },
});
const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
afterAll(async () => {
  await hedgehog.stop(true);
  await chain.stop();
});

/** What a newer version's start-up leaves: a migration this version does not know, applied by another connection. */
function migrateFromElsewhere(t: TestApp): void {
  const other = new Database(join(t.config.dataDir, 'optx-api.db'));
  other.run('INSERT INTO __migrations (tag, hash, applied_at) VALUES (?, ?, ?)', ['9999_from_the_future', 'x', new Date().toISOString()]);
  other.close();
}

for (const budget of [false, true]) {
  test(`a paid metered call HEDGEHOG answers after a newer sidecar migrated: served with its receipt, the unrecorded call logged${budget ? ' (with a caller budget)' : ''}`, async () => {
    const lines: string[] = [];
    const app = await makeTestApp({
      env: { ...mppEnv(chain), HEDGEHOG_URL: `http://127.0.0.1:${hedgehog.port}`, HEDGEHOG_API_KEY: 'k', ...(budget ? { TEMPO_CALLER_BUDGET_USD: '5' } : {}) },
      log: createLogger({ level: 'warn', format: 'json', write: (l) => void lines.push(l) }),
    });
    apps.push(app);
    const cred = await credentialFor(app, payer(app, chain).client);
    const before = asked;
    const call = sendWithAuth(app, cred, 'POST', '/api/wallet/tempo/call', '{"caller_id":"c","model":"m","prompt":"hi"}');
    while (asked === before) await Bun.sleep(5);
    migrateFromElsewhere(app);
    open();
    const r = await call;
    const body = (await r.json()) as { call_id?: string; result?: { content?: unknown }; billing?: { total_usd?: unknown } };
    expect([r.status, body.result?.content, r.headers.get('payment-receipt') !== null]).toEqual([200, 'the answer', true]);
    // Not in the ledger (it cannot be written), but in the log with what its row would hold.
    expect((await app.json('GET', '/api/wallet/tempo/usage', undefined, { authorization: 'Bearer good-key' })).body.total).toBe(0);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'metered call served but not recorded in the usage ledger');
    expect(logged).toMatchObject({ level: 'error', call_id: body.call_id, caller_id: 'c', total_micro: 34000 });
    expect(String(logged?.reason)).toContain('9999_from_the_future');
    expect(JSON.parse(String(logged?.ledger_row))).toMatchObject({ id: body.call_id, caller_id: 'c', model: 'm', input_tokens: 1000, output_tokens: 2000, total_micro: 34000, token: 'USDC' });
    // The credential paid for this answer: it does not pay for another.
    expect((await sendWithAuth(app, cred, 'GET', '/api/wallet/tempo/pricing')).status).toBe(402);
  });
}
