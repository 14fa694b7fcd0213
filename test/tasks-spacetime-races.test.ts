/**
 * Writes that lose a race on the SpacetimeDB task store (docs/tasks.md, "Lost races"): the losing
 * write is decided again on the state that won, so the client gets the answer of a serial order
 * (success, or the refusal the new state gives), 409 `task_conflict` only after DECISIONS lost races;
 * a write whose answer was lost (a timeout after it committed) is never tried again.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'bun:test';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { startSpacetimeProxy, type SpacetimeProxy } from './fakes/spacetimedb-proxy';
import { spacetimeEnv, taskApp, type TaskApp } from './helpers/tasks';
import { makeTestApp, type TestApp } from './helpers/app';
import { SpacetimeClient } from '../src/spacetime/client';
import { SpacetimeTaskStore } from '../src/modules/tasks/spacetime-store';
import { DECISIONS, TaskService } from '../src/modules/tasks/service';
import { silentLogger } from '../src/lib/log';

type StepArgs = [string, string, string, ...unknown[]];
const isProposal = (reducer: string, args: unknown[]) => reducer === 'store_memory' && String(args[0]).startsWith('task_step:');

/**
 * Lets the sidecars named in `order` propose their first step one at a time, in that order, once each
 * has one ready (so all of them read the same version): the first named wins it. Later proposals pass.
 */
class Gate {
  private readonly turns = new Map<string, () => void>();
  private next = 0;
  constructor(private readonly order: string[]) {}
  wait(name: string): Promise<void> {
    return new Promise((go) => {
      this.turns.set(name, go);
      if (this.turns.size === this.order.length) this.turns.get(this.order[0] as string)?.();
    });
  }
  done(): void {
    const name = this.order[++this.next];
    if (name !== undefined) this.turns.get(name)?.();
  }
}

class GatedClient extends SpacetimeClient {
  private passed = false;
  constructor(fake: FakeSpacetime, private readonly name: string, private readonly gate: Gate) {
    super({ url: fake.url, db: fake.db, token: null, timeoutMs: 2000 });
  }
  override async call(reducer: string, args: unknown[]): Promise<void> {
    if (!isProposal(reducer, args) || this.passed) return super.call(reducer, args);
    this.passed = true;
    await this.gate.wait(this.name);
    try {
      return await super.call(reducer, args);
    } finally {
      this.gate.done();
    }
  }
}

/** Another sidecar that gets in first every time: before each of our proposals, it commits a re-claim of the same version. */
class OutrunClient extends SpacetimeClient {
  constructor(fake: FakeSpacetime) {
    super({ url: fake.url, db: fake.db, token: null, timeoutMs: 2000 });
  }
  override async call(reducer: string, args: unknown[]): Promise<void> {
    if (isProposal(reducer, args)) {
      const [category, key, value, ...rest] = args as StepArgs;
      const step = JSON.parse(value) as { version: number; task: Record<string, unknown> };
      const task = { ...step.task, status: 'InProgress', agent: `rival-${step.version}`, cancelled_at: null };
      const rival = JSON.stringify({ version: step.version, action: 'claim', proposer: 'sc_rival', task });
      await super.call(reducer, [category, `${key.slice(0, key.lastIndexOf(':'))}:rival`, rival, ...rest]);
    }
    return super.call(reducer, args);
  }
}

/** A client whose host goes away (the fake stops listening) once a completion is in the task row and the dependents are looked for. */
class LostAfterCompletion extends SpacetimeClient {
  private completed = false;
  constructor(private readonly host: FakeSpacetime) {
    super({ url: host.url, db: host.db, token: null, timeoutMs: 2000 });
  }
  override async call(reducer: string, args: unknown[]): Promise<void> {
    await super.call(reducer, args);
    if (reducer === 'store_memory' && args[0] === 'task' && String(args[2]).includes('"status":"Completed"')) this.completed = true;
  }
  override async sql(query: string, opts = {}): Promise<Record<string, unknown>[]> {
    // The read of every task row is the search for dependents, made after the completion was written.
    if (this.completed && query.endsWith("WHERE category = 'task'")) this.host.pause();
    return super.sql(query, opts);
  }
}

let fake: FakeSpacetime;
let proxy: SpacetimeProxy;
const open: { close(): void }[] = [];
const rows = () => fake.tables.get('memory_entry')!.all();
const stepsOf = (id: string) => rows().filter((r) => r.category === `task_step:${id}`).map((r) => JSON.parse(r.value as string) as { version: number; action: string; task: { status: string; agent: string | null } });

/** A sidecar whose task store talks through `client`. */
async function sidecar(client: SpacetimeClient, name: string): Promise<TestApp> {
  const t = await makeTestApp({
    env: spacetimeEnv(fake),
    patch: (d) => {
      d.tasks = new TaskService({ store: new SpacetimeTaskStore(client, name, silentLogger), gaze: d.gaze, hedgehog: d.hedgehog });
    },
  });
  open.push(t);
  return t;
}

beforeAll(() => {
  fake = startFakeSpacetime();
  proxy = startSpacetimeProxy(fake.url);
});
afterAll(async () => {
  await proxy.stop();
  await fake.stop();
});
let a: TaskApp;
beforeEach(async () => {
  fake.tables.get('memory_entry')!.rows = [];
  fake.behavior.delayMs = 0;
  a = await taskApp('spacetimedb', { fake });
  open.push(a);
});
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

