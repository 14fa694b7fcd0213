/**
 * The task queue (SPEC §11) on both stores: lifecycle, every transition the state machine allows
 * and refuses, single-winner claims, dependencies, leases, stats and listing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { BACKENDS, taskApp, type Backend, type TaskApp } from './helpers/tasks';
import { TASK_STATUSES, TRANSITIONS, type Status } from '../src/modules/tasks/state';

let fake: FakeSpacetime;
beforeAll(() => {
  fake = startFakeSpacetime();
});
afterAll(() => fake.stop());

/** Puts a task into `status` the way another writer would (no route enters PendingValidation). */
async function force(app: TaskApp, backend: Backend, id: string, status: Status): Promise<void> {
  if (backend === 'sqlite') {
    app.t.deps.db.sqlite.run("UPDATE tasks SET status = ? WHERE task_id = ? AND status = 'Open'", [status, id]);
    app.t.deps.db.sqlite.run("UPDATE task_counters SET n = n - 1 WHERE bucket IN ('status:Open', 'ready')");
    app.t.deps.db.sqlite.run('INSERT INTO task_counters (bucket, n) VALUES (?, 1) ON CONFLICT (bucket) DO UPDATE SET n = n + 1', [`status:${status}`]);
    return;
  }
  const table = fake.tables.get('memory_entry')!;
  const row = table.find('key', `task:${id}`)!;
  table.update('key', `task:${id}`, { value: JSON.stringify({ ...JSON.parse(row.value as string), status }) });
}

/** A task in `status`, reached through the API where a route leads there. */
async function taskIn(app: TaskApp, backend: Backend, status: Status): Promise<string> {
  const { task_id: id } = await app.create();
  if (status === 'Open') return id;
  if (status === 'PendingValidation') {
    await force(app, backend, id, status);
    return id;
  }
  if (status === 'Cancelled') {
    expect((await app.json('DELETE', `/api/tasks/${id}`)).status).toBe(200);
    return id;
  }
  expect((await app.claim(id, 'holder')).status).toBe(200);
  if (status === 'Completed' || status === 'Failed') expect((await app.complete(id, 'holder', { success: status === 'Completed' })).status).toBe(200);
  return id;
}

