/**
 * The escrow ledger. Amounts are exact bigints of base units of their token. Each transition is one
 * conditional UPDATE (`… WHERE status = 'locked'`) inside an immediate transaction together with its
 * event row and the running totals, so of a release and a refund racing for one entry exactly one
 * applies. A `locked` entry past `expires_at` reads as expired, before any filtering; its status stays
 * `locked`, but the expiry gets its event row (at `expires_at`) the first time a write notices it
 * (the next lock, a refund). Reads (the entry, the overview totals) show it before it is written.
 */
import { and, asc, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { withBusyTimeout } from '../../db/busy';
import { readSnapshot } from '../../db/kept-reads';
import { escrowEvents, escrows, escrowTotals } from '../../db/schema';
import { ApiError, conflict, notFound } from '../../lib/errors';
import { newId } from '../../lib/ids';
import { fromBaseUnits } from '../../lib/money';
import { isoNow } from '../../lib/time';
import type { GazeVerifier } from '../gaze/service';
import { keptLock } from './escrow-keys';
import { escrowView, expiredIds, expiredParts, expiryEvent, lockedRow, type LockRequest, parseAmount, type Row, sameRecipient, statusIs } from './escrow-rows';
import type { Escrow, EscrowLockBody, EscrowRefundBody, EscrowReleaseBody, EscrowStatus, EscrowTotals } from './model';

const DEFAULT_ESCROW_TOKEN = 'OPTX';
const DEFAULT_ACTOR = 'api';
/**
 * Up to this many expired entries, a page of them is read by id and sorted (expiredIds); past it, in
 * created order with the others skipped, which finds a page quickly when expired entries are many.
 */
const EXPIRED_BY_ID = 10_000;

export class EscrowLedger {
  private readonly newlyExpiredStmt;
  private readonly totalsStmt;

  constructor(
    private readonly handle: DbHandle,
    private readonly gaze: GazeVerifier,
    /** Decimals of a token symbol (configured ones; 6 otherwise); null for one configured without them. */
    private readonly decimalsOf: (token: string) => number | null,
    private readonly now: () => number = Date.now,
    /** Up to this many expired entries, a page of them is read by id (EXPIRED_BY_ID; tests lower it). */
    private readonly expiredById = EXPIRED_BY_ID,
  ) {
    // Prepared once: GET /api/wallet reads the totals on every request.
    this.totalsStmt = handle.db.select().from(escrowTotals).prepare();
    this.newlyExpiredStmt = handle.sqlite.query<{ id: string; token: string; decimals: number; amount: string }, [number]>(
      `SELECT id, token, decimals, amount FROM escrows WHERE status = 'locked' AND expiry_counted = 0 AND expires_at_ms <= ?1`,
    );
  }

  /**
   * Locks `body.amount`; with an idempotency `key` already used for the same request, answers that
   * escrow as it is now instead (`replayed`). The key is looked up before the write (a retry needs no
   * write lock) and again under it, where a request or process that took the key meanwhile is seen:
   * of concurrent locks with one key exactly one inserts, and the unique index holds that in any case.
   */
  async lock(body: EscrowLockBody, key?: string): Promise<{ escrow: Escrow; replayed: boolean }> {
    const decimals = this.decimalsOf(body.token);
    if (decimals === null) {
      const msg = `${body.token} is listed in EVM_TOKENS without decimals; add them (chain:SYMBOL:contract:decimals) to escrow it`;
      throw new ApiError(422, 'token_decimals_unknown', `Invalid request body: token: ${msg}.`, { errors: [{ path: 'token', message: msg }] });
    }
    const actor = body.actor ?? DEFAULT_ACTOR;
    const req: LockRequest = {
      taskId: body.task_id, amount: parseAmount(body.amount, decimals, body.token), decimals, token: body.token,
      recipient: body.recipient ?? null, gazeRequired: body.gaze_required, ttlSeconds: body.ttl_seconds, actor,
    };
    const keyed = () => (key === undefined ? null : keptLock(this.handle, key, req));
    const kept = keyed();
    if (kept) return { escrow: escrowView(kept, this.now()), replayed: true };
    const at = this.now();
    const row = lockedRow(newId('esc_'), req, at, key);
    const { db, sqlite } = this.handle;
    const replay = await this.handle.write(() => sqlite.transaction(() => {
      const won = keyed();
      if (won) return won;
      this.recordExpiries(at);
      db.insert(escrows).values(row).run();
      db.insert(escrowEvents).values({ escrowId: row.id, fromStatus: null, toStatus: 'locked', actor, at: row.createdAt, detail: { amount: row.amount, token: row.token, ttl_seconds: body.ttl_seconds } }).run();
      this.bump(row, 'locked', 1n);
      return null;
    }).immediate());
    return replay ? { escrow: escrowView(replay, this.now()), replayed: true } : { escrow: escrowView(row, at), replayed: false };
  }

  list(q: { status?: EscrowStatus; task_id?: string; limit: number; offset: number }) {
    const now = this.now();
    const where = (purpose: 'count' | 'page') => {
      const status = q.status ? statusIs(q.status, now, purpose) : undefined;
      if (!q.task_id) return status;
      // A task's few entries are found by its index; the status is tested on them under a unary `+`,
      // which keeps SQLite off the status indexes: it chose those and walked every entry of the
      // status (33 ms for ?task_id&status=locked at 100,000 entries, now 0.3 ms).
      return and(eq(escrows.taskId, q.task_id), status && sql`+(${status})`);
    };
    const { db } = this.handle;
    const countOf = (cond: SQL | undefined) => db.select({ n: count() }).from(escrows).where(cond).get()?.n ?? 0;
    // A stored status is counted from the running totals, which every write keeps in its transaction:
    // counted on an index, `locked` read every locked entry's key (2.3 of the 3 ms of a page at
    // 100,000 entries, and what grew on a loaded host). Of `locked`, the expiries no write has recorded
    // yet are taken off: one range of the expiry index (status, expiry_counted, expires_at_ms), as
    // small as the time since the last write. `expired` is counted on that index (one range per part).
    // A page is served by (status, created_at) in its order (statusIs), or, for a few expired entries,
    // by their ids (expiredIds). The counts and the page share one snapshot (a deferred transaction
    // takes no lock): an expiry another process records between two counts would otherwise be in neither.
    const totalOf = (status: EscrowStatus | undefined) => {
      if (q.task_id || !status) return countOf(where('count'));
      const [recorded, pending] = expiredParts(now);
      if (status === 'expired') return countOf(recorded) + countOf(pending);
      return this.storedCount(status) - (status === 'locked' ? countOf(pending) : 0);
    };
    const byExpiry = q.status === 'expired' && !q.task_id;
    const { rows, total } = readSnapshot(this.handle.sqlite, () => {
      const total = totalOf(q.status);
      const pageWhere = byExpiry && total <= this.expiredById ? expiredIds(now) : where('page');
      const rows = db.select().from(escrows).where(pageWhere).orderBy(desc(escrows.createdAt), desc(escrows.id)).limit(q.limit).offset(q.offset).all();
      return { rows, total };
    });
    return { escrows: rows.map((r) => escrowView(r, now)), total, limit: q.limit, offset: q.offset };
  }

  get(id: string) {
    const now = this.now();
    // One snapshot: read apart, a release another sidecar committed in between showed as `locked`
    // with a history ending in `released`.
    const { row, events } = readSnapshot(this.handle.sqlite, () => ({
      row: this.find(id),
      events: this.handle.db.select().from(escrowEvents).where(eq(escrowEvents.escrowId, id)).orderBy(asc(escrowEvents.id)).all(),
    }));
    // An expiry no write has recorded yet is shown as the row it will be: a read writes nothing, so
    // it never waits for (or fails on) another process holding the database's write lock.
    const history = !row.expiryCounted && row.status === 'locked' && row.expiresAtMs <= now ? [...events, expiryEvent(row)] : events;
    return { ...escrowView(row, now), events: history.map((e) => ({ from: e.fromStatus, to: e.toStatus, actor: e.actor, at: e.at, detail: e.detail ?? null })) };
  }

  async release(body: EscrowReleaseBody) {
    const row = this.find(body.escrow_id);
    this.assertReleasable(row);
    if (row.recipient !== null && !sameRecipient(row.recipient, body.recipient)) {
      throw new ApiError(403, 'recipient_mismatch', `Escrow ${row.id} can only be released to the recipient it was locked for.`);
    }
    if (row.gazeRequired) await this.gaze.requireVerified(body.gaze_session_id);
    const { db, sqlite } = this.handle;
    // The time is taken when the write runs: it may wait in line for the lock past the escrow's expiry.
    let at = 0;
    const applied = await this.handle.write(() => sqlite.transaction(() => {
      at = this.now();
      const res = sqlite.run(
        `UPDATE escrows SET status = 'released', released_at = ?1, released_to = ?2 WHERE id = ?3 AND status = 'locked' AND expiry_counted = 0 AND expires_at_ms > ?4`,
        [isoNow(at), body.recipient, row.id, at],
      );
      if (res.changes !== 1) return false;
      this.bump(row, 'locked', -1n);
      this.bump(row, 'released', 1n);
      db.insert(escrowEvents).values({
        escrowId: row.id, fromStatus: 'locked', toStatus: 'released', actor: body.actor ?? DEFAULT_ACTOR, at: isoNow(at),
        detail: { recipient: body.recipient, ...(row.gazeRequired ? { gaze_session_id: body.gaze_session_id } : {}) },
      }).run();
      return true;
    }).immediate());
    // Lost a race (a refund, another release, or the expiry came first): report the state that won.
    if (!applied) {
      this.assertReleasable(this.find(row.id));
      throw this.expiredError(row);
    }
    return { escrow_id: row.id, status: 'released' as const, amount: fromBaseUnits(BigInt(row.amount), row.decimals), token: row.token, recipient: body.recipient, released_at: isoNow(at), settlement: 'pending_on_chain' as const };
  }

  async refund(id: string, body: EscrowRefundBody) {
    const { db, sqlite } = this.handle;
    let at = 0;
    // Read and update in one immediate transaction: nothing can change the row in between (the time
    // too is taken then, not before the write waited in line).
    const outcome = await this.handle.write(() => sqlite.transaction((): { refunded: Row } | { refused: Row } => {
      at = this.now();
      const row = this.find(id);
      if (row.status !== 'locked') return { refused: row };
      // An expiry not yet noticed is recorded first, so the history reads locked → expired → refunded.
      if (!row.expiryCounted && row.expiresAtMs <= at) this.markExpired(row);
      const from = row.expiryCounted || row.expiresAtMs <= at ? 'expired' : 'locked';
      sqlite.run(`UPDATE escrows SET status = 'refunded', refunded_at = ?1 WHERE id = ?2 AND status = 'locked'`, [isoNow(at), id]);
      this.bump(row, from, -1n);
      this.bump(row, 'refunded', 1n);
      db.insert(escrowEvents).values({
        escrowId: id, fromStatus: from, toStatus: 'refunded', actor: body?.actor ?? DEFAULT_ACTOR, at: isoNow(at),
        detail: body?.reason ? { reason: body.reason } : null,
      }).run();
      return { refunded: row };
    }).immediate());
    if ('refused' in outcome) {
      const status = outcome.refused.status;
      throw conflict('escrow_not_refundable', `Escrow ${id} is ${status}; only locked or expired escrows can be refunded.`, { status });
    }
    const row = outcome.refunded;
    return { escrow_id: id, status: 'refunded' as const, amount: fromBaseUnits(BigInt(row.amount), row.decimals), token: row.token, refunded_at: isoNow(at) };
  }

  /** Sums per token and effective status, exact (bigint); the default token's also at the top level. */
  totals(): EscrowTotals & { token: string; by_token: Record<string, EscrowTotals> } {
    const acc = new Map<string, { decimals: number; sums: Record<string, bigint>; count: number }>();
    const add = (token: string, decimals: number, status: string, amount: bigint, n: number) => {
      const t = acc.get(token) ?? { decimals, sums: {}, count: 0 };
      // Rows of one token written under different decimals are brought to the finer scale first.
      if (decimals > t.decimals) {
        for (const k of Object.keys(t.sums)) t.sums[k] = (t.sums[k] as bigint) * 10n ** BigInt(decimals - t.decimals);
        t.decimals = decimals;
      }
      t.sums[status] = (t.sums[status] ?? 0n) + amount * 10n ** BigInt(t.decimals - decimals);
      t.count += n;
      acc.set(token, t);
    };
    // Expiries no write has recorded yet are recorded now if the write lock is free at once (then the
    // next overview is one index lookup again, not a read of every pending expiry); otherwise they move
    // from locked to expired here only, as get() shows their event: GET /api/wallet is a read and never
    // waits (the event loop included) for another process holding the lock. Both reads share one
    // snapshot (a deferred transaction takes no lock): an expiry another process records between them
    // would otherwise be in neither and show as still locked.
    this.recordExpiriesIfFree(this.now());
    readSnapshot(this.handle.sqlite, () => {
      for (const r of this.totalsStmt.all()) add(r.token, r.decimals, r.status, BigInt(r.amount), r.count);
      for (const r of this.newlyExpiredStmt.all(this.now())) {
        add(r.token, r.decimals, 'locked', -BigInt(r.amount), 0);
        add(r.token, r.decimals, 'expired', BigInt(r.amount), 0);
      }
    });
    const view = (t: { decimals: number; sums: Record<string, bigint>; count: number } | undefined): EscrowTotals => {
      const f = (k: string) => fromBaseUnits(t?.sums[k] ?? 0n, t?.decimals ?? 0);
      return { locked: f('locked'), released: f('released'), refunded: f('refunded'), expired: f('expired'), count: t?.count ?? 0 };
    };
    const byToken = Object.fromEntries([...acc].map(([token, t]) => [token, view(t)]));
    return { token: DEFAULT_ESCROW_TOKEN, ...view(acc.get(DEFAULT_ESCROW_TOKEN)), by_token: byToken };
  }

  /**
   * Records pending expiries when the write lock can be had without waiting (busy_timeout 0 for this
   * one attempt; bun:sqlite is synchronous, so no other statement runs meanwhile). Otherwise — another
   * writer, a full disk, a read-only or replaced file — nothing is written and the reader computes them instead:
   * the answer is the same, and the next write that can records them.
   */
  private recordExpiriesIfFree(now: number): void {
    if (!this.newlyExpiredStmt.get(now)) return;
    const { sqlite } = this.handle;
    try {
      withBusyTimeout(sqlite, 0, () => this.handle.locked(() => this.recordExpiries(now)));
    } catch {
      // Left to the reader, as above; nothing was written.
    }
  }

  /** Records the locked entries that have expired since the last write noticed them (see markExpired); inside the caller's transaction. */
  private recordExpiries(now: number): void {
    for (const { id } of this.newlyExpiredStmt.all(now)) this.markExpired(this.find(id));
  }

  /**
   * The expiry of one locked entry past `expires_at`, once: flagged, moved from `locked` to `expired`
   * in the running totals, and its event row (at `expires_at`, when it happened). The entry's status
   * stays `locked`; expiry is read from the time. Inside the caller's transaction.
   */
  private markExpired(row: Row): void {
    const res = this.handle.sqlite.run(`UPDATE escrows SET expiry_counted = 1 WHERE id = ?1 AND status = 'locked' AND expiry_counted = 0`, [row.id]);
    if (res.changes !== 1) return;
    this.bump(row, 'locked', -1n);
    this.bump(row, 'expired', 1n);
    this.handle.db.insert(escrowEvents).values(expiryEvent(row)).run();
  }

  /** Adds (sign 1) or removes (sign -1) an entry to the running total of a status; inside the caller's transaction. */
  private bump(row: Row, status: 'locked' | 'released' | 'refunded' | 'expired', sign: 1n | -1n): void {
    const key = and(eq(escrowTotals.token, row.token), eq(escrowTotals.decimals, row.decimals), eq(escrowTotals.status, status));
    const { db } = this.handle;
    const cur = db.select().from(escrowTotals).where(key).get();
    const amount = (cur ? BigInt(cur.amount) : 0n) + sign * BigInt(row.amount);
    const n = (cur?.count ?? 0) + Number(sign);
    if (cur) db.update(escrowTotals).set({ amount: amount.toString(), count: n }).where(key).run();
    else db.insert(escrowTotals).values({ token: row.token, decimals: row.decimals, status, amount: amount.toString(), count: n }).run();
  }

  /** The entries last written with `status`, from the running totals (every token and decimals). */
  private storedCount(status: 'locked' | 'released' | 'refunded'): number {
    return this.handle.db.select({ n: sql<number>`COALESCE(SUM(${escrowTotals.count}), 0)` }).from(escrowTotals).where(eq(escrowTotals.status, status)).get()?.n ?? 0;
  }

  private find(id: string): Row {
    const row = this.handle.db.select().from(escrows).where(eq(escrows.id, id)).get();
    if (!row) throw notFound('escrow_not_found', `No escrow with id ${id.slice(0, 128)}.`);
    return row;
  }

  private assertReleasable(row: Row): void {
    if (row.status !== 'locked') throw conflict('escrow_not_locked', `Escrow ${row.id} is ${row.status}; only locked escrows can be released.`, { status: row.status });
    if (row.expiryCounted || row.expiresAtMs <= this.now()) throw this.expiredError(row);
  }

  private expiredError(row: Row): ApiError {
    return new ApiError(410, 'escrow_expired', `Escrow ${row.id} expired at ${row.expiresAt}; it can only be refunded.`, { body: { status: 'expired' } });
  }
}
