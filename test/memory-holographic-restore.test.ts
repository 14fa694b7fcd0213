/**
 * A backup of the agent's memory_store.db moved over the file while the sidecar has it open. SQLite's
 * close leaves the WAL and shared memory at the path when the file was moved (they might be another
 * file's), and the next connection to open the path lays that WAL over whatever file is there: the
 * facts written since the backup came back over the restored file (or, the backup being another
 * file, pages of one database were read into another).
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

/** A sidecar on a memory file with a fact in its WAL (not checkpointed), and a backup written by the agent beside it. */
async function withBackup(): Promise<{ t: TestApp; path: string; backup: string }> {
  const dir = tempDir();
  const path = join(dir, 'memory_store.db');
  const backup = join(dir, 'backup.db');
  const b = openAsAgent(backup);
  agentAddFact(b, { content: 'from the backup' });
  b.close();
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: path } });
  apps.push(t);
  expect((await t.json('POST', '/api/memory', { content: 'written before the restore' })).status).toBe(201);
  expect(statSync(path + '-wal').size).toBeGreaterThan(0);
  return { t, path, backup };
}

const contents = async (t: TestApp) => (await t.json<{ memories: { content: string }[] }>('GET', '/api/memory')).body.memories?.map((m) => m.content);

/** What a fresh connection (the agent, a restarted sidecar) reads from the file once the sidecar stopped. */
function onDisk(path: string): { facts: unknown[]; integrity: unknown } {
  const db = new Database(path, { readonly: true });
  try {
    return { facts: db.query('SELECT content FROM facts ORDER BY fact_id').all(), integrity: db.query('PRAGMA integrity_check').get() };
  } finally {
    db.close();
  }
}

test('a backup moved over the file is read without the old file\'s WAL, and stays so on disk', async () => {
  const { t, path, backup } = await withBackup();
  renameSync(backup, path);
  expect((await t.json('POST', '/api/memory', { content: 'after the restore' })).status).toBe(201);
  expect(await contents(t)).toEqual(['after the restore', 'from the backup']);
  apps.splice(0).forEach((a) => a.close());
  expect(onDisk(path)).toEqual({ facts: [{ content: 'from the backup' }, { content: 'after the restore' }], integrity: { integrity_check: 'ok' } });
});

test('while the agent still has the replaced file open, its WAL is at the path: 503 until the agent lets go, then the backup', async () => {
  const { t, path, backup } = await withBackup();
  const agent = openAsAgent(path);
  agent.query('SELECT count(*) FROM facts').get();
  renameSync(backup, path);
  const refused = await t.json<{ code: string; detail: string }>('POST', '/api/memory', { content: 'after the restore' });
  expect([refused.status, refused.body.code, refused.headers.get('retry-after')]).toEqual([503, 'memory_unavailable', '5']);
  expect(refused.body.detail).toContain('still has the old one open');
  expect((await t.json('GET', '/api/memory')).status).toBe(503);
  expect((await t.json<{ status: string }>('GET', '/api/memory/stats')).body.status).toBe('unreachable');
  agent.close();
  expect((await t.json('POST', '/api/memory', { content: 'after the restore' })).status).toBe(201);
  expect(await contents(t)).toEqual(['after the restore', 'from the backup']);
  apps.splice(0).forEach((a) => a.close());
  // The sidecar was the file's last connection: nothing is left at the path for the agent to lay over it.
  expect(existsSync(path + '-wal')).toBe(false);
  expect(onDisk(path)).toEqual({ facts: [{ content: 'from the backup' }, { content: 'after the restore' }], integrity: { integrity_check: 'ok' } });
});

test("a backup moved over the file while the sidecar's own sliced read holds the old one: the write lands in the backup at once, the read is answered from it", async () => {
  const { t, path, backup } = await withBackup();
  const agent = new Database(path);
  // Enough facts for several slices: the read keeps a snapshot of the old file across turns of the event loop.
  agent.transaction(() => {
    for (let i = 0; i < 7000; i++) agent.run("INSERT INTO facts (content, category) VALUES (?, 'general')", [`fact ${i}`]);
  })();
  agent.close();
  const reading = t.json<{ results: { content: string }[] }>('POST', '/api/memory/search', { query: '', filters: { category: 'general' } });
  await Bun.sleep(0);
  renameSync(backup, path);
  // Before: the snapshot kept the old WAL from being released, a 503 blaming the agent ("still has the old one open").
  expect((await t.json('POST', '/api/memory', { content: 'after the restore' })).status).toBe(201);
  const read = await reading;
  expect(read.status).toBe(200);
  expect(read.body.results.map((m) => m.content)).toContain('from the backup');
  expect(read.body.results.every((m) => ['from the backup', 'after the restore'].includes(m.content))).toBe(true);
  expect(await contents(t)).toEqual(['after the restore', 'from the backup']);
  apps.splice(0).forEach((a) => a.close());
  expect(existsSync(path + '-wal')).toBe(false);
  expect(onDisk(path)).toEqual({ facts: [{ content: 'from the backup' }, { content: 'after the restore' }], integrity: { integrity_check: 'ok' } });
});

test('a replacement undone while the agent held the old file (503 meanwhile): stats and searches without words read the file again, not 503 until a restart', async () => {
  const { t, path, backup } = await withBackup();
  const agent = openAsAgent(path);
  agent.query('SELECT count(*) FROM facts').get();
  renameSync(path, `${path}.moved`);
  renameSync(backup, path);
  expect((await t.json('GET', '/api/memory')).status).toBe(503);
  // Put back as it was: the file the sidecar has open is at the path again.
  renameSync(path, backup);
  renameSync(`${path}.moved`, path);
  agent.close();
  // Before: the release refused had failed every later sliced read of the backend it kept: unreachable, 503.
  expect((await t.json<{ status: string; total_memories: number }>('GET', '/api/memory/stats')).body).toMatchObject({ status: 'ok', total_memories: 1 });
  const search = await t.json<{ results: { content: string }[] }>('POST', '/api/memory/search', { query: '', filters: { category: 'general' } });
  expect([search.status, search.body.results?.map((m) => m.content)]).toEqual([200, ['written before the restore']]);
});
