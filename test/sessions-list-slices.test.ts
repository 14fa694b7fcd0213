/**
 * GET /api/sessions over a state.db the agent keeps writing: the session keys are read in slices with
 * the event loop free between them (state-db-keys.ts), and every answer must equal one whole read of
 * the file as it was when the list was asked. The differential test applies random agent operations
 * between list calls and compares with a fresh whole read (`readKeys` on a connection of its own).
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { silentLogger } from '../src/lib/log';
import type { Session } from '../src/modules/sessions/model';
import { SessionLister } from '../src/modules/sessions/session-list';
import { StateDb } from '../src/modules/sessions/state-db';
import { readKeysInSlices } from '../src/modules/sessions/state-db-keys';
import { columnsOf, readKeys, type SessionKey } from '../src/modules/sessions/state-db-queries';
import { TranscriptStore } from '../src/modules/sessions/transcripts';
import type { UpstreamSessions } from '../src/modules/sessions/upstream-sessions';
import { createStateDb, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';
import { makeTestApp, type TestApp } from './helpers/app';

const T0 = 1_780_000_000;
const SOURCES = ['cli', 'telegram', 'discord'];

/** One whole read of the file as it is now, on a connection of its own. */
function wholeRead(path: string): SessionKey[] {
  const db = new Database(path, { readonly: true });
  try {
    return readKeys({ db, sessions: columnsOf(db, 'sessions'), messages: columnsOf(db, 'messages') });
  } finally {
    db.close();
  }
}

/** A StateDb whose keys are the whole read: the reference the sliced lists are compared with. */
class WholeReadStateDb extends StateDb {
  override async keys(): Promise<readonly SessionKey[]> {
    return wholeRead(this.path);
  }
}

const byId = (keys: readonly SessionKey[]) => [...keys].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

let t: TestApp;
let fx: StateDbFixture;
let sdb: StateDb;
afterEach(() => {
  sdb?.close();
  fx?.close();
  t?.close();
});

async function setUp(layout: StateDbLayout, slice: number): Promise<void> {
  t = await makeTestApp();
  fx = createStateDb(t.home, layout);
  sdb = new StateDb(fx.path, silentLogger, slice);
}

