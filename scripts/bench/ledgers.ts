/**
 * Lists that grow for as long as a deployment lives, read at their full size (in-process, app.handle):
 * - GET /api/sessions with --sessions sessions in the agent's state.db (10 messages each) and as many
 *   of the sidecar's own;
 * - GET /api/wallet/escrow with --escrows escrows, whole and filtered by status;
 * - GET /api/wallet/tempo/usage and the per-caller budget check with --calls metered calls, half of
 *   them by one caller.
 * Each of these once read or sorted everything on every request (see docs/sessions-chat.md and
 * docs/wallet.md); the target is the one of the task list: under 5 ms.
 *
 *   bun scripts/bench/ledgers.ts [--sessions 10000] [--escrows 100000] [--calls 100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createStateDb } from '../../test/fixtures/state-db';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { closeDeps, openDeps } from '../../src/deps';
import { silentLogger } from '../../src/lib/log';
import { CallerBudget } from '../../src/modules/wallet/budget';
import { median, report } from './lib';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    escrows: { type: 'string', default: '100000' },
    calls: { type: 'string', default: '100000' },
  },
});
const SESSIONS = Number(values.sessions);
const ESCROWS = Number(values.escrows);
const CALLS = Number(values.calls);
const T0 = 1_780_000_000;

const dataDir = mkdtempSync(join(tmpdir(), 'optx-bench-ledgers-'));
try {
  const home = join(dataDir, 'home');
  const req = loadConfig({ argv: [], env: { OPTX_DATA_DIR: join(dataDir, 'data'), HERMES_HOME: home, HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' } });
  if (req.kind !== 'run') throw new Error('unexpected CLI request');
  const deps = await openDeps(req.config, { log: silentLogger });
  const app = createApp(deps);
  const { sqlite } = deps.db;

  const fx = createStateDb(home, 'v19');
  fx.db.run('BEGIN');
  for (let i = 0; i < SESSIONS; i++) {
    fx.addSession({ id: `agent-${i}`, started_at: T0 + i, source: 'cli' }, Array.from({ length: 10 }, (_, j) => ({ role: j % 2 ? 'assistant' : 'user', content: `message ${j}`, timestamp: T0 + i + j })));
  }
  fx.db.run('COMMIT');
  sqlite.run('BEGIN');
  // Awaited before the COMMIT: the writes join this one transaction (as savepoints) instead of committing one by one.
  await Promise.all([
    ...Array.from({ length: SESSIONS }, (_, i) => deps.sessions.create({ id: `own-${i}`, title: `conversation ${i}` }, { upstream: false })),
    ...Array.from({ length: ESCROWS }, (_, i) => deps.wallet.escrow.lock({ task_id: `task-${i % 5000}`, amount: `${(i % 100) + 1}.25`, token: 'OPTX', gaze_required: false, ttl_seconds: i % 3 ? 3600 : 60 })),
  ]);
  // Ledger rows as a call writes them, and their running totals as migration 0006 computes them.
  const call = sqlite.prepare(`INSERT INTO tempo_calls (id, caller_id, model, input_tokens, output_tokens, usage_reported, input_cost_micro,
    output_cost_micro, margin_micro, total_micro, token, latency_ms, created_at) VALUES (?, ?, 'hermes-agent', 100, 200, 1, 300, 3000, 1000, 4300, 'USDC', 50, ?)`);
  for (let i = 0; i < CALLS; i++) call.run(`call-${i}`, i % 2 ? 'heavy' : `caller-${i % 1000}`, new Date((T0 + i) * 1000).toISOString());
  sqlite.run(`INSERT INTO tempo_totals SELECT caller_id, COUNT(*), SUM(input_tokens + output_tokens), SUM(input_cost_micro + output_cost_micro),
    SUM(margin_micro), SUM(total_micro) FROM tempo_calls GROUP BY caller_id`);
  sqlite.run('COMMIT');

  const get = async (path: string) => {
    const res = await app.handle(new Request(`http://localhost${path}`));
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    await res.text();
  };
  const measure = async (name: string, run: () => unknown, n = 50) => {
    for (let i = 0; i < 5; i++) await run();
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await run();
      xs.push(performance.now() - t);
    }
    const p50 = median(xs);
    console.log(`${name.padEnd(62)} p50 ${p50.toFixed(3)} ms`);
    report({ area: 'lists', metric: name, value: `${p50.toFixed(2)} ms`, target: '< 5 ms', ok: p50 < 5 });
  };
  console.log(`ledgers: ${SESSIONS} state.db sessions + ${SESSIONS} of the sidecar's, ${ESCROWS} escrows, ${CALLS} metered calls`);
  await measure(`GET /api/sessions?limit=50 (${SESSIONS * 2} sessions, 2 sources)`, () => get('/api/sessions?limit=50'));
  await measure(`GET /api/sessions?source=cli&limit=50 (${SESSIONS * 2} sessions, 2 sources)`, () => get('/api/sessions?source=cli&limit=50'));
  await measure(`GET /api/wallet/escrow?limit=50 (${ESCROWS} escrows)`, () => get('/api/wallet/escrow?limit=50'));
  await measure(`GET /api/wallet/escrow?status=locked&limit=50 (${ESCROWS} escrows)`, () => get('/api/wallet/escrow?status=locked&limit=50'));
  await measure(`GET /api/wallet/escrow?status=expired&limit=50 (${ESCROWS} escrows, none expired)`, () => get('/api/wallet/escrow?status=expired&limit=50'));
  await measure(`GET /api/wallet/escrow?task_id=task-7&status=locked (${ESCROWS} escrows)`, () => get('/api/wallet/escrow?task_id=task-7&status=locked'));
  await measure(`GET /api/wallet/tempo/usage?limit=50 (${CALLS} calls)`, () => get('/api/wallet/tempo/usage?limit=50'));
  // The last hour of calls (the ledger's rows are one second apart from T0).
  const lastHour = new Date((T0 + CALLS - 3600) * 1000).toISOString();
  await measure(`GET /api/wallet/tempo/usage?since=<last hour> (${CALLS} calls)`, () => get(`/api/wallet/tempo/usage?since=${lastHour}`));
  await measure(`budget check of a caller with ${CALLS / 2} calls`, () => new CallerBudget(deps.db, 1n, 0).spent('heavy'));
  fx.close();
  closeDeps(deps);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
