/**
 * The merged view walked as a client walks it: sessions in state.db (or the upstream session API) and
 * the sidecar's own, with equal times, empty sessions, a title set by PATCH and a session in two
 * sources; every page size gives the same order, once each, with a true total; `source` partitions the
 * list; GET and the messages of each id agree with its list entry; unusual ids work on every route.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import type { TestApp } from './helpers/app';
import { appOn } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes, type HermesVersion } from './fakes/hermes';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';

interface Listed { id: string; last_active: number | null; started_at: number | null; source: string | null; message_count: number }

const T0 = Math.floor(Date.now() / 1000) - 10_000;

async function walk(t: TestApp, limit: number, source?: string): Promise<{ ids: string[]; items: Listed[]; totals: Set<number> }> {
  const items: Listed[] = [];
  const totals = new Set<number>();
  for (let offset = 0; ; offset += limit) {
    const r = await t.json<{ items: Listed[]; total: number }>('GET', `/api/sessions?limit=${limit}&offset=${offset}${source ? `&source=${source}` : ''}`);
    expect(r.status).toBe(200);
    totals.add(r.body.total);
    items.push(...r.body.items);
    if (r.body.items.length < limit) break;
  }
  return { ids: items.map((s) => s.id), items, totals };
}

/** Newest `last_active` first, then `started_at`, then id (docs/sessions-chat.md). */
const before = (a: Listed, b: Listed) =>
  (b.last_active ?? -Infinity) - (a.last_active ?? -Infinity) || (b.started_at ?? -Infinity) - (a.started_at ?? -Infinity) || (a.id < b.id ? -1 : 1);

async function expectConsistent(t: TestApp, expectedIds: string[]): Promise<void> {
  const all = await walk(t, 500);
  expect([...all.ids].sort()).toEqual([...expectedIds].sort());
  expect([...all.totals]).toEqual([expectedIds.length]);
  expect([...all.items].sort(before).map((s) => s.id)).toEqual(all.ids);
  for (const limit of [1, 2, 3, 7]) {
    const w = await walk(t, limit);
    expect(w.ids).toEqual(all.ids);
    expect([...w.totals]).toEqual([expectedIds.length]);
  }
  const partition: string[] = [];
  for (const source of new Set(all.items.map((s) => s.source))) {
    const w = await walk(t, 2, source ?? undefined);
    expect(w.ids).toEqual(all.items.filter((s) => s.source === source).map((s) => s.id));
    partition.push(...w.ids);
  }
  expect(partition.sort()).toEqual([...all.ids].sort());
  for (const s of all.items) {
    const path = `/api/sessions/${encodeURIComponent(s.id)}`;
    expect((await t.json('GET', path)).body).toEqual({ session: s });
    const m = await t.json<{ items: unknown[]; total: number; session_id: string }>('GET', `${path}/messages?limit=1000`);
    expect([m.body.session_id, m.body.total, m.body.items.length]).toEqual([s.id, s.message_count, s.message_count]);
  }
}

