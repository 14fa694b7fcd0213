/**
 * Creating a swarm on SpacetimeDB is all-or-nothing for every sidecar, though it is one reducer call
 * per task: the root, written last, is the commit point, and subtasks without their root are
 * invisible (not listed, counted, gettable, claimable, referable). Two sidecars share one fake
 * SpacetimeDB; a proxy holds writes in transit to make them time out and still commit.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'bun:test';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { startSpacetimeProxy, type HoldPhase, type SpacetimeProxy } from './fakes/spacetimedb-proxy';
import { taskApp, type TaskApp } from './helpers/tasks';
import type { Task } from '../src/modules/tasks/model';

let fake: FakeSpacetime;
let proxy: SpacetimeProxy;
let a: TaskApp;
let b: TaskApp;
const rows = () => fake.tables.get('memory_entry')!.all();
const taskRows = () => rows().filter((r) => r.category === 'task').map((r) => JSON.parse(r.value as string) as Task);
const stepRows = () => rows().filter((r) => String(r.category).startsWith('task_step:'));
const SWARM = { goal: 'g', strategy: 'parallel', subtasks: [{ title: 'a' }, { title: 'b' }, { title: 'c' }] };

/** Holds the next write of a task row whose task matches (by title, or the root: no parent, a swarm). */
function holdTaskWrite(which: (t: Task) => boolean, phase: HoldPhase) {
  return proxy.hold((reducer, args) => reducer === 'store_memory' && args[0] === 'task' && which(JSON.parse(String(args[2])) as Task), phase);
}
const isRoot = (t: Task) => t.swarm_id !== null && t.parent_task_id === null;
const titled = (title: string) => (t: Task) => t.title === title;

/** A sidecar writing through the proxy. */
const viaProxy = (timeoutS: string) => taskApp('spacetimedb', { fake, env: { MEMORY_DB_URL: proxy.url, SPACETIMEDB_TIMEOUT_S: timeoutS } });

/** What every sidecar sees of the queue: listed, counted. */
async function seen(app: TaskApp) {
  const list = (await app.json('GET', '/api/tasks')).body as { total: number; tasks: Task[] };
  const stats = (await app.json('GET', '/api/tasks/stats')).body as { total: number; by_status: { Open: number } };
  return { listed: list.total, titles: list.tasks.map((t) => t.title).sort(), counted: stats.total, open: stats.by_status.Open };
}

/** A subtask nobody may see: 404 to get and claim, refused as a reference, and no step row written. */
async function expectInvisible(app: TaskApp, id: string) {
  expect((await app.json('GET', `/api/tasks/${id}`)).status).toBe(404);
  expect((await app.claim(id, 'bob')).status).toBe(404);
  for (const ref of [{ depends_on: [id] }, { parent_task_id: id }]) {
    const r = await app.json('POST', '/api/tasks', { title: 'ref', ...ref });
    expect([r.status, r.body.code]).toEqual([422, 'unknown_task_reference']);
  }
  expect(stepRows()).toEqual([]);
}

beforeAll(() => {
  fake = startFakeSpacetime();
  proxy = startSpacetimeProxy(fake.url);
});
afterAll(async () => {
  await proxy.stop();
  await fake.stop();
});
beforeEach(async () => {
  fake.tables.get('memory_entry')!.rows = [];
  a = await taskApp('spacetimedb', { fake });
  b = await taskApp('spacetimedb', { fake });
});
afterEach(() => {
  a.close();
  b.close();
});

test('a subtask write that times out and commits afterwards: 504, and that late row is invisible on both sidecars', async () => {
  const slow = await viaProxy('1');
  try {
    const held = holdTaskWrite(titled('c'), 'before');
    const r = await slow.json('POST', '/api/tasks/swarm', SWARM);
    expect([r.status, r.body.code]).toEqual([504, 'spacetimedb_timeout']);
    held.release();
    await held.landed;
    const [late] = taskRows();
    expect(taskRows().map((t) => t.title)).toEqual(['c']);
    for (const app of [a, b, slow]) {
      expect(await seen(app)).toEqual({ listed: 0, titles: [], counted: 0, open: 0 });
      await expectInvisible(app, late!.task_id);
    }
  } finally {
    slow.close();
  }
});

