/**
 * A rolling restart: a newer sidecar started on the same data dir migrates the database while this
 * one still runs. Reproduced with the 2026-12-06 versions before migration 0006: the older process
 * went on recording metered calls in the ledger but not in the running totals the newer one reads
 * (4 of 5 calls missing, the per-caller budget overspent). This version stops writing instead.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const t of apps.splice(0)) t.close();
});

/** What a newer version's start-up leaves: a migration this version does not know, applied by another connection. */
function migrateFromElsewhere(t: TestApp, tag: string): void {
  const other = new Database(join(t.config.dataDir, 'optx-api.db'));
  other.run('INSERT INTO __migrations (tag, hash, applied_at) VALUES (?, ?, ?)', [tag, 'x', new Date().toISOString()]);
  other.close();
}

test('writes are refused with 503 storage_upgraded once a newer version has migrated the database; reads go on', async () => {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'sqlite' } });
  apps.push(t);
  expect((await t.json('POST', '/api/tasks', { title: 'before' })).status).toBe(201);
  migrateFromElsewhere(t, '9999_from_the_future');

  for (const [path, body] of [
    ['/api/tasks', { title: 'after the upgrade' }],
    ['/api/wallet/escrow', { task_id: 'task-x', amount: '3', gaze_required: false }],
    ['/api/memory', { content: 'written after the upgrade' }],
    ['/api/sessions', { id: 'sess-after' }],
  ] as const) {
    const r = await t.json('POST', path, body);
    expect({ path, status: r.status, code: r.body.code, names: String(r.body.detail).includes('9999_from_the_future') }).toEqual({ path, status: 503, code: 'storage_upgraded', names: true });
  }
  const list = await t.json('GET', '/api/tasks');
  expect([list.status, (list.body.tasks as { title: string }[]).map((x) => x.title)]).toEqual([200, ['before']]);
  const raw = new Database(join(t.config.dataDir, 'optx-api.db'), { readonly: true });
  expect(raw.query('SELECT count(*) AS n FROM memories').get()).toEqual({ n: 0 });
  raw.close();
});

test('another sidecar of the same version writing beside it changes nothing: its writes are still taken', async () => {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'sqlite' } });
  apps.push(t);
  // Another connection commits (data_version moves) without adding a migration.
  const other = new Database(join(t.config.dataDir, 'optx-api.db'));
  other.run("INSERT INTO sidecar_meta (key, value, updated_at) VALUES ('other', 'x', 'now')");
  other.close();
  expect((await t.json('POST', '/api/tasks', { title: 'still taken' })).status).toBe(201);
});
