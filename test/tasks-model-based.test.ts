/**
 * Model-based test of the task queue (SPEC §11, docs/tasks.md) on both stores (SQLite, SpacetimeDB
 * through the fake): random sequences of creates (with dependencies), swarms, claims with and without
 * leases, completions, failures, cancels, clock moves and concurrent groups, run against the real app
 * and a plain model. After every command each task, the stats and the list (filters, pages) must
 * equal the model's.
 */
import { afterAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeAaron } from './fakes/aaron';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';
import { BACKENDS, spacetimeEnv, type Backend } from './helpers/tasks';
import { modelParams, modelTimeout, permutations } from './helpers/model';
import { TaskService } from '../src/modules/tasks/service';

type Json = Record<string, any>;
const aaron = startFakeAaron();
const spacetime = startFakeSpacetime();
afterAll(() => Promise.all([aaron.stop(), spacetime.stop()]));

interface T {
  id: string; seq: number; title: string; description: string; priority: number; deps: string[]; assigned: string | null; gaze: boolean;
  parent: string | null; swarm: string | null; created: number; updated: number; status: string; agent: string | null;
  claimedAt: number | null; lease: number | null; completedAt: number | null; completedBy: string | null; cancelledAt: number | null; result: unknown;
}
interface Model { now: number; tasks: T[] }

type Claim = { kind: 'claim'; pick: number; agent: string; lease: number | null; session: 'gz-ok' | 'gz-pending' | null };
/** agent null: whoever holds the task when the command is sent (resolved by `resolve`). */
type Complete = { kind: 'complete'; pick: number; agent: string | null; success: boolean };
type Cancel = { kind: 'cancel'; pick: number };
type Write = Claim | Complete | Cancel;
/** A write with its task chosen (null: an id nobody has). */
type Resolved = Write & { id: string | null };
type Cmd = Write
  | { kind: 'create'; deps: number[]; priority: number; assigned: string | null; gaze: boolean; parent: number | null; unknownDep: boolean }
  | { kind: 'swarm'; n: number; strategy: 'parallel' | 'sequential'; agents: string[]; priority: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'list'; status: string | null; agent: string | null; parent: number | null; limit: number; offset: number }
  | { kind: 'race'; ops: Write[] };

const MAX_PICK = 30;
const pick = fc.nat({ max: MAX_PICK });
const agent = fc.constantFrom('a', 'b', 'c');
const claim = fc.record({ kind: fc.constant('claim' as const), pick, agent, lease: fc.constantFrom(null, 1, 5, 60), session: fc.constantFrom('gz-ok' as const, 'gz-pending' as const, null) });
// agent null: the holder (when there is one) completes it.
const complete = fc.record({ kind: fc.constant('complete' as const), pick, agent: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: agent }), success: fc.boolean() });
const cancel = fc.record({ kind: fc.constant('cancel' as const), pick });
const create = fc.record({
  kind: fc.constant('create' as const), deps: fc.uniqueArray(pick, { maxLength: 3 }), priority: fc.constantFrom(1, 5, 5, 10),
  assigned: fc.constantFrom(null, null, 'a', 'b'), gaze: fc.boolean(), parent: fc.option(pick), unknownDep: fc.boolean(),
  // Gaze-gated and refused (unknown dependency) creates are rarer than plain ones.
}).map((c) => ({ ...c, gaze: c.gaze && c.priority === 10, unknownDep: c.unknownDep && c.priority === 1 }));
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: create },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swarm' as const), n: fc.integer({ min: 1, max: 3 }), strategy: fc.constantFrom('parallel' as const, 'sequential' as const), agents: fc.constantFrom<string[]>([], ['a'], ['a', 'b']), priority: fc.constantFrom(1, 5) }) },
  { weight: 4, arbitrary: claim },
  { weight: 4, arbitrary: complete },
  { weight: 2, arbitrary: cancel },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 999, 1000, 4000, 5000, 61_000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), status: fc.constantFrom(null, 'Open', 'InProgress', 'Completed', 'Cancelled'), agent: fc.constantFrom(null, 'a', 'b'), parent: fc.option(pick), limit: fc.integer({ min: 1, max: 4 }), offset: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 2, arbitrary: fc.tuple(pick, fc.array(fc.oneof(claim, complete, cancel), { minLength: 2, maxLength: 3 })).map(([p, ops]) => ({ kind: 'race' as const, ops: ops.map((op) => ({ ...op, pick: p })) })) },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const target = (m: Model, p: number) => (p === MAX_PICK ? null : m.tasks[p % Math.max(1, m.tasks.length)] ?? null);
