/**
 * The SpacetimeDB task store against the fake optx-cortex module, which has only store_memory
 * (upsert) and delete_memory: single-winner transitions between two sidecars sharing one queue,
 * lease re-claims racing a late completion, completion racing cancellation, recovery from a sidecar
 * that stopped mid-transition, other rows left alone, and the store being down.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'bun:test';
import { ReducerFailure, startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { taskApp, type TaskApp } from './helpers/tasks';
import { SpacetimeClient } from '../src/spacetime/client';
import { SpacetimeTaskStore } from '../src/modules/tasks/spacetime-store';
import { silentLogger } from '../src/lib/log';
import { isoNow } from '../src/lib/time';

/**
 * A client that holds every step proposal until `parties` of them are waiting: the proposers have
 * all read the same version, so they really compete for the next one.
 */
class BarrierClient extends SpacetimeClient {
  constructor(
    url: string,
    db: string,
    private readonly parties: number,
    private readonly shared: { waiting: (() => void)[]; rotate: number },
  ) {
    super({ url, db, token: null, timeoutMs: 2000 });
  }
  override async call(reducer: string, args: unknown[]): Promise<void> {
    if (reducer === 'store_memory' && String(args[0]).startsWith('task_step:')) {
      await new Promise<void>((release) => {
        this.shared.waiting.push(release);
        if (this.shared.waiting.length < this.parties) return;
        // Released in a rotated order, so a different party tends to arrive first each round.
        const all = this.shared.waiting.splice(0);
        for (const r of [...all.slice(this.shared.rotate % all.length), ...all.slice(0, this.shared.rotate % all.length)]) r();
      });
    }
    return super.call(reducer, args);
  }
}

let fake: FakeSpacetime;
let a: TaskApp;
let b: TaskApp;
const rows = () => fake.tables.get('memory_entry')!.all();
const stepRows = (id: string) => rows().filter((r) => r.category === `task_step:${id}`);

beforeAll(() => {
  fake = startFakeSpacetime();
});
afterAll(() => fake.stop());
beforeEach(async () => {
  fake.tables.get('memory_entry')!.rows = [];
  fake.behavior.delayMs = 0;
  a = await taskApp('spacetimedb', { fake });
  b = await taskApp('spacetimedb', { fake });
});
afterEach(() => {
  a.close();
  b.close();
});

test('two sidecars, 64 concurrent claims: one winner; the losers delete their proposals', async () => {
  const { task_id: id } = await a.create();
  fake.behavior.delayMs = 2;
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) => (i % 2 ? a : b).claim(id, `agent-${i}`)));
  fake.behavior.delayMs = 0;
  const winners = results.filter((r) => r.status === 200);
  expect(winners.length).toBe(1);
  expect(results.filter((r) => r.status === 409).length).toBe(63);
  const winner = winners[0]!.body.agent;
  expect((await a.get(id)).agent).toBe(winner as string);
  expect((await b.get(id)).agent).toBe(winner as string);
  // Only the winning proposal is left: it is the log of the transition.
  const steps = stepRows(id);
  expect(steps.length).toBe(1);
  expect(JSON.parse(steps[0]!.value as string)).toMatchObject({ version: 1, action: 'claim', task: { agent: winner, status: 'InProgress' } });
  const taskRow = rows().find((r) => r.key === `task:${id}`)!;
  expect(JSON.parse(taskRow.value as string)).toMatchObject({ version: 1, status: 'InProgress', agent: winner });
});

test('an expired lease is re-claimed as the next version; the old holder can no longer complete', async () => {
  const { task_id: id } = await a.create();
  expect((await a.claim(id, 'slow', { lease_seconds: 30 })).status).toBe(200);
  b.clock.offsetMs = 31_000;
  expect((await b.get(id)).status).toBe('Open');
  expect((await b.claim(id, 'fast', { lease_seconds: 30 })).body).toMatchObject({ status: 'InProgress', agent: 'fast' });
  const late = await a.complete(id, 'slow');
  expect([late.status, late.body.code]).toEqual([403, 'task_claimed_by_other']);
  expect((await b.complete(id, 'fast')).body.status).toBe('Completed');
  const versions = stepRows(id).map((r) => JSON.parse(r.value as string) as { version: number; action: string; task: { agent: string } });
  expect(versions.map((v) => [v.version, v.action, v.task.agent])).toEqual([
    [1, 'claim', 'slow'],
    [2, 'claim', 'fast'],
    [3, 'complete', 'fast'],
  ]);
});

