import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * The usage ledger of metered (Tempo-billed) calls: one row per successful call, costs in integer
 * micro-units of the billing token (1 = 0.000001 USD), so totals are exact integer sums.
 */
export const tempoCalls = sqliteTable('tempo_calls', {
  id: text('id').primaryKey(),
  callerId: text('caller_id').notNull(),
  model: text('model').notNull(),
  inputTokens: integer('input_tokens').notNull(),
  outputTokens: integer('output_tokens').notNull(),
  /** False when the upstream reported no usage (the call is billed its margin only). */
  usageReported: integer('usage_reported', { mode: 'boolean' }).notNull(),
  inputCostMicro: integer('input_cost_micro').notNull(),
  outputCostMicro: integer('output_cost_micro').notNull(),
  marginMicro: integer('margin_micro').notNull(),
  totalMicro: integer('total_micro').notNull(),
  token: text('token').notNull(),
  latencyMs: integer('latency_ms').notNull(),
  createdAt: text('created_at').notNull(),
}, (t) => [
  index('tempo_calls_caller_created').on(t.callerId, t.createdAt),
  index('tempo_calls_created').on(t.createdAt),
  check('tempo_calls_costs_non_negative', sql`${t.inputCostMicro} >= 0 AND ${t.outputCostMicro} >= 0 AND ${t.marginMicro} >= 0 AND ${t.totalMicro} = ${t.inputCostMicro} + ${t.outputCostMicro} + ${t.marginMicro}`),
]);

/**
 * Running totals of the ledger per caller, written in the same transaction as each ledger row, so the
 * budget check of every metered call and the usage totals read one row instead of summing the
 * caller's whole history (49 ms per call at 100,000 calls). Backfilled from tempo_calls by the
 * migration that created it.
 */
export const tempoTotals = sqliteTable('tempo_totals', {
  callerId: text('caller_id').primaryKey(),
  calls: integer('calls').notNull(),
  tokens: integer('tokens').notNull(),
  costMicro: integer('cost_micro').notNull(),
  marginMicro: integer('margin_micro').notNull(),
  billedMicro: integer('billed_micro').notNull(),
});

/**
 * Budget holds of metered calls in flight (TEMPO_CALLER_BUDGET_USD): a row is written, in the same
 * BEGIN IMMEDIATE transaction that checks spent + held + this hold against the budget, before the call
 * goes upstream, and deleted in the transaction that writes the call's ledger row (or when the call
 * fails). Every sidecar on the data dir sees the others' holds. A hold whose process died mid-call
 * stops counting at `expires_at_ms` (past the call's own deadline) and is deleted by the next check.
 */
export const tempoHolds = sqliteTable('tempo_holds', {
  id: text('id').primaryKey(),
  callerId: text('caller_id').notNull(),
  /** Micro-USD held: the call's maximum cost, or what was left of the budget for a call without one. */
  holdMicro: integer('hold_micro').notNull(),
  createdAt: text('created_at').notNull(),
  /** Wall-clock expiry: what a sidecar without the host clock below (not Linux, or older) goes by. */
  expiresAtMs: integer('expires_at_ms').notNull(),
  /**
   * The host's boot and its uptime at expiry (lib/time hostClock): a wall clock stepped forward
   * (NTP after an RTC-less boot) dropped the holds of calls still in flight, and the caller spent
   * past its budget. A hold of another boot is a dead process's.
   */
  bootId: text('boot_id'),
  expiresUptimeMs: integer('expires_uptime_ms'),
}, (t) => [
  index('tempo_holds_caller').on(t.callerId),
  index('tempo_holds_expires').on(t.expiresAtMs),
  check('tempo_holds_non_negative', sql`${t.holdMicro} >= 0`),
]);

/**
 * Escrow entries. `status` is what was last written (`locked`, `released`, `refunded`); `expired` is
 * never stored: a `locked` row whose `expires_at_ms` has passed reads as expired.
 */
export const escrows = sqliteTable('escrows', {
  id: text('id').primaryKey(),
  taskId: text('task_id').notNull(),
  /**
   * Base units of `token` (`decimals` places) as decimal digits: an 18-decimal token overflows a
   * 64-bit integer at 9.2 tokens, so amounts are exact bigints kept as text.
   */
  amount: text('amount').notNull(),
  token: text('token').notNull(),
  decimals: integer('decimals').notNull(),
  recipient: text('recipient'),
  gazeRequired: integer('gaze_required', { mode: 'boolean' }).notNull(),
  status: text('status', { enum: ['locked', 'released', 'refunded'] }).notNull(),
  createdAt: text('created_at').notNull(),
  expiresAt: text('expires_at').notNull(),
  expiresAtMs: integer('expires_at_ms').notNull(),
  releasedAt: text('released_at'),
  releasedTo: text('released_to'),
  refundedAt: text('refunded_at'),
  /** True once escrow_totals has moved this (still `locked`, past its expiry) entry to `expired`. */
  expiryCounted: integer('expiry_counted', { mode: 'boolean' }).notNull().default(false),
  /**
   * The `Idempotency-Key` the lock was sent with (null without one), written with the row: a key is
   * never taken without its escrow, nor an escrow committed without its key, whatever kills the process.
   */
  idempotencyKey: text('idempotency_key'),
}, (t) => [
  index('escrows_task').on(t.taskId),
  // The list's order (newest first), whole or by stored status: a page is read from the index instead of
  // sorting every entry (64 ms per list at 100,000 escrows).
  index('escrows_created').on(t.createdAt, t.id),
  index('escrows_status_created').on(t.status, t.createdAt, t.id),
  // Finds the locked entries that expired since the totals were last brought up to date.
  index('escrows_expiry_sweep').on(t.status, t.expiryCounted, t.expiresAtMs),
  // One escrow per key, whichever request or process commits first; keyless locks are not in it.
  uniqueIndex('escrows_idempotency_key').on(t.idempotencyKey).where(sql`${t.idempotencyKey} IS NOT NULL`),
  check('escrows_amount_positive', sql`${t.amount} GLOB '[1-9]*' AND ${t.amount} NOT GLOB '*[^0-9]*'`),
]);

/**
 * Running sums per token, decimals and effective status, updated in the same transaction as every
 * escrow write (and as expiries are noticed), so the wallet overview reads a handful of rows instead
 * of summing the ledger.
 */
export const escrowTotals = sqliteTable('escrow_totals', {
  token: text('token').notNull(),
  decimals: integer('decimals').notNull(),
  status: text('status', { enum: ['locked', 'released', 'refunded', 'expired'] }).notNull(),
  /** Base units as decimal digits (see escrows.amount). */
  amount: text('amount').notNull(),
  count: integer('count').notNull(),
}, (t) => [primaryKey({ columns: [t.token, t.decimals, t.status] })]);

/** Every escrow transition, written in the same transaction as the transition itself. */
export const escrowEvents = sqliteTable('escrow_events', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  escrowId: text('escrow_id').notNull().references(() => escrows.id),
  /** null for the creation event; `expired` for a refund after the expiry event (`locked` → `expired`, actor `system`). */
  fromStatus: text('from_status'),
  toStatus: text('to_status').notNull(),
  actor: text('actor').notNull(),
  at: text('at').notNull(),
  detail: text('detail', { mode: 'json' }).$type<Record<string, unknown>>(),
}, (t) => [index('escrow_events_escrow').on(t.escrowId, t.id)]);