test('a claim and a complete by the same agent sent together: the answers of a serial order, never task_conflict', async () => {
  for (let round = 0; round < 12; round++) {
    fake.behavior.delayMs = round % 3;
    const { task_id: id } = await a.create();
    const [claim, done] = await Promise.all([a.claim(id, 'a'), a.complete(id, 'a')]);
    expect(claim.status).toBe(200);
    const task = await a.get(id);
    // complete then claim: refused, the claim stands; claim then complete: both apply.
    if (done.status === 200) expect(task).toMatchObject({ status: 'Completed', completed_by: 'a' });
    else expect({ status: done.status, code: done.body.code, task: task.status }).toEqual({ status: 409, code: 'task_not_in_progress', task: 'InProgress' });
  }
});

test('a cancel that lost its version to a claim is decided again on the claimed task, and cancels it', async () => {
  for (const order of [['claimer', 'canceller'], ['canceller', 'claimer']]) {
    const gate = new Gate(order);
    const [s1, s2] = [await sidecar(new GatedClient(fake, 'claimer', gate), 'sc_1'), await sidecar(new GatedClient(fake, 'canceller', gate), 'sc_2')];
    const { task_id: id } = await a.create();
    // Both read version 0 (Open) and propose version 1; the first in `order` wins it.
    const [claim, cancel] = await Promise.all([s1.json('POST', `/api/tasks/${id}/claim`, { agent_name: 'a' }), s2.json('DELETE', `/api/tasks/${id}`)]);
    expect([cancel.status, cancel.body.status]).toEqual([200, 'Cancelled']);
    if (order[0] === 'claimer') {
      // claim, then cancel: cancelling an InProgress task is allowed.
      expect([claim.status, claim.body.agent]).toEqual([200, 'a']);
      expect(await a.get(id)).toMatchObject({ status: 'Cancelled', agent: 'a' });
      expect(stepsOf(id).map((s) => [s.version, s.action])).toEqual([[1, 'claim'], [2, 'cancel']]);
    } else {
      expect([claim.status, claim.body.code]).toEqual([409, 'task_not_open']);
      expect(await a.get(id)).toMatchObject({ status: 'Cancelled', agent: null });
      expect(stepsOf(id).map((s) => [s.version, s.action])).toEqual([[1, 'cancel']]);
    }
  }
});

test('a write that loses every race stops after DECISIONS tries: 409 task_conflict, nothing of it applied, no row of it left', async () => {
  const loser = await sidecar(new OutrunClient(fake), 'sc_loser');
  const { task_id: id } = await a.create();
  const r = await loser.json('DELETE', `/api/tasks/${id}`);
  expect([r.status, r.body.code]).toEqual([409, 'task_conflict']);
  expect(stepsOf(id).map((s) => [s.version, s.action, s.task.agent])).toEqual(Array.from({ length: DECISIONS }, (_, i) => [i + 1, 'claim', `rival-${i + 1}`]));
  expect(await a.get(id)).toMatchObject({ status: 'InProgress', agent: `rival-${DECISIONS}`, cancelled_at: null });
});

test('a complete whose proposal committed but whose answer was lost is not tried again: one completion, and the retry by the agent is refused', async () => {
  const { task_id: id } = await a.create();
  expect((await a.claim(id, 'a')).status).toBe(200);
  const slow = await taskApp('spacetimedb', { fake, env: { MEMORY_DB_URL: proxy.url, SPACETIMEDB_TIMEOUT_S: '1' } });
  open.push(slow);
  const held = proxy.hold((reducer, args) => isProposal(reducer, args) && String(args[2]).includes('"action":"complete"'), 'after');
  const lost = slow.complete(id, 'a');
  await held.landed;
  const r = await lost;
  held.release();
  expect([r.status, r.body.code]).toEqual([504, 'spacetimedb_timeout']);
  expect((await a.get(id)).status).toBe('Completed');
  const again = await slow.complete(id, 'a');
  expect([again.status, again.body.code]).toEqual([409, 'task_not_in_progress']);
  expect(stepsOf(id).map((s) => [s.version, s.action])).toEqual([[1, 'claim'], [2, 'complete']]);
});

test('a completion that committed, whose host is then lost while its dependents are looked for, is 502 connection_lost, never a 503 "nothing done"', async () => {
  const { task_id: id } = await a.create();
  const dependent = await a.create({ depends_on: [id], assigned_agent: 'b' });
  expect((await a.claim(id, 'a')).status).toBe(200);
  const lost = await sidecar(new LostAfterCompletion(fake), 'lost');
  try {
    const r = await lost.json('POST', `/api/tasks/${id}/complete`, { agent_name: 'a', result: 'done' });
    expect([r.status, r.body.code]).toEqual([502, 'spacetimedb_connection_lost']);
    expect(String(r.body.detail)).toContain('committed');
  } finally {
    fake.resume();
  }
  expect((await a.get(id)).status).toBe('Completed');
  // Not claimed for its agent (the host was gone), but no longer blocked: b claims it.
  expect((await a.get(dependent.task_id)).blocked_by).toEqual([]);
  expect((await a.claim(dependent.task_id, 'b')).status).toBe(200);
});
