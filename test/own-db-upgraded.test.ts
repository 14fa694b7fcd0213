/**
 * A rolling restart: a newer sidecar started on the same data dir migrates the database while this
 * one still runs. Reproduced with the 2026-12-06 versions before migration 0006: the older process
 * went on recording metered calls in the ledger but not in the running totals the newer one reads
 * (4 of 5 calls missing, the per-caller budget overspent). This version stops writing instead.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';

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

/**
 * The newer version migrates while a write of this one waits for the lock. SQLite's own wait (the busy
 * timeout, a 10 ms slice of each attempt) straddled the migration's commit: the check had passed
 * before it, and the write went in under the newer schema. Widening the slice makes that moment
 * certain here; the check must be made once the write holds the lock.
 */
test('a write waiting for the lock while a newer version migrates is refused once it gets the lock', async () => {
  const dataDir = join(tempDir(), 'data');
  const handle = openDatabase(dataDir);
  try {
    const script = `const { Database } = require('bun:sqlite'); const db = new Database(${JSON.stringify(handle.path)});
      db.run('BEGIN IMMEDIATE'); db.run("INSERT INTO __migrations (tag, hash, applied_at) VALUES ('9999_from_the_future', 'x', 'now')");
      console.log('locked'); await Bun.sleep(300); db.run('COMMIT'); db.close();`;
    const newer = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe' });
    const reader = (newer.stdout as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('locked');
    handle.sqlite.run('PRAGMA busy_timeout = 5000');
    const written = handle.write(() => handle.sqlite.run("INSERT INTO sidecar_meta (key, value, updated_at) VALUES ('late', 'x', 'now')"));
    expect(await written.then(() => 'written', (err: unknown) => (err as Error).name)).toBe('DatabaseUpgradedError');
    expect(await newer.exited).toBe(0);
    expect(handle.sqlite.query("SELECT count(*) AS n FROM sidecar_meta WHERE key = 'late'").get()).toEqual({ n: 0 });
  } finally {
    handle.close();
  }
});