test('a late completion racing a re-claim after expiry: exactly one of them happens, every time', async () => {
  fake.behavior.delayMs = 1;
  for (let round = 0; round < 12; round++) {
    const { task_id: id } = await a.create();
    await a.claim(id, 'holder', { lease_seconds: 30 });
    b.clock.offsetMs = 31_000;
    const [done, reclaim] = await Promise.all([a.complete(id, 'holder'), b.claim(id, 'rival')]);
    expect([done.status, reclaim.status].filter((s) => s === 200).length).toBe(1);
    const task = await a.get(id);
    if (done.status === 200) expect(task).toMatchObject({ status: 'Completed', completed_by: 'holder' });
    else expect(task).toMatchObject({ status: 'InProgress', agent: 'rival' });
  }
});

test('proposals made from the same version: every party proposes, exactly one transition happens', async () => {
  for (let round = 0; round < 6; round++) {
    const shared = { waiting: [] as (() => void)[], rotate: round };
    const store = (name: string) => new SpacetimeTaskStore(new BarrierClient(fake.url, fake.db, 3, shared), name, silentLogger);
    const [s1, s2, s3] = [store('sc_1'), store('sc_2'), store('sc_3')];
    const now = isoNow();
    const [task] = await s1.create([{ task_id: `task_race${round}`, title: 't', description: '', priority: 5, capabilities: [], validation_mode: 'CreatorReview', parent_task_id: null, swarm_id: null, depends_on: [], assigned_agent: null, gaze_required: false, reward_units: 0 }], () => now);
    const id = task!.task_id;
    await new SpacetimeTaskStore(new SpacetimeClient({ url: fake.url, db: fake.db, token: null, timeoutMs: 2000 }), 'sc_0', silentLogger).claim(id, { agent: 'holder', leaseSeconds: 30, gazeVerified: false }, () => now);
    // The holder completes before its lease ends; a rival (whose clock says it ended) re-claims; someone cancels.
    const later = isoNow(Date.now() + 31_000);
    const [done, reclaimed, cancelled] = await Promise.all([
      s1.complete(id, { agent: 'holder', result: 'r', success: true }, () => now),
      s2.claim(id, { agent: 'rival', leaseSeconds: null, gazeVerified: false }, () => later),
      s3.cancel(id, () => now),
    ]);
    const applied = [done.applied, reclaimed.applied, cancelled.applied];
    expect(applied.filter(Boolean).length).toBe(1);
    const proposals = fake.requests.filter((q) => q.path.endsWith('/call/store_memory') && q.body.includes(`"task_step:${id}",`));
    expect(proposals.length).toBe(4);
    const final = (await s1.get(id, now))!;
    expect(final.status).toBe(done.applied ? 'Completed' : reclaimed.applied ? 'InProgress' : 'Cancelled');
    expect(stepRows(id).length).toBe(2);
  }
});

test('completion racing cancellation on two sidecars: exactly one applies and both agree', async () => {
  fake.behavior.delayMs = 1;
  for (let round = 0; round < 12; round++) {
    const { task_id: id } = await a.create();
    await a.claim(id, 'holder');
    const [done, cancelled] = await Promise.all([a.complete(id, 'holder'), b.json('DELETE', `/api/tasks/${id}`)]);
    expect([done.status, cancelled.status].filter((s) => s === 200).length).toBe(1);
    const status = done.status === 200 ? 'Completed' : 'Cancelled';
    expect((await a.get(id)).status).toBe(status);
    expect((await b.get(id)).status).toBe(status);
    expect(done.status === 200 ? cancelled.body.code : done.body.code).toBe(done.status === 200 ? 'task_finished' : 'task_not_in_progress');
  }
});

