/**
 * The sidecar's own database failing while it verifies a payment (another process holding the write
 * lock past the busy wait, a full disk, a read-only file, the file replaced): the replay claim cannot
 * be written, so the credential was not used up. The payer must hear "retry this credential later"
 * (503, Retry-After), never the 402 an auto-paying client (mppx's fetch) answers by paying again.
 */
import { expect, test } from 'bun:test';
import type { Database } from 'bun:sqlite';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import type { TestApp } from './helpers/app';
import { holdLock } from './helpers/lock-holder';
import { credentialFor, paid, PATH_USD, payer, RECIPIENT, useMppApps } from './helpers/mpp';

type Json = Record<string, unknown>;
const { chain, open } = await useMppApps({ hermes: false, open: { dbBusyWaitMs: 200 } });

const dbPath = (t: TestApp) => join(t.config.dataDir, 'optx-api.db');

/** No page can be added to the database any more, and the ones it has are full. */
function fillUp(sqlite: Database): void {
  const { page_count } = sqlite.query('PRAGMA page_count').get() as { page_count: number };
  sqlite.run(`PRAGMA max_page_count = ${page_count}`);
  const insert = sqlite.query('INSERT INTO mpp_store (key, value, expires_at_ms) VALUES (?1, ?2, NULL)');
  let i = 0;
  for (const size of [2000, 200, 20, 1]) {
    try {
      for (;;) insert.run(`filler-${i++}`, 'x'.repeat(size));
    } catch {
      // SQLITE_FULL: no room for a row of this size any more
    }
  }
}

/** Answers "retry later", not "pay again"; then, storage back, the same credential passes once. */
async function expectRetryLater(app: TestApp, cred: string, recover: () => unknown | Promise<unknown>): Promise<void> {
  const res = await paid(app, cred);
  const problem = (await res.json()) as Json;
  expect([res.status, problem.code, res.headers.get('retry-after')]).toEqual([503, 'payment_verification_unavailable', '5']);
  expect(String(problem.detail)).toContain('retry the same credential');
  await recover();
  expect((await paid(app, cred)).status).toBe(200);
  expect((await paid(app, cred)).status).toBe(402);
  expect(chain.transactions).toHaveLength(1);
}

test('another process holds the write lock past the busy wait: 503 Retry-After, nothing broadcast; the same credential passes once it is released', async () => {
  const app = await open();
  const { client } = payer(app, chain);
  const cred = await credentialFor(app, client);
  const lock = await holdLock(dbPath(app), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  await expectRetryLater(app, cred, async () => {
    expect(chain.transactions).toHaveLength(0);
    await lock.release();
  });
}, 120_000);

test('a full disk, a read-only database: 503 Retry-After; the same credential passes once there is room / it is writable', async () => {
  const app = await open();
  const { sqlite } = app.deps.db;
  const { client } = payer(app, chain);
  const cred = await credentialFor(app, client);
  fillUp(sqlite);
  await expectRetryLater(app, cred, () => {
    sqlite.run('DELETE FROM mpp_store WHERE key LIKE \'filler-%\'');
    sqlite.run('PRAGMA max_page_count = 1073741823');
  });
  chain.transactions.length = 0;
  const again = await credentialFor(app, client);
  sqlite.run('PRAGMA query_only = 1');
  await expectRetryLater(app, again, () => sqlite.run('PRAGMA query_only = 0'));
});

test('the database file replaced while running: 503 storage problem, not a refused payment', async () => {
  const app = await open();
  const { client } = payer(app, chain);
  const cred = await credentialFor(app, client);
  const copy = join(app.dir, 'backup.db');
  app.deps.db.sqlite.run(`VACUUM INTO '${copy}'`);
  renameSync(copy, dbPath(app));
  const res = await paid(app, cred);
  expect([res.status, ((await res.json()) as Json).code]).toEqual([503, 'payment_verification_unavailable']);
  expect(chain.transactions).toHaveLength(0);
});

test('push mode, the database locked: mppx fetch pays on chain once, not once per retry; the credential paid on chain passes once it is released', async () => {
  const app = await open();
  const { account, client } = payer(app, chain, 1_000_000n, 'push');
  let lock = await holdLock(dbPath(app), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  const res = await client.fetch('http://localhost/api/wallet/tempo/pricing');
  await lock.release();
  // Before: 402 verification_failed, which mppx's fetch answered by paying again: 3 transfers, 0.30 gone.
  expect([res.status, chain.transactions.length, chain.balanceOf(PATH_USD, account.address)]).toEqual([503, 1, 900_000n]);

  // The payer's transfer is on chain before the sidecar sees the credential (push mode).
  const cred = await credentialFor(app, client);
  lock = await holdLock(dbPath(app), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  expect((await paid(app, cred)).status).toBe(503);
  await lock.release();
  expect((await paid(app, cred)).status).toBe(200);
  expect((await paid(app, cred)).status).toBe(402);
  expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBe(200_000n);
}, 120_000);

test('a used credential replayed while the database is locked: 402 already used, not a 503 "not used up, retry"', async () => {
  const app = await open();
  const { client } = payer(app, chain);
  const cred = await credentialFor(app, client);
  expect((await paid(app, cred)).status).toBe(200);
  const lock = await holdLock(dbPath(app), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
  const res = await paid(app, cred);
  const problem = (await res.json()) as Json;
  await lock.release();
  expect([res.status, problem.code, String(problem.detail)]).toEqual([402, 'verification_failed', 'Payment verification failed: Transaction hash has already been used.']);
}, 120_000);
