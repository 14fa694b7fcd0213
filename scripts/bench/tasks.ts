/**
 * The task queue on the SQLite store (the default backend):
 *
 * 1. claim+complete pairs per second with N concurrent agents racing for the same tasks (each agent
 *    picks a random task among the next few unclaimed ones, so claims collide), counting double
 *    claims (must be 0: no task may be won twice). By default through the real HTTP app in-process
 *    (`app.handle`); `--server` runs the compiled-from-source server as a child process on a port
 *    and sends real HTTP requests.
 * 2. GET /api/tasks and GET /api/tasks/stats latency with a large queue (mixed statuses).
 * 3. parseLooseJson on the worst model answers the tests once timed.
 *
 *   bun scripts/bench/tasks.ts [--agents 64] [--seconds 5] [--tasks 100000] [--server]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { closeDeps, openDeps } from '../../src/deps';
import { silentLogger } from '../../src/lib/log';
import { newId } from '../../src/lib/ids';
import { isoNow } from '../../src/lib/time';
import type { NewTask } from '../../src/modules/tasks/store';
import { parseLooseJson } from '../../src/modules/tasks/loose-json';
import { fmt, median, percentile, report, spawnWithPort } from './lib';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    tasks: { type: 'string', default: '100000' },
    server: { type: 'boolean', default: false },
  },
});
const AGENTS = Number(values.agents);
const SECONDS = Number(values.seconds);
const TASKS = Number(values.tasks);

type Send = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

function newTask(i: number, extra: Partial<NewTask> = {}): NewTask {
  return {
    task_id: newId('task_'), title: `task ${i}`, description: 'benchmark task', priority: 1 + (i % 10), capabilities: ['bench'], validation_mode: 'CreatorReview',
    parent_task_id: null, swarm_id: null, depends_on: [], assigned_agent: null, gaze_required: false, reward_units: 1_000_000, ...extra,
  };
}

async function inProcess(dataDir: string) {
  const req = loadConfig({ argv: [], env: { OPTX_DATA_DIR: dataDir, HERMES_HOME: join(dataDir, 'home'), HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' } });
  if (req.kind !== 'run') throw new Error('unexpected CLI request');
  const deps = await openDeps(req.config, { log: silentLogger });
  const app = createApp(deps);
  const send: Send = async (method, path, body) => {
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }));
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { deps, send, close: () => closeDeps(deps) };
}

/**
 * Agents take tasks from a shared cursor (as if a dispatcher handed out ids), but one claim in four
 * goes for a task handed out just before — to another agent that is claiming it right now — so
 * claims really collide. Every 200 is recorded: a task won twice is a double claim.
 */
async function claimCompleteRun(send: Send, ids: string[], seconds: number, agents: number) {
  const winners = new Map<string, string>();
  let doubles = 0;
  let pairs = 0;
  let conflicts = 0;
  let unexpected = 0;
  let cursor = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: agents }, async (_, a) => {
      const agent = `agent-${a}`;
      while (performance.now() < deadline && cursor < ids.length) {
        const steal = cursor > 0 && Math.random() < 0.25;
        const id = ids[steal ? Math.max(0, cursor - 1 - Math.floor(Math.random() * agents)) : cursor++] as string;
        const claim = await send('POST', `/api/tasks/${id}/claim`, { agent_name: agent, lease_seconds: 300 });
        if (claim.status === 409) {
          conflicts++;
          continue;
        }
        if (claim.status !== 200) {
          unexpected++;
          continue;
        }
        if (winners.has(id)) doubles++;
        winners.set(id, agent);
        const done = await send('POST', `/api/tasks/${id}/complete`, { agent_name: agent, result: { ok: true } });
        if (done.status === 200) pairs++;
        else unexpected++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { pairsPerSecond: pairs / elapsed, pairsPerCpuSecond: pairs / ((cpu.user + cpu.system) / 1e6), pairs, conflicts, doubles, unexpected };
}

/** User + system CPU time of a process, from /proc (Linux; clock ticks are 100 per second there). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `touch`, when given, runs (untimed) before each request: a write, so that no page kept from the last run is used. */
async function latency(send: Send, path: string, runs: number, touch?: () => void): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < 100; i++) await send('GET', path); // warm-up (JIT), not counted
  for (let i = 0; i < runs; i++) {
    touch?.();
    const t0 = performance.now();
    const r = await send('GET', path);
    times.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
  }
  return { p50: median(times), p99: percentile(times, 99) };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-tasks-'));