const byId = (m: Model, id: string) => m.tasks.find((t) => t.id === id) as T;
const blockedBy = (m: Model, t: T) => t.deps.filter((d) => byId(m, d).status !== 'Completed');

/** Leases that ran out: the task is Open again, as every read and write of the store sees it. */
function expire(m: Model) {
  for (const t of m.tasks) {
    if (t.status === 'InProgress' && t.lease !== null && t.lease <= m.now) Object.assign(t, { status: 'Open', agent: null, claimedAt: null, updated: t.lease, lease: null });
  }
}

function claimTask(t: T, agentName: string, lease: number | null, now: number) {
  Object.assign(t, { status: 'InProgress', agent: agentName, claimedAt: now, lease: lease === null ? null : now + lease * 1000, updated: now });
}

/** Applies a write to the model; the status and code the app must answer (and unblocked/auto-claimed ids). */
function step(m: Model, op: Resolved): { status: number; code: string | null; unblocked?: string[]; auto?: string[] } {
  expire(m);
  const t = op.id === null ? null : byId(m, op.id);
  if (!t) return { status: 404, code: 'task_not_found' };
  if (op.kind === 'cancel') {
    if (!['Open', 'InProgress', 'PendingValidation'].includes(t.status)) return { status: 409, code: 'task_finished' };
    Object.assign(t, { status: 'Cancelled', cancelledAt: m.now, lease: null, updated: m.now });
    return { status: 200, code: null };
  }
  if (op.kind === 'claim') {
    if (t.status !== 'Open') return { status: 409, code: 'task_not_open' };
    if (t.assigned !== null && t.assigned !== op.agent) return { status: 409, code: 'task_assigned' };
    if (blockedBy(m, t).length) return { status: 409, code: 'task_blocked' };
    if (t.gaze && op.session === null) return { status: 403, code: 'gaze_required' };
    if (t.gaze && op.session === 'gz-pending') return { status: 403, code: 'gaze_not_verified' };
    claimTask(t, op.agent, op.lease, m.now);
    return { status: 200, code: null };
  }
  if (t.status !== 'InProgress') return { status: 409, code: 'task_not_in_progress' };
  const who = op.agent;
  if (who !== t.agent) return { status: 403, code: 'task_claimed_by_other' };
  Object.assign(t, { status: op.success ? 'Completed' : 'Failed', result: `r-${who}`, completedAt: m.now, completedBy: who, lease: null, updated: m.now });
  const unblocked: string[] = [];
  const auto: string[] = [];
  if (op.success) {
    for (const d of m.tasks.filter((x) => x.deps.includes(t.id) && x.status === 'Open' && !blockedBy(m, x).length)) {
      unblocked.push(d.id);
      if (d.assigned !== null && !d.gaze) {
        claimTask(d, d.assigned, null, m.now);
        auto.push(d.id);
      }
    }
  }
  return { status: 200, code: null, unblocked: unblocked.sort(), auto: auto.sort() };
}

/** A completion by "the holder" names the agent holding the task now, so model and app get the same name. */
function resolve(m: Model, op: Write, id = chosen(m, op)?.id ?? null): Resolved {
  return { ...op, id, ...(op.kind === 'complete' && op.agent === null ? { agent: (id && byId(m, id).agent) ?? 'a' } : {}) };
}
/** Even picks prefer a task the command can apply to (claimable, held), so sequences get somewhere. */
function chosen(m: Model, op: Write): T | null {
  if (op.pick === MAX_PICK) return null;
  const fit = op.kind === 'claim' ? m.tasks.filter((t) => t.status === 'Open' && !blockedBy(m, t).length) : op.kind === 'complete' ? m.tasks.filter((t) => t.status === 'InProgress') : [];
  const pool = op.pick % 2 === 0 && fit.length ? fit : m.tasks;
  return pool[Math.floor(op.pick / 2) % Math.max(1, pool.length)] ?? null;
}

