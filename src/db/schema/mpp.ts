import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The key-value store mppx keeps its replay markers in (a claimed transaction hash or proof stays
 * claimed until its challenge expires). Kept in our database so a credential accepted once stays
 * refused after a restart.
 */
export const mppStore = sqliteTable('mpp_store', {
  key: text('key').primaryKey(),
  /** JSON, as mppx stores values. */
  value: text('value').notNull(),
  /** Epoch ms after which the entry is void; null for entries without an expiry. */
  expiresAtMs: integer('expires_at_ms'),
  /**
   * The host's boot and its uptime (lib/time hostClock) until which an expired entry is still kept:
   * its lifetime on a clock NTP does not step. A wall clock stepped forward and back again (a wrong
   * NTP server corrected) purged the replay marker of a credential that was then valid again.
   */
  bootId: text('boot_id'),
  keptUntilUptimeMs: integer('kept_until_uptime_ms'),
}, (t) => [index('mpp_store_expires').on(t.expiresAtMs)]);

/** Payments accepted through MPP, one row per settled credential. */
export const mppPayments = sqliteTable('mpp_payments', {
  /** The settlement reference (a Tempo transaction hash). */
  reference: text('reference').primaryKey(),
  challengeId: text('challenge_id').notNull(),
  method: text('method').notNull(),
  intent: text('intent').notNull(),
  /** Base units of `currency`, as the challenge asked. */
  amount: text('amount').notNull(),
  currency: text('currency').notNull(),
  recipient: text('recipient'),
  /** The payer as the credential names it (`did:pkh:eip155:<chain>:<address>`), when it does. */
  source: text('source'),
  path: text('path').notNull(),
  createdAt: text('created_at').notNull(),
});
