/** Waiting for another program's lock on a shared SQLite file without blocking the server (src/db/busy.ts). */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { BUSY_SLICE_MS, BusyQueue, isSqliteBusy, retryWhileBusy } from '../src/db/busy';
import { tempDir } from './helpers/app';

const open: Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

function files() {
  const path = join(tempDir(), 'shared.db');
  const ours = new Database(path, { create: true });
  ours.run('PRAGMA journal_mode = WAL');
  ours.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
  ours.run('CREATE TABLE facts (id INTEGER PRIMARY KEY, content TEXT UNIQUE)');
  const agent = new Database(path);
  open.push(ours, agent);
  const insert = (content: string) => () => ours.transaction(() => ours.run('INSERT INTO facts (content) VALUES (?)', [content])).immediate();
  const contents = () => (ours.query('SELECT content FROM facts ORDER BY id').all() as { content: string }[]).map((r) => r.content);
  return { ours, agent, insert, contents };
}

test('a write waits for the lock with the event loop free, and lands once the lock is released', async () => {
  const f = files();
  f.agent.run('BEGIN IMMEDIATE');
  let done = false;
  const write = retryWhileBusy(f.insert('ours'), 5000).finally(() => {
    done = true;
  });
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 5);
  await Bun.sleep(200);
  clearInterval(ticker);
  // The timer kept firing while the write waited: nothing held the thread for long.
  expect(ticks).toBeGreaterThan(10);
  expect(done).toBe(false);
  f.agent.run('INSERT INTO facts (content) VALUES (?)', ['agent']);
  f.agent.run('COMMIT');
  await write;
  expect(f.contents()).toEqual(['agent', 'ours']);
});

test('still locked at the deadline: the busy error, nothing written; other errors are not retried', async () => {
  const f = files();
  f.agent.run('BEGIN IMMEDIATE');
  const err = await retryWhileBusy(f.insert('late'), 100).catch((e: unknown) => e);
  expect(isSqliteBusy(err)).toBe(true);
  f.agent.run('ROLLBACK');
  expect(f.contents()).toEqual([]);
  await retryWhileBusy(f.insert('once'));
  let calls = 0;
  const dup = await retryWhileBusy(() => {
    calls++;
    return f.insert('once')();
  }).catch((e: unknown) => e);
  expect([isSqliteBusy(dup), calls, (dup as { code?: string }).code]).toEqual([false, 1, 'SQLITE_CONSTRAINT_UNIQUE']);
});

test('writers in line share one deadline each from when they asked, not one after another', async () => {
  const f = files();
  const queue = new BusyQueue();
  f.agent.run('BEGIN IMMEDIATE');
  const attempts = Array.from({ length: 10 }, () => 0);
  const results = await Promise.allSettled(attempts.map((_, i) => queue.run(() => {
    attempts[i]!++;
    return f.insert(`w${i}`)();
  }, 100)));
  expect(results.map((r) => r.status === 'rejected' && isSqliteBusy(r.reason))).toEqual(attempts.map(() => true));
  // The first in line polls until the shared deadline; by then the others' deadlines have passed too,
  // so each tries once. A deadline counted from its own turn would have each poll for 100 ms.
  expect(attempts[0]).toBeGreaterThan(1);
  expect(attempts.slice(1)).toEqual(attempts.slice(1).map(() => 1));
  f.agent.run('ROLLBACK');
  // In order once the lock is free.
  await Promise.all(Array.from({ length: 5 }, (_, i) => queue.run(f.insert(`v${i}`))));
  expect(f.contents()).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
});
