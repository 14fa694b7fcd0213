/**
 * The two task stores behave the same through the API (SPEC §11): one random sequence of operations
 * — creates with dependencies, parents, assignment, gaze and priority; lists with every filter and
 * page; gets; claims with short leases that run out mid-sequence; completions that succeed or fail;
 * cancels; swarms (explicit, and decomposed by the fake HEDGEHOG); stats — runs against an app on
 * SQLite and one on SpacetimeDB (the fake), on one shared clock, and every answer (status and body,
 * ids replaced by the order they were first seen in) must be identical.
 */
import { afterAll, beforeAll, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';
import { spacetimeEnv, type Backend } from './helpers/tasks';
import { TaskService } from '../src/modules/tasks/service';
import { TASK_STATUSES } from '../src/modules/tasks/state';

let fake: FakeSpacetime;
let hermes: FakeHermes;
beforeAll(async () => {
  fake = startFakeSpacetime();
  hermes = await startFakeHermes();
});
afterAll(async () => {
  await fake.stop();
  hermes.stop();
});

const AGENTS = ['ann', 'ben', 'cat'] as const;
/** Ids the app makes (newId: a base-36 time and 10 random characters); not codes such as task_not_found. */
const ID = /\b(task|swarm)_[a-z0-9]{15,}/g;
const NO_TASK = 'task_0000000000000000';
const NO_SWARM = 'swarm_0000000000000000';

/** One app per store, the same clock for both; ids are given labels (T0, S0, …) in the order first seen. */
class Side {
  readonly labels = new Map<string, string>();
  readonly byLabel = new Map<string, string>();
  private counts = { task: 0, swarm: 0 };
  constructor(readonly t: TestApp) {}

  label(id: string, kind: string): string {
    if (id === NO_TASK || id === NO_SWARM) return 'NONE';
    let l = this.labels.get(id);
    if (!l) {
      l = `${kind === 'task' ? 'T' : 'S'}${this.counts[kind as 'task' | 'swarm']++}`;
      this.labels.set(id, l);
      this.byLabel.set(l, id);
    }
    return l;
  }

  /** The answer with every id replaced by its label, keys sorted, the backend name left out. */
  normalise(v: unknown): unknown {
    if (typeof v === 'string') return v.replace(ID, (id, kind: string) => this.label(id, kind));
    if (Array.isArray(v)) return v.map((x) => this.normalise(x));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) if (k !== 'backend') out[k] = this.normalise((v as Record<string, unknown>)[k]);
      return out;
    }
    return v;
  }
}

async function side(backend: Backend, clock: { ms: number }): Promise<Side> {
  const t = await makeTestApp({
    env: { ...(backend === 'spacetimedb' ? spacetimeEnv(fake) : {}), HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: hermes.apiKey as string, HEDGEHOG_TIMEOUT_S: '2' },
    patch: (d) => {
      d.tasks = new TaskService({ store: d.tasks.store, gaze: d.gaze, hedgehog: d.hedgehog, now: () => clock.ms });
    },
  });
  return new Side(t);
}

const agent = fc.constantFrom(...AGENTS);
/** A list filter: absent most of the time. */
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: a, weight: 1 });
const ref = fc.nat(40);
const create = fc.record({
  kind: fc.constant('create' as const),
  // Among the newest tasks (references count from the newest), so that chains form.
  deps: fc.uniqueArray(fc.nat(5), { maxLength: 3 }),
  parent: fc.option(ref, { nil: null }),
  assigned: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: agent, weight: 1 }),
  gaze: fc.boolean(),
  priority: fc.integer({ min: 1, max: 10 }),
  capabilities: fc.subarray(['code', 'docs']),
});
const op = fc.oneof(
  {
    arbitrary: create,
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('list' as const),
      status: sometimes(fc.constantFrom(...TASK_STATUSES)),
      agent: sometimes(agent),
      swarm: sometimes(fc.nat(3)),
      parent: sometimes(ref),
      limit: fc.integer({ min: 1, max: 6 }),
      offset: fc.integer({ min: 0, max: 6 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('get' as const), task: ref }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('claim' as const), task: ref, agent, asAssigned: fc.boolean(), lease: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('complete' as const), task: ref, holder: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }), agent, success: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }), result: fc.jsonValue({ maxDepth: 2 }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('cancel' as const), task: ref }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('swarm' as const),
      strategy: fc.constantFrom('parallel', 'sequential', 'dag'),
      agents: fc.option(fc.subarray([...AGENTS], { minLength: 1 }), { nil: undefined }),
      llm: fc.boolean(),
      n: fc.integer({ min: 1, max: 4 }),
      priority: fc.integer({ min: 1, max: 10 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('stats' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.constantFrom(999, 1000, 1001)) }), weight: 2 },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

