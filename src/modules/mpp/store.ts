/**
 * The store mppx keeps its state in (replay markers of consumed transaction hashes and proofs),
 * backed by our SQLite database so a credential accepted once is refused after a restart too, and
 * atomic across concurrent requests: a claim is one INSERT … ON CONFLICT statement.
 */
import type { Store } from 'mppx/server';
import type { DbHandle } from '../../db';
import { hostClock } from '../../lib/time';

type AtomicStore = Store.AtomicStore;

/** JSON that keeps bigints (mppx state can hold fee amounts) by tagging them. */
const encode = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
const decode = (text: string): unknown =>
  JSON.parse(text, (_k, v: unknown) => (v && typeof v === 'object' && typeof (v as { $bigint?: unknown }).$bigint === 'string' && Object.keys(v).length === 1 ? BigInt((v as { $bigint: string }).$bigint) : v));

/** mppx replay markers carry their own expiry; we index it so expired ones can be reclaimed and purged. */
function expiryOf(value: unknown): number | null {
  const v = value as { type?: unknown; expires?: unknown } | null;
  return v && typeof v === 'object' && v.type === 'mppx:replay' && typeof v.expires === 'number' ? v.expires : null;
}

/**
 * An entry past its expiry may go only once its lifetime has also passed on the host's clock since
 * boot: a wall clock stepped forward and then back must still find the replay marker of a credential
 * that is valid again. An entry of another boot, or written without that clock, goes by its expiry.
 * Parameters: ?1 wall-clock now, ?2 boot, ?3 uptime (null without a host clock).
 */
const GONE = (t: string) => `${t}.expires_at_ms IS NOT NULL AND ${t}.expires_at_ms <= ?1
  AND (${t}.boot_id IS NULL OR ?2 IS NULL OR ${t}.boot_id <> ?2 OR ${t}.kept_until_uptime_ms <= ?3)`;

type Clocks = [now: number, boot: string | null, uptimeMs: number | null];

/** Now on both clocks, and what an entry expiring at `expiresMs` records: its boot and kept-until uptime. */
function clocks(now: number, expiresMs: number | null): { at: Clocks; keep: [string | null, number | null] } {
  const host = hostClock();
  const at: Clocks = [now, host?.boot ?? null, host?.uptimeMs ?? null];
  return { at, keep: host && expiresMs !== null ? [host.boot, host.uptimeMs + Math.max(0, expiresMs - now)] : [null, null] };
}

