/**
 * A full, locked or read-only store is the operator's problem, not a bug: the client gets a clear
 * 5xx JSON error (507 storage_full, 503 storage_busy/storage_read_only), nothing of the request is
 * applied, and the sidecar keeps serving. A full disk is simulated with SQLite's max_page_count,
 * which fails writes with SQLITE_FULL exactly as a full file system does.
 */
import { Database } from 'bun:sqlite';
import { describe, expect, test } from 'bun:test';
import { openDatabase } from '../src/db';
import { storageError } from '../src/lib/errors';
import { GroupCommit } from '../src/modules/tasks/group-commit';
import { makeTestApp, type TestApp } from './helpers/app';
import { useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';

/** No page can be added to the database any more: any write needing one fails with SQLITE_FULL. */
function fillUp(sqlite: Database): void {
  const { page_count } = sqlite.query('PRAGMA page_count').get() as { page_count: number };
  sqlite.run(`PRAGMA max_page_count = ${page_count}`);
}

function makeRoom(sqlite: Database): void {
  sqlite.run('PRAGMA max_page_count = 1073741823');
}

const big = (n: number) => `${'lorem ipsum dolor sit amet '.repeat(Math.ceil(n / 27))}`.slice(0, n);

describe('storageError', () => {
  test('maps SQLite and file-system codes; anything else is not a storage error', () => {
    const e = (code: string) => Object.assign(new Error('x'), { code });
    expect(storageError(e('SQLITE_FULL'))).toMatchObject({ status: 507, code: 'storage_full' });
    expect(storageError(e('ENOSPC'))).toMatchObject({ status: 507, code: 'storage_full' });
    expect(storageError(e('SQLITE_BUSY_SNAPSHOT'))).toMatchObject({ status: 503, code: 'storage_busy', extra: { headers: { 'retry-after': '1' } } });
    expect(storageError(e('SQLITE_READONLY'))).toMatchObject({ status: 503, code: 'storage_read_only' });
    expect(storageError(e('EROFS'))).toMatchObject({ status: 503, code: 'storage_read_only' });
    expect(storageError(e('SQLITE_IOERR_WRITE'))).toMatchObject({ status: 503, code: 'storage_error' });
    expect(storageError(e('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(storageError(e('ECONNREFUSED'))).toBeNull();
    expect(storageError(new Error('plain'))).toBeNull();
    expect(storageError(null)).toBeNull();
  });
});

describe('group commit when the disk fills up', () => {
  test('a job is answered ok only when its row is there, even when SQLite rolls the whole group back', async () => {
    const handle = openDatabase(':memory:');
    const { sqlite } = handle;
    sqlite.run('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)');
    const { page_count } = sqlite.query('PRAGMA page_count').get() as { page_count: number };
    sqlite.run(`PRAGMA max_page_count = ${page_count + 3}`);
    const gc = new GroupCommit(handle);
    const insert = sqlite.prepare('INSERT INTO t (id, x) VALUES (?, ?)');
    // One event-loop turn: one group, which runs out of pages part-way through.
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => gc.run(() => insert.run(i, big(3000)))));
    const stored = new Set((sqlite.query('SELECT id FROM t').all() as { id: number }[]).map((r) => r.id));
    expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
    outcomes.forEach((o, i) => expect({ i, stored: stored.has(i) }).toEqual({ i, stored: o.status === 'fulfilled' }));
    expect(sqlite.inTransaction).toBe(false);
    // With room again, the next group goes through.
    makeRoom(sqlite);
    await Promise.all([gc.run(() => insert.run(100, 'a')), gc.run(() => insert.run(101, 'b'))]);
    expect(sqlite.query('SELECT count(*) AS n FROM t WHERE id >= 100').get()).toEqual({ n: 2 });
    sqlite.close();
  });
});

describe('routes on a full disk', () => {
  test('memory: 507 storage_full, nothing stored, and it works again once there is room', async () => {
    const t: TestApp = await makeTestApp({ env: { MEMORY_BACKEND: 'sqlite' } });
    try {
      expect((await t.json('POST', '/api/memory', { content: 'fits' })).status).toBe(201);
      fillUp(t.deps.db.sqlite);
      const res = await t.json('POST', '/api/memory', { content: big(40_000) });
      expect(res.status).toBe(507);
      expect(res.body).toEqual({ detail: expect.stringContaining('full') as never, code: 'storage_full' });
      expect((await t.json<{ total: number }>('GET', '/api/memory')).body.total).toBe(1);
      expect((await t.fetch('/health')).status).toBe(200);
      makeRoom(t.deps.db.sqlite);
      expect((await t.json('POST', '/api/memory', { content: big(40_000) })).status).toBe(201);
    } finally {
      t.close();
    }
  });

  test('tasks: of concurrent creates on a full disk, each refused one is absent and each created one is there', async () => {
    const t = await makeTestApp();
    try {
      const before = (await t.json<{ total: number }>('GET', '/api/tasks')).body.total;
      fillUp(t.deps.db.sqlite);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => t.json('POST', '/api/tasks', { title: `t${i}`, description: big(8000) })));
      const created = answers.filter((a) => a.status === 201).length;
      for (const a of answers) if (a.status !== 201) expect(a).toMatchObject({ status: 507, body: { code: 'storage_full' } });
      expect(created).toBeLessThan(20);
      expect((await t.json<{ total: number }>('GET', '/api/tasks')).body.total).toBe(before + created);
    } finally {
      t.close();
    }
  });
});

describe('a chat turn that cannot be recorded', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.12', (f, app) => {
    fake = f;
    t = app;
  });
  const turn = async (id: string) => sseEvents(await t.fetch(`/api/sessions/${id}/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hello' }) }));

  test('ends with error storage_full instead of done, and the session stays usable', async () => {
    fake.behavior.reply = () => big(20_000);
    const id = (await t.json<{ session: { id: string } }>('POST', '/api/sessions', {})).body.session.id;
    fillUp(t.deps.db.sqlite);
    const events = await turn(id);
    expect(events.at(-1)).toEqual({ event: 'error', data: { error: expect.stringContaining('full') as never, code: 'storage_full', session_id: id } });
    expect(t.deps.db.sqlite.query('SELECT message_count FROM chat_sessions WHERE id = ?').get(id)).toEqual({ message_count: 0 });
    makeRoom(t.deps.db.sqlite);
    expect((await turn(id)).at(-1)?.event).toBe('done');
    expect(t.deps.db.sqlite.query('SELECT message_count FROM chat_sessions WHERE id = ?').get(id)).toEqual({ message_count: 2 });
  });
});