interface Req {
  method: string;
  path: string;
  body?: unknown;
  /** The held task a completion is for. */
  label?: string | null;
}

/** The request an operation makes on one side; `pick` turns a reference into that side's real id. */
function request(o: Op, s: Side, taskCount: number, holders: Map<string, string>, assignee: (label: string) => string | undefined): Req | null {
  // Small references (fast-check favours them) are the newest tasks, so dependency chains grow.
  const tl = (n: number) => (taskCount ? `T${taskCount - 1 - (n % taskCount)}` : null);
  const real = (n: number) => {
    const l = tl(n);
    return l ? (s.byLabel.get(l) as string) : NO_TASK;
  };
  switch (o.kind) {
    case 'create': {
      const deps = [...new Set(o.deps.filter((d) => d < taskCount).map(real))];
      return {
        method: 'POST',
        path: '/api/tasks',
        body: {
          title: 'job',
          depends_on: deps,
          parent_task_id: o.parent !== null && o.parent < taskCount + 1 ? real(o.parent) : null,
          assigned_agent: o.assigned,
          gaze_required: o.gaze && o.priority === 10,
          priority: o.priority,
          capabilities: o.capabilities,
        },
      };
    }
    case 'list': {
      const q = new URLSearchParams({ limit: String(o.limit), offset: String(o.offset) });
      if (o.status) q.set('status', o.status);
      if (o.agent) q.set('agent', o.agent);
      if (o.swarm !== undefined) q.set('swarm_id', s.byLabel.get(`S${o.swarm}`) ?? NO_SWARM);
      if (o.parent !== undefined) q.set('parent_task_id', real(o.parent));
      return { method: 'GET', path: `/api/tasks?${q}` };
    }
    case 'get':
      return { method: 'GET', path: `/api/tasks/${real(o.task)}` };
    case 'claim': {
      const who = (o.asAssigned && tl(o.task) && assignee(tl(o.task) as string)) || o.agent;
      return { method: 'POST', path: `/api/tasks/${real(o.task)}/claim`, body: { agent_name: who, ...(o.lease ? { lease_seconds: o.lease } : {}) } };
    }
    case 'complete': {
      // Mostly a task some agent holds (or held, if its lease ran out), by that agent.
      const held = [...holders.keys()];
      const label = o.holder && held.length ? (held[o.task % held.length] as string) : null;
      const path = `/api/tasks/${label ? s.byLabel.get(label) : real(o.task)}/complete`;
      return { method: 'POST', path, body: { agent_name: label ? holders.get(label) : o.agent, result: o.result, success: o.success }, label };
    }
    case 'cancel':
      return { method: 'DELETE', path: `/api/tasks/${real(o.task)}` };
    case 'swarm': {
      const steps = Array.from({ length: o.n }, (_, i) => ({ title: `step ${i}`, priority: ((i * 3) % 10) + 1, ...(o.strategy === 'dag' && i > 0 ? { depends_on: [i - 1] } : {}) }));
      return { method: 'POST', path: '/api/tasks/swarm', body: { goal: 'a goal', strategy: o.strategy, agents: o.agents, priority: o.priority, ...(o.llm ? {} : { subtasks: steps }) } };
    }
    case 'stats':
      return { method: 'GET', path: '/api/tasks/stats' };
    case 'wait':
      return null;
  }
}