test('a sidecar that stopped after winning left the task row behind: reads see the winner and repair the row', async () => {
  const { task_id: id } = await a.create();
  const row = rows().find((r) => r.key === `task:${id}`)!;
  const stored = JSON.parse(row.value as string);
  const next = { ...stored, version: 1, status: 'InProgress', agent: 'ghost', claimed_at: stored.created_at };
  // The winner's proposal was committed; its process died before it rewrote the task row.
  fake.tables.get('memory_entry')!.insert({ id: 0, category: `task_step:${id}`, key: `task_step:${id}:1:dead`, value: JSON.stringify({ version: 1, action: 'claim', proposer: 'sc_dead', task: next }), source: 'hermes-optx-api', owner: 'ghost', importance: 0, session_id: '', created_at: 0 });
  const refused = await b.claim(id, 'late');
  expect([refused.status, refused.body.code]).toEqual([409, 'task_not_open']);
  expect(await b.get(id)).toMatchObject({ status: 'InProgress', agent: 'ghost' });
  expect(JSON.parse(rows().find((r) => r.key === `task:${id}`)!.value as string)).toMatchObject({ version: 1, agent: 'ghost' });
  expect(((await a.json('GET', '/api/tasks/stats')).body as { in_progress_by_agent: object }).in_progress_by_agent).toEqual({ ghost: 1 });
});

test('a dependency completed by a sidecar that stopped before writing its row: the dependent\'s blocked_by says what its claim finds (nothing)', async () => {
  const { task_id: dep } = await a.create();
  const { task_id: id } = await a.create({ depends_on: [dep] });
  expect((await a.claim(dep, 'alice')).status).toBe(200);
  const stored = JSON.parse(rows().find((r) => r.key === `task:${dep}`)!.value as string);
  const next = { ...stored, version: 2, status: 'Completed', completed_at: stored.updated_at, completed_by: 'alice', updated_at: stored.updated_at };
  // The completion won version 2; its sidecar died before it rewrote the dependency's row, which still says InProgress.
  fake.tables.get('memory_entry')!.insert({ id: 0, category: `task_step:${dep}`, key: `task_step:${dep}:2:dead`, value: JSON.stringify({ version: 2, action: 'complete', proposer: 'sc_dead', task: next }), source: 'hermes-optx-api', owner: 'alice', importance: 0, session_id: '', created_at: 0 });
  expect((await b.get(id)).blocked_by).toEqual([]);
  const claimed = await b.claim(id, 'bob');
  expect([claimed.status, claimed.body.blocked_by]).toEqual([200, []]);
});

test('a dependent cancelled by a sidecar that stopped before writing its row is not reported unblocked by its dependency\'s completion', async () => {
  const { task_id: dep } = await a.create();
  const cancelled: string[] = [];
  for (const assigned of [{}, { assigned_agent: 'bob' }]) {
    const { task_id: id } = await a.create({ depends_on: [dep], ...assigned });
    const stored = JSON.parse(rows().find((r) => r.key === `task:${id}`)!.value as string);
    const next = { ...stored, version: 1, status: 'Cancelled', cancelled_at: stored.created_at };
    // The cancel won version 1; its sidecar died before it rewrote the task row, which still says Open.
    fake.tables.get('memory_entry')!.insert({ id: 0, category: `task_step:${id}`, key: `task_step:${id}:1:dead`, value: JSON.stringify({ version: 1, action: 'cancel', proposer: 'sc_dead', task: next }), source: 'hermes-optx-api', owner: '', importance: 0, session_id: '', created_at: 0 });
    cancelled.push(id);
  }
  await a.claim(dep, 'alice');
  const done = await b.complete(dep, 'alice');
  expect([done.status, done.body.unblocked, done.body.auto_claimed]).toEqual([200, [], []]);
  for (const id of cancelled) expect((await a.get(id)).status).toBe('Cancelled');
});