test('the rollback deletes every planned subtask, also one whose write committed but whose answer was lost', async () => {
  const slow = await viaProxy('1');
  try {
    const held = holdTaskWrite(titled('b'), 'after');
    const r = await slow.json('POST', '/api/tasks/swarm', SWARM);
    expect([r.status, r.body.code]).toEqual([504, 'spacetimedb_timeout']);
    held.release();
    expect(rows()).toEqual([]);
  } finally {
    slow.close();
  }
});

test('SpacetimeDB unreachable after some writes: 503; back up, nothing of the swarm shows, and a read a day later sweeps it', async () => {
  const kept = await a.create({ title: 'kept' });
  const store = fake.reducers.get('store_memory')!;
  let writes = 0;
  fake.defineReducer('store_memory', {
    params: store.params,
    run(ctx, args) {
      store.run(ctx, args);
      // The 2nd subtask commits, then the host drops off the network (the rollback's deletes fail too).
      if (args.category === 'task' && ++writes === 2) void fake.pause();
    },
  });
  try {
    const r = await b.json('POST', '/api/tasks/swarm', SWARM);
    expect([r.status, r.body.code]).toEqual([503, 'spacetimedb_unreachable']);
  } finally {
    fake.defineReducer('store_memory', store);
    fake.resume();
  }
  const leftovers = taskRows().filter((t) => t.swarm_id !== null);
  expect(leftovers.map((t) => t.title)).toEqual(['a', 'b']);
  for (const app of [a, b]) {
    expect(await seen(app)).toEqual({ listed: 1, titles: ['kept'], counted: 1, open: 1 });
    for (const t of leftovers) await expectInvisible(app, t.task_id);
  }
  // A sidecar of an older version, which listed leftovers, claimed one: its step row goes with it.
  const claimed = leftovers[0]!.task_id;
  fake.tables.get('memory_entry')!.insert({ id: 0, category: `task_step:${claimed}`, key: `task_step:${claimed}:1:old`, value: '{}', source: 'hermes-optx-api', owner: 'bob', importance: 0, session_id: '', created_at: 0 });
  // Younger than a day: left alone (a swarm may still be being written). Older: deleted by a read.
  a.clock.offsetMs = 23 * 3600_000;
  await seen(a);
  expect(rows().length).toBe(4);
  a.clock.offsetMs = 25 * 3600_000;
  expect(await seen(a)).toEqual({ listed: 1, titles: ['kept'], counted: 1, open: 1 });
  expect(rows().map((r) => r.key)).toEqual([`task:${kept.task_id}`]);
});

test('while a swarm is being written another sidecar can neither see nor claim it; a root write refused takes it back', async () => {
  const writer = await viaProxy('5');
  try {
    const held = holdTaskWrite(isRoot, 'before');
    const creating = writer.json('POST', '/api/tasks/swarm', SWARM);
    await held.arrived;
    const subtasks = taskRows();
    expect(subtasks.map((t) => t.title)).toEqual(['a', 'b', 'c']);
    expect(await seen(b)).toEqual({ listed: 0, titles: [], counted: 0, open: 0 });
    for (const t of subtasks) await expectInvisible(b, t.task_id);
    // SpacetimeDB refuses the root (530: not committed): the subtasks are deleted, and nobody held one.
    fake.behavior.failReducer = 'store_memory';
    held.release();
    await held.landed;
    fake.behavior.failReducer = null;
    const r = await creating;
    expect([r.status, r.body.code]).toEqual([502, 'spacetimedb_reducer_failed']);
    expect(rows()).toEqual([]);
  } finally {
    fake.behavior.failReducer = null;
    writer.close();
  }
});