type Answer = { status: number; body: Record<string, unknown> };

/** Sends one request to each side; throws unless both answer the same (ids as labels). Returns the answer. */
async function both(sides: readonly Side[], what: string, reqOf: (s: Side) => Req): Promise<Answer> {
  const answers: Answer[] = [];
  for (const s of sides) {
    const req = reqOf(s);
    const r = await s.t.json(req.method, req.path, req.body);
    answers.push({ status: r.status, body: s.normalise(r.body) as Record<string, unknown> });
  }
  const [a, b] = answers as [Answer, Answer];
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}\nsqlite:      ${JSON.stringify(a)}\nspacetimedb: ${JSON.stringify(b)}`);
  return a;
}

async function runBoth(ops: Op[]): Promise<void> {
  const clock = { ms: Date.parse('2026-03-01T10:00:00.000Z') };
  fake.tables.get('memory_entry')!.rows = [];
  const sides = [await side('sqlite', clock), await side('spacetimedb', clock)] as const;
  const holders = new Map<string, string>();
  const assigned = new Map<string, string>();
  try {
    for (const [step, o] of ops.entries()) {
      if (o.kind === 'wait') {
        clock.ms += o.ms;
        continue;
      }
      if (o.kind === 'swarm' && o.llm) {
        const plan = Array.from({ length: o.n }, (_, i) => ({ id: `s${i}`, title: `llm step ${i}`, priority: 10 - i, depends_on: i ? [`s${i - 1}`] : [] }));
        hermes.behavior.reply = () => '```json\n' + JSON.stringify({ tasks: plan }) + '\n```';
      }
      const taskCount = sides[0].byLabel.size && [...sides[0].byLabel.keys()].filter((l) => l.startsWith('T')).length;
      let target: string | null | undefined;
      const a = await both(sides, `step ${step} ${JSON.stringify(o)}`, (s) => {
        const req = request(o, s, taskCount, holders, (l) => assigned.get(l)) as Req;
        target = req.label;
        return req;
      });
      // The holder of each task, for completions by the right agent.
      if (o.kind === 'claim' && a.status === 200) holders.set(a.body.task_id as string, a.body.agent as string);
      if (o.kind === 'complete' && target && a.status !== 403) holders.delete(target);
      if (o.kind === 'complete' && a.status === 200) for (const l of a.body.auto_claimed as string[]) holders.set(l, assigned.get(l) as string);
      if (o.kind === 'create' && a.status === 201) assigned.set(a.body.task_id as string, a.body.assigned_agent as string);
      if (o.kind === 'swarm' && a.status === 201) for (const t of a.body.tasks as Record<string, string>[]) assigned.set(t.task_id as string, t.assigned_agent as string);
    }
    // The end state, every task and the stats: what no answer along the way happened to show.
    await both(sides, 'every task at the end', () => ({ method: 'GET', path: '/api/tasks?limit=500' }));
    await both(sides, 'stats at the end', () => ({ method: 'GET', path: '/api/tasks/stats' }));
  } finally {
    for (const s of sides) s.t.close();
  }
}

// PARITY_RUNS and PARITY_SEED explore further (e.g. 300 runs, ~25 s); PARITY_SHRINK=1 shrinks a failure.
test('SQLite and SpacetimeDB answer every random sequence of operations identically', async () => {
  await fc.assert(
    // A few tasks first, so that the operations after them have something to work on.
    fc.asyncProperty(fc.array(create, { minLength: 2, maxLength: 6 }), fc.array(op, { minLength: 10, maxLength: 60 }), (first, ops) => runBoth([...first, ...ops])),
    { numRuns: Number(process.env.PARITY_RUNS ?? 40), seed: Number(process.env.PARITY_SEED ?? 20260301), endOnFailure: process.env.PARITY_SHRINK !== '1' },
  );
}, 120_000);