const stream = async (t: TestApp, id: string, message: string) =>
  sseEvents(await t.fetch(`/api/sessions/${id}/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) }));

function sidecarTimes(t: TestApp, id: string, lastActive: number, startedAt: number): void {
  t.deps.db.sqlite.run('UPDATE chat_sessions SET last_active = ?, started_at = ? WHERE id = ?', [lastActive, startedAt, id]);
}

function useApp(version: HermesVersion, use: (fake: FakeHermes, t: TestApp) => void): void {
  let fake: FakeHermes;
  let t: TestApp;
  beforeEach(async () => {
    fake = await startFakeHermes({ version });
    t = await appOn(fake);
    use(fake, t);
  });
  afterEach(async () => {
    t.close();
    await fake.stop();
  });
}

describe('state.db (v19) and the sidecar (Hermes 0.12, chat-completions fallback)', () => {
  let t: TestApp;
  let fx: StateDbFixture;
  useApp('0.12', (_f, app) => {
    t = app;
    fx = createStateDb(t.home, 'v19');
  });
  afterEach(() => fx.close());

  test('every page size walks the same sessions once each, newest first, and every view of a session agrees', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(`db_${i}`);
      fx.addSession({ id: `db_${i}`, source: i % 2 ? 'cli' : 'telegram', started_at: T0 + i * 10 }, i % 3 === 0 ? [] : [
        { role: 'user', content: `q${i}`, timestamp: T0 + 100 },
        { role: 'assistant', content: `a${i}`, timestamp: T0 + 100 + (i % 2) },
      ]);
    }
    for (let i = 0; i < 5; i++) {
      ids.push(`side_${i}`);
      expect((await t.json('POST', '/api/sessions', { id: `side_${i}`, title: `Side ${i}` })).status).toBe(201);
      if (i % 2) expect((await stream(t, `side_${i}`, `hello ${i}`)).at(-1)?.event).toBe('done');
    }
    // Same last_active as db_2 and db_4, same started_at as db_0.
    sidecarTimes(t, 'side_0', T0 + 100, T0);
    // Streamed by the sidecar and in state.db too.
    fx.addSession({ id: 'side_1', source: 'api_server', started_at: T0 + 5 }, [{ role: 'user', content: 'hello 1', timestamp: T0 + 200 }]);
    expect((await t.json('PATCH', '/api/sessions/db_2', { title: 'Patched' })).status).toBe(200);
    await expectConsistent(t, ids);
    expect((await t.json('GET', '/api/sessions/side_1')).body).toMatchObject({ session: { origin: 'state-db', source: 'api_server', title: 'Side 1', message_count: 1 } });
    // DELETE of the session in two sources removes it from both.
    expect((await t.json('DELETE', '/api/sessions/side_1')).body).toEqual({ deleted: true, session_id: 'side_1' });
    expect(fx.count('sessions', 'side_1')).toBe(0);
    expect(t.deps.db.sqlite.query("SELECT COUNT(*) AS n FROM chat_sessions WHERE id = 'side_1'").get()).toEqual({ n: 0 });
    await expectConsistent(t, ids.filter((id) => id !== 'side_1'));
  });

  test('unusual ids work on every route', async () => {
    const odd = ['a b', 'ü日本', 'a/b', 'a%2Fb', '%', 'x?y', 'x#y', 'new', 'emoji😀', 'tab\tx', 'plus+x', 'quote"x'];
    for (const id of odd) fx.addSession({ id, started_at: T0 }, [{ role: 'user', content: 'hi', timestamp: T0 + 1 }]);
    await expectConsistent(t, odd);
    for (const id of odd) {
      const path = `/api/sessions/${encodeURIComponent(id)}`;
      expect((await t.json('PATCH', path, { title: `T ${id}` })).body).toMatchObject({ session: { id, title: `T ${id}` } });
      expect((await t.json('DELETE', path)).body).toEqual({ deleted: true, session_id: id });
      expect((await t.json('GET', path)).status).toBe(404);
    }
  });
});

describe('the upstream session API (Hermes 0.17, no state.db) and the sidecar', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useApp('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('every page size walks the same sessions once each, newest first, and every view of a session agrees', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(`up_${i}`);
      const messages = i % 3 === 0 ? [] : [{ role: 'user' as const, content: `q${i}` }, { role: 'assistant' as const, content: `a${i}` }];
      fake.addSession({ id: `up_${i}`, source: i % 2 ? 'cli' : 'telegram', started_at: T0 + i * 10, messages }).last_active = T0 + 100 + (i % 2);
    }
    // Created here and on the agent's side: listed once, from the upstream.
    for (let i = 0; i < 3; i++) {
      ids.push(`made_${i}`);
      expect((await t.json('POST', '/api/sessions', { id: `made_${i}`, title: `Made ${i}` })).status).toBe(201);
    }
    // Sessions of the sidecar's own the agent does not have (made while it had no session API).
    for (let i = 0; i < 2; i++) {
      ids.push(`made_${i + 3}`);
      expect((await t.json('POST', '/api/sessions', { id: `made_${i + 3}` })).status).toBe(201);
      fake.sessions.delete(`made_${i + 3}`);
    }
    sidecarTimes(t, 'made_3', T0 + 100, T0 + 10);
    expect((await t.json('PATCH', '/api/sessions/up_2', { title: 'Patched' })).status).toBe(200);
    await expectConsistent(t, ids);
    expect((await t.json('DELETE', '/api/sessions/made_0')).status).toBe(200);
    expect(fake.sessions.has('made_0')).toBe(false);
    await expectConsistent(t, ids.filter((id) => id !== 'made_0'));
  });
});
