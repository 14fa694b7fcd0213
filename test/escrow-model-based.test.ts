/**
 * Model-based test of the escrow ledger (SPEC §12): random sequences of locks, releases, refunds,
 * clock moves, concurrent pairs and reads, run against the real app and against a plain model
 * (per-entry state, amounts as bigint base units). After every command the list (with filters and
 * pages), one entry's history and the overview totals must equal the model's. That check reads the
 * overview, which records every expiry due, so a list after it never met an expiry no write had recorded:
 * `pageAll` moves the clock and pages through one status with no overview between (the `locked` total
 * taking off pending expiries, escrow.ts, could be dropped and the rest of this test still passed).
 */
import { afterAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeAaron } from './fakes/aaron';
import { makeTestApp, type TestApp } from './helpers/app';
import { modelParams, modelTimeout, permutations } from './helpers/model';
import { EscrowLedger } from '../src/modules/wallet/escrow';
import { fromBaseUnits } from '../src/lib/money';

type Json = Record<string, any>;
const aaron = startFakeAaron();
afterAll(() => aaron.stop());

const DECIMALS: Record<string, number> = { OPTX: 6, DAI: 18 };
const EVM = '0x6b175474e89094c44da98b954eedeac495271d0f';
type State = 'locked' | 'released' | 'refunded';
interface Entry {
  id: string; task: string; token: string; units: bigint; recipient: string | null; gaze: boolean; created: number; expires: number;
  state: State; at: number | null; to: string | null; wasExpired: boolean; seen: boolean;
}
interface Model { now: number; entries: Entry[] }
/**
 * The wall clock can step back (NTP): an expiry the ledger has recorded (`seen`: every command is
 * followed by a read of the overview, which records the expiries due) stays an expiry.
 */
const effective = (e: Entry, now: number) => (e.state === 'locked' && (e.seen || e.expires <= now) ? 'expired' : e.state);
const iso = (ms: number) => new Date(ms).toISOString();

type Lock = { kind: 'lock'; task: string; token: string; units: bigint; ttl: number; recipient: string | null; gaze: boolean };
type Release = { kind: 'release'; pick: number; who: 'fixed' | 'other' | 'upper'; session: 'gz-ok' | 'gz-pending' | null };
type Refund = { kind: 'refund'; pick: number };
type Cmd = Lock | Release | Refund
  | { kind: 'advance'; ms: number }
  | { kind: 'back'; ms: number }
  | { kind: 'toExpiry'; pick: number; delta: -1 | 0 | 1 }
  | { kind: 'list'; status: string | null; task: string | null; limit: number; offset: number }
  | { kind: 'race'; ops: (Release | Refund)[] }
  | { kind: 'pageAll'; status: EscrowStatus; task: string | null; ms: number; pick: number | null; delta: -1 | 0 | 1 };
type EscrowStatus = 'locked' | 'released' | 'refunded' | 'expired';

const MAX_PICK = 40;
const pick = fc.nat({ max: MAX_PICK });
const release = fc.record({ kind: fc.constant('release' as const), pick, who: fc.constantFrom('fixed' as const, 'other' as const, 'upper' as const), session: fc.constantFrom('gz-ok' as const, 'gz-pending' as const, null) });
const refund = fc.record({ kind: fc.constant('refund' as const), pick });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('lock' as const), task: fc.constantFrom('t1', 't2', 't3'), token: fc.constantFrom('OPTX', 'DAI'),
    units: fc.oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: 2n ** 256n - 1n })),
    ttl: fc.constantFrom(60, 61, 3600, 86_400, 604_800), recipient: fc.constantFrom(null, 'agent-b', EVM), gaze: fc.boolean(),
  }) },
  { weight: 3, arbitrary: release },
  { weight: 3, arbitrary: refund },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 700_000_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('back' as const), ms: fc.integer({ min: 1, max: 120_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('toExpiry' as const), pick, delta: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
  { weight: 2, arbitrary: fc.record({
    kind: fc.constant('list' as const), status: fc.constantFrom(null, 'locked', 'released', 'refunded', 'expired'),
    task: fc.constantFrom(null, 't1', 't2'), limit: fc.integer({ min: 1, max: 5 }), offset: fc.integer({ min: 0, max: 6 }),
  }) },
  // The clock moved (by some ms, or to an entry's expiry ±1 ms), then one status paged through to its end
  // with no overview between: the expiries no write has recorded yet are only in the list's own count.
  { weight: 2, arbitrary: fc.record({
    kind: fc.constant('pageAll' as const), status: fc.constantFrom('locked' as const, 'released' as const, 'refunded' as const, 'expired' as const),
    task: fc.constantFrom(null, 't1'), ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120_000 })),
    pick: fc.option(pick, { nil: null }), delta: fc.constantFrom(-1 as const, 0 as const, 1 as const),
  }) },
  // Two or three commands at once on one entry.
  { weight: 2, arbitrary: fc.tuple(pick, fc.array(fc.oneof(release, refund), { minLength: 2, maxLength: 3 })).map(([p, ops]) => ({ kind: 'race' as const, ops: ops.map((op) => ({ ...op, pick: p })) })) },
);