try {
  // --- 1. claim + complete -------------------------------------------------------------------
  const local = await inProcess(join(dir, 'throughput'));
  const pool = Array.from({ length: 60_000 }, (_, i) => newTask(i));
  for (let i = 0; i < pool.length; i += 1000) await local.deps.tasks.store.create(pool.slice(i, i + 1000), () => isoNow());
  const ids = pool.map((t) => t.task_id);
  let send: Send = local.send;
  let stopServer: (() => Promise<void>) | null = null;
  let serverPid: number | null = null;
  if (values.server) {
    local.close();
    const child = await spawnWithPort(['bun', 'src/main.ts'], { OPTX_DATA_DIR: join(dir, 'throughput'), HERMES_HOME: join(dir, 'home'), OPTX_API_PORT: '0', OPTX_API_HOST: '127.0.0.1', HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }, /listening on http:\/\/[^\s]+:(\d+)/);
    stopServer = () => child.stop();
    serverPid = child.proc.pid;
    send = async (method, path, body) => {
      const res = await fetch(`http://127.0.0.1:${child.port}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
  }
  await claimCompleteRun(send, ids.slice(-2000), 1, AGENTS); // warm-up on tasks the measured run reaches last, if ever
  const serverCpu0 = serverPid ? await cpuSeconds(serverPid) : 0;
  const run = await claimCompleteRun(send, ids, SECONDS, AGENTS);
  const serverCpu = serverPid ? (await cpuSeconds(serverPid)) - serverCpu0 : 0;
  const how = values.server ? 'real HTTP to a server process' : 'in-process app.handle';
  console.log(`claim+complete, ${AGENTS} agents, ${SECONDS} s (${how}):`);
  console.log(`  ${fmt(run.pairsPerSecond, 0)} pairs/s  (${run.pairs} pairs, ${run.conflicts} lost races = 409, ${run.unexpected} other errors, ${run.doubles} double claims)`);
  // On a shared machine the wall clock includes other processes; CPU time is this process's own cost.
  if (values.server) console.log(`  ${fmt(run.pairs / serverCpu, 0)} pairs per CPU-second of the server process (load average ${loadavg()[0]?.toFixed(1)})`);
  else console.log(`  ${fmt(run.pairsPerCpuSecond, 0)} pairs per CPU-second of this process (load average ${loadavg()[0]?.toFixed(1)})`);
  const completed = (await send('GET', '/api/tasks/stats')).body as { by_status: { Completed: number } };
  console.log(`  stats agree: ${completed.by_status.Completed} Completed = ${run.pairs} + warm-up pairs`);
  report({ area: 'tasks', metric: `claim+complete pairs/s, ${AGENTS} agents (${how})`, value: fmt(run.pairsPerSecond, 0), target: '≥ 2,000', ok: run.pairsPerSecond >= 2000 });
  report({ area: 'tasks', metric: 'double claims', value: String(run.doubles), target: '0', ok: run.doubles === 0 });
  if (stopServer) await stopServer();
  else local.close();

  // --- 2. list and stats with a large queue ----------------------------------------------------
  const big = await inProcess(join(dir, 'large'));
  const store = big.deps.tasks.store;
  const t0 = performance.now();
  const all = Array.from({ length: TASKS }, (_, i) => newTask(i));
  for (let i = 0; i < all.length; i += 1000) await store.create(all.slice(i, i + 1000), () => isoNow());
  // Mixed statuses: 30 % InProgress over 64 agents, 20 % Completed, 5 % Cancelled, the rest Open.
  for (let i = 0; i < all.length; i++) {
    const id = (all[i] as NewTask).task_id;
    const r = i % 20;
    if (r < 10) continue;
    await store.claim(id, { agent: `agent-${i % 64}`, leaseSeconds: null, gazeVerified: false }, () => isoNow());
    if (r < 14) await store.complete(id, { agent: `agent-${i % 64}`, result: null, success: true }, () => isoNow());
    else if (r === 14) await store.cancel(id, () => isoNow());
  }
  console.log(`\n${TASKS} tasks written in ${fmt((performance.now() - t0) / 1000, 1)} s; latency through app.handle (300 runs each after 100 warm-up runs),`);
  console.log('each run after a write (the page is read from the database), and with nothing written in between (the page kept from the last run):');
  // One row changed: the list cannot reuse a page it kept from before.
  const touch = () => big.deps.db.sqlite.run("INSERT INTO sidecar_meta (key, value, updated_at) VALUES ('bench', ?1, ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(performance.now())]);
  for (const path of ['/api/tasks', '/api/tasks?status=Open', '/api/tasks?status=InProgress&offset=5000', '/api/tasks?agent=agent-7&limit=20', '/api/tasks/stats']) {
    const l = await latency(big.send, path, 300, touch);
    const kept = await latency(big.send, path, 300);
    console.log(`  GET ${path.padEnd(42)} p50 ${fmt(l.p50)} ms  p99 ${fmt(l.p99)} ms   kept: p50 ${fmt(kept.p50)} ms`);
    report({ area: 'tasks', metric: `GET ${path} p50 with ${TASKS} tasks (after a write / nothing written since)`, value: `${fmt(l.p50)} / ${fmt(kept.p50)} ms`, target: '< 5 ms', ok: l.p50 < 5 });
  }
  big.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// parseLooseJson on a model's worst answers (were timed assertions in test/tasks-model.test.ts): runs of
// block comments between items (every split tried: 12 s once) and a megabyte of brackets never closed
// (64 reads of the whole text: 10 s once).
{
  const items = Array.from({ length: 9 }, (_, i) => `{"title": "t${i}"}`).join(`,${'/**/'.repeat(30)} `);
  const loop = '{"title": "step", "depends_on": ["t1", '.repeat(25_000);
  const opens = `\`\`\`json\n${'['.repeat(512 * 1024)}\n\`\`\`\n${'['.repeat(512 * 1024)}`;
  for (const [what, run] of [
    ['9 items between runs of 30 block comments', () => parseLooseJson(`{"tasks": [${items}]}`)],
    ['1 MB of brackets never closed (refused)', () => { try { parseLooseJson(loop); } catch { /* refused, as it must be */ } }],
    // A second of JSON.parse on the nesting before values deeper than 128 levels were skipped.
    ['1 MiB of [ in a fence and after it (refused)', () => { try { parseLooseJson(opens); } catch { /* refused, as it must be */ } }],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      run();
      times.push(performance.now() - t);
    }
    console.log(`parseLooseJson, ${what}: median ${fmt(median(times))} ms`);
    report({ area: 'tasks', metric: `parseLooseJson: ${what}`, value: `${fmt(median(times))} ms`, target: '< 1000 ms', ok: median(times) < 1000 });
  }
}
