/**
 * Idempotency keys of escrow locks (docs/wallet.md, "Idempotent locks"): the `Idempotency-Key` header
 * read and checked, and the escrow a key already names compared with the request retried under it. The
 * key is a column of the escrow row (unique), written by the lock's own insert; escrow.ts looks it up
 * before and again inside that transaction.
 */
import { eq } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { escrows } from '../../db/schema';
import { ApiError } from '../../lib/errors';
import { type LockRequest, type Row, sameRecipient } from './escrow-rows';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/**
 * 1–255 printable ASCII characters, space included (HTTP drops leading and trailing spaces and tabs): what a UUID,
 * a hash or an order number fits, as Stripe's keys. Anything else is refused rather than
 * compared as some transformation of it.
 */
export const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;
const KEY_RULE = 'expected 1 to 255 printable ASCII characters';

/** The key a request was sent with; undefined without the header; 422 for one that breaks the rule. */
export function idempotencyKeyOf(headers: Headers): string | undefined {
  const key = headers.get('idempotency-key');
  if (key === null) return undefined;
  if (IDEMPOTENCY_KEY.test(key)) return key;
  throw new ApiError(422, 'idempotency_key_invalid', `Invalid ${IDEMPOTENCY_KEY_HEADER} header: ${KEY_RULE}.`, { errors: [{ path: IDEMPOTENCY_KEY_HEADER, message: KEY_RULE }] });
}

/**
 * The escrow `key` was used for, or null if none. A request that differs from the one that locked it
 * (in any field, the actor of its event row included) is 422 `idempotency_key_reused`, naming the
 * fields: a second lock under a key is a client's mistake, and answering it with the first escrow
 * would tell it that the other amount or task was locked.
 */
export function keptLock(handle: DbHandle, key: string, req: LockRequest): Row | null {
  const row = handle.db.select().from(escrows).where(eq(escrows.idempotencyKey, key)).get();
  if (!row) return null;
  // The creation event, written in the lock's transaction, keeps the actor.
  const actor = handle.sqlite.query<{ actor: string }, [string]>('SELECT actor FROM escrow_events WHERE escrow_id = ?1 AND from_status IS NULL').get(row.id)?.actor;
  const kept: Record<string, unknown> = {
    task_id: row.taskId,
    amount: row.amount === req.amount && row.decimals === req.decimals,
    token: row.token,
    recipient: row.recipient,
    gaze_required: row.gazeRequired,
    ttl_seconds: (row.expiresAtMs - Date.parse(row.createdAt)) / 1000,
    actor,
  };
  const sent: Record<string, unknown> = {
    task_id: req.taskId, amount: true, token: req.token, recipient: req.recipient, gaze_required: req.gazeRequired, ttl_seconds: req.ttlSeconds, actor: req.actor,
  };
  // A recipient is compared as release matches it: an EVM address in any letter case is one address.
  const same = (k: string) => kept[k] === sent[k] || (k === 'recipient' && row.recipient !== null && req.recipient !== null && sameRecipient(row.recipient, req.recipient));
  const differ = Object.keys(kept).filter((k) => !same(k));
  if (!differ.length) return row;
  const msg = `used for escrow ${row.id} with another request (differs in ${differ.join(', ')}); send a new key for a new lock`;
  throw new ApiError(422, 'idempotency_key_reused', `${IDEMPOTENCY_KEY_HEADER} was ${msg}.`, { errors: [{ path: IDEMPOTENCY_KEY_HEADER, message: msg }] });
}