test('the root write times out after it committed: it is read back and the swarm is created (201), whole', async () => {
  const slow = await viaProxy('1');
  try {
    const held = holdTaskWrite(isRoot, 'after');
    const r = await slow.json('POST', '/api/tasks/swarm', SWARM);
    held.release();
    expect(r.status).toBe(201);
    const swarm = r.body as { root_task_id: string; tasks: Task[] };
    expect(await seen(b)).toEqual({ listed: 4, titles: ['a', 'b', 'c', 'g'], counted: 4, open: 4 });
    expect((await b.claim(swarm.tasks[0]!.task_id, 'bob')).status).toBe(200);
  } finally {
    slow.close();
  }
});

test('the root write held in transit past the timeout: 504, the subtasks are kept, and when the root lands the swarm is whole', async () => {
  const slow = await viaProxy('1');
  try {
    const held = holdTaskWrite(isRoot, 'before');
    const r = await slow.json('POST', '/api/tasks/swarm', SWARM);
    expect([r.status, r.body.code]).toEqual([504, 'spacetimedb_timeout']);
    expect(await seen(b)).toEqual({ listed: 0, titles: [], counted: 0, open: 0 });
    held.release();
    await held.landed;
    expect(await seen(b)).toEqual({ listed: 4, titles: ['a', 'b', 'c', 'g'], counted: 4, open: 4 });
    const root = taskRows().find(isRoot)!;
    expect((await b.get(root.task_id)).blocked_by.length).toBe(3);
  } finally {
    slow.close();
  }
});

/**
 * A root (or single task) whose write's outcome is unknown may still land: its 504/502 names what may
 * appear. Reproduced before: the answer was a bare `SpacetimeDB did not answer in time.`, and a payer
 * whose swarm the LLM had planned (the credential spent) could only retry, making a second swarm
 * beside the first when it landed.
 */
for (const [what, path, body] of [['a swarm', '/api/tasks/swarm', SWARM], ['a task', '/api/tasks', { title: 'single' }]] as const) {
  test(`${what} whose root write is held past the timeout: the 504 names the task that may still appear`, async () => {
    const slow = await viaProxy('1');
    try {
      const held = holdTaskWrite(path === '/api/tasks' ? titled('single') : isRoot, 'before');
      const r = await slow.json('POST', path, body);
      held.release();
      await held.landed;
      const id = (path === '/api/tasks' ? r.body.task_id : r.body.root_task_id) as string;
      expect([r.status, r.body.code, typeof id]).toEqual([504, 'spacetimedb_timeout', 'string']);
      expect(String(r.body.detail)).toContain(`GET /api/tasks/${id}`);
      // It landed: the id named is the one that appeared, and a swarm's id is given too.
      expect((await b.get(id)).task_id).toBe(id);
      if (path === '/api/tasks/swarm') expect((await b.get(id)).swarm_id).toBe(r.body.swarm_id as string);
    } finally {
      slow.close();
    }
  });
}

test('ordinary tasks under swarm tasks are not swarm subtasks: visible at once, and they block and unblock as usual', async () => {
  const swarm = (await a.json('POST', '/api/tasks/swarm', { goal: 'g', subtasks: [{ title: 's' }] })).body as { root_task_id: string; tasks: Task[] };
  const sub = swarm.tasks[0]!;
  const child = await b.create({ title: 'child', parent_task_id: sub.task_id, depends_on: [sub.task_id] });
  const underRoot = await b.create({ title: 'under root', parent_task_id: swarm.root_task_id });
  expect(await seen(a)).toEqual({ listed: 4, titles: ['child', 'g', 's', 'under root'], counted: 4, open: 4 });
  expect((await a.get(underRoot.task_id)).swarm_id).toBeNull();
  expect(((await a.json('GET', `/api/tasks?parent_task_id=${sub.task_id}`)).body as { total: number }).total).toBe(1);
  await a.claim(sub.task_id, 'x');
  expect(((await a.complete(sub.task_id, 'x')).body.unblocked as string[]).sort()).toEqual([child.task_id, swarm.root_task_id].sort());
  expect((await b.claim(child.task_id, 'y')).status).toBe(200);
});
