/**
 * The merged session view and its routes: the sidecar's own sessions, the upstream session API as the
 * source when there is no state.db, the three together, bad input and concurrent creates.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';
import { appOn, UPSTREAM_KEY as KEY, useFakeHermes } from './helpers/fake-app';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { createStateDb } from './fixtures/state-db';
const ids = (body: unknown) => (body as { items: { id: string }[] }).items.map((s) => s.id);

describe('sidecar sessions (no state.db, no upstream)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp();
  });
  afterEach(() => t.close());

  test('POST creates a session (201) with a Hermes-style id or the given one; GET, list, PATCH, DELETE', async () => {
    const a = await t.json<{ session: Record<string, unknown> }>('POST', '/api/sessions', { title: 'First', model: 'm1' });
    expect(a.status).toBe(201);
    expect(a.body.session).toMatchObject({
      title: 'First', model: 'm1', source: 'optx-api', origin: 'sidecar', ended_at: null, message_count: 0, tool_call_count: 0,
      input_tokens: 0, output_tokens: 0, preview: null,
    });
    expect(a.body.session.id).toMatch(/^\d{8}_\d{6}_[0-9a-f]{6}$/);
    expect(typeof a.body.session.started_at).toBe('number');
    await Bun.sleep(2); // a later start, so the list order is not a tie
    const b = await t.json('POST', '/api/sessions', { id: 'my-own.id:1' });
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({ session: { id: 'my-own.id:1', title: null } });
    expect(ids((await t.json('GET', '/api/sessions')).body)).toEqual(['my-own.id:1', a.body.session.id as string]);
    expect((await t.json('GET', '/api/sessions/my-own.id:1')).body).toMatchObject({ session: { id: 'my-own.id:1' } });
    expect((await t.json('PATCH', '/api/sessions/my-own.id:1', { title: '  Trimmed  ' })).body).toMatchObject({ session: { title: 'Trimmed' } });
    expect((await t.json('DELETE', '/api/sessions/my-own.id:1')).body).toEqual({ deleted: true, session_id: 'my-own.id:1' });
    expect((await t.json('GET', '/api/sessions/my-own.id:1')).status).toBe(404);
    expect((await t.json('GET', '/api/sessions/my-own.id:1/messages')).status).toBe(404);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1 });
  });

  test('an existing id is a 409; of many concurrent creates with one id exactly one wins', async () => {
    expect((await t.json('POST', '/api/sessions', { id: 'dup' })).status).toBe(201);
    expect((await t.json('POST', '/api/sessions', { id: 'dup' })).body).toMatchObject({ code: 'session_exists' });
    const results = await Promise.all(Array.from({ length: 20 }, () => t.json('POST', '/api/sessions', { id: 'race' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
  });

  test('bad input is a 4xx JSON error and changes nothing', async () => {
    await t.json('POST', '/api/sessions', { id: 'keep', title: 'Kept' });
    const bad: [string, string, unknown, number][] = [
      ['GET', '/api/sessions?limit=0', undefined, 422],
      ['GET', '/api/sessions?limit=501', undefined, 422],
      ['GET', '/api/sessions?limit=abc', undefined, 422],
      ['GET', '/api/sessions?offset=-1', undefined, 422],
      ['GET', '/api/sessions/keep/messages?limit=1001', undefined, 422],
      ['POST', '/api/sessions', { id: 'new' }, 422],
      ['POST', '/api/sessions', { id: 'a/b' }, 422],
      ['POST', '/api/sessions', { id: '' }, 422],
      ['POST', '/api/sessions', { title: '   ' }, 422],
      ['POST', '/api/sessions', { title: 42 }, 422],
      ['POST', '/api/sessions', [], 422],
      ['PATCH', '/api/sessions/keep', {}, 422],
      ['PATCH', '/api/sessions/keep', { title: '' }, 422],
      ['PATCH', '/api/sessions/keep', { title: 'x'.repeat(257) }, 422],
    ];
    for (const [method, path, body, status] of bad) {
      const res = await t.json(method, path, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status });
      expect(res.body).toHaveProperty('detail');
      expect(res.body).toHaveProperty('code');
    }
    const malformed = await t.fetch('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":' });
    expect(malformed.status).toBe(400);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 'keep', title: 'Kept' }] });
  });

  test('the list follows every write at once (its keys are kept only while the database is unchanged)', async () => {
    for (const id of ['k1', 'k2', 'k3']) {
      expect((await t.json('POST', '/api/sessions', { id })).status).toBe(201);
      await Bun.sleep(2); // distinct start times, so the order is by activity and not by id
    }
    const list = async () => ids((await t.json('GET', '/api/sessions')).body);
    expect(await list()).toEqual(['k3', 'k2', 'k1']);
    expect(await list()).toEqual(['k3', 'k2', 'k1']);
    // A turn makes k1 the most recent; the store writes it without any other route being called.
    await t.deps.sessions.recordTurn('k1', { user: 'hi', userAt: Date.now(), assistant: 'hello', reasoning: null, usage: null, upstream: 'chat-completions', keepMessages: true, own: true, unfiled: false });
    expect(await list()).toEqual(['k1', 'k3', 'k2']);
    expect((await t.json('DELETE', '/api/sessions/k3')).status).toBe(200);
    expect(await list()).toEqual(['k1', 'k2']);
  });

  test('an empty body creates a session with a new id', async () => {
    const res = await t.fetch('/api/sessions', { method: 'POST' });
    expect(res.status).toBe(201);
  });

  test('a page of messages and its total are read in one snapshot: a turn another process records meanwhile shows in both or in neither', async () => {
    // Two sidecars on one data dir, one chatting a session while the other paged its messages: 18
    // items beside a total of 16 (6 of 618 reads in review).
    const id = (await t.json<{ session: { id: string } }>('POST', '/api/sessions', {})).body.session.id;
    const other = new Database(join(t.dir, 'data', 'optx-api.db'));
    const transcripts = (t.deps.sessions as unknown as { d: { transcripts: { q: { messageCount: { get: (...args: unknown[]) => unknown } } } } }).d.transcripts;
    const stmt = transcripts.q.messageCount;
    const count = stmt.get.bind(stmt);
    stmt.get = (...args) => {
      const n = count(...args);
      stmt.get = count;
      other.run("INSERT INTO chat_messages (session_id, role, content, timestamp) VALUES (?1, 'user', 'hi', 1), (?1, 'assistant', 'hello', 2)", [id]);
      return n;
    };
    const page = (await t.json<{ items: unknown[]; total: number }>('GET', `/api/sessions/${id}/messages`)).body;
    other.close();
    expect(stmt.get).toBe(count);
    expect([page.items.length, page.total]).toEqual([0, 0]);
    const next = (await t.json<{ items: unknown[]; total: number }>('GET', `/api/sessions/${id}/messages`)).body;
    expect([next.items.length, next.total]).toEqual([2, 2]);
  });
});

describe('upstream session API as the source (Hermes 0.17, no state.db)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('lists upstream sessions merged with the sidecar\'s, with a true total across pages', async () => {
    for (let i = 0; i < 5; i++) fake.addSession({ id: `up${i}`, started_at: 1000 + i, last_active: 1000 + i, messages: [{ role: 'user', content: `q${i}` }] });
    for (const s of fake.sessions.values()) s.last_active = 1000 + Number(s.id.slice(2));
    const page = await t.json('GET', '/api/sessions?limit=2&offset=1');
    expect(page.status).toBe(200);
    expect(ids(page.body)).toEqual(['up3', 'up2']);
    expect(page.body).toMatchObject({ total: 5, items: [{ origin: 'upstream', source: 'api_server', message_count: 1, preview: 'q3' }, {}] });
    const mine = await t.json<{ session: { id: string } }>('POST', '/api/sessions', { title: 'Mine' });
    expect(fake.sessions.has(mine.body.session.id)).toBe(true);
    const all = await t.json('GET', '/api/sessions');
    expect(all.body).toMatchObject({ total: 6 });
    expect(ids(all.body)[0]).toBe(mine.body.session.id);
    expect((await t.json('GET', '/api/sessions?source=optx-api')).body).toMatchObject({ total: 0 });
  });

  test('an upstream that caps its pages below what was asked for is read to the end', async () => {
    fake.behavior.sessionPageCap = 7;
    for (let i = 0; i < 30; i++) fake.addSession({ id: `cap${i}`, started_at: 2000 + i, last_active: 2000 + i });
    const all = await t.json('GET', '/api/sessions?limit=100');
    expect(all.body).toMatchObject({ total: 30 });
    expect(ids(all.body)).toEqual(Array.from({ length: 30 }, (_, i) => `cap${29 - i}`));
  });

  test('GET, messages, PATCH and DELETE go to the upstream', async () => {
    const s = fake.addSession({ id: 'up', title: 'Up', messages: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi' }] });
    expect((await t.json('GET', '/api/sessions/up')).body).toMatchObject({ session: { id: 'up', title: 'Up', origin: 'upstream' } });
    const msgs = await t.json('GET', '/api/sessions/up/messages?limit=1&offset=1');
    expect(msgs.body).toMatchObject({ total: 2, session_id: 'up', items: [{ role: 'assistant', content: 'hi', tool_calls: null }] });
    const patched = await t.json('PATCH', '/api/sessions/up', { title: 'Renamed' });
    expect(patched.body).toMatchObject({ session: { title: 'Renamed' } });
    expect(s.title).toBe('Renamed');
    expect((await t.json('DELETE', '/api/sessions/up')).status).toBe(200);
    expect(fake.sessions.has('up')).toBe(false);
    expect((await t.json('DELETE', '/api/sessions/up')).status).toBe(404);
  });

  test('POST with an id the upstream has is a 409; an upstream refusal undoes the local create', async () => {
    fake.addSession({ id: 'taken' });
    expect((await t.json('POST', '/api/sessions', { id: 'taken' })).status).toBe(409);
    fake.behavior.statusOverride = { '/api/sessions': 500 };
    const res = await t.json('POST', '/api/sessions', { id: 'fresh' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ detail: 'The Hermes upstream answered 500: Fake Hermes: forced HTTP 500' });
    fake.behavior.statusOverride = {};
    expect((await t.json('GET', '/api/sessions/fresh')).status).toBe(404);
  });

  test('the upstream going away is reported, not hidden, also once the probe has seen it go', async () => {
    fake.addSession({ id: 'theirs', messages: [{ role: 'user', content: 'q' }] });
    const mine = (await t.json<{ session: { id: string } }>('POST', '/api/sessions', { title: 'Mine' })).body.session.id;
    await fake.pause();
    try {
      for (const probed of [false, true]) {
        if (probed) await t.deps.probe.probeNow();
        expect(t.deps.probe.state.connected).toBe(!probed);
        for (const [method, path] of [['GET', '/api/sessions'], ['GET', '/api/sessions/theirs'], ['GET', '/api/sessions/theirs/messages'], ['DELETE', '/api/sessions/theirs'], ['DELETE', `/api/sessions/${mine}`]]) {
          const res = await t.json(method as string, path as string);
          expect([probed, method, path, res.status, res.body.code]).toEqual([probed, method, path, 502, 'upstream_unreachable']);
        }
      }
    } finally {
      await fake.resume();
    }
    await t.deps.probe.probeNow();
    // Nothing was deleted while the answers were errors.
    expect((await t.json('GET', '/api/sessions/theirs')).body).toMatchObject({ session: { id: 'theirs', message_count: 1 } });
    expect((await t.json('GET', `/api/sessions/${mine}`)).status).toBe(200);
  });

  test('the sidecar sends its own key upstream, never the client\'s', async () => {
    await t.json('GET', '/api/sessions', undefined, { authorization: 'Bearer client-secret' });
    const listed = fake.requests.filter((r) => r.path === '/api/sessions');
    expect(listed.length).toBeGreaterThan(0);
    for (const r of listed) expect(r.headers.authorization).toBe(`Bearer ${KEY}`);
  });
});

describe('state.db and the sidecar together', () => {
  test('a session in both is shown once, from state.db, with the title set through the sidecar', async () => {
    const fake = await startFakeHermes({ version: '0.12' });
    const t = await appOn(fake);
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'cli1', started_at: 100 }, [{ role: 'user', content: 'from the cli', timestamp: 101 }]);
    expect((await t.json('POST', '/api/sessions', { id: 'shared', title: 'Named here' })).status).toBe(201);
    // The agent then writes the same session (e.g. a chat-completions turn with X-Hermes-Session-Id).
    fx.addSession({ id: 'shared', source: 'api_server', started_at: Date.now() / 1000 }, [{ role: 'user', content: 'hi', timestamp: Date.now() / 1000 }]);
    const list = await t.json('GET', '/api/sessions');
    expect(list.body).toMatchObject({ total: 2, items: [{ id: 'shared', origin: 'state-db', source: 'api_server', title: 'Named here', message_count: 1 }, { id: 'cli1' }] });
    const del = await t.json('DELETE', '/api/sessions/shared');
    expect(del.status).toBe(200);
    expect(fx.count('sessions', 'shared')).toBe(0);
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1 });
    fx.close();
    t.close();
    await fake.stop();
  });

  test('with the session API too, a title set here is also set on the agent', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    const t = await appOn(fake);
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'both', started_at: 100 });
    const upstream = fake.addSession({ id: 'both' });
    // The gateway is the agent whose state.db this is: it writes a title there before answering.
    const push = fake.requests.push.bind(fake.requests);
    fake.requests.push = (...reqs) => {
      const req = reqs[0];
      if (req?.method === 'PATCH' && !fake.behavior.statusOverride['/api/sessions/*']) fx.db.run('UPDATE sessions SET title = ? WHERE id = ?', [JSON.parse(req.body).title, 'both']);
      return push(...reqs);
    };
    expect((await t.json('PATCH', '/api/sessions/both', { title: 'Everywhere' })).body).toMatchObject({ session: { origin: 'state-db', title: 'Everywhere' } });
    expect(upstream.title).toBe('Everywhere');
    fake.behavior.statusOverride = { '/api/sessions/*': 409 };
    const refused = await t.json('PATCH', '/api/sessions/both', { title: 'Dup' });
    expect(refused.status).toBe(409);
    expect((await t.json('GET', '/api/sessions/both')).body).toMatchObject({ session: { title: 'Everywhere' } });
    // Renamed on the agent's side afterwards (Hermes Workspace, `hermes sessions rename`): that title shows.
    fx.db.run("UPDATE sessions SET title = 'Agent side' WHERE id = 'both'");
    expect((await t.json('GET', '/api/sessions/both')).body).toMatchObject({ session: { title: 'Agent side' } });
    fx.close();
    t.close();
    await fake.stop();
  });
});

describe('made-up session ids that are already taken', () => {
  /** An id maker that hands out `ids` in order, then repeats the last one. */
  const idsInTurn = (...ids: string[]) => {
    let i = 0;
    return () => ids[Math.min(i++, ids.length - 1)] as string;
  };

  test('a body without an id never gets a 409: a taken id is replaced by another', async () => {
    const t = await makeTestApp({ open: { newSessionId: idsInTurn('20261206_070142_16bfeb', '20261206_070142_16bfeb', '20261206_070142_aaaaaa') } });
    const first = await t.json<{ session: { id: string } }>('POST', '/api/sessions', {});
    const second = await t.json<{ session: { id: string } }>('POST', '/api/sessions', { title: 'Second' });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(first.body.session.id).toBe('20261206_070142_16bfeb');
    expect(second.body.session).toMatchObject({ id: '20261206_070142_aaaaaa', title: 'Second' });
    expect((await t.json('GET', '/api/sessions/20261206_070142_16bfeb')).body).toMatchObject({ session: { title: null } });
    t.close();
  });

  test('when every id tried is taken: 503, and nothing is created', async () => {
    const t = await makeTestApp({ open: { newSessionId: idsInTurn('always-the-same') } });
    expect((await t.json('POST', '/api/sessions', {})).status).toBe(201);
    const refused = await t.json('POST', '/api/sessions', { title: 'Never' });
    expect(refused).toMatchObject({ status: 503, body: { code: 'session_id_unavailable' } });
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 'always-the-same', title: null }] });
    t.close();
  });

  test('an id the agent already has, in state.db or behind its session API, is not used', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    fake.addSession({ id: 'agent-upstream' });
    const t = await makeTestApp({
      env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: KEY },
      open: { newSessionId: idsInTurn('agent-upstream', 'mine-1') },
    });
    await t.deps.probe.probeNow();
    // No state.db yet: the upstream is the agent's source, and it answers that the id exists.
    const viaUpstream = await t.json<{ session: { id: string } }>('POST', '/api/sessions', {});
    expect(viaUpstream).toMatchObject({ status: 201, body: { session: { id: 'mine-1' } } });
    expect(fake.sessions.has('mine-1')).toBe(true);
    t.close();

    const t2 = await makeTestApp({ open: { newSessionId: idsInTurn('agent-cli', 'mine-2') } });
    const fx = createStateDb(t2.home, 'v19');
    fx.addSession({ id: 'agent-cli', started_at: 100 });
    const viaStateDb = await t2.json<{ session: { id: string } }>('POST', '/api/sessions', {});
    expect(viaStateDb).toMatchObject({ status: 201, body: { session: { id: 'mine-2', origin: 'sidecar' } } });
    expect((await t2.json('GET', '/api/sessions/agent-cli')).body).toMatchObject({ session: { origin: 'state-db' } });
    fx.close();
    t2.close();
    await fake.stop();
  });
});

