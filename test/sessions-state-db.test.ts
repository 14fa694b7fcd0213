/**
 * Sessions read from a state.db built with Hermes' schema, in the 0.12-era layout (v6) and the
 * 0.17+/0.18 layout (v19), with the "agent" holding the file open in WAL mode throughout.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { holdLock } from './helpers/lock-holder';
import { createStateDb, multimodal, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';

const T0 = 1_780_000_000;

function seed(fx: StateDbFixture): void {
  fx.addSession({ id: 's_old', source: 'cli', title: 'Old one', started_at: T0, input_tokens: 10, output_tokens: 20 }, [
    { role: 'user', content: 'first question about cats', timestamp: T0 + 1 },
    { role: 'assistant', content: 'cats answer', timestamp: T0 + 2 },
  ]);
  fx.addSession({ id: 's_tools', source: 'telegram', started_at: T0 + 100 }, [
    {
      role: 'user', timestamp: T0 + 101,
      content: multimodal([{ type: 'text', text: 'look at this picture' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]),
    },
    {
      role: 'assistant', content: '', timestamp: T0 + 102, reasoning: 'I should search',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'web_search', arguments: '{"q":"x"}' } }],
    },
    { role: 'tool', content: '3 results', tool_call_id: 'call_1', tool_name: 'web_search', timestamp: T0 + 103 },
    { role: 'assistant', content: 'Here is what I found', timestamp: T0 + 104 },
  ]);
  fx.addSession({ id: 's_new', source: 'cli', started_at: T0 + 50 }, [{ role: 'user', content: 'recent', timestamp: T0 + 500 }]);
  fx.addSession({ id: 's_empty', source: 'cli', started_at: T0 + 200 });
}

const ids = (body: { items: { id: string }[] }) => body.items.map((s) => s.id);

for (const layout of ['v6', 'v19'] as StateDbLayout[]) {
  describe(`state.db ${layout}`, () => {
    let t: TestApp;
    let fx: StateDbFixture;

    beforeEach(async () => {
      t = await makeTestApp();
      fx = createStateDb(t.home, layout);
      seed(fx);
    });
    afterEach(() => {
      fx.close();
      t.close();
    });

    test('lists newest activity first with every field, a true total, limit and offset', async () => {
      const all = await t.json<{ items: Record<string, unknown>[]; total: number; limit: number; offset: number }>('GET', '/api/sessions');
      expect(all.status).toBe(200);
      expect(ids(all.body as never)).toEqual(['s_new', 's_empty', 's_tools', 's_old']);
      expect(all.body).toMatchObject({ total: 4, limit: 50, offset: 0 });
      expect(all.body.items[2]).toEqual({
        id: 's_tools', title: null, model: 'hermes-agent', source: 'telegram', origin: 'state-db', started_at: T0 + 100, ended_at: null,
        last_active: T0 + 104, message_count: 4, tool_call_count: 1, input_tokens: 0, output_tokens: 0, preview: 'look at this picture',
      });
      expect(all.body.items[1]).toMatchObject({ id: 's_empty', last_active: T0 + 200, message_count: 0, preview: null });
      const page = await t.json('GET', '/api/sessions?limit=2&offset=1');
      expect(ids(page.body as never)).toEqual(['s_empty', 's_tools']);
      expect(page.body).toMatchObject({ total: 4, limit: 2, offset: 1 });
      const past = await t.json('GET', '/api/sessions?offset=10');
      expect(past.body).toMatchObject({ items: [], total: 4 });
    });

    test('filters on the platform source', async () => {
      expect((await t.json('GET', '/api/sessions?source=cli')).body).toMatchObject({ total: 3 });
      expect(ids((await t.json('GET', '/api/sessions?source=telegram')).body as never)).toEqual(['s_tools']);
      expect((await t.json('GET', '/api/sessions?source=discord')).body).toMatchObject({ items: [], total: 0 });
    });

    test('one session, and 404 for an unknown id', async () => {
      const one = await t.json('GET', '/api/sessions/s_old');
      expect(one.body).toMatchObject({ session: { id: 's_old', title: 'Old one', input_tokens: 10, output_tokens: 20, preview: 'first question about cats' } });
      const missing = await t.json('GET', '/api/sessions/nope');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ code: 'session_not_found' });
    });

    test('messages oldest first: tool_calls parsed, multimodal content decoded, paged', async () => {
      const res = await t.json<{ items: Record<string, unknown>[]; total: number; session_id: string }>('GET', '/api/sessions/s_tools/messages');
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(4);
      expect(res.body.session_id).toBe('s_tools');
      expect(res.body.items.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      expect(res.body.items[0]?.content).toEqual([{ type: 'text', text: 'look at this picture' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]);
      expect(res.body.items[1]).toMatchObject({
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'web_search', arguments: '{"q":"x"}' } }],
        reasoning: layout === 'v19' ? 'I should search' : null,
        timestamp: T0 + 102,
      });
      expect(res.body.items[2]).toMatchObject({ role: 'tool', content: '3 results', tool_call_id: 'call_1', tool_name: 'web_search', tool_calls: null });
      const page = await t.json<{ items: { content: unknown }[]; total: number }>('GET', '/api/sessions/s_tools/messages?limit=1&offset=3');
      expect(page.body.items.map((m) => m.content)).toEqual(['Here is what I found']);
      expect(page.body.total).toBe(4);
      expect((await t.json('GET', '/api/sessions/nope/messages')).status).toBe(404);
    });

    test('an unparseable tool_calls value or content blob is shown, never a 500', async () => {
      fx.addMessage('s_old', { role: 'assistant', content: '\u0000json:{broken', tool_calls: 'not json', timestamp: T0 + 3 });
      const res = await t.json<{ items: Record<string, unknown>[] }>('GET', '/api/sessions/s_old/messages');
      expect(res.status).toBe(200);
      expect(res.body.items[2]).toMatchObject({ content: '{broken', tool_calls: null });
    });

    test('DELETE removes the session and its messages in the agent\'s file; Hermes\' triggers clean its FTS index', async () => {
      expect(fx.ftsHits('found')).toBe(1);
      const res = await t.json('DELETE', '/api/sessions/s_tools');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ deleted: true, session_id: 's_tools' });
      expect(fx.count('sessions', 's_tools')).toBe(0);
      expect(fx.count('messages', 's_tools')).toBe(0);
      expect(fx.ftsHits('found')).toBe(0);
      expect(fx.count('messages', 's_old')).toBe(2);
      expect((await t.json('GET', '/api/sessions/s_tools')).status).toBe(404);
      expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 3 });
      const again = await t.json('DELETE', '/api/sessions/s_tools');
      expect(again.status).toBe(404);
      expect(again.body).toMatchObject({ code: 'session_not_found' });
    });

    test('a child session outlives its deleted parent, detached', async () => {
      fx.addSession({ id: 's_child', parent_session_id: 's_old', started_at: T0 + 10 });
      expect((await t.json('DELETE', '/api/sessions/s_old')).status).toBe(200);
      const row = fx.db.query('SELECT parent_session_id FROM sessions WHERE id = ?').get('s_child') as { parent_session_id: string | null };
      expect(row.parent_session_id).toBeNull();
    });

    test('DELETE waits for an agent holding the write lock instead of failing', async () => {
      // The "agent" is another process: it takes the write lock and holds it until released.
      const agent = await holdLock(fx.path, { begin: 'BEGIN IMMEDIATE', end: 'COMMIT', statements: ["UPDATE sessions SET title = 'held' WHERE id = 's_new'"] });
      let settled = false;
      const deleting = t.json('DELETE', '/api/sessions/s_old').finally(() => {
        settled = true;
      });
      // Still waiting while the lock is held (several retry rounds), with the server free to answer.
      for (let i = 0; i < 5; i++) expect((await t.fetch('/health')).status).toBe(200);
      await Bun.sleep(100);
      expect(settled).toBe(false);
      await agent.release();
      const res = await deleting;
      expect(res.status).toBe(200);
      expect(fx.count('sessions', 's_old')).toBe(0);
      expect((fx.db.query("SELECT title FROM sessions WHERE id = 's_new'").get() as { title: string }).title).toBe('held');
    });

    test('DELETE of a session only the sidecar has succeeds while the agent holds the write lock (state.db is not written)', async () => {
      expect((await t.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
      // The agent is mid-write (before: the delete waited for this lock, then 503 state_db_busy after ~5 s).
      fx.db.run('BEGIN IMMEDIATE');
      try {
        fx.db.run("UPDATE sessions SET title = 'held' WHERE id = 's_new'");
        expect(await t.json('DELETE', '/api/sessions/mine')).toMatchObject({ status: 200, body: { deleted: true, session_id: 'mine' } });
        expect((await t.json('DELETE', '/api/sessions/nope')).body).toMatchObject({ code: 'session_not_found' });
        expect(fx.db.inTransaction).toBe(true);
      } finally {
        fx.db.run('COMMIT');
      }
      expect((await t.json('GET', '/api/sessions/mine')).status).toBe(404);
      expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 4 });
    });

    test('POST with an id that exists in state.db is a 409 and creates nothing', async () => {
      const res = await t.json('POST', '/api/sessions', { id: 's_old' });
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'session_exists' });
      expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 4 });
    });

    test('PATCH keeps the title in the sidecar (state.db is only written to delete) and shows it', async () => {
      const res = await t.json('PATCH', '/api/sessions/s_old', { title: 'Renamed' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ session: { id: 's_old', title: 'Renamed', origin: 'state-db' } });
      expect((await t.json('GET', '/api/sessions?limit=10')).body).toMatchObject({ items: [{}, {}, {}, { id: 's_old', title: 'Renamed' }] });
      expect((fx.db.query("SELECT title FROM sessions WHERE id = 's_old'").get() as { title: string }).title).toBe('Old one');
      expect((await t.json('PATCH', '/api/sessions/s_old', { title: null })).body).toMatchObject({ session: { title: null } });
      expect((await t.json('PATCH', '/api/sessions/nope', { title: 'x' })).status).toBe(404);
    });

    test('columns the agent adds while the sidecar has the file open are picked up', async () => {
      expect((await t.json('GET', '/api/sessions/s_old/messages')).status).toBe(200);
      if (layout === 'v6') fx.db.run('ALTER TABLE messages ADD COLUMN reasoning TEXT');
      fx.db.run("UPDATE messages SET reasoning = 'pondering' WHERE session_id = 's_old' AND role = 'assistant'");
      const res = await t.json<{ items: { reasoning: string | null }[] }>('GET', '/api/sessions/s_old/messages');
      expect(res.body.items.map((m) => m.reasoning)).toEqual([null, 'pondering']);
    });

    test('sessions and messages the agent writes after start-up show at once (the kept order is re-read after any commit)', async () => {
      expect(ids((await t.json('GET', '/api/sessions?limit=1')).body as never)).toEqual(['s_new']);
      fx.addSession({ id: 's_later', started_at: T0 + 1000 }, [{ role: 'user', content: 'hi', timestamp: T0 + 1001 }]);
      expect(ids((await t.json('GET', '/api/sessions?limit=1')).body as never)).toEqual(['s_later']);
      // A new message in the oldest session makes it the most recent.
      fx.addMessage('s_old', { role: 'user', content: 'back again', timestamp: T0 + 2000 });
      expect(ids((await t.json('GET', '/api/sessions?limit=2')).body as never)).toEqual(['s_old', 's_later']);
      expect((await t.json('DELETE', '/api/sessions/s_old')).status).toBe(200);
      expect(ids((await t.json('GET', '/api/sessions?limit=1')).body as never)).toEqual(['s_later']);
    });
  });
}

describe('state.db v19 specifics', () => {
  test('rewound (inactive) messages are not part of the conversation', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 's', started_at: T0 }, [
      { role: 'user', content: 'one', timestamp: T0 + 1 },
      { role: 'assistant', content: 'rewound away', timestamp: T0 + 2, active: 0 },
      { role: 'assistant', content: 'kept', timestamp: T0 + 3 },
    ]);
    const res = await t.json<{ items: { content: string }[]; total: number }>('GET', '/api/sessions/s/messages');
    expect(res.body.items.map((m) => m.content)).toEqual(['one', 'kept']);
    expect(res.body.total).toBe(2);
    fx.close();
    t.close();
  });

  test('a rewound message does not make its session the most recent one', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'rewound', started_at: T0 }, [
      { role: 'user', content: 'old q', timestamp: T0 + 1 },
      { role: 'assistant', content: 'undone', timestamp: T0 + 9000, active: 0 },
    ]);
    fx.addSession({ id: 'recent', started_at: T0 }, [{ role: 'user', content: 'q', timestamp: T0 + 100 }]);
    const list = await t.json<{ items: { id: string; last_active: number }[] }>('GET', '/api/sessions');
    expect(list.body.items.map((s) => [s.id, s.last_active])).toEqual([['recent', T0 + 100], ['rewound', T0 + 1]]);
    fx.close();
    t.close();
  });

  test('DELETE removes what Hermes\' own delete removes: delegate subagent runs (recursively) and rows that cascade', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    seed(fx);
    // A subagent run of s_tools, that run's own subagent, and a /branch child (no marker: it stays, detached).
    fx.addSession({ id: 'sub', source: 'subagent', parent_session_id: 's_tools', model_config: { _delegate_from: 's_tools' }, started_at: T0 + 102 },
      [{ role: 'user', content: 'subagent secret task', timestamp: T0 + 102 }]);
    fx.addSession({ id: 'subsub', source: 'subagent', parent_session_id: 'sub', model_config: { _delegate_from: 'sub' }, started_at: T0 + 103 },
      [{ role: 'user', content: 'nested', timestamp: T0 + 103 }]);
    fx.addSession({ id: 'branch', parent_session_id: 's_tools', model_config: { _branched_from: 's_tools' }, started_at: T0 + 300 });
    fx.addSession({ id: 'other_sub', source: 'subagent', parent_session_id: 's_old', model_config: { _delegate_from: 's_old' }, started_at: T0 + 5 });
    fx.bindTelegramTopic('42', '7', 's_tools');
    const res = await t.json('DELETE', '/api/sessions/s_tools');
    expect(res).toMatchObject({ status: 200, body: { deleted: true, session_id: 's_tools' } });
    expect(['s_tools', 'sub', 'subsub'].map((id) => fx.count('sessions', id) + fx.count('messages', id))).toEqual([0, 0, 0]);
    expect(fx.ftsHits('secret')).toBe(0);
    expect(fx.db.query('SELECT parent_session_id AS p FROM sessions WHERE id = ?').get('branch')).toEqual({ p: null });
    expect(fx.count('sessions', 'other_sub')).toBe(1);
    expect(fx.db.query('SELECT COUNT(*) AS n FROM telegram_dm_topic_bindings').get()).toEqual({ n: 0 });
    expect(fx.foreignKeyViolations()).toEqual([]);
    expect(ids((await t.json('GET', '/api/sessions?limit=100')).body as never).sort()).toEqual(['branch', 'other_sub', 's_empty', 's_new', 's_old']);
    fx.close();
    t.close();
  });

  test('a model_config that is not JSON neither fails the delete nor counts as a subagent marker', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'p', started_at: T0 });
    fx.addSession({ id: 'c', parent_session_id: 'p', started_at: T0 + 1 });
    fx.db.run("UPDATE sessions SET model_config = '{not json' WHERE id IN ('p', 'c')");
    expect((await t.json('DELETE', '/api/sessions/p')).status).toBe(200);
    expect(fx.db.query('SELECT id, parent_session_id AS p FROM sessions').all()).toEqual([{ id: 'c', p: null }]);
    fx.close();
    t.close();
  });

  test('counts another program wrote out of range are shown clamped, never a 500', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'huge', started_at: T0 }, []);
    fx.db.run('UPDATE sessions SET output_tokens = 1e300, input_tokens = 9007199254740994, message_count = -5 WHERE id = ?', ['huge']);
    const res = await t.json<{ session: Record<string, number> }>('GET', '/api/sessions/huge');
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ output_tokens: Number.MAX_SAFE_INTEGER, input_tokens: Number.MAX_SAFE_INTEGER, message_count: 0 });
    expect((await t.json('GET', '/api/sessions')).status).toBe(200);
    fx.close();
    t.close();
  });
});

describe('a state.db locked by the agent', () => {
  /**
   * Rollback-journal mode, which Hermes falls back to where WAL does not work: a writer's exclusive
   * lock keeps readers out for as long as it is held.
   */
  const journalMode = (fx: StateDbFixture) => fx.db.run('PRAGMA journal_mode = DELETE');

  /** An agent process holding an exclusive lock on the file until `release` (after our answers, however slow the machine). */
  const lockedByAgent = (fx: StateDbFixture) => holdLock(fx.path, { begin: 'BEGIN EXCLUSIVE', end: 'COMMIT' });

  test('is answered 503 state_db_busy, never as a list without the agent\'s sessions', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    seed(fx);
    journalMode(fx);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 4 });
    const agent = await lockedByAgent(fx);
    const locked = await t.fetch('/api/sessions');
    expect([locked.status, locked.headers.get('retry-after'), ((await locked.json()) as { code: string }).code]).toEqual([503, '1', 'state_db_busy']);
    await agent.release();
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 4 });
    fx.close();
    t.close();
  });

  test('requests waiting for the lock do not stall the others (each used to block the event loop for a second)', async () => {
    const t = await makeTestApp();
    const fx = createStateDb(t.home, 'v19');
    seed(fx);
    journalMode(fx);
    const agent = await lockedByAgent(fx);
    const started = performance.now();
    const waiting = ['/api/sessions', '/api/sessions/s_old', '/api/sessions/s_old/messages', '/api/sessions?limit=1', '/api/sessions?offset=1'].map(async (path) => {
      const res = await t.fetch(path);
      return { path, status: res.status, code: ((await res.json()) as { code: string }).code };
    });
    expect((await t.fetch('/health')).status).toBe(200);
    const healthMs = performance.now() - started;
    for (const w of await Promise.all(waiting)) expect(w).toEqual({ path: w.path, status: 503, code: 'state_db_busy' });
    const allMs = performance.now() - started;
    // Before: five reads one after another, a second each, /health behind them.
    expect({ healthMs: healthMs < 500, allMs: allMs < 3000 }).toEqual({ healthMs: true, allMs: true });
    await agent.release();
    fx.close();
    t.close();
  });
});

describe('without a readable state.db', () => {
  test('a file that is not SQLite is ignored, never a 500', async () => {
    const t = await makeTestApp();
    await Bun.write(join(t.home, 'state.db'), 'this is not a database');
    const created = await t.json<{ session: { id: string } }>('POST', '/api/sessions', { title: 'Only mine' });
    expect(created.status).toBe(201);
    const list = await t.json('GET', '/api/sessions');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 1, items: [{ id: created.body.session.id, origin: 'sidecar', source: 'optx-api', title: 'Only mine' }] });
    t.close();
  });

  test('a state.db that appears later is read from then on', async () => {
    const t = await makeTestApp();
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 0 });
    const fx = createStateDb(t.home, 'v19');
    seed(fx);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 4 });
    fx.close();
    t.close();
  });
});
