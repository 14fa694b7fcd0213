/**
 * A session deleted while one of its turns ends, the way a real client interleaves them: the DELETE's
 * write of the sidecar's database waits in line (a `sqlite3` session or a backup holds its lock) while
 * the turn's answer comes in; a DELETE made while a new session's turn is still creating it on the
 * agent's side. Whatever the order, a session the DELETE answered as deleted keeps no row, is not
 * found again, and its turn is not answered as done.
 */
import { describe, expect, test } from 'bun:test';
import type { DbHandle } from '../src/db';
import { post, type TestApp } from './helpers/app';
import { useFakeHermes } from './helpers/fake-app';
import { holdUpstreamCalls } from './helpers/held-call';
import { holdLock } from './helpers/lock-holder';
import { sseEvents, sseReader, type SseEvent } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';

/** Resolves when the next write of the sidecar's database is asked for (queued, not yet run). */
function writesAsked(db: DbHandle): () => Promise<void> {
  const waiting: (() => void)[] = [];
  const write = db.write.bind(db);
  db.write = (fn) => {
    const queued = write(fn);
    waiting.shift()?.();
    return queued;
  };
  return () => new Promise<void>((resolve) => waiting.push(resolve));
}

describe('sessions deleted while a turn of theirs runs (Hermes 0.17, session API)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('the turn that ends after the agent deleted the session records nothing: no hidden row holds the id, the stream ends session_deleted', async () => {
    fake.addSession({ id: 'agent-s' });
    const reader = sseReader(await post(t, '/api/sessions/agent-s/chat/stream', { message: 'a b c' }));
    expect((await reader.next())?.event).toBe('session');
    const nextWrite = writesAsked(t.deps.db);
    const holder = await holdLock(t.deps.db.path, { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
    let released = false;
    try {
      // The DELETE: the agent's copy goes at once, its transcript row waits for the lock.
      let asked = nextWrite();
      const deleted = t.json('DELETE', '/api/sessions/agent-s');
      await asked;
      expect(fake.sessions.has('agent-s')).toBe(false);
      // The rest of the turn is read meanwhile: its answer is complete.
      asked = nextWrite();
      const rest = (async () => {
        const out: SseEvent[] = [];
        for (let e = await reader.next(); e; e = await reader.next()) out.push(e);
        return out;
      })();
      await Promise.race([asked, rest]);
      await holder.release();
      released = true;
      expect((await deleted).status).toBe(200);
      const events = await rest;
      expect(events.filter((e) => e.event === 'done')).toEqual([]);
      expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'session_deleted', session_id: 'agent-s' } });
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all('agent-s')).toEqual([]);
    } finally {
      if (!released) await holder.release();
    }
  });

  test('a new session deleted while its turn creates it on the agent\'s side stays deleted there too', async () => {
    // The turn's create call is held until the DELETE is done (as a slow network would).
    const create = holdUpstreamCalls(t.deps.upstream, (path, init) => init.method === 'POST' && path === '/api/sessions');
    const turn = post(t, '/api/sessions/new/chat/stream', { message: 'hi', session_id: 'n1' });
    await create.reached;
    expect((await t.json('DELETE', '/api/sessions/n1')).status).toBe(200);
    create.release();
    const events = await sseEvents(await turn);
    expect(events.map((e) => e.event)).toEqual(['session', 'error']);
    expect(events[1]?.data).toMatchObject({ code: 'session_deleted', session_id: 'n1' });
    expect(fake.sessions.has('n1')).toBe(false);
    expect((await t.json('GET', '/api/sessions/n1')).status).toBe(404);
    expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all('n1')).toEqual([]);
  });

  test('a new session deleted while its turn creates it, then created again by the client: the turn leaves the new one alone', async () => {
    // The turn's create call (the first one) is held until the DELETE and the client's new POST are done.
    let creates = 0;
    const create = holdUpstreamCalls(t.deps.upstream, (path, init) => init.method === 'POST' && path === '/api/sessions' && creates++ === 0);
    const turn = post(t, '/api/sessions/new/chat/stream', { message: 'hi', session_id: 'n2' });
    await create.reached;
    expect((await t.json('DELETE', '/api/sessions/n2')).status).toBe(200);
    expect(await t.json('POST', '/api/sessions', { id: 'n2', title: 'again' })).toMatchObject({ status: 201, body: { session: { id: 'n2' } } });
    create.release();
    const events = await sseEvents(await turn);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { session_id: 'n2' } });
    // The session the client made after its DELETE is still there, here and on the agent's side.
    expect(fake.sessions.has('n2')).toBe(true);
    expect(await t.json('GET', '/api/sessions/n2')).toMatchObject({ status: 200, body: { session: { id: 'n2', title: 'again' } } });
    expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all('n2')).toEqual([{ id: 'n2' }]);
  });
});