export function sqliteMppStore(handle: DbHandle, now: () => number = Date.now): AtomicStore {
  const { sqlite } = handle;
  const read = sqlite.query<{ value: string; expires_at_ms: number | null }, [string]>('SELECT value, expires_at_ms FROM mpp_store WHERE key = ?1');
  const write = sqlite.query<never, [string, string, number | null, string | null, number | null]>(
    `INSERT INTO mpp_store (key, value, expires_at_ms, boot_id, kept_until_uptime_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(key) DO UPDATE SET
       value = excluded.value, expires_at_ms = excluded.expires_at_ms, boot_id = excluded.boot_id, kept_until_uptime_ms = excluded.kept_until_uptime_ms`,
  );
  const remove = sqlite.query<never, [string]>('DELETE FROM mpp_store WHERE key = ?1');
  // A claim succeeds when the key is new or holds a marker that is gone; a live entry is left as it is.
  const claim = sqlite.query<never, [number, string | null, number | null, string, string, number, string | null, number | null]>(
    `INSERT INTO mpp_store (key, value, expires_at_ms, boot_id, kept_until_uptime_ms) VALUES (?4, ?5, ?6, ?7, ?8)
       ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms,
         boot_id = excluded.boot_id, kept_until_uptime_ms = excluded.kept_until_uptime_ms
       WHERE ${GONE('mpp_store')}`,
  );
  const purge = sqlite.query<never, Clocks>(`DELETE FROM mpp_store WHERE ${GONE('mpp_store')}`);

  const get = (key: string): unknown => {
    const row = read.get(key);
    if (!row || (row.expires_at_ms !== null && row.expires_at_ms <= now())) return null;
    return decode(row.value);
  };
  const put = (key: string, value: unknown) => {
    const expires = expiryOf(value);
    write.run(key, encode(value), expires, ...clocks(now(), expires).keep);
  };

  // Every write waits in line for the database's lock (DbHandle.write) without blocking the server.
  return {
    async get(key) {
      return get(key) as never;
    },
    async put(key, value) {
      await handle.write(() => put(key, value));
    },
    async delete(key) {
      await handle.write(() => remove.run(key));
    },
    update(key, fn) {
      // bun:sqlite transactions are synchronous, and mppx requires `fn` to be synchronous (and lets
      // it run again): the read-modify-write cannot interleave with another request's.
      return handle.write(() => sqlite.transaction(() => {
        const change = fn(get(key) as never);
        if (change.op === 'set') put(key, change.value);
        else if (change.op === 'delete') remove.run(key);
        return change.result;
      }).immediate());
    },
    tryClaim(key, expires) {
      // A live marker is a replay, told from a read: another process's write lock does not block it,
      // so a used credential is refused (402) even then, not told its claim could not be written and
      // to retry (503). Only a new claim needs the write, which stays the atomic decision.
      if (get(key) !== null) return Promise.resolve(false);
      // One transaction: a retry after the lock was busy runs the purge and the claim again together.
      return handle.write(() => sqlite.transaction(() => {
        const { at, keep } = clocks(now(), expires);
        purge.run(...at);
        return claim.run(...at, key, encode({ expires, type: 'mppx:replay' }), expires, ...keep).changes === 1;
      }).immediate());
    },
  } as AtomicStore;
}

/**
 * Paid credentials whose request was refused before any work (see auth's `settlePaid`): each may pay
 * for one more request until its challenge expires. Rows of the same table under their own key prefix
 * (purged with mppx's expired markers); mppx's marker of the payment stays, so a credential comes back
 * only through here, and one holder at a time: the request that takes a credit deletes it.
 */
export interface PaymentCredits {
  /** Takes the live credit of `key`: the `Payment-Receipt` of the payment it holds, or null when there is none. */
  take(key: string): Promise<string | null>;
  /** Gives a credential back: `receipt` may pay for one request more until `expiresMs`. */
  give(key: string, receipt: string, expiresMs: number): Promise<void>;
}

export function sqliteCredits(handle: DbHandle, now: () => number = Date.now): PaymentCredits {
  const { sqlite } = handle;
  const live = sqlite.query<{ value: string }, [string, number]>('SELECT value FROM mpp_store WHERE key = ?1 AND expires_at_ms > ?2');
  const take = sqlite.query<{ value: string }, [string, number]>('DELETE FROM mpp_store WHERE key = ?1 AND expires_at_ms > ?2 RETURNING value');
  const give = sqlite.query<never, [string, string, number, string | null, number | null]>(
    'INSERT OR REPLACE INTO mpp_store (key, value, expires_at_ms, boot_id, kept_until_uptime_ms) VALUES (?1, ?2, ?3, ?4, ?5)',
  );
  const keyOf = (key: string) => `optx:credit:${key}`;
  return {
    async take(key) {
      // Almost every paid request has no credit: told from a read, without waiting for the write lock.
      if (!live.get(keyOf(key), now())) return null;
      const row = await handle.write(() => take.get(keyOf(key), now()));
      return row ? (JSON.parse(row.value) as { receipt: string }).receipt : null;
    },
    async give(key, receipt, expiresMs) {
      await handle.write(() => give.run(keyOf(key), JSON.stringify({ receipt }), expiresMs, ...clocks(now(), expiresMs).keep));
    },
  };
}