describe.each(BACKENDS)('tasks on %s', (backend) => {
  let app: TaskApp;
  beforeEach(async () => {
    fake.tables.get('memory_entry')!.rows = [];
    fake.behavior.delayMs = 0;
    app = await taskApp(backend, { fake: backend === 'spacetimedb' ? fake : undefined });
  });
  afterEach(() => app.close());

  test('the whole lifecycle: create, read, claim with a lease, complete; timestamps per transition', async () => {
    const created = await app.create({ title: 'Write the report', description: 'in markdown', reward: 1.25, capabilities: ['writing'], priority: 7 });
    expect(created).toMatchObject({ status: 'Open', priority: 7, reward: '1.25', capabilities: ['writing'], validation_mode: 'CreatorReview', agent: null, depends_on: [], blocked_by: [], gaze_required: false });
    expect(created.task_id).toMatch(/^task_[a-z0-9]+$/);
    expect(created.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await app.get(created.task_id)).toEqual(created);

    const claimed = await app.claim(created.task_id, 'astrojoe', { lease_seconds: 600 });
    expect(claimed.status).toBe(200);
    expect(claimed.body).toMatchObject({ status: 'InProgress', agent: 'astrojoe', completed_at: null });
    const claimedAt = Date.parse(claimed.body.claimed_at as string);
    expect(Date.parse(claimed.body.lease_expires_at as string) - claimedAt).toBe(600_000);

    const done = await app.complete(created.task_id, 'astrojoe', { result: { summary: 'ok', pages: 3 } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'Completed', completed_by: 'astrojoe', result: { summary: 'ok', pages: 3 }, unblocked: [], auto_claimed: [] });
    expect(Date.parse(done.body.completed_at as string)).toBeGreaterThanOrEqual(claimedAt);
    expect((await app.get(created.task_id)).status).toBe('Completed');
  });

  test('a reward sent as a JSON number is read from its digits, not from the double JSON.parse rounds it to', async () => {
    const send = async (json: string) => {
      const r = await app.t.fetch('/api/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"title":"t","reward":${json}}` });
      const b = (await r.json()) as { reward?: string; errors?: { path: string }[] };
      return [json, r.status, b.reward ?? b.errors?.[0]?.path];
    };
    const before = app.snapshot();
    // 17 decimals: JSON.parse makes 1 of it, and 1 was stored; 7 decimals in 16 digits made …740991.
    expect(await send('1.0000000000000001')).toEqual(['1.0000000000000001', 422, 'reward']);
    expect(await send('9007199254.7409915')).toEqual(['9007199254.7409915', 422, 'reward']);
    expect(app.snapshot()).toBe(before);
    // Numbers a double holds exactly are unchanged, exponent form included.
    expect(await send('1.25')).toEqual(['1.25', 201, '1.25']);
    expect(await send('25e-1')).toEqual(['25e-1', 201, '2.5']);
    expect(await send('9007199254.740991')).toEqual(['9007199254.740991', 201, '9007199254.740991']);
  });

  test('complete with success:false fails the task; a failed dependency keeps dependents blocked', async () => {
    const a = await app.create();
    const b = await app.create({ depends_on: [a.task_id] });
    await app.claim(a.task_id, 'x');
    const failed = await app.complete(a.task_id, 'x', { success: false, result: 'tool crashed' });
    expect(failed.body).toMatchObject({ status: 'Failed', result: 'tool crashed', unblocked: [] });
    const refused = await app.claim(b.task_id, 'y');
    expect([refused.status, refused.body.code, refused.body.blocked_by]).toEqual([409, 'task_blocked', [a.task_id]]);
  });

  test('a cancelled dependent is final: completing its dependency changes nothing of it', async () => {
    const p = await app.create();
    const d = await app.create({ depends_on: [p.task_id] });
    expect((await app.json('DELETE', `/api/tasks/${d.task_id}`)).status).toBe(200);
    const cancelled = await app.get(d.task_id);
    app.clock.offsetMs += 60_000;
    await app.claim(p.task_id, 'x');
    expect((await app.complete(p.task_id, 'x')).body).toMatchObject({ status: 'Completed', unblocked: [] });
    // blocked_by is worked out from the dependencies' state; the task's own fields stay as cancelled.
    expect({ ...(await app.get(d.task_id)), blocked_by: [] }).toEqual({ ...cancelled, blocked_by: [] });
  });

  test('completing a dependency leaves an Open dependent as it was, but for blocked_by (both stores alike)', async () => {
    const p = await app.create();
    const q = await app.create();
    const d = await app.create({ depends_on: [p.task_id, q.task_id] });
    app.clock.offsetMs += 60_000;
    await app.claim(p.task_id, 'x');
    expect((await app.complete(p.task_id, 'x')).body).toMatchObject({ status: 'Completed', unblocked: [] });
    expect(await app.get(d.task_id)).toEqual({ ...d, blocked_by: [q.task_id] });
  });

  test('every transition the table allows succeeds and every other one is refused, changing nothing', async () => {
    const expected = {
      claim: (s: Status) => ((TRANSITIONS.claim.from as readonly Status[]).includes(s) ? 200 : 409),
      complete: (s: Status) => ((TRANSITIONS.complete.from as readonly Status[]).includes(s) ? 200 : 409),
      cancel: (s: Status) => ((TRANSITIONS.cancel.from as readonly Status[]).includes(s) ? 200 : 409),
    };
    for (const status of TASK_STATUSES) {
      for (const action of ['claim', 'complete', 'cancel'] as const) {
        const id = await taskIn(app, backend, status);
        const before = app.snapshot();
        const r =
          action === 'claim' ? await app.claim(id, 'other') : action === 'complete' ? await app.complete(id, 'holder') : await app.json('DELETE', `/api/tasks/${id}`);
        expect([status, action, r.status]).toEqual([status, action, expected[action](status)]);
        if (r.status === 409) {
          expect(r.body.code).toBe(action === 'claim' ? 'task_not_open' : action === 'complete' ? 'task_not_in_progress' : 'task_finished');
          expect(r.body.status).toBe(status);
          expect(app.snapshot()).toBe(before);
        }
      }
    }
  });

  test('only the claiming agent can complete (403); unknown ids are 404 on every route', async () => {
    const { task_id: id } = await app.create();
    await app.claim(id, 'owner');
    const before = app.snapshot();
    const r = await app.complete(id, 'intruder');
    expect([r.status, r.body.code, r.body.agent]).toEqual([403, 'task_claimed_by_other', 'owner']);
    expect(app.snapshot()).toBe(before);
    for (const path of ['/api/tasks/task_nope', '/api/tasks/..%2F..%2Fetc', '/api/tasks/%27%3B%20DROP']) {
      expect((await app.json('GET', path)).status).toBe(404);
      expect((await app.json('DELETE', path)).status).toBe(404);
      expect((await app.json('POST', `${path}/claim`, { agent_name: 'a' })).body.code).toBe('task_not_found');
      expect((await app.json('POST', `${path}/complete`, { agent_name: 'a' })).body.code).toBe('task_not_found');
    }
  });

  test('64 concurrent claimers: exactly one 200, the rest 409, and the task names the winner', async () => {
    const { task_id: id } = await app.create();
    if (backend === 'spacetimedb') fake.behavior.delayMs = 1;
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => app.claim(id, `agent-${i}`)));
    const winners = results.filter((r) => r.status === 200);
    expect(winners.length).toBe(1);
    expect(results.filter((r) => r.status === 409).length).toBe(63);
    expect(results.every((r) => r.status === 200 || r.body.code === 'task_not_open')).toBe(true);
    const task = await app.get(id);
    expect(task.agent).toBe(winners[0]!.body.agent as string);
    const stats = (await app.json('GET', '/api/tasks/stats')).body as { in_progress_by_agent: Record<string, number> };
    expect(stats.in_progress_by_agent).toEqual({ [task.agent as string]: 1 });
  });

  test('blocked_by keeps the order of depends_on on create, read and list, whatever the ids sort as', async () => {
    const first = await app.create({ title: 'first' });
    await Bun.sleep(3); // ids begin with their creation time: `later` sorts after `first`
    const later = await app.create({ title: 'later' });
    const join = await app.create({ title: 'join', depends_on: [later.task_id, first.task_id] });
    const order = [later.task_id, first.task_id];
    expect(join.blocked_by).toEqual(order);
    expect((await app.get(join.task_id)).blocked_by).toEqual(order);
    const listed = (await app.json('GET', '/api/tasks?limit=100')).body as { tasks: { task_id: string; blocked_by: string[] }[] };
    expect(listed.tasks.find((t) => t.task_id === join.task_id)?.blocked_by).toEqual(order);
  });

  test('a diamond DAG completes in order: blocked_by shrinks, the join is claimable only at the end', async () => {
    const a = await app.create({ title: 'A' });
    const b = await app.create({ title: 'B', depends_on: [a.task_id] });
    const c = await app.create({ title: 'C', depends_on: [a.task_id] });
    const d = await app.create({ title: 'D', depends_on: [b.task_id, c.task_id, b.task_id] });
    expect(d.depends_on).toEqual([b.task_id, c.task_id]);
    expect(d.blocked_by).toEqual([b.task_id, c.task_id]);
    for (const blocked of [b, c, d]) expect((await app.claim(blocked.task_id, 'w')).body.code).toBe('task_blocked');

    await app.claim(a.task_id, 'w');
    expect((await app.complete(a.task_id, 'w')).body.unblocked).toEqual(expect.arrayContaining([b.task_id, c.task_id]));
    expect((await app.get(d.task_id)).blocked_by).toEqual([b.task_id, c.task_id]);
    await app.claim(b.task_id, 'w');
    expect((await app.complete(b.task_id, 'w')).body.unblocked).toEqual([]);
    const still = await app.claim(d.task_id, 'w');
    expect([still.body.code, still.body.blocked_by]).toEqual(['task_blocked', [c.task_id]]);
    await app.claim(c.task_id, 'w');
    expect((await app.complete(c.task_id, 'w')).body.unblocked).toEqual([d.task_id]);
    expect((await app.get(d.task_id)).blocked_by).toEqual([]);
    expect((await app.claim(d.task_id, 'w')).status).toBe(200);
  });

  test('completing the last dependency claims dependents for their assigned agent, unless gaze is required', async () => {
    const a = await app.create();
    const assigned = await app.create({ depends_on: [a.task_id], assigned_agent: 'bob' });
    const gazed = await app.create({ depends_on: [a.task_id], assigned_agent: 'carol', gaze_required: true });
    const free = await app.create({ depends_on: [a.task_id] });
    expect((await app.claim(assigned.task_id, 'bob')).body.code).toBe('task_blocked');
    await app.claim(a.task_id, 'alice');
    const done = await app.complete(a.task_id, 'alice');
    expect([...(done.body.unblocked as string[])].sort()).toEqual([assigned.task_id, gazed.task_id, free.task_id].sort());
    expect(done.body.auto_claimed).toEqual([assigned.task_id]);
    expect(await app.get(assigned.task_id)).toMatchObject({ status: 'InProgress', agent: 'bob', lease_expires_at: null });
    expect(await app.get(gazed.task_id)).toMatchObject({ status: 'Open', agent: null });
    expect(await app.get(free.task_id)).toMatchObject({ status: 'Open', blocked_by: [] });
  });

  test('two dependencies completed at once: the dependent is reported unblocked, and claimed, once', async () => {
    for (let round = 0; round < 3; round++) {
      const a = await app.create();
      const b = await app.create();
      const d = await app.create({ depends_on: [a.task_id, b.task_id], assigned_agent: 'zed' });
      await app.claim(a.task_id, 'x');
      await app.claim(b.task_id, 'y');
      const done = await Promise.all([app.complete(a.task_id, 'x'), app.complete(b.task_id, 'y')]);
      expect(done.map((r) => r.status)).toEqual([200, 200]);
      expect(done.flatMap((r) => r.body.unblocked as string[])).toEqual([d.task_id]);
      expect(done.flatMap((r) => r.body.auto_claimed as string[])).toEqual([d.task_id]);
      expect(await app.get(d.task_id)).toMatchObject({ status: 'InProgress', agent: 'zed' });
    }
  });

  test('an assigned task can only be claimed by its agent', async () => {
    const { task_id: id } = await app.create({ assigned_agent: 'bob' });
    const r = await app.claim(id, 'mallory');
    expect([r.status, r.body.code, r.body.assigned_agent]).toEqual([409, 'task_assigned', 'bob']);
    expect((await app.claim(id, 'bob')).status).toBe(200);
  });

  test('an expired lease returns the task to Open for the next read, list, stats and claim', async () => {
    const leased = await app.create({ title: 'leased' });
    const forever = await app.create({ title: 'forever' });
    await app.claim(leased.task_id, 'slow', { lease_seconds: 30 });
    await app.claim(forever.task_id, 'steady');
    app.clock.offsetMs = 29_000;
    expect((await app.get(leased.task_id)).status).toBe('InProgress');

    app.clock.offsetMs = 31_000;
    expect(await app.get(leased.task_id)).toMatchObject({ status: 'Open', agent: null, lease_expires_at: null, claimed_at: null });
    const open = (await app.json('GET', '/api/tasks?status=Open')).body as { tasks: { task_id: string }[]; total: number };
    expect([open.total, open.tasks.map((t) => t.task_id)]).toEqual([1, [leased.task_id]]);
    const stats = (await app.json('GET', '/api/tasks/stats')).body;
    expect(stats).toMatchObject({ queue_depth: 1, in_progress_by_agent: { steady: 1 }, by_status: { Open: 1, InProgress: 1 } });

    const late = await app.complete(leased.task_id, 'slow');
    expect([late.status, late.body.code]).toEqual([409, 'task_not_in_progress']);
    const next = await app.claim(leased.task_id, 'fast', { lease_seconds: 60 });
    expect(next.body).toMatchObject({ status: 'InProgress', agent: 'fast' });
    expect((await app.complete(leased.task_id, 'fast')).status).toBe(200);

    app.clock.offsetMs = 10 * 365 * 86_400_000;
    expect((await app.get(forever.task_id)).status).toBe('InProgress');
  });

  test('stats: all six statuses, queue depth, blocked, in progress per agent, oldest open age', async () => {
    const empty = (await app.json('GET', '/api/tasks/stats')).body;
    expect(empty).toEqual({ backend, total: 0, by_status: { Open: 0, InProgress: 0, PendingValidation: 0, Completed: 0, Failed: 0, Cancelled: 0 }, queue_depth: 0, blocked: 0, in_progress_by_agent: {}, oldest_open_age_s: null });

    const root = await app.create();
    await app.create({ depends_on: [root.task_id] });
    await app.create({ depends_on: [root.task_id] });
    for (const [status, n] of [['InProgress', 2], ['Completed', 1], ['Failed', 1], ['Cancelled', 1], ['PendingValidation', 1]] as const) {
      for (let i = 0; i < n; i++) await taskIn(app, backend, status);
    }
    const inProgress = await app.create();
    await app.claim(inProgress.task_id, 'zoe');
    app.clock.offsetMs = 90_000;
    const stats = (await app.json('GET', '/api/tasks/stats')).body;
    expect(stats).toEqual({
      backend,
      total: 10,
      by_status: { Open: 3, InProgress: 3, PendingValidation: 1, Completed: 1, Failed: 1, Cancelled: 1 },
      queue_depth: 1,
      blocked: 2,
      in_progress_by_agent: { holder: 2, zoe: 1 },
      oldest_open_age_s: expect.any(Number),
    });
    expect(stats.oldest_open_age_s).toBeGreaterThanOrEqual(90);
    expect(stats.oldest_open_age_s).toBeLessThan(200);
  });

  test('stats count every agent, whatever its name (__proto__, constructor)', async () => {
    // The answer's schema rebuilt in_progress_by_agent by assignment, which drops a key "__proto__".
    for (const agent of ['__proto__', 'constructor', '__proto__']) await app.claim((await app.create()).task_id, agent);
    const stats = (await app.json<{ in_progress_by_agent: Record<string, number> }>('GET', '/api/tasks/stats')).body;
    expect(Object.entries(stats.in_progress_by_agent).sort()).toEqual([['__proto__', 2], ['constructor', 1]]);
  });

  test('list: priority desc then oldest first, filters, a true total and paging', async () => {
    const low = await app.create({ title: 'low', priority: 2 });
    const high1 = await app.create({ title: 'high1', priority: 9 });
    const high2 = await app.create({ title: 'high2', priority: 9, assigned_agent: 'bob' });
    const child = await app.create({ title: 'child', parent_task_id: low.task_id });
    await app.claim(high1.task_id, 'bob');
    const ids = async (q: string) => {
      const r = await app.json('GET', `/api/tasks${q}`);
      expect(r.status).toBe(200);
      const body = r.body as { tasks: { task_id: string }[]; total: number; limit: number; offset: number };
      return { ids: body.tasks.map((t) => t.task_id), total: body.total, limit: body.limit, offset: body.offset };
    };
    expect(await ids('')).toEqual({ ids: [high1.task_id, high2.task_id, child.task_id, low.task_id], total: 4, limit: 50, offset: 0 });
    expect(await ids('?limit=2&offset=1')).toEqual({ ids: [high2.task_id, child.task_id], total: 4, limit: 2, offset: 1 });
    expect(await ids('?status=Open')).toMatchObject({ ids: [high2.task_id, child.task_id, low.task_id], total: 3 });
    expect(await ids('?agent=bob')).toMatchObject({ ids: [high1.task_id, high2.task_id], total: 2 });
    expect(await ids(`?parent_task_id=${low.task_id}`)).toMatchObject({ ids: [child.task_id], total: 1 });
    expect(await ids('?status=Open&agent=bob&limit=1')).toMatchObject({ ids: [high2.task_id], total: 1 });
    expect(await ids('?offset=10')).toMatchObject({ ids: [], total: 4 });
  });

  test('create refuses unknown dependencies and parents (422) and creates nothing', async () => {
    const real = await app.create();
    const before = app.snapshot();
    const r = await app.json('POST', '/api/tasks', { title: 'x', depends_on: [real.task_id, 'task_ghost'], parent_task_id: 'task_nobody' });
    expect([r.status, r.body.code]).toEqual([422, 'unknown_task_reference']);
    expect(r.body.errors).toEqual([
      { path: 'depends_on.1', message: 'no task task_ghost' },
      { path: 'parent_task_id', message: 'no task task_nobody' },
    ]);
    expect(app.snapshot()).toBe(before);
  });

  test('concurrent writes where some are refused: only the refused ones are left out', async () => {
    const dep = await app.create();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => app.json('POST', '/api/tasks', { title: `t${i}`, depends_on: [i % 4 === 0 ? 'task_missing' : dep.task_id] })),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? 422 : 201)));
    const list = (await app.json('GET', '/api/tasks?limit=500')).body as { total: number; tasks: { title: string }[] };
    expect(list.total).toBe(16);
    expect(list.tasks.map((t) => t.title).filter((t) => ['t0', 't4', 't8'].includes(t))).toEqual([]);
    expect(((await app.json('GET', '/api/tasks/stats')).body as { blocked: number }).blocked).toBe(15);
  });

  test('the static routes win over /api/tasks/{id}', async () => {
    expect((await app.json('GET', '/api/tasks/stats')).body).toHaveProperty('by_status');
    expect((await app.json('POST', '/api/tasks/swarm', { goal: 'g', subtasks: [{ title: 's' }] })).status).toBe(201);
    // Other methods of a static path are that path's 405, not the task "swarm" or "stats" (404 task_not_found before).
    for (const [method, path, allow] of [['GET', '/api/tasks/swarm', 'OPTIONS, POST'], ['DELETE', '/api/tasks/swarm', 'OPTIONS, POST'], ['DELETE', '/api/tasks/stats', 'GET, HEAD, OPTIONS']] as const) {
      const r = await app.json<{ code: string }>(method, path);
      expect([method, path, r.status, r.body.code, r.headers.get('allow')]).toEqual([method, path, 405, 'method_not_allowed', allow]);
    }
    // Spelled with percent-escapes, the router gave them to {id} decoded (task_not_found for task "swarm").
    for (const path of ['/api/tasks/%73warm', '/api/tasks/%73tats', '/api/wallet/escrow/%72elease']) {
      for (const method of ['GET', 'DELETE']) {
        const r = await app.json<{ code: string }>(method, path);
        expect([method, path, r.status, r.body.code]).toEqual([method, path, 404, 'not_found']);
      }
    }
  });
});

