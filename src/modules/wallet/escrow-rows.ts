/**
 * The rows of the escrow ledger as plain values: an amount as a client writes it → base units, a lock
 * request → its new row, a row → its API view (a `locked` entry past its expiry reads `expired`), the SQL condition for a status as
 * read at a time, and an expiry's event row. No database access; escrow.ts does the writing.
 */
import { eq, sql, type SQL } from 'drizzle-orm';
import { escrows } from '../../db/schema';
import { unprocessable } from '../../lib/errors';
import { fromBaseUnits, MoneyFormatError, toBaseUnits } from '../../lib/money';
import { isoNow } from '../../lib/time';
import type { Escrow, EscrowStatus } from './model';

export type Row = typeof escrows.$inferSelect;

/** The actor of an expiry: nobody asked for it, the TTL ran out. */
const EXPIRY_ACTOR = 'system';
/** On-chain amounts are uint256: nothing larger can ever be settled. */
const MAX_AMOUNT = 2n ** 256n - 1n;

/**
 * Whether a locked entry reads as expired at `now`: past its expiry, or its expiry already recorded
 * (event row, totals). A recorded expiry is final even if the wall clock steps back (NTP): otherwise
 * the entry read `locked` in the list while the totals, its history and a release said expired.
 */
const expiredAt = (r: Row, now: number) => r.status === 'locked' && (r.expiryCounted || r.expiresAtMs <= now);

/** A lock request as written and as a retry under its Idempotency-Key is compared: validated, the amount in base units, every default applied. */
export interface LockRequest {
  taskId: string;
  amount: string;
  decimals: number;
  token: string;
  recipient: string | null;
  gazeRequired: boolean;
  ttlSeconds: number;
  actor: string;
}

/** The row a lock inserts at `at`, with the idempotency key it was sent with (null without one). */
export function lockedRow(id: string, req: LockRequest, at: number, key: string | undefined): Row {
  const expiresAtMs = at + req.ttlSeconds * 1000;
  return {
    id, taskId: req.taskId, amount: req.amount, token: req.token, decimals: req.decimals, recipient: req.recipient, gazeRequired: req.gazeRequired,
    status: 'locked', createdAt: isoNow(at), expiresAt: isoNow(expiresAtMs), expiresAtMs,
    releasedAt: null, releasedTo: null, refundedAt: null, expiryCounted: false, idempotencyKey: key ?? null,
  };
}

/** An entry as the API shows it at `now`. */
export function escrowView(r: Row, now: number): Escrow {
  return {
    escrow_id: r.id,
    task_id: r.taskId,
    amount: fromBaseUnits(BigInt(r.amount), r.decimals),
    amount_base_units: r.amount,
    decimals: r.decimals,
    token: r.token,
    status: expiredAt(r, now) ? 'expired' : r.status,
    recipient: r.recipient,
    gaze_required: r.gazeRequired,
    created_at: r.createdAt,
    expires_at: r.expiresAt,
    released_at: r.releasedAt,
    released_to: r.releasedTo,
    refunded_at: r.refundedAt,
  };
}

/**
 * Entries whose status reads as `status` at `now` (`expired` is a `locked` entry past its expiry or
 * whose expiry is recorded), in terms an index can serve. `for: 'page'` writes `expiry_counted` with a
 * unary `+`, which keeps SQLite from choosing the expiry index (status, expiry_counted, expires_at_ms)
 * for a page: that index serves the count without reading rows, but a page in created order read from
 * it sorts every locked entry (47 ms at 100,000 entries against 0.7 ms through (status, created_at)).
 */
export function statusIs(status: EscrowStatus, now: number, purpose: 'count' | 'page' = 'count'): SQL {
  const counted = purpose === 'page' ? sql`+${escrows.expiryCounted}` : sql`${escrows.expiryCounted}`;
  if (status === 'locked') return sql`${escrows.status} = 'locked' AND ${counted} = 0 AND ${escrows.expiresAtMs} > ${now}`;
  if (status === 'expired') return sql`${escrows.status} = 'locked' AND (${counted} = 1 OR ${escrows.expiresAtMs} <= ${now})`;
  return eq(escrows.status, status);
}

/**
 * The two parts of the expired entries, each one range of the expiry index (status, expiry_counted,
 * expires_at_ms): those whose expiry is recorded, and those past it not yet recorded.
 */
export const expiredParts = (now: number): [SQL, SQL] => [
  sql`${escrows.status} = 'locked' AND ${escrows.expiryCounted} = 1`,
  sql`${escrows.status} = 'locked' AND ${escrows.expiryCounted} = 0 AND ${escrows.expiresAtMs} <= ${now}`,
];

/**
 * The expired entries named by id, from the expiry index alone: for a page of `?status=expired` when
 * they are few. Read in created order through (status, created_at), a page looked at every locked
 * entry to find them (33 ms at 100,000 locked entries with none expired); this sorts only them.
 */
export function expiredIds(now: number): SQL {
  const [counted, past] = expiredParts(now);
  return sql`${escrows.id} IN (SELECT ${escrows.id} FROM ${escrows} WHERE ${counted} UNION ALL SELECT ${escrows.id} FROM ${escrows} WHERE ${past})`;
}

/** The event row of an entry's expiry: at `expires_at`, when it happened, by nobody. */
export const expiryEvent = (row: Row) => ({ escrowId: row.id, fromStatus: 'locked', toStatus: 'expired', actor: EXPIRY_ACTOR, at: row.expiresAt, detail: null });

/**
 * An EVM address is one address in any letter case (lower case, or its EIP-55 checksum spelling);
 * other recipients (Solana base58, agent ids) are case-sensitive.
 */
export function sameRecipient(fixed: string, given: string): boolean {
  const evm = /^0x[0-9a-fA-F]{40}$/;
  return fixed === given || (evm.test(fixed) && evm.test(given) && fixed.toLowerCase() === given.toLowerCase());
}

/** A positive amount with at most `decimals` places, as base units (decimal digits), at most a uint256. */
export function parseAmount(amount: number | string, decimals: number, token: string): string {
  let units: bigint;
  try {
    units = toBaseUnits(amount, decimals);
  } catch (err) {
    if (!(err instanceof MoneyFormatError)) throw err;
    const msg = /decimal places/.test(err.message) ? `${token} has ${decimals} decimals; the amount has more` : 'expected a positive decimal amount';
    throw unprocessable(`Invalid request body: amount: ${msg}.`, [{ path: 'amount', message: msg }]);
  }
  if (units <= 0n) throw unprocessable('Invalid request body: amount: must be greater than 0.', [{ path: 'amount', message: 'must be greater than 0' }]);
  if (units > MAX_AMOUNT) throw unprocessable('Invalid request body: amount: larger than any on-chain amount.', [{ path: 'amount', message: 'too large' }]);
  return units.toString();
}