test('memory and escrow rows, and task rows of another shape, are left alone and ignored', async () => {
  const table = fake.tables.get('memory_entry')!;
  const others = [
    { category: 'general', key: 'mem:1', value: '{"content":"remember the milk","metadata":{},"tags":[]}' },
    { category: 'escrow', key: 'escrow:esc_1', value: '{"amount":"5","status":"locked"}' },
    { category: 'task', key: 'task:legacy1', value: '{"title":"written by the first API","status":"Open","metadata":{}}' },
    { category: 'task', key: 'task:broken', value: 'not json' },
  ].map((r) => table.insert({ id: 0, source: 'other', owner: 'someone', importance: 5, session_id: '', created_at: 1, ...r }));
  const t1 = await a.create();
  await b.claim(t1.task_id, 'x');
  await a.complete(t1.task_id, 'x');
  await a.create({ title: 'second' });
  const list = (await b.json('GET', '/api/tasks')).body as { total: number; tasks: { title: string }[] };
  expect([list.total, list.tasks.map((t) => t.title)]).toEqual([2, ['a task', 'second']]);
  expect(((await a.json('GET', '/api/tasks/stats')).body as { total: number }).total).toBe(2);
  expect((await a.json('GET', '/api/tasks/legacy1')).status).toBe(404);
  for (const o of others) expect(table.find('key', o.key)).toEqual(o);
});

test('a swarm that fails half-way is taken back: no partial plan is left', async () => {
  const store = fake.reducers.get('store_memory')!;
  let calls = 0;
  fake.defineReducer('store_memory', {
    params: store.params,
    run(ctx, args) {
      if (++calls === 3) throw new ReducerFailure('disk full');
      store.run(ctx, args);
    },
  });
  try {
    const r = await a.json('POST', '/api/tasks/swarm', { goal: 'g', subtasks: [{ title: 'a' }, { title: 'b' }, { title: 'c' }] });
    expect([r.status, r.body.code]).toEqual([502, 'spacetimedb_reducer_failed']);
    expect(rows()).toEqual([]);
  } finally {
    fake.defineReducer('store_memory', store);
  }
});

test('a host that answers every request 200 with an HTML page: creating a task is 502, never a 201 for a task not stored', async () => {
  const portal = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('<html><body>Welcome</body></html>', { headers: { 'content-type': 'text/html' } }) });
  const lost = await taskApp('spacetimedb', { fake, env: { MEMORY_DB_URL: `http://127.0.0.1:${portal.port}` } });
  try {
    for (const r of [await lost.json('POST', '/api/tasks', { title: 'x' }), await lost.json('POST', '/api/tasks/swarm', { goal: 'g', subtasks: [{ title: 'a' }] })]) {
      expect([r.status, r.body.code]).toEqual([502, 'spacetimedb_bad_response']);
    }
  } finally {
    lost.close();
    await portal.stop(true);
  }
});

test('SpacetimeDB down is 503, too slow is 504; nothing hangs and the queue works again afterwards', async () => {
  const { task_id: id } = await a.create();
  await fake.pause();
  try {
    for (const r of [await a.json('GET', '/api/tasks'), await a.json('GET', '/api/tasks/stats'), await a.claim(id, 'x'), await a.json('POST', '/api/tasks', { title: 't' })]) {
      expect([r.status, r.body.code]).toEqual([503, 'spacetimedb_unreachable']);
    }
  } finally {
    fake.resume();
  }
  const slow = await taskApp('spacetimedb', { fake, env: { SPACETIMEDB_TIMEOUT_S: '0.3' } });
  fake.behavior.hang = true;
  try {
    const r = await slow.claim(id, 'x');
    expect([r.status, r.body.code]).toEqual([504, 'spacetimedb_timeout']);
  } finally {
    fake.behavior.hang = false;
    slow.close();
  }
  expect((await a.claim(id, 'x')).status).toBe(200);
});
