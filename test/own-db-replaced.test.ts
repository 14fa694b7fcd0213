/**
 * The sidecar's database file replaced (`mv restored.db optx-api.db`) or removed while the sidecar
 * runs: writes must not be acknowledged into the old, unlinked file (lost at the next start), nor
 * leave that file's WAL at the path to be laid over the restored one after a crash.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { closeDeps } from '../src/deps';
import { makeTestApp, memoryDbPath, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const t of apps.splice(0)) t.close();
});

async function open(env: Record<string, string> = { MEMORY_BACKEND: 'sqlite' }): Promise<TestApp> {
  const t = await makeTestApp({ env });
  apps.push(t);
  return t;
}

const dbPath = (t: TestApp) => join(t.config.dataDir, 'optx-api.db');

/** A consistent copy of the running database, as `sqlite3 optx-api.db ".backup copy.db"` makes one. */
function backup(t: TestApp): string {
  const copy = join(t.dir, 'backup.db');
  t.deps.db.sqlite.run(`VACUUM INTO '${copy}'`);
  return copy;
}

const titles = (dataDir: string) => {
  const h = openDatabase(dataDir);
  try {
    return h.sqlite.query<{ title: string }, []>('SELECT title FROM tasks ORDER BY title').all().map((r) => r.title);
  } finally {
    h.close();
  }
};

test('a backup moved over the database while running: writes are refused with 503 storage_replaced, none is lost, the restored file is used after a restart', async () => {
  const t = await open();
  expect((await t.json('POST', '/api/tasks', { title: 'a' })).status).toBe(201);
  const copy = backup(t);
  expect((await t.json('POST', '/api/tasks', { title: 'b' })).status).toBe(201);
  renameSync(copy, dbPath(t));

  for (const [path, body] of [
    ['/api/tasks', { title: 'after the restore' }],
    ['/api/wallet/escrow', { task_id: 'task-x', amount: '3', gaze_required: false }],
    ['/api/memory', { content: 'written after the restore' }],
    ['/api/sessions', { id: 'sess-after' }],
  ] as const) {
    const r = await t.json('POST', path, body);
    expect({ path, status: r.status, code: r.body.code }).toEqual({ path, status: 503, code: 'storage_replaced' });
  }
  // The old file's WAL, which stays at the path, was emptied into the old file: a crash now leaves
  // nothing to lay over the restored one.
  expect(statSync(`${dbPath(t)}-wal`).size).toBe(0);
  expect((await t.fetch('/health')).status).toBe(200);
  closeDeps(t.deps);

  expect(titles(t.config.dataDir)).toEqual(['a']);
  const raw = new Database(dbPath(t), { readonly: true });
  expect(raw.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
  raw.close();
});

test('the database removed while running: writes are refused, not acknowledged into the unlinked file', async () => {
  const t = await open();
  expect((await t.json('POST', '/api/tasks', { title: 'a' })).status).toBe(201);
  for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath(t) + suffix, { force: true });
  const r = await t.json('POST', '/api/tasks', { title: 'lost' });
  expect([r.status, r.body.code]).toEqual([503, 'storage_replaced']);
});

test('holographic memory: a fact with metadata is not written to the agent file while the sidecar database is replaced', async () => {
  const t = await open({ MEMORY_BACKEND: 'holographic' });
  const copy = backup(t);
  renameSync(copy, dbPath(t));
  const r = await t.json('POST', '/api/memory', { content: 'kept apart from its metadata', metadata: { source: 'x' } });
  expect([r.status, r.body.code]).toEqual([503, 'storage_replaced']);
  const agent = new Database(memoryDbPath(t), { readonly: true });
  expect(agent.query('SELECT count(*) AS n FROM facts').get()).toEqual({ n: 0 });
  agent.close();
});