describe('the SQLite list keeps the pages it read until the database is written', () => {
  test('the same query is answered without reading again; every write, ours, a lease running out or another process\'s, shows at once', async () => {
    const app = await taskApp('sqlite');
    const { SqliteTaskStore } = await import('../src/modules/tasks/sqlite-store');
    const store = app.t.deps.tasks.store;
    if (!(store instanceof SqliteTaskStore)) throw new Error('expected the SQLite store');
    const list = async (q = '') => {
      const r = await app.json<{ tasks: { task_id: string; title: string; status: string; blocked_by: string[] }[]; total: number }>('GET', `/api/tasks${q}`);
      expect(r.status).toBe(200);
      return r.body;
    };
    const a = await app.create({ title: 'first' });
    const b = await app.create({ title: 'second', depends_on: [a.task_id] });
    const first = await list();
    expect(first.tasks.map((t) => [t.title, t.status, t.blocked_by])).toEqual([['first', 'Open', []], ['second', 'Open', [a.task_id]]]);
    const reads = store.lister.pages.reads;
    expect(await list()).toEqual(first);
    expect(await list()).toEqual(first);
    expect(store.lister.pages.reads).toBe(reads);

    // Our writes.
    await app.claim(a.task_id, 'ann', { lease_seconds: 30 });
    expect((await list()).tasks.map((t) => t.status)).toEqual(['InProgress', 'Open']);
    expect((await list('?status=Open')).tasks.map((t) => t.task_id)).toEqual([b.task_id]);
    // The lease runs out: the list read after it shows the task Open again, though nothing else was written.
    app.clock.offsetMs = 31_000;
    expect((await list('?status=Open')).tasks.map((t) => t.task_id)).toEqual([a.task_id, b.task_id]);
    await app.claim(a.task_id, 'bea');
    await app.complete(a.task_id, 'bea');
    expect((await list()).tasks.map((t) => [t.title, t.status, t.blocked_by])).toEqual([['first', 'Completed', []], ['second', 'Open', []]]);

    // Another process writing the same database.
    const before = store.lister.pages.reads;
    await list();
    expect(store.lister.pages.reads).toBe(before);
    const other = Bun.spawnSync(['bun', '-e', `
      import { Database } from 'bun:sqlite';
      const db = new Database(${JSON.stringify(app.t.deps.db.path)});
      db.run("UPDATE tasks SET title = 'renamed elsewhere' WHERE task_id = ?", [${JSON.stringify(b.task_id)}]);
      db.close();`]);
    expect(other.exitCode).toBe(0);
    expect((await list()).tasks.map((t) => t.title)).toEqual(['first', 'renamed elsewhere']);
    app.close();
  });

  test('a page and its total are read in one snapshot: another process claiming meanwhile shows in neither or in both', async () => {
    // Two sidecars on one data dir: while one claimed tasks, the other's `?status=Open` listed tasks
    // InProgress, and a `total` that was not its page's length (5 and 15 of 21 lists in review).
    const app = await taskApp('sqlite');
    const { SqliteTaskStore } = await import('../src/modules/tasks/sqlite-store');
    const store = app.t.deps.tasks.store;
    if (!(store instanceof SqliteTaskStore)) throw new Error('expected the SQLite store');
    const ids = [(await app.create({ title: 'a' })).task_id, (await app.create({ title: 'b' })).task_id];
    // Between the statements of one list, the other process commits a claim (the row and its counters).
    const other = new Database(app.t.deps.db.path);
    const lister = store.lister as unknown as { byRowIds: { all: (...args: unknown[]) => unknown } };
    const readRows = lister.byRowIds.all.bind(lister.byRowIds);
    let claimed = false;
    lister.byRowIds.all = (...args) => {
      if (!claimed) {
        claimed = true;
        other.transaction(() => {
          other.run("UPDATE tasks SET status = 'InProgress', agent = 'elsewhere' WHERE task_id = ?", [ids[0]!]);
          other.run("UPDATE task_counters SET n = n - 1 WHERE bucket IN ('status:Open', 'ready')");
          other.run("INSERT INTO task_counters (bucket, n) VALUES ('status:InProgress', 1), ('agent:elsewhere', 1) ON CONFLICT(bucket) DO UPDATE SET n = n + 1");
        }).immediate();
      }
      return readRows(...args);
    };
    const r = await app.json<{ tasks: { task_id: string; status: string }[]; total: number }>('GET', '/api/tasks?status=Open');
    other.close();
    expect(claimed).toBe(true);
    expect(r.body.tasks.map((t) => [t.task_id, t.status])).toEqual(ids.map((id) => [id, 'Open']));
    expect(r.body.total).toBe(2);
    // The next list sees the claim, in its page and its total alike.
    const next = await app.json<{ tasks: { task_id: string }[]; total: number }>('GET', '/api/tasks?status=Open');
    expect([next.body.tasks.map((t) => t.task_id), next.body.total]).toEqual([[ids[1]!], 1]);
    app.close();
  });

  test('stats are read in one snapshot: counts and the oldest Open task agree while another process claims', async () => {
    // Two sidecars: stats of one while the other claimed the last Open task said Open 1 beside
    // oldest_open_age_s null (10 of 150 in review).
    const app = await taskApp('sqlite');
    const { SqliteTaskStore } = await import('../src/modules/tasks/sqlite-store');
    const store = app.t.deps.tasks.store;
    if (!(store instanceof SqliteTaskStore)) throw new Error('expected the SQLite store');
    const id = (await app.create()).task_id;
    const other = new Database(app.t.deps.db.path);
    const counters = (store as unknown as { counters: { read: () => unknown } }).counters;
    const readCounts = counters.read.bind(counters);
    counters.read = () => {
      const counts = readCounts();
      counters.read = readCounts;
      other.transaction(() => {
        other.run("UPDATE tasks SET status = 'InProgress', agent = 'elsewhere' WHERE task_id = ?", [id]);
        other.run("UPDATE task_counters SET n = n - 1 WHERE bucket IN ('status:Open', 'ready')");
        other.run("INSERT INTO task_counters (bucket, n) VALUES ('status:InProgress', 1), ('agent:elsewhere', 1) ON CONFLICT(bucket) DO UPDATE SET n = n + 1");
      }).immediate();
      return counts;
    };
    const r = await app.json<{ by_status: Record<string, number>; oldest_open_age_s: number | null }>('GET', '/api/tasks/stats');
    other.close();
    expect(counters.read).toBe(readCounts);
    expect([r.body.by_status.Open, typeof r.body.oldest_open_age_s]).toEqual([1, 'number']);
    const next = await app.json<{ by_status: Record<string, number>; oldest_open_age_s: number | null }>('GET', '/api/tasks/stats');
    expect([next.body.by_status.Open, next.body.oldest_open_age_s]).toEqual([0, null]);
    app.close();
  });
});