describe('session list statements', () => {
  test('?source= of another source does not read the sidecar\'s own sessions (64 ms at 100,000 of them after each write); its own source and no filter do', async () => {
    const capture = capturePlans();
    const t = await makeTestApp();
    try {
      expect((await t.json('POST', '/api/sessions', { title: 'mine' })).status).toBe(201);
      const ownKeys = async (query: string) => {
        const ran = await capture.plans(async () => {
          // A write first: the keys are kept until the database changes.
          t.deps.db.sqlite.run("INSERT OR REPLACE INTO sidecar_meta (key, value, updated_at) VALUES ('test', '1', '1')");
          expect((await t.json('GET', `/api/sessions${query}`)).status).toBe(200);
        }, /FROM chat_sessions WHERE origin = 'sidecar'$/);
        return ran.length;
      };
      expect(await ownKeys('?source=cli')).toBe(0);
      // Those the agent holds in part are read by every list, from an index of their own: a scan of every row was 31 ms at 100,000.
      const held = await capture.plans(async () => {
        t.deps.db.sqlite.run("INSERT OR REPLACE INTO sidecar_meta (key, value, updated_at) VALUES ('test', '2', '2')");
        expect((await t.json('GET', '/api/sessions?source=cli')).status).toBe(200);
      }, /FROM chat_sessions WHERE origin = 'sidecar' AND unfiled_turns > 0/);
      expect(held).toEqual(['SCAN chat_sessions USING INDEX chat_sessions_held_idx']);
      expect((await t.json('GET', '/api/sessions?source=cli')).body).toMatchObject({ total: 0, items: [] });
      expect(await ownKeys('?source=optx-api')).toBe(1);
      expect(await ownKeys('')).toBe(1);
      expect((await t.json('GET', '/api/sessions?source=optx-api')).body).toMatchObject({ total: 1, items: [{ title: 'mine' }] });
    } finally {
      t.close();
      capture.restore();
    }
  });
});