/** The entry a command points at: an existing one, or (the largest pick, or none yet) an id nobody has. */
const target = (m: Model, p: number) => (p === MAX_PICK ? null : m.entries[p % Math.max(1, m.entries.length)] ?? null);

/** Applies a release or refund to the model; the status and code the app must answer. */
function step(m: Model, op: Release | Refund): [number, string | null] {
  const e = target(m, op.pick);
  if (!e) return [404, 'escrow_not_found'];
  const st = effective(e, m.now);
  if (op.kind === 'refund') {
    if (st !== 'locked' && st !== 'expired') return [409, 'escrow_not_refundable'];
    Object.assign(e, { state: 'refunded', at: m.now, wasExpired: st === 'expired' });
    return [200, null];
  }
  if (st === 'released' || st === 'refunded') return [409, 'escrow_not_locked'];
  if (st === 'expired') return [410, 'escrow_expired'];
  const to = recipientFor(e, op);
  // An EVM address matches in any letter case; other recipients exactly.
  const same = e.recipient === null || to === e.recipient || (e.recipient === EVM && to.toLowerCase() === EVM);
  if (!same) return [403, 'recipient_mismatch'];
  if (e.gaze && op.session === null) return [403, 'gaze_required'];
  if (e.gaze && op.session === 'gz-pending') return [403, 'gaze_not_verified'];
  Object.assign(e, { state: 'released', at: m.now, to });
  return [200, null];
}
function recipientFor(e: Entry, op: Release): string {
  const fixed = e.recipient ?? 'agent-b';
  if (op.who === 'other') return 'agent-z';
  return op.who === 'upper' ? fixed.slice(0, 2) + fixed.slice(2).toUpperCase() : fixed;
}

function send(app: TestApp, m: Model, op: Release | Refund) {
  const e = target(m, op.pick);
  const id = e?.id ?? 'esc_nobody';
  if (op.kind === 'refund') return app.json<Json>('POST', `/api/wallet/escrow/${id}/refund`, { actor: 'model' });
  const body = { escrow_id: id, recipient: e ? recipientFor(e, op) : 'agent-b', ...(op.session ? { gaze_session_id: op.session } : {}) };
  return app.json<Json>('POST', '/api/wallet/escrow/release', body);
}

/** The API view of a model entry. */
function view(e: Entry, now: number): Json {
  const d = DECIMALS[e.token] as number;
  return {
    escrow_id: e.id, task_id: e.task, amount: fromBaseUnits(e.units, d), amount_base_units: e.units.toString(), decimals: d, token: e.token,
    status: effective(e, now), recipient: e.recipient, gaze_required: e.gaze, created_at: iso(e.created), expires_at: iso(e.expires),
    released_at: e.state === 'released' ? iso(e.at as number) : null, released_to: e.state === 'released' ? e.to : null,
    refunded_at: e.state === 'refunded' ? iso(e.at as number) : null,
  };
}
/** The history an entry must show: creation, the expiry if it happened (at expires_at), and its end. */
function history(e: Entry, now: number): [string | null, string, string][] {
  const h: [string | null, string, string][] = [[null, 'locked', iso(e.created)]];
  const expired = e.state === 'locked' ? effective(e, now) === 'expired' : e.wasExpired;
  if (expired) h.push(['locked', 'expired', iso(e.expires)]);
  if (e.state !== 'locked') h.push([expired ? 'expired' : 'locked', e.state, iso(e.at as number)]);
  return h;
}
const newestFirst = (a: Entry, b: Entry) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

