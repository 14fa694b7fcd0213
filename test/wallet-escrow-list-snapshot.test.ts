/**
 * GET /api/wallet/escrow?status=expired counts its two parts (recorded expiries, and those past but
 * not yet recorded) with two statements, then reads the page: all of it must be one snapshot, or an
 * expiry another process records in between is counted in neither part.
 */
import { expect, test } from 'bun:test';
import { Database, type Statement } from 'bun:sqlite';
import { join } from 'node:path';
import { makeTestApp } from './helpers/app';
import { openDatabase } from '../src/db';
import { EscrowLedger } from '../src/modules/wallet/escrow';

type Json = Record<string, string>;
type Runs = Record<'all' | 'get' | 'values', (...a: unknown[]) => unknown>;

test('?status=expired: an expiry another process records between the two counts is still counted once (total 0 beside its row before)', async () => {
  const app = await makeTestApp();
  const other = openDatabase(join(app.dir, 'data'));
  const proto = Database.prototype as unknown as { prepare: (this: Database, sql: string) => Statement };
  const prepare = proto.prepare;
  try {
    const escrow_id = (await app.json<Json>('POST', '/api/wallet/escrow', { task_id: 't', amount: '10' })).body.escrow_id as string;
    const past = Date.now() - 1000;
    app.deps.db.sqlite.run('UPDATE escrows SET expires_at_ms = ?1, expires_at = ?2 WHERE id = ?3', [past, new Date(past).toISOString(), escrow_id]);
    const theirs = new EscrowLedger(other, app.deps.gaze, () => 6) as unknown as { recordExpiries(now: number): void };
    // Right after this process counted the recorded expiries, the other records the pending one (as its next lock would).
    proto.prepare = function (this: Database, sql: string) {
      const st = prepare.call(this, sql);
      if (this !== app.deps.db.sqlite || !/count\(\*\)/i.test(sql) || !/"expiry_counted" = 1/.test(sql)) return st;
      const own = st as unknown as Runs;
      for (const k of ['all', 'get', 'values'] as const) {
        const run = own[k];
        own[k] = (...a: unknown[]) => {
          const res = run.apply(st, a);
          other.sqlite.transaction(() => theirs.recordExpiries(Date.now())).immediate();
          return res;
        };
      }
      return st;
    };
    const page = new EscrowLedger(app.deps.db, app.deps.gaze, () => 6).list({ status: 'expired', limit: 10, offset: 0 });
    proto.prepare = prepare;
    expect({ total: page.total, ids: page.escrows.map((e) => e.escrow_id) }).toEqual({ total: 1, ids: [escrow_id] });
    expect(app.deps.db.sqlite.query('SELECT expiry_counted AS c FROM escrows').get()).toEqual({ c: 1 });
  } finally {
    proto.prepare = prepare;
    other.sqlite.close();
    app.close();
  }
});
