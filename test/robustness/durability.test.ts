/**
 * Durability: the built binary under concurrent write load (memories and their deletes, tasks, escrow
 * locks sent with an Idempotency-Key, those the kill cut retried with it after the restart, escrow transitions,
 * config.yaml edits, metered calls, chat turns kept by the fallback transcript store) is killed with
 * SIGKILL at a random moment, restarted on the same data, and every acknowledged write must be there,
 * with no half-applied transition. Several rounds on the same data dir.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startFakeHermes, type FakeHermes } from '../fakes/hermes';
import { toBaseUnits } from '../../src/lib/money';
import { tempDir } from '../helpers/app';
import { ensureBinary, startBinary, type RunningBinary } from '../helpers/binary';

const ROUNDS = Number(process.env.DURABILITY_ROUNDS ?? 4);
const WRITERS = 8;

type TaskState = 'Open' | 'InProgress' | 'Completed';
type EscrowState = 'locked' | 'released' | 'refunded';
const TASK_ORDER: TaskState[] = ['Open', 'InProgress', 'Completed'];

interface Acked {
  memories: Map<string, string>; // id → content
  tasks: Map<string, TaskState>;
  escrows: Map<string, EscrowState>;
  /** Idempotency-Key → escrow id of each lock acknowledged (or retried after the kill). */
  locks: Map<string, string>;
  /** Locks sent and not acknowledged (the kill cut them), by key: retried after the restart. */
  lockCut: Map<string, Record<string, unknown>>;
  deletedMemories: Set<string>;
  /** Memories whose DELETE was sent: one the kill cut before its answer may or may not have been applied. */
  deleteSent: Set<string>;
  configKeys: Set<string>;
  calls: Set<string>;
  /** session id → turns answered `done` */
  turns: Map<string, number>;
}