function send(app: TestApp, op: Resolved) {
  const id = op.id ?? 'task_nobody';
  if (op.kind === 'cancel') return app.json<Json>('DELETE', `/api/tasks/${id}`);
  if (op.kind === 'claim') return app.json<Json>('POST', `/api/tasks/${id}/claim`, { agent_name: op.agent, lease_seconds: op.lease, ...(op.session ? { gaze_session_id: op.session } : {}) });
  const who = op.agent as string;
  return app.json<Json>('POST', `/api/tasks/${id}/complete`, { agent_name: who, result: `r-${who}`, success: op.success });
}
type Answer = ReturnType<typeof step>;
const answerOf = (r: { status: number; body: Json }): Answer => ({
  status: r.status, code: r.body.code ?? null,
  ...(r.status === 200 && 'unblocked' in r.body ? { unblocked: [...r.body.unblocked].sort(), auto: [...r.body.auto_claimed].sort() } : {}),
});

function view(m: Model, t: T): Json {
  return {
    task_id: t.id, title: t.title, description: t.description, status: t.status, priority: t.priority, capabilities: [], validation_mode: 'CreatorReview',
    parent_task_id: t.parent, swarm_id: t.swarm, depends_on: t.deps, blocked_by: blockedBy(m, t), assigned_agent: t.assigned, agent: t.agent,
    gaze_required: t.gaze, reward: '0', result: t.result, created_at: iso(t.created), updated_at: iso(t.updated), claimed_at: iso(t.claimedAt),
    lease_expires_at: iso(t.lease), completed_at: iso(t.completedAt), completed_by: t.completedBy, cancelled_at: iso(t.cancelledAt),
  };
}
const listOrder = (a: T, b: T) => b.priority - a.priority || a.created - b.created || a.seq - b.seq;

async function check(app: TestApp, m: Model, backend: Backend) {
  expire(m);
  const all = (await app.json<Json>('GET', '/api/tasks?limit=500')).body;
  expect(all.tasks).toEqual([...m.tasks].sort(listOrder).map((t) => view(m, t)));
  expect(all.total).toBe(m.tasks.length);
  const count = (s: string) => m.tasks.filter((t) => t.status === s).length;
  const open = m.tasks.filter((t) => t.status === 'Open');
  const ready = open.filter((t) => !blockedBy(m, t).length).length;
  const perAgent: Record<string, number> = {};
  for (const t of m.tasks) if (t.status === 'InProgress' && t.agent) perAgent[t.agent] = (perAgent[t.agent] ?? 0) + 1;
  const oldest = open.length ? Math.min(...open.map((t) => t.created)) : null;
  expect((await app.json<Json>('GET', '/api/tasks/stats')).body).toEqual({
    backend, total: m.tasks.length, by_status: Object.fromEntries(['Open', 'InProgress', 'PendingValidation', 'Completed', 'Failed', 'Cancelled'].map((s) => [s, count(s)])),
    queue_depth: ready, blocked: open.length - ready, in_progress_by_agent: perAgent, oldest_open_age_s: oldest === null ? null : Math.floor((m.now - oldest) / 1000),
  });
}