async function check(app: TestApp, m: Model, probe: number) {
  for (const e of m.entries) if (effective(e, m.now) === 'expired') e.seen = true;
  const all = (await app.json<Json>('GET', '/api/wallet/escrow?limit=500')).body;
  const want = [...m.entries].sort(newestFirst).map((e) => view(e, m.now));
  expect(all).toEqual({ escrows: want, total: want.length, limit: 500, offset: 0 });
  const totals = (await app.json<Json>('GET', '/api/wallet')).body.escrow.by_token as Record<string, Json>;
  for (const token of Object.keys(DECIMALS)) {
    const mine = m.entries.filter((e) => e.token === token);
    if (!mine.length) continue;
    const sum = (st: string) => fromBaseUnits(mine.filter((e) => effective(e, m.now) === st).reduce((s, e) => s + e.units, 0n), DECIMALS[token]);
    expect(totals[token]).toEqual({ locked: sum('locked'), released: sum('released'), refunded: sum('refunded'), expired: sum('expired'), count: mine.length });
  }
  const e = m.entries[probe % Math.max(1, m.entries.length)];
  if (e) {
    const d = (await app.json<Json>('GET', `/api/wallet/escrow/${e.id}`)).body;
    expect(d.events.map((x: Json) => [x.from, x.to, x.at])).toEqual(history(e, m.now));
  }
}

async function run(app: TestApp, clock: { now: number }, cmds: Cmd[]) {
  const m: Model = { now: clock.now, entries: [] };
  for (const [i, c] of cmds.entries()) {
    if (c.kind === 'lock') {
      const d = DECIMALS[c.token] as number;
      const amount = fromBaseUnits(c.units, d);
      const r = await app.json<Json>('POST', '/api/wallet/escrow', { task_id: c.task, amount, token: c.token, ttl_seconds: c.ttl, gaze_required: c.gaze, ...(c.recipient ? { recipient: c.recipient } : {}) });
      expect(r.status).toBe(201);
      m.entries.push({ id: r.body.escrow_id, task: c.task, token: c.token, units: c.units, recipient: c.recipient, gaze: c.gaze, created: m.now, expires: m.now + c.ttl * 1000, state: 'locked', at: null, to: null, wasExpired: false, seen: false });
    } else if (c.kind === 'release' || c.kind === 'refund') {
      const before = structuredClone(m);
      const [status, code] = step(m, c);
      const r = await send(app, before, c);
      expect([r.status, r.body.code ?? null]).toEqual([status, code]);
    } else if (c.kind === 'advance' || c.kind === 'toExpiry') {
      const e = c.kind === 'toExpiry' ? target(m, c.pick) : null;
      const to = c.kind === 'advance' ? m.now + c.ms : e ? e.expires + c.delta : m.now;
      m.now = clock.now = Math.max(m.now, to);
    } else if (c.kind === 'back') {
      m.now = clock.now = m.now - c.ms;
    } else if (c.kind === 'list') {
      const q = new URLSearchParams({ limit: String(c.limit), offset: String(c.offset), ...(c.status ? { status: c.status } : {}), ...(c.task ? { task_id: c.task } : {}) });
      const match = m.entries.filter((e) => (!c.status || effective(e, m.now) === c.status) && (!c.task || e.task === c.task)).sort(newestFirst);
      const r = await app.json<Json>('GET', `/api/wallet/escrow?${q}`);
      expect({ ids: r.body.escrows?.map((x: Json) => x.escrow_id), total: r.body.total }).toEqual({ ids: match.slice(c.offset, c.offset + c.limit).map((e) => e.id), total: match.length });
    } else if (c.kind === 'pageAll') {
      const e = c.pick === null ? null : target(m, c.pick);
      m.now = clock.now = Math.max(m.now, e ? e.expires + c.delta : m.now + c.ms);
      const match = m.entries.filter((x) => effective(x, m.now) === c.status && (!c.task || x.task === c.task)).sort(newestFirst);
      const ids: string[] = [];
      const totals = new Set<number>();
      for (let offset = 0; ; offset += 2) {
        const q = new URLSearchParams({ status: c.status, limit: '2', offset: String(offset), ...(c.task ? { task_id: c.task } : {}) });
        const r = await app.json<Json>('GET', `/api/wallet/escrow?${q}`);
        totals.add(r.body.total);
        ids.push(...r.body.escrows.map((x: Json) => x.escrow_id));
        if (r.body.escrows.length < 2) break;
      }
      expect({ ids, totals: [...totals] }).toEqual({ ids: match.map((x) => x.id), totals: [match.length] });
    } else {
      // Concurrent commands: the answers must be those of some serial order, and the model takes that order.
      const snapshot = structuredClone(m);
      const answers = (await Promise.all(c.ops.map((op) => send(app, snapshot, op)))).map((r) => [r.status, r.body.code ?? null]);
      const orders = permutations(c.ops.map((op, k) => ({ op, k })));
      const fits = orders.map((order) => {
        const trial = structuredClone(snapshot);
        const got: [number, string | null][] = [];
        for (const { op, k } of order) got[k] = step(trial, op);
        return { trial, got };
      }).find((o) => JSON.stringify(o.got) === JSON.stringify(answers));
      expect(fits ? answers : { answers, possible: orders.length }).toEqual(answers);
      m.entries = (fits as { trial: Model }).trial.entries;
    }
    await check(app, m, i);
  }
}

