/**
 * The per-caller budget of metered calls (TEMPO_CALLER_BUDGET_USD), kept under concurrency and across
 * the sidecars sharing a data dir. Checking "spent < budget" before each call let parallel calls all
 * pass the check before any of them was recorded (10 parallel calls of 0.01 USD billed 0.10 against a
 * 0.02 budget). So a call first takes a hold: one BEGIN IMMEDIATE transaction reads what the caller
 * has spent and what its calls in flight hold, refuses (402 when the budget is used up, 429 while
 * calls in flight hold what this one needs; nothing written) when this call's maximum cost does not
 * fit, else writes the hold row. The call's ledger row replaces the hold in one
 * transaction (`settle`); a call that fails without cost deletes it (`release`); a hold left by a
 * process killed mid-call expires after the call's own deadline and then counts as nothing. That
 * deadline is on the host's clock since boot (lib/time hostClock), which the processes sharing the
 * data dir all read and NTP does not step; the wall clock only where there is none.
 */
import type { DbHandle } from '../../db';
import { BUSY_WAIT_MS } from '../../db/busy';
import { ApiError } from '../../lib/errors';
import { newId } from '../../lib/ids';
import { hostClock, isoNow } from '../../lib/time';
import { usd } from './pricing';

/**
 * How long after a call's deadline its hold still counts: the ledger write after the answer may wait
 * BUSY_WAIT_MS for another process's lock, and a busy event loop adds to it. Only a process that died
 * leaves a hold this long.
 */
const HOLD_GRACE_MS = 6 * BUSY_WAIT_MS;

/** The largest integer SQLite and a JS number hold exactly: a hold never needs to be larger. */
const MAX_HOLD = BigInt(Number.MAX_SAFE_INTEGER);

export interface Hold {
  id: string;
  callerId: string;
}

export class CallerBudget {
  private readonly st;

  constructor(
    private readonly handle: DbHandle,
    readonly budgetMicro: bigint,
    /** The metered call's own deadline (HEDGEHOG_TIMEOUT_S): a hold outlives it by HOLD_GRACE_MS. */
    private readonly callTimeoutMs: number,
  ) {
    const q = handle.sqlite;
    this.st = {
      // Another boot's hold is a dead process's; a hold without a boot (written where there is no
      // host clock, or by an older version) and a reader without one go by the wall clock.
      dropExpired: q.query(`DELETE FROM tempo_holds WHERE CASE
        WHEN boot_id IS NULL OR ?2 IS NULL THEN expires_at_ms <= ?1
        WHEN boot_id = ?2 THEN expires_uptime_ms <= ?3
        ELSE 1 END`),
      spent: q.query<{ spent: bigint }, [string]>('SELECT COALESCE(SUM(billed_micro), 0) AS spent FROM tempo_totals WHERE caller_id = ?1').safeIntegers(true),
      held: q.query<{ held: bigint; n: bigint }, [string]>('SELECT COALESCE(SUM(hold_micro), 0) AS held, COUNT(*) AS n FROM tempo_holds WHERE caller_id = ?1').safeIntegers(true),
      insert: q.query('INSERT INTO tempo_holds (id, caller_id, hold_micro, created_at, expires_at_ms, boot_id, expires_uptime_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)'),
      remove: q.query('DELETE FROM tempo_holds WHERE id = ?1'),
    };
  }

  /**
   * Holds `maxCost` (micro-USD; null when the call's cost has no bound) of the caller's budget, or
   * throws 402 budget_exceeded / 429 budget_held having written nothing. A call fits when spent + held + maxCost ≤
   * budget. A call that does not fit, or has no bound, still runs when it is the caller's only call in
   * flight and the budget is not used up (the rule of sequential calls: such a call can take the
   * caller past its budget by at most its own cost); it then holds all that is left, so it runs alone.
   */
  reserve(callerId: string, maxCost: bigint | null): Promise<Hold> {
    return this.handle.write(() => this.handle.sqlite.transaction(() => {
      const now = Date.now();
      const host = hostClock();
      this.st.dropExpired.run(now, host?.boot ?? null, host?.uptimeMs ?? null);
      const spent = this.spent(callerId);
      const { held, n } = this.st.held.get(callerId) as { held: bigint; n: bigint };
      const left = this.budgetMicro - spent - held;
      let hold: bigint;
      if (maxCost !== null && maxCost <= left) hold = maxCost;
      else if (n === 0n && spent < this.budgetMicro) hold = this.budgetMicro - spent;
      else throw this.refusal(callerId, spent, held, maxCost);
      const id = newId('hold_');
      const lasts = this.callTimeoutMs + HOLD_GRACE_MS;
      this.st.insert.run(id, callerId, hold < MAX_HOLD ? hold : MAX_HOLD, isoNow(now), now + lasts, host?.boot ?? null, host ? host.uptimeMs + lasts : null);
      return { id, callerId };
    }).immediate());
  }

  /** What the caller has been billed so far (micro-USD), from its running totals. */
  spent(callerId: string): bigint {
    return (this.st.spent.get(callerId) as { spent: bigint }).spent;
  }

  /** Deletes the hold: to be run inside the transaction that writes the call's ledger row. */
  settleIn(hold: Hold): void {
    this.st.remove.run(hold.id);
  }

  /** The call failed without cost: its hold is given back. If even that cannot be written, it expires. */
  async release(hold: Hold): Promise<void> {
    try {
      await this.handle.write(() => this.st.remove.run(hold.id));
    } catch {
      // Storage busy or gone: the hold stops counting at its expiry; the call's own error is what the client needs.
    }
  }

  /**
   * 402 when the budget is used up; 429 with Retry-After when calls in flight hold what this call
   * needs, which their settling gives back (a 402 would tell a paying client to pay, not to wait).
   */
  private refusal(callerId: string, spent: bigint, held: bigint, maxCost: bigint | null): ApiError {
    const body = { caller_id: callerId, budget_usd: usd(this.budgetMicro), spent_usd: usd(spent), held_usd: usd(held), call_max_usd: maxCost === null ? null : usd(maxCost) };
    if (spent >= this.budgetMicro) return new ApiError(402, 'budget_exceeded', `Caller ${callerId} has used its budget of ${usd(this.budgetMicro)} USD.`, { body });
    const need = maxCost === null
      ? 'this call sends no max_tokens, so its cost has no bound and it runs only when no other call of the caller is in flight'
      : `this call can cost up to ${usd(maxCost)} USD`;
    return new ApiError(429, 'budget_held', `Caller ${callerId} has spent ${usd(spent)} USD of its budget of ${usd(this.budgetMicro)} USD and its calls in flight hold ${usd(held)} USD; ${need}. Retry when those calls have finished.`, {
      body,
      headers: { 'retry-after': '1' },
    });
  }
}