async function run(app: TestApp, backend: Backend, clock: { now: number }, cmds: Cmd[]) {
  const m: Model = { now: clock.now, tasks: [] };
  const add = (r: Json, extra: Partial<T>) => m.tasks.push({
    id: r.task_id, seq: m.tasks.length, title: r.title, description: r.description, priority: r.priority, deps: [], assigned: null, gaze: false, parent: null, swarm: null, created: m.now, updated: m.now,
    status: 'Open', agent: null, claimedAt: null, lease: null, completedAt: null, completedBy: null, cancelledAt: null, result: null, ...extra,
  });
  for (const c of cmds) {
    if (c.kind === 'create') {
      const deps = [...new Set(c.deps.map((p) => target(m, p)?.id).filter((x): x is string => !!x))];
      const parent = c.parent === null ? null : target(m, c.parent)?.id ?? null;
      const body = { title: `t${m.tasks.length}`, priority: c.priority, depends_on: c.unknownDep ? [...deps, 'task_nobody'] : deps, assigned_agent: c.assigned, gaze_required: c.gaze, parent_task_id: parent };
      const r = await app.json<Json>('POST', '/api/tasks', body);
      if (c.unknownDep) expect([r.status, r.body.code]).toEqual([422, 'unknown_task_reference']);
      else {
        expect(r.status).toBe(201);
        add(r.body, { deps, assigned: c.assigned, gaze: c.gaze, parent });
      }
    } else if (c.kind === 'swarm') {
      const subtasks = Array.from({ length: c.n }, (_, i) => ({ title: `s${m.tasks.length}-${i}` }));
      const r = await app.json<Json>('POST', '/api/tasks/swarm', { goal: `goal ${m.tasks.length}`, strategy: c.strategy, subtasks, priority: c.priority, ...(c.agents.length ? { agents: c.agents } : {}) });
      expect(r.status).toBe(201);
      const ids = (r.body.tasks as Json[]).map((t) => t.task_id as string);
      (r.body.tasks as Json[]).forEach((s, i) => add(s, { deps: c.strategy === 'sequential' && i > 0 ? [ids[i - 1] as string] : [], assigned: c.agents.length ? c.agents[i % c.agents.length] as string : null, parent: r.body.root_task_id, swarm: r.body.swarm_id }));
      add(r.body.root_task, { deps: ids, swarm: r.body.swarm_id });
    } else if (c.kind === 'claim' || c.kind === 'complete' || c.kind === 'cancel') {
      expire(m);
      const op = resolve(m, c);
      const sent = send(app, op);
      expect(answerOf(await sent)).toEqual(step(m, op));
    } else if (c.kind === 'advance') {
      m.now = clock.now += c.ms;
    } else if (c.kind === 'list') {
      expire(m);
      const parent = c.parent === null ? null : target(m, c.parent)?.id ?? null;
      const q = new URLSearchParams({ limit: String(c.limit), offset: String(c.offset), ...(c.status ? { status: c.status } : {}), ...(c.agent ? { agent: c.agent } : {}), ...(parent ? { parent_task_id: parent } : {}) });
      const match = m.tasks.filter((t) => (!c.status || t.status === c.status) && (!c.agent || t.agent === c.agent || t.assigned === c.agent) && (!parent || t.parent === parent)).sort(listOrder);
      const r = (await app.json<Json>('GET', `/api/tasks?${q}`)).body;
      expect({ ids: r.tasks.map((t: Json) => t.task_id), total: r.total }).toEqual({ ids: match.slice(c.offset, c.offset + c.limit).map((t) => t.id), total: match.length });
    } else {
      // Concurrent writes: the answers must be those of one serial order, which the model then takes;
      // on SpacetimeDB too, where a write that lost a race is decided again (3 writers never exhaust DECISIONS).
      expire(m);
      // All on the task the first one picks.
      const id = chosen(m, c.ops[0] as Write)?.id ?? null;
      const ops = c.ops.map((op) => resolve(m, op, id));
      const answers = (await Promise.all(ops.map((op) => send(app, op)))).map(answerOf);
      const fits = permutations(ops.map((op, k) => ({ op, k }))).map((order) => {
        const trial = structuredClone(m);
        const got: Answer[] = [];
        for (const { op, k } of order) got[k] = step(trial, op);
        return { trial, got };
      }).find((o) => JSON.stringify(o.got) === JSON.stringify(answers));
      expect(fits ? answers : { answers, noSerialOrder: true }).toEqual(answers);
      m.tasks = (fits as { trial: Model }).trial.tasks;
    }
    await check(app, m, backend);
  }
}

for (const backend of BACKENDS) test(`task queue on ${backend}: every sequence of commands keeps the app equal to the model`, async () => {
  const clock = { now: 0 };
  // A few tasks first, so that the commands after them have something to act on.
  const cmds = fc.tuple(fc.array(create, { minLength: 2, maxLength: 4 }), fc.array(cmd, { minLength: 1, maxLength: 40, size: 'max' })).map(([a, b]) => [...a, ...b]);
  await fc.assert(fc.asyncProperty(cmds, async (cmds) => {
    clock.now = Date.parse('2026-11-29T13:00:00.000Z');
    aaron.verify('gz-ok');
    aaron.sessions.set('gz-pending', { status: 'pending' });
    (spacetime.tables.get('memory_entry') as { rows: unknown[] }).rows = [];
    const app = await makeTestApp({
      env: { AARON_URL: aaron.url, AARON_TIMEOUT_S: '2', ...(backend === 'spacetimedb' ? spacetimeEnv(spacetime) : {}) },
      patch: (d) => {
        d.tasks = new TaskService({ store: d.tasks.store, gaze: d.gaze, hedgehog: d.hedgehog, now: () => clock.now });
      },
    });
    try {
      await run(app, backend, clock, cmds);
    } finally {
      app.close();
    }
  }), modelParams(8));
}, modelTimeout(120_000, 8));