test('the key read lets other callbacks run between its slices, and answers the whole read', async () => {
  await setUp('v19', 1000);
  fx.db.transaction(() => {
    for (let i = 0; i < 3500; i++) fx.addSession({ id: `s${i}`, source: SOURCES[i % 3], started_at: T0 + i }, [{ role: 'user', content: 'hi', timestamp: T0 + i + 1 }]);
  })();
  let ticks = 0;
  let ticking = true;
  const tick = () => {
    ticks++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const keys = await sdb.keys();
  ticking = false;
  // Four slices of 1,000: the loop ran between them. One synchronous read would let none run.
  expect(ticks).toBeGreaterThanOrEqual(3);
  expect(byId(keys)).toEqual(byId(wholeRead(fx.path)));
  // Unchanged file: the same keys are handed back without a read.
  expect(await sdb.keys()).toBe(keys);
});

test('a read is one snapshot: agent commits between its slices are not in it, and the next read has them', async () => {
  await setUp('v19', 4);
  for (let i = 0; i < 20; i++) fx.addSession({ id: `s${i}`, started_at: T0 + i }, [{ role: 'user', content: 'q', timestamp: T0 + 100 + i }, { role: 'assistant', content: 'a', timestamp: T0 + 200 + i }]);
  const before = wholeRead(fx.path);
  let slices = 0;
  const st = statSync(fx.path);
  const keys = await readKeysInSlices(fx.path, st, 1000, () => {
    slices++;
    // Between slices the agent adds a session, rewinds one already read and one not yet read, deletes one.
    fx.addSession({ id: `late${slices}`, started_at: T0 + 1000 }, [{ role: 'user', content: 'late', timestamp: T0 + 2000 }]);
    fx.db.run("UPDATE messages SET active = 0 WHERE session_id IN ('s1', 's18') AND role = 'assistant'");
    fx.db.run("DELETE FROM messages WHERE session_id = 's17'");
    fx.db.run("DELETE FROM sessions WHERE id = 's17'");
  }, 4);
  expect(slices).toBe(5);
  expect(byId(keys ?? [])).toEqual(byId(before));
  expect(byId(await sdb.keys())).toEqual(byId(wholeRead(fx.path)));
  // A file that is not the one the caller has open (replaced meanwhile) is not read.
  expect(await readKeysInSlices(fx.path, { dev: st.dev, ino: st.ino + 1 }, 1000, () => {}, 4)).toBeNull();
});

test('lists asked while a read is under way share it; one asked after a commit waits for it, then reads the new state', async () => {
  await setUp('v19', 3);
  for (let i = 0; i < 12; i++) fx.addSession({ id: `s${i}`, started_at: T0 + i }, [{ role: 'user', content: 'q', timestamp: T0 + 100 + i }]);
  const first = sdb.keys();
  const second = sdb.keys();
  fx.addSession({ id: 'late', started_at: T0 + 1000 });
  const third = sdb.keys();
  const [a, b, c] = await Promise.all([first, second, third]);
  expect(a).toBe(b);
  expect(a.map((k) => k.id)).not.toContain('late');
  expect(byId(c)).toEqual(byId(wholeRead(fx.path)));
});

test('a sessions table without a rowid (another program\'s file) is read whole, with the same answer', async () => {
  t = await makeTestApp();
  const path = `${t.home}/state.db`;
  const db = new Database(path, { create: true });
  db.exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT, started_at REAL) WITHOUT ROWID;
    CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id TEXT, role TEXT, content TEXT, timestamp REAL);
    INSERT INTO sessions VALUES ('a', 'cli', 10), ('b', 'telegram', 20), ('c', 'cli', 30);
    INSERT INTO messages (session_id, role, content, timestamp) VALUES ('a', 'user', 'hi', 50), ('b', 'user', 'hi', 40);`);
  db.close();
  const keys = await readKeysInSlices(path, statSync(path), 1000, () => {}, 1);
  expect(byId(keys ?? [])).toEqual(byId(wholeRead(path)));
  expect((await t.json<{ items: { id: string }[] }>('GET', '/api/sessions')).body.items.map((s) => s.id)).toEqual(['a', 'b', 'c']);
});

/** A small deterministic generator, so a failing run can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => ((seed = (seed * 1664525 + 1013904223) % 4294967296) / 4294967296);
}

for (const layout of ['v19', 'v6'] as const) {
  describe(`random agent writes between list calls (${layout})`, () => {
    beforeEach(() => setUp(layout, 3));

    test('every list, page and source filter equals the whole read; a read under way answers the state it started on', async () => {
      const random = rng(layout === 'v19' ? 19 : 6);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
      const transcripts = new TranscriptStore(t.deps.db);
      // The upstream session API is not a source in these lists.
      const upstream = undefined as unknown as UpstreamSessions;
      const sliced = new SessionLister({ stateDb: sdb, upstream, transcripts });
      const whole = new SessionLister({ stateDb: new WholeReadStateDb(fx.path, silentLogger), upstream, transcripts });
      const live = () => (fx.db.query('SELECT id FROM sessions').all() as { id: string }[]).map((r) => r.id);
      let n = 0;
      let clock = T0;
      const message = (id: string) => {
        clock += Math.floor(random() * 50);
        const active = layout === 'v19' && random() < 0.15 ? 0 : 1;
        fx.addMessage(id, { role: pick(['user', 'assistant', 'tool'] as const), content: `m${clock}`, timestamp: clock, active });
      };
      const addSession = () => {
        const id = random() < 0.5 ? `api-${(n++).toString(16).padStart(16, '0')}` : `s${n++}`;
        fx.addSession({ id, source: pick(SOURCES), started_at: clock + Math.floor(random() * 100) - 50 });
        for (let k = Math.floor(random() * 4); k > 0; k--) message(id);
      };
      const addMessage = () => { const ids = live(); if (ids.length) message(pick(ids)); };
      // Mostly what a busy agent does (new sessions and messages), with everything else among them.
      const ops: (() => void)[] = [
        addSession, addSession, addSession, addMessage, addMessage, addMessage,
        () => {
          const ids = live();
          if (!ids.length) return;
          const id = pick(ids);
          fx.db.run('DELETE FROM messages WHERE session_id = ?', [id]);
          fx.db.run('DELETE FROM sessions WHERE id = ?', [id]);
        },
        () => {
          const ids = live();
          if (ids.length) fx.db.run('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?)', [pick(ids), 1 + Math.floor(random() * 3)]);
        },
        () => {
          // Hermes' rewind (v17+): the newest messages marked inactive in place; on v6, an old message's time rewritten.
          const ids = live();
          if (!ids.length) return;
          if (layout === 'v19') fx.db.run('UPDATE messages SET active = 0 WHERE id IN (SELECT id FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT 2)', [pick(ids)]);
          else fx.db.run('UPDATE messages SET timestamp = timestamp - 500 WHERE id = (SELECT MAX(id) FROM messages WHERE session_id = ?)', [pick(ids)]);
        },
        () => { const ids = live(); if (ids.length) fx.db.run('UPDATE sessions SET title = ? WHERE id = ?', [`title ${n++}`, pick(ids)]); },
        () => { const ids = live(); if (ids.length) fx.db.run('UPDATE sessions SET ended_at = ? WHERE id = ?', [clock, pick(ids)]); },
        () => { const ids = live(); if (ids.length) fx.db.run('UPDATE sessions SET source = ?, started_at = ? WHERE id = ?', [pick(SOURCES), clock - 5000, pick(ids)]); },
      ];
      // Sessions of the sidecar's own, two of them also in state.db.
      for (let i = 0; i < 4; i++) expect((await t.json('POST', '/api/sessions', { id: i < 2 ? `s${i}` : `side${i}`, title: `Side ${i}` })).status).toBe(201);
      t.deps.db.sqlite.run('UPDATE chat_sessions SET last_active = ?, started_at = ?', [T0 + 300, T0]);
      fx.addSession({ id: 's0', source: 'api_server', started_at: T0 - 10 });
      fx.addSession({ id: 's1', source: 'cli', started_at: T0 - 20 }, [{ role: 'user', content: 'hi', timestamp: T0 + 400 }]);
      n = 2;
      // The order as SPEC §7 states it, merged here independently of SessionLister: state.db's row wins over the sidecar's.
      const expected = (q: { limit: number; offset: number; source?: string }) => {
        const merged = new Map<string, SessionKey>();
        for (const key of wholeRead(fx.path)) merged.set(key.id, key);
        for (const key of transcripts.keys()) if (!merged.has(key.id)) merged.set(key.id, key);
        const all = [...merged.values()].filter((key) => q.source === undefined || key.source === q.source).sort((a, b) =>
          (b.lastActive ?? -Infinity) - (a.lastActive ?? -Infinity) || (b.startedAt ?? -Infinity) - (a.startedAt ?? -Infinity) || (a.id < b.id ? -1 : 1));
        return [all.length, all.slice(q.offset, q.offset + q.limit).map((key) => key.id)];
      };
      const view = (s: Session) => [s.id, s.source, s.last_active, s.started_at, s.title, s.ended_at, s.message_count];
      for (let round = 0; round < 120; round++) {
        for (let k = 1 + Math.floor(random() * 3); k > 0; k--) pick(ops)();
        const q = { limit: 1 + Math.floor(random() * 8), offset: Math.floor(random() * 6), source: random() < 0.4 ? pick([...SOURCES, 'api_server', 'nowhere']) : undefined };
        const got = await sliced.list(q, { stateDb: true, upstream: false });
        const want = await whole.list(q, { stateDb: true, upstream: false });
        expect([got.total, got.items.map(view)]).toEqual([want.total, want.items.map(view)]);
        expect([got.total, got.items.map((s) => s.id)]).toEqual(expected(q));
        // A read started before the agent's next write answers the file as it was when it started.
        const before = byId(wholeRead(fx.path));
        const running = sdb.keys();
        pick(ops)();
        expect(byId(await running)).toEqual(before);
      }
      expect(live().length).toBeGreaterThan(20);
    });
  });
}

for (const layout of ['v19', 'v6'] as const) {
  test(`back-to-back key reads leave the agent a moment to checkpoint its whole WAL between them (${layout})`, async () => {
    // A list asked after a commit waits for the read under way, then reads again. Started in the same
    // turn as the old read ended, the snapshots joined up: no agent commit ever fell outside one, its
    // checkpoint always stopped short of the open snapshot, and the -wal grew by every commit (32 MB in
    // 15 s at 50,000 sessions with lists every 100 ms; scripts/bench/wal-growth.ts).
    await setUp(layout, 4);
    for (let i = 0; i < 40; i++) fx.addSession({ id: `s${i}`, started_at: T0 + i }, [{ role: 'user', content: 'q', timestamp: T0 + 100 + i }]);
    let second: Promise<readonly SessionKey[]> | null = null;
    let settled = false;
    let commits = 0;
    let complete = 0;
    const first = sdb.keys();
    const agent = () => {
      if (settled) return;
      // The agent's commit and its checkpoint, as Hermes' autocheckpoint runs it after a commit.
      fx.addMessage(`s${commits++ % 40}`, { role: 'assistant', content: 'a', timestamp: T0 + 1000 + commits });
      const ck = fx.db.query('PRAGMA wal_checkpoint(PASSIVE)').get() as { busy: number; log: number; checkpointed: number };
      if (ck.log === ck.checkpointed) complete++;
      second ??= sdb.keys().finally(() => (settled = true));
      setImmediate(agent);
    };
    setImmediate(agent);
    await first;
    const keys = await (second as Promise<readonly SessionKey[]> | null ?? first);
    // Both reads were cut into slices with commits between them, and the second answers the state it asked for.
    expect(commits).toBeGreaterThan(10);
    expect(keys.length).toBe(40);
    expect(complete).toBeGreaterThan(0);
  });
}

for (const layout of ['v19', 'v6'] as const) {
  test(`in rollback-journal mode the key read is whole: an agent waiting to commit does not fail the other reads meanwhile (${layout})`, async () => {
    // In this mode (Hermes' fallback where WAL does not work) an open read keeps a SHARED lock, the
    // agent's commit waits for it holding PENDING, and PENDING keeps every new read out: read in
    // slices, each other state.db read while the list ran was a 503 state_db_busy.
    await setUp(layout, 4);
    for (let i = 0; i < 40; i++) fx.addSession({ id: `s${i}`, started_at: T0 + i }, [{ role: 'user', content: 'q', timestamp: T0 + 100 + i }]);
    fx.db.run('PRAGMA journal_mode = DELETE');
    const agent = new Database(fx.path);
    try {
      agent.run('PRAGMA busy_timeout = 0');
      const first = sdb.keys();
      await new Promise<void>((resolve) => setImmediate(resolve));
      agent.run('BEGIN IMMEDIATE');
      agent.run("INSERT INTO sessions (id, source, started_at) VALUES ('late', 'cli', ?)", [T0 + 5000]);
      // A busy commit keeps the transaction and its lock, as the agent's does while its busy handler waits.
      try {
        agent.run('COMMIT');
      } catch (err) {
        expect(String((err as { code?: unknown }).code)).toStartWith('SQLITE_BUSY');
      }
      expect(sdb.messages('s1', 10, 0).total).toBe(1);
      expect(sdb.session('s2')?.id).toBe('s2');
      expect((await first).length).toBe(40);
      if (agent.inTransaction) agent.run('COMMIT');
      expect((await sdb.keys()).map((k) => k.id)).toContain('late');
    } finally {
      agent.close();
    }
  });
}

test('lists asked after commits while a read runs share the one read that follows it, of a state with all their commits', async () => {
  await setUp('v19', 3);
  for (let i = 0; i < 12; i++) fx.addSession({ id: `s${i}`, started_at: T0 + i }, [{ role: 'user', content: 'q', timestamp: T0 + 100 + i }]);
  const first = sdb.keys();
  fx.addSession({ id: 'late1', started_at: T0 + 1000 });
  const second = sdb.keys();
  await new Promise<void>((resolve) => setImmediate(resolve));
  fx.addSession({ id: 'late2', started_at: T0 + 1001 });
  const third = sdb.keys();
  const [a, b, c] = await Promise.all([first, second, third]);
  expect(a.map((k) => k.id)).not.toContain('late1');
  expect(b).toBe(c);
  expect(b.map((k) => k.id)).toEqual(expect.arrayContaining(['late1', 'late2']));
  expect(byId(b)).toEqual(byId(wholeRead(fx.path)));
});