test('escrow ledger: every sequence of commands keeps the app equal to the model', async () => {
  const clock = { now: Date.parse('2026-11-29T13:00:00.000Z') };
  // Both ways a page of expired entries is read: by id (few of them) and in created order (many).
  await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40, size: 'max' }), fc.constantFrom(0, 2, 10_000), async (cmds, expiredById) => {
    clock.now = Date.parse('2026-11-29T13:00:00.000Z');
    // Verified now by AARON's own clock (it must be under 300 s old), whatever the ledger's clock says.
    aaron.verify('gz-ok');
    aaron.sessions.set('gz-pending', { status: 'pending' });
    const app = await makeTestApp({
      env: { AARON_URL: aaron.url, AARON_TIMEOUT_S: '2' },
      patch: (d) => {
        d.wallet.escrow = new EscrowLedger(d.db, d.gaze, (t) => DECIMALS[t] ?? 6, () => clock.now, expiredById);
      },
    });
    try {
      await run(app, clock, cmds);
    } finally {
      app.close();
    }
  }), modelParams(10));
}, modelTimeout(120_000, 10));

test('an expiry the ledger has recorded stays an expiry when the wall clock steps back (list, filter, count, totals and release agree)', async () => {
  const clock = { now: Date.parse('2026-11-29T13:00:00.000Z') };
  const app = await makeTestApp({ patch: (d) => void (d.wallet.escrow = new EscrowLedger(d.db, d.gaze, () => 6, () => clock.now)) });
  try {
    const e = (await app.json<Json>('POST', '/api/wallet/escrow', { task_id: 't1', amount: '1', gaze_required: false, ttl_seconds: 60 })).body;
    clock.now += 60_000;
    // The overview records the expiry (event row, totals moved to expired).
    expect((await app.json<Json>('GET', '/api/wallet')).body.escrow).toMatchObject({ locked: '0', expired: '1' });
    clock.now -= 1;
    const locked = (await app.json<Json>('GET', '/api/wallet/escrow?status=locked')).body;
    const expired = (await app.json<Json>('GET', '/api/wallet/escrow?status=expired')).body;
    // Before: the entry read `locked` in the list (total 0 beside it), absent from `expired`, while
    // the totals and its history said expired and a release answered 410.
    expect({ locked: [locked.escrows.length, locked.total], expired: [expired.escrows[0]?.status, expired.total] }).toEqual({ locked: [0, 0], expired: ['expired', 1] });
    expect((await app.json<Json>('GET', '/api/wallet')).body.escrow).toMatchObject({ locked: '0', expired: '1' });
    expect((await app.json<Json>('POST', '/api/wallet/escrow/release', { escrow_id: e.escrow_id, recipient: 'r' })).status).toBe(410);
  } finally {
    app.close();
  }
});