let binary = '';
let hermes: FakeHermes;
beforeAll(async () => {
  binary = await ensureBinary();
  // Hermes 0.12 has no session API: chat turns take the fallback path, whose transcript the sidecar keeps.
  hermes = await startFakeHermes({ version: '0.12' });
}, 120_000);
afterAll(() => hermes.stop());

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** One writer: a loop of creates and transitions, recording only what was acknowledged. */
async function writer(base: string, acked: Acked, tag: string, stop: { now: boolean }): Promise<void> {
  let n = 0;
  while (!stop.now) {
    n++;
    try {
      const op = n % 6;
      if (op === 0) {
        const content = `durable fact ${tag}-${n} ${crypto.randomUUID()}`;
        const r = await post(base, '/api/memory', { content, category: 'durability', importance: 0.7, metadata: { n } });
        if (r.status !== 201) continue;
        const id = String((r.body.memory as { id: string }).id);
        acked.memories.set(id, content);
        if (n % 4 !== 0) continue;
        acked.deleteSent.add(id);
        if ((await fetch(`${base}/api/memory/${id}`, { method: 'DELETE' })).status === 200) acked.deletedMemories.add(id);
      } else if (op === 3) {
        const key = `${tag}_${n}`;
        if ((await post(base, '/api/config', { key: `durability.${key}`, value: n })).status === 200) acked.configKeys.add(key);
      } else if (op === 4) {
        const r = await post(base, '/api/wallet/tempo/call', { caller_id: tag, prompt: `call ${n}` });
        if (r.status === 200) acked.calls.add(String(r.body.call_id));
      } else if (op === 5) {
        const id = `chat-${tag}`;
        if (!acked.turns.has(id)) {
          if ((await post(base, '/api/sessions', { id })).status !== 201) continue;
          acked.turns.set(id, 0);
        }
        const res = await fetch(`${base}/api/sessions/${id}/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: `turn ${n}` }) });
        if ((await res.text()).includes('event: done')) acked.turns.set(id, (acked.turns.get(id) as number) + 1);
      } else if (op === 1) {
        const r = await post(base, '/api/tasks', { title: `task ${tag}-${n}`, description: 'durability' });
        if (r.status !== 201) continue;
        const id = String(r.body.task_id);
        acked.tasks.set(id, 'Open');
        if ((await post(base, `/api/tasks/${id}/claim`, { agent_name: tag })).status === 200) acked.tasks.set(id, 'InProgress');
        else continue;
        if ((await post(base, `/api/tasks/${id}/complete`, { agent_name: tag, result: 'ok' })).status === 200) acked.tasks.set(id, 'Completed');
      } else {
        const key = `lock-${tag}-${n}`;
        const body = { task_id: `t-${tag}-${n}`, amount: '1.25', gaze_required: false };
        acked.lockCut.set(key, body);
        const r = await post(base, '/api/wallet/escrow', body, { 'idempotency-key': key });
        if (r.status !== 201) continue;
        acked.lockCut.delete(key);
        const id = String(r.body.escrow_id);
        acked.locks.set(key, id);
        acked.escrows.set(id, 'locked');
        const release = n % 2 === 0;
        const t = release
          ? await post(base, '/api/wallet/escrow/release', { escrow_id: id, recipient: 'agent-b' })
          : await post(base, `/api/wallet/escrow/${id}/refund`, {});
        if (t.status === 200) acked.escrows.set(id, release ? 'released' : 'refunded');
      }
    } catch {
      // The kill cut this request: it was never acknowledged.
    }
  }
}

async function listAll(base: string, path: string, key: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let offset = 0; ; offset += 100) {
    const res = await fetch(`${base}${path}${path.includes('?') ? '&' : '?'}limit=100&offset=${offset}`);
    const body = (await res.json()) as Record<string, unknown>;
    const page = body[key] as Record<string, unknown>[];
    out.push(...page);
    if (page.length < 100) return out;
  }
}

async function verify(run: RunningBinary, acked: Acked, dataDir: string, home: string): Promise<void> {
  const listed = await listAll(run.base, '/api/memory?category=durability', 'memories');
  const memories = new Map(listed.map((m) => [String(m.id), String(m.content)]));
  for (const [id, content] of acked.memories) {
    const found = memories.get(id);
    // A delete the kill cut before its answer: either outcome is right, and nothing else.
    const expected = acked.deletedMemories.has(id) ? undefined : acked.deleteSent.has(id) && found === undefined ? undefined : content;
    expect({ id, found, deleteAcked: acked.deletedMemories.has(id) }).toEqual({ id, found: expected, deleteAcked: acked.deletedMemories.has(id) });
  }
  // A memory is stored with its metadata or not at all.
  for (const m of listed) expect([m.id, Object.keys(m.metadata as object).length]).toEqual([m.id, 1]);

  const config = parse(readFileSync(join(home, 'config.yaml'), 'utf8')) as { durability?: Record<string, number> } | null;
  for (const key of acked.configKeys) expect([key, config?.durability?.[key] !== undefined]).toEqual([key, true]);

  const usage = (await (await fetch(`${run.base}/api/wallet/tempo/usage?limit=500`)).json()) as { calls: { call_id: string }[]; totals: { total_calls: number } };
  const calls = new Set(usage.calls.map((c) => c.call_id));
  for (const id of acked.calls) expect([id, calls.has(id)]).toEqual([id, true]);
  expect(usage.totals.total_calls).toBe(calls.size);

  for (const [id, turns] of acked.turns) {
    const session = (await (await fetch(`${run.base}/api/sessions/${id}`)).json()) as { session: { message_count: number } };
    const messages = (await (await fetch(`${run.base}/api/sessions/${id}/messages?limit=500`)).json()) as { items: { role: string }[] };
    // A turn is kept whole (user and assistant) or not at all, and the count agrees.
    expect([id, messages.items.length % 2, messages.items.length >= turns * 2]).toEqual([id, 0, true]);
    expect([id, session.session.message_count]).toEqual([id, messages.items.length]);
  }

  for (const [id, state] of acked.tasks) {
    const t = (await (await fetch(`${run.base}/api/tasks/${id}`)).json()) as Record<string, unknown>;
    const now = t.status as TaskState;
    // A transition in flight at the kill may have landed unacknowledged: never less than acknowledged.
    expect([id, TASK_ORDER.indexOf(now) >= TASK_ORDER.indexOf(state)]).toEqual([id, true]);
    if (now === 'InProgress') expect(t.claimed_at && t.agent).toBeTruthy();
    if (now === 'Completed') expect(t.completed_at && t.completed_by && t.claimed_at).toBeTruthy();
    if (now === 'Open') expect(t.claimed_at ?? null).toBeNull();
  }

  const escrows = new Map((await listAll(run.base, '/api/wallet/escrow', 'escrows')).map((e) => [String(e.escrow_id), e]));
  for (const [id, state] of acked.escrows) {
    const e = escrows.get(id);
    expect(e === undefined ? `${id} missing` : 'present').toBe('present');
    const now = e!.status as EscrowState;
    if (state !== 'locked') expect([id, now]).toEqual([id, state]);
    else expect(['locked', 'released', 'refunded']).toContain(now);
    if (now === 'released') expect(e!.released_at).toBeTruthy();
    if (now === 'refunded') expect(e!.refunded_at).toBeTruthy();
  }

  // Derived numbers agree with the rows they summarise: escrow totals, task stats.
  const overview = (await (await fetch(`${run.base}/api/wallet`)).json()) as { escrow: Record<string, string | number> };
  const sums: Record<string, bigint> = { locked: 0n, released: 0n, refunded: 0n };
  for (const e of escrows.values()) sums[String(e.status)] = (sums[String(e.status)] ?? 0n) + toBaseUnits(String(e.amount));
  for (const status of ['locked', 'released', 'refunded']) expect([status, toBaseUnits(String(overview.escrow[status]))]).toEqual([status, sums[status] ?? 0n]);
  expect(overview.escrow.count).toBe(escrows.size);
  const stats = (await (await fetch(`${run.base}/api/tasks/stats`)).json()) as { total: number; by_status: Record<string, number> };
  const tasks = await listAll(run.base, '/api/tasks', 'tasks');
  expect(stats.total).toBe(tasks.length);
  for (const [status, n] of Object.entries(stats.by_status)) expect([status, n]).toEqual([status, tasks.filter((t) => t.status === status).length]);

  // Every escrow's status agrees with its event history: no status without its event, or the reverse.
  const db = new Database(join(dataDir, 'optx-api.db'), { readonly: true });
  try {
    expect(db.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    const rows = db.query<{ id: string; status: string; events: number; last: string }, []>(
      `SELECT e.id, e.status, COUNT(v.id) AS events,
              (SELECT to_status FROM escrow_events WHERE escrow_id = e.id ORDER BY id DESC LIMIT 1) AS last
       FROM escrows e JOIN escrow_events v ON v.escrow_id = e.id GROUP BY e.id`,
    ).all();
    expect(rows.length).toBe(escrows.size);
    for (const r of rows) expect([r.id, r.last, r.events]).toEqual([r.id, r.status, r.status === 'locked' ? 1 : 2]);
    // Every lock was sent with a key: no escrow without its key, no acknowledged key without its escrow.
    const keys = new Map(db.query<{ k: string | null; id: string }, []>('SELECT idempotency_key AS k, id FROM escrows').all().map((r) => [r.k, r.id]));
    expect(keys.has(null)).toBe(false);
    expect(keys.size).toBe(escrows.size);
    for (const [key, id] of acked.locks) expect([key, keys.get(key)]).toEqual([key, id]);
  } finally {
    db.close();
  }
}

/** Whether each kind of write has been acknowledged at least once (a turn counts once answered `done`). */
function everyKindAcked(acked: Acked): boolean {
  const turns = [...acked.turns.values()].some((n) => n > 0);
  return turns && [acked.memories, acked.tasks, acked.escrows, acked.deletedMemories, acked.configKeys, acked.calls].every((c) => c.size > 0);
}

describe('durability under kill -9', () => {
  test(`${ROUNDS} rounds of write load, SIGKILL, restart, verify`, async () => {
    const dir = tempDir('optx-dur-');
    const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: hermes.apiKey as string };
    const acked: Acked = { memories: new Map(), tasks: new Map(), escrows: new Map(), locks: new Map(), lockCut: new Map(), deletedMemories: new Set(), deleteSent: new Set(), configKeys: new Set(), calls: new Set(), turns: new Map() };
    for (let round = 0; round < ROUNDS; round++) {
      const run = await startBinary(binary, env);
      const stop = { now: false };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(run.base, acked, `r${round}w${w}`, stop));
      // The first round runs until every kind of write has been acknowledged once (on a loaded machine
      // a short round may not reach the rarer ones, such as a memory delete), then to a random moment.
      for (const until = performance.now() + 30_000; round === 0 && !everyKindAcked(acked) && performance.now() < until; ) await Bun.sleep(20);
      await Bun.sleep(300 + Math.random() * 1200);
      run.proc.kill('SIGKILL');
      await run.proc.exited;
      stop.now = true;
      await Promise.all(writers);
      const again = await startBinary(binary, env);
      try {
        // The locks the kill cut, retried with their keys as a client whose connection dropped would:
        // each is locked once, whether or not it had committed before the kill.
        for (const [key, body] of acked.lockCut) {
          const r = await post(again.base, '/api/wallet/escrow', body, { 'idempotency-key': key });
          expect([key, r.status]).toEqual([key, 201]);
          acked.locks.set(key, String(r.body.escrow_id));
          acked.escrows.set(String(r.body.escrow_id), 'locked');
        }
        acked.lockCut.clear();
        await verify(again, acked, env.OPTX_DATA_DIR, env.HERMES_HOME);
      } finally {
        again.proc.kill('SIGTERM');
        await again.proc.exited;
      }
    }
    expect(everyKindAcked(acked)).toBe(true);
  }, 120_000);
});
