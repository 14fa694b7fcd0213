/**
 * The agent's state.db changing under a sidecar that keeps running: the agent stopping, the file
 * restored from a backup copy, removed, recreated.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Database } from 'bun:sqlite';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';

const T0 = 1_780_000_000;
let t: TestApp;
let fx: StateDbFixture;

beforeEach(async () => {
  t = await makeTestApp();
  fx = createStateDb(t.home, 'v19');
});
afterEach(() => t.close());

const ids = async () => ((await t.json('GET', '/api/sessions')).body as { items: { id: string }[] }).items.map((s) => s.id);

test('a stopped agent\'s state.db restored from a backup copy reads as the backup, for the sidecar and for the agent restarted', async () => {
  fx.addSession({ id: 'kept', started_at: T0 }, [{ role: 'user', content: 'before the backup', timestamp: T0 + 1 }]);
  fx.db.run('PRAGMA wal_checkpoint(TRUNCATE)');
  copyFileSync(fx.path, join(t.home, 'backup.db'));
  fx.addSession({ id: 'after-backup', started_at: T0 + 10 }, [{ role: 'user', content: 'later', timestamp: T0 + 11 }]);
  expect(await ids()).toEqual(['after-backup', 'kept']);
  // The agent stops a while after the sidecar's last read: as the last connection it checkpoints
  // and removes its WAL (the sidecar's connection, held open, kept it there).
  await Bun.sleep(1200);
  fx.close();
  expect(existsSync(`${fx.path}-wal`)).toBe(false);
  copyFileSync(join(t.home, 'backup.db'), fx.path);
  expect(await ids()).toEqual(['kept']);
  const agent = new Database(fx.path);
  expect(agent.query('SELECT id FROM sessions').all()).toEqual([{ id: 'kept' }]);
  agent.close();
});
