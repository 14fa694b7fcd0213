/**
 * The SpacetimeDB task store sharing its queue with a newer sidecar: rows and step rows written by a
 * newer schema (fields, actions or statuses this version does not know). Its fields survive this
 * sidecar's rewrites, and a transition it cannot read still decides its version: this sidecar never
 * wins a version another sidecar already won.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'bun:test';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { taskApp, type TaskApp } from './helpers/tasks';

let fake: FakeSpacetime;
let a: TaskApp;
const rows = () => fake.tables.get('memory_entry')!.all();
const taskRow = (id: string) => JSON.parse(rows().find((r) => r.key === `task:${id}`)!.value as string) as Record<string, unknown>;
const stepKeys = (id: string) => rows().filter((r) => r.category === `task_step:${id}`).map((r) => r.key);

/** A row as another sidecar writes it through store_memory. */
function insert(category: string, key: string, value: unknown): void {
  fake.tables.get('memory_entry')!.insert({ id: 0, category, key, value: JSON.stringify(value), source: 'hermes-optx-api', owner: '', importance: 0, session_id: '', created_at: 0 });
}

beforeAll(() => {
  fake = startFakeSpacetime();
});
afterAll(() => fake.stop());
beforeEach(async () => {
  fake.tables.get('memory_entry')!.rows = [];
  a = await taskApp('spacetimedb', { fake });
});
afterEach(() => a.close());

test("a newer sidecar's fields in a task row: answers leave them out, and a claim's rewrite of the row keeps them", async () => {
  const { task_id: id } = await a.create();
  const newer = { ...taskRow(id), sla: { hours: 2 }, tags: ['x'] };
  fake.tables.get('memory_entry')!.update('key', `task:${id}`, { value: JSON.stringify(newer) });
  const got = await a.get(id);
  expect(got).not.toHaveProperty('sla');
  expect(got).not.toHaveProperty('tags');
  expect((await a.claim(id, 'bob')).status).toBe(200);
  const listed = await a.json<{ tasks: Record<string, unknown>[] }>('GET', '/api/tasks');
  expect(listed.body.tasks[0]).not.toHaveProperty('sla');
  expect(taskRow(id)).toMatchObject({ status: 'InProgress', agent: 'bob', version: 1, sla: { hours: 2 }, tags: ['x'] });
  // The step row carries them too: a sidecar materialising it from there does not lose them either.
  const [step] = rows().filter((r) => r.category === `task_step:${id}`);
  expect(JSON.parse(step!.value as string).task).toMatchObject({ sla: { hours: 2 } });
});

test('a version won by a step with an action this sidecar does not know is that transition: a claim does not win it again', async () => {
  const { task_id: id } = await a.create();
  const next = { ...taskRow(id), version: 1, status: 'PendingValidation', agent: 'validator', updated_at: new Date().toISOString() };
  insert(`task_step:${id}`, `task_step:${id}:1:newer-1`, { version: 1, action: 'submit_for_validation', proposer: 'newer', task: next });
  const r = await a.claim(id, 'bob');
  expect([r.status, r.body.code, r.body.status]).toEqual([409, 'task_not_open', 'PendingValidation']);
  expect(stepKeys(id)).toEqual([`task_step:${id}:1:newer-1`]);
  expect((await a.get(id)).status).toBe('PendingValidation');
});

test('a version won by a step this sidecar cannot read (a newer status): its own proposals lose, nothing is written over it', async () => {
  const { task_id: id } = await a.create();
  const next = { ...taskRow(id), version: 1, status: 'Disputed', agent: 'arbiter' };
  insert(`task_step:${id}`, `task_step:${id}:1:newer-1`, { version: 1, action: 'dispute', proposer: 'newer', task: next });
  const before = taskRow(id);
  for (const send of [() => a.claim(id, 'bob'), () => a.json('DELETE', `/api/tasks/${id}`)]) {
    const r = await send();
    expect([r.status, r.body.code]).toEqual([409, 'task_conflict']);
  }
  expect(stepKeys(id)).toEqual([`task_step:${id}:1:newer-1`]);
  expect(taskRow(id)).toEqual(before);
});

test('a task row whose times are not the sidecar\'s ISO times (another writer\'s) is not a task: stats, lists and reads still answer', async () => {
  const kept = await a.create({ title: 'kept' });
  for (const created_at of ['', 'yesterday', '2026-13-45T00:00:00.000Z', '2026-12-07 10:00:00']) {
    const { task_id: id } = await a.create({ title: 'odd' });
    fake.tables.get('memory_entry')!.update('key', `task:${id}`, { value: JSON.stringify({ ...taskRow(id), created_at }) });
    const stats = await a.json('GET', '/api/tasks/stats');
    expect([created_at, stats.status, stats.body.total, stats.body.oldest_open_age_s]).toEqual([created_at, 200, 1, 0]);
    const listed = await a.json<{ tasks: { title: string }[] }>('GET', '/api/tasks');
    expect([listed.status, listed.body.tasks.map((t) => t.title)]).toEqual([200, ['kept']]);
    expect((await a.json('GET', `/api/tasks/${id}`)).status).toBe(404);
  }
  expect((await a.claim(kept.task_id, 'bob')).status).toBe(200);
});

test('a step row whose key names a huge version and whose value cannot be read does not hang the task\'s reads', async () => {
  const { task_id: id } = await a.create();
  // Another writer's garbage: the walk down from the key's version to the row's went 2^53 steps.
  insert(`task_step:${id}`, `task_step:${id}:${Number.MAX_SAFE_INTEGER}:odd-1`, 'not a step');
  expect((await a.get(id)).status).toBe('Open');
  expect((await a.claim(id, 'bob')).status).toBe(200);
  expect((await a.get(id)).agent).toBe('bob');
});

test("a swarm whose root row this sidecar cannot read (another writer's time): its subtasks are not swept away as a failed swarm's leftovers", async () => {
  const s = await a.json<{ root_task_id: string; tasks: { task_id: string }[] }>('POST', '/api/tasks/swarm', { goal: 'g', strategy: 'parallel', subtasks: [{ title: 'a' }, { title: 'b' }] });
  expect(s.status).toBe(201);
  const root = s.body.root_task_id;
  const subtasks = s.body.tasks.map((t) => t.task_id);
  // Seconds, no milliseconds: a valid time, but not the sidecar's own form.
  fake.tables.get('memory_entry')!.update('key', `task:${root}`, { value: JSON.stringify({ ...taskRow(root), updated_at: '2026-12-07T10:00:00Z' }) });
  a.clock.offsetMs = 25 * 3600_000;
  expect((await a.json('GET', '/api/tasks')).status).toBe(200);
  expect(rows().filter((r) => subtasks.some((id) => r.key === `task:${id}`))).toHaveLength(2);
});
