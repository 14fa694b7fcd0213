/**
 * A session of the sidecar's own that the agent holds only in part. Its first turn went with a key,
 * so the agent filed it under the session's id; the next went while the gateway had no key (no
 * X-Hermes-Session-Id), so the agent filed it under an `api-…` session of its own; then the key came
 * back. Given the id, the agent answers from its record of it alone (SPEC §14), and on 0.15+ the
 * session stream continues that record: either way the keyless turn was missing from the context
 * until the sidecar recorded which of its own turns the agent did not file under the id.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyMigrations } from '../src/db/migrate';
import { MIGRATIONS } from '../src/db/migrations.gen';
import { makeTestApp, post, tempDir, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';
import { sseEvents } from './helpers/sse-events';
import { createStateDb, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes, type FakeSession } from './fakes/hermes';

let fake: FakeHermes;
let t: TestApp;
let stateDb: StateDbFixture | null = null;
/** Sidecars beside `t` (a second process on the same data dir). */
const others: TestApp[] = [];

afterEach(async () => {
  stateDb?.close();
  stateDb = null;
  for (const o of others.splice(0)) o.close();
  t.close();
  await fake.stop();
});

/** The reply shows the user turns the agent was given as the conversation (its own replies would repeat them). */
const showContext = (f: FakeHermes): void => {
  f.behavior.reply = (messages) => messages.filter((m) => m.role === 'user').map((m) => `user:${String(m.content)}`).join(' | ');
};
const setKey = (key: string) => writeFileSync(join(t.home, '.env'), `API_SERVER_KEY=${key}\n`);
const occurrences = (s: string, part: string) => s.split(part).length - 1;

/** One turn of session `own`; what the agent was given as context, and the path the turn took. */
async function turn(route: 'stream' | 'json', message: string): Promise<{ context: string; upstream?: unknown }> {
  const path = '/api/sessions/own/chat';
  const body = { message };
  if (route === 'json') {
    const res = await t.json('POST', path, body);
    expect(res.status).toBe(200);
    return { context: String((res.body as { message: { content: string } }).message.content) };
  }
  const events = await sseEvents(await post(t, `${path}/stream`, body));
  expect(events.at(-1)?.event).toBe('done');
  return { context: events.filter((e) => e.event === 'content').map((e) => e.data.content).join(''), upstream: events[0]?.data.upstream };
}

/** A gateway of `version` with key-1 in the agent's .env (and its state.db), and session `own` made through the sidecar; the agent's sessions. */
async function ownSession(version: '0.12' | '0.17', withStateDb: boolean, layout: StateDbLayout): Promise<Map<string, FakeSession>> {
  const agentSessions = new Map<string, FakeSession>();
  fake = await startFakeHermes({ version, apiKey: 'key-1', sessions: agentSessions });
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url } });
  mkdirSync(t.home, { recursive: true });
  setKey('key-1');
  if (withStateDb) stateDb = createStateDb(t.home, layout);
  await t.deps.probe.probeNow();
  expect((await t.json('POST', '/api/sessions', { id: 'own' })).status).toBe(201);
  return agentSessions;
}

/**
 * Turn 1 on a 0.12 gateway with a key (filed by the agent under `own`), turn 2 with the gateway and
 * the sidecar keyless (filed under an `api-…` id), then the gateway back as `final` with a key.
 */
async function partlyHeld(
  final: '0.12' | '0.17', withStateDb: boolean, route: 'stream' | 'json', beforeKeyless?: () => Promise<void>, layout: StateDbLayout = 'v19',
): Promise<void> {
  const agentSessions = await ownSession('0.12', withStateDb, layout);
  showContext(fake);
  await turn(route, 'my name is Ann');
  expect(fake.requests.find((r) => r.path === '/v1/chat/completions')?.headers['x-hermes-session-id']).toBe('own');
  const filed = agentSessions.get('own');
  expect(filed?.messages).toHaveLength(2);
  // The agent's state.db holds what it filed under the id.
  stateDb?.addSession({ id: 'own', source: 'api_server', started_at: filed!.started_at },
    filed!.messages.map((m) => ({ role: m.role, content: String(m.content), timestamp: m.timestamp })));

  const restart = async (version: '0.12' | '0.17', apiKey: string | null) => {
    const port = fake.port;
    await fake.stop();
    fake = await startFakeHermes({ version, apiKey, port, sessions: agentSessions });
    showContext(fake);
  };
  // The gateway loses its key (and the sidecar, which follows the agent's .env, with it).
  await restart('0.12', null);
  setKey('');
  await beforeKeyless?.();
  expect((await turn(route, 'I live in Paris')).context).toContain('user:my name is Ann');
  expect(fake.requests.at(-1)?.headers['x-hermes-session-id']).toBeUndefined();
  expect(agentSessions.get('own')?.messages).toHaveLength(2);

  // The key comes back.
  await restart(final, 'key-2');
  setKey('key-2');
  await t.deps.probe.probeNow();
}

for (const final of ['0.12', '0.17'] as const) {
  for (const withStateDb of [true, false]) {
    for (const route of ['stream', 'json'] as const) {
      describe(`an own session held in part, the key back on ${final}, ${withStateDb ? 'state.db readable' : 'no state.db'}, ${route === 'stream' ? 'streaming' : 'non-streaming'}`, () => {
        test('the turn made without the key is in the context, once, and so are the others', async () => {
          await partlyHeld(final, withStateDb, route);
          const third = await turn(route, 'who am I and where do I live?');
          expect(occurrences(third.context, 'user:my name is Ann')).toBe(1);
          expect(occurrences(third.context, 'user:I live in Paris')).toBe(1);
          if (route === 'stream') expect(third.upstream).toBe('chat-completions');
          const fourth = await turn(route, 'and again?');
          for (const said of ['my name is Ann', 'I live in Paris', 'who am I and where do I live?']) expect(occurrences(fourth.context, `user:${said}`)).toBe(1);
        });
      });
    }
  }
}

const raw = (app: TestApp) => new Database(join(app.config.dataDir, 'optx-api.db'));

test('what the agent did not file is on disk, not in the process: another sidecar on the same data dir (a restart) keeps the turn in the context', async () => {
  await partlyHeld('0.12', true, 'stream');
  const first = t;
  others.push(first);
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_HOME: first.home, OPTX_DATA_DIR: first.config.dataDir } });
  await t.deps.probe.probeNow();
  const third = await turn('stream', 'who am I and where do I live?');
  expect(occurrences(third.context, 'user:I live in Paris')).toBe(1);
  expect(occurrences(third.context, 'user:my name is Ann')).toBe(1);
  expect(fake.requests.at(-1)?.headers['x-hermes-session-id']).toBeUndefined();
});

test('the flag is written in the turn\'s transaction: when its write fails, the turn\'s messages are not kept either, and its retry is', async () => {
  let refused: number | undefined;
  await partlyHeld('0.12', true, 'json', async () => {
    const db = raw(t);
    // The count of unfiled turns cannot be written (a failing disk, as far as this turn is concerned).
    db.run("CREATE TRIGGER no_flag BEFORE UPDATE OF unfiled_turns ON chat_sessions WHEN new.unfiled_turns <> old.unfiled_turns BEGIN SELECT RAISE(ABORT, 'flag write failed'); END");
    refused = (await t.json('POST', '/api/sessions/own/chat', { message: 'I live in Paris' })).status;
    expect(db.query("SELECT count(*) AS n FROM chat_messages WHERE session_id = 'own'").get()).toEqual({ n: 2 });
    expect(db.query("SELECT message_count AS m, unfiled_turns AS u FROM chat_sessions WHERE id = 'own'").get()).toEqual({ m: 2, u: 0 });
    db.run('DROP TRIGGER no_flag');
    db.close();
  });
  expect(refused).toBeGreaterThanOrEqual(500);
  const db = raw(t);
  expect(db.query("SELECT role, unfiled FROM chat_messages WHERE session_id = 'own' ORDER BY id").all()).toEqual([
    { role: 'user', unfiled: 0 }, { role: 'assistant', unfiled: 0 }, { role: 'user', unfiled: 1 }, { role: 'assistant', unfiled: 1 },
  ]);
  expect(db.query("SELECT unfiled_turns AS u FROM chat_sessions WHERE id = 'own'").get()).toEqual({ u: 1 });
  db.close();
});

test('a database from before migration 0016: an agent\'s session\'s kept turns count as unfiled; the sidecar\'s own session\'s turns as filed, and it still chats with the header', async () => {
  fake = await startFakeHermes({ version: '0.12', apiKey: 'key-1' });
  showContext(fake);
  const dir = tempDir('optx-unfiled-old-db-');
  const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: fake.url, HERMES_API_KEY: 'key-1' };
  mkdirSync(env.OPTX_DATA_DIR, { recursive: true });
  const old = new Database(join(env.OPTX_DATA_DIR, 'optx-api.db'));
  applyMigrations(old, MIGRATIONS.filter((m) => m.tag < '0016'));
  const at = Date.now() / 1000;
  for (const [id, origin] of [['tg', 'upstream'], ['own', 'sidecar']] as const) {
    old.run(`INSERT INTO chat_sessions (id, origin, started_at, last_active, message_count, last_upstream, created_at, updated_at) VALUES (?, ?, ?, ?, 2, 'chat-completions', 'x', 'x')`, [id, origin, at, at]);
    old.run(`INSERT INTO chat_messages (session_id, role, content, timestamp) VALUES (?, 'user', 'my name is Ann', ?), (?, 'assistant', 'hi Ann', ?)`, [id, at, id, at]);
  }
  old.close();
  t = await makeTestApp({ env });
  const db = raw(t);
  expect(db.query('SELECT session_id AS id, unfiled FROM chat_messages ORDER BY rowid').all()).toEqual([
    { id: 'tg', unfiled: 1 }, { id: 'tg', unfiled: 1 }, { id: 'own', unfiled: 0 }, { id: 'own', unfiled: 0 },
  ]);
  // The agent may hold some of a session with turns recorded then: filed_turns says so.
  expect(db.query('SELECT id, unfiled_turns AS u, filed_turns AS f FROM chat_sessions ORDER BY id').all()).toEqual([{ id: 'own', u: 0, f: 1 }, { id: 'tg', u: 1, f: 1 }]);
  db.close();
  await t.deps.probe.probeNow();
  // As before the migration: its turns are taken as filed, and the header goes.
  expect((await turn('stream', 'who am I?')).upstream).toBe('chat-completions');
  expect(fake.requests.at(-1)?.headers['x-hermes-session-id']).toBe('own');
});

test('the turns the agent did not file are read by an index of their own, not by stepping through every filed turn kept', async () => {
  const capture = capturePlans();
  try {
    await partlyHeld('0.12', true, 'json');
    // Read through the session's index, a session of 100,000 kept messages (the filed ones, sent with the
    // header, are kept too) stepped through all of them for its 2 unfiled ones: 23 ms each turn, measured ad hoc.
    const plans = await capture.plans(() => turn('json', 'who am I?'), /from "chat_messages" where .*unfiled/);
    expect(plans).toEqual([expect.stringContaining('chat_messages_unfiled_idx')]);
  } finally {
    capture.restore();
  }
});

interface ListedMessage { id: number | string; role: string; content: unknown; timestamp: number | null }
interface ListedSession { id: string; message_count: number; last_active: number | null; preview: string | null }

/** Every message of session `own` through GET /messages, walked in pages of `limit`; each page's `total` checked against the walk. */
async function walk(limit: number): Promise<ListedMessage[]> {
  const out: ListedMessage[] = [];
  for (let offset = 0; ; offset += limit) {
    const res = await t.json('GET', `/api/sessions/own/messages?limit=${limit}&offset=${offset}`);
    expect(res.status).toBe(200);
    const body = res.body as { items: ListedMessage[]; total: number };
    out.push(...body.items);
    if (body.items.length < limit) {
      expect(body.total).toBe(out.length);
      return out;
    }
  }
}

/** The session's history as a client reads it, every page size giving the same, and its row in GET /{id} and the list. */
async function shown(): Promise<{ said: string[]; items: ListedMessage[]; one: ListedSession; listed: ListedSession | undefined }> {
  const items = await walk(1000);
  for (const limit of [1, 2, 3]) expect(await walk(limit)).toEqual(items);
  const one = ((await t.json('GET', '/api/sessions/own')).body as { session: ListedSession }).session;
  const listed = ((await t.json('GET', '/api/sessions')).body as { items: ListedSession[] }).items.find((s) => s.id === 'own');
  return { said: items.map((m) => `${m.role}:${String(m.content)}`), items, one, listed };
}

/** What a turn of `showContext` answers, the user turns of the conversation so far. */
const answer = (...users: string[]) => `assistant:${users.map((u) => `user:${u}`).join(' | ')}`;

for (const final of ['0.12', '0.17'] as const) {
  for (const withStateDb of [true, false]) {
    const layout: StateDbLayout = final === '0.12' ? 'v6' : 'v19';
    describe(`GET /messages of an own session held in part, the key back on ${final}, ${withStateDb ? `state.db (${layout}) readable` : 'no state.db'}`, () => {
      test('every turn once, in the order of the context, paged with a true total; message_count and last_active count them', async () => {
        await partlyHeld(final, withStateDb, 'json', undefined, layout);
        await turn('json', 'who am I?');
        const { said, items, one, listed } = await shown();
        expect(said).toEqual([
          'user:my name is Ann', answer('my name is Ann'),
          'user:I live in Paris', answer('my name is Ann', 'I live in Paris'),
          'user:who am I?', answer('my name is Ann', 'I live in Paris', 'who am I?'),
        ]);
        // Ids stay unique within the list (the agent's and the sidecar's are counted apart).
        expect(new Set(items.map((m) => m.id)).size).toBe(items.length);
        for (const s of [one, listed]) {
          expect(s?.message_count).toBe(6);
          expect(s?.last_active).toBe(items.at(-1)!.timestamp);
        }
      });

      if (withStateDb) {
        test('a message the agent wrote under the id meanwhile is listed where the context has it, between the sidecar\'s turns', async () => {
          await partlyHeld(final, withStateDb, 'json', undefined, layout);
          // Between the keyless turn and the next, the agent adds to its record of the id (another client giving it the header).
          stateDb!.addMessage('own', { role: 'user', content: 'from elsewhere', timestamp: Date.now() / 1000 });
          await Bun.sleep(5);
          const context = (await turn('json', 'who am I?')).context;
          const { said, one } = await shown();
          const users = said.filter((m) => m.startsWith('user:'));
          expect(users).toEqual(['user:my name is Ann', 'user:I live in Paris', 'user:from elsewhere', 'user:who am I?']);
          expect(context).toBe(users.join(' | '));
          expect(one.message_count).toBe(7);
        });
      }

      test('a DELETE removes every turn, the agent\'s and the sidecar\'s', async () => {
        await partlyHeld(final, withStateDb, 'json', undefined, layout);
        expect((await t.json('DELETE', '/api/sessions/own')).status).toBe(200);
        expect((await t.json('GET', '/api/sessions/own/messages')).status).toBe(404);
        expect((await t.json('GET', '/api/sessions/own')).status).toBe(404);
        if (stateDb) expect(stateDb.count('messages', 'own')).toBe(0);
        const db = raw(t);
        expect(db.query("SELECT count(*) AS n FROM chat_messages WHERE session_id = 'own'").get()).toEqual({ n: 0 });
        db.close();
      });

      test('a session the agent has an empty record of, every turn unfiled: all of them shown and counted', async () => {
        const agentSessions = await ownSession('0.17', withStateDb, layout);
        // The agent made the session (no message yet), in its state.db too.
        expect(agentSessions.get('own')?.messages).toEqual([]);
        stateDb?.addSession({ id: 'own', source: 'api_server', started_at: agentSessions.get('own')!.started_at });
        const restart = async (version: '0.12' | '0.17', apiKey: string | null) => {
          const port = fake.port;
          await fake.stop();
          fake = await startFakeHermes({ version, apiKey, port, sessions: agentSessions });
          showContext(fake);
          setKey(apiKey ?? '');
          await t.deps.probe.probeNow();
        };
        await restart('0.12', null);
        await turn('json', 'I live in Paris');
        await restart(final, 'key-2');
        await turn('json', 'where do I live?');
        expect(fake.requests.at(-1)?.headers['x-hermes-session-id']).toBeUndefined();
        const { said, one, listed } = await shown();
        expect(said).toEqual(['user:I live in Paris', answer('I live in Paris'), 'user:where do I live?', answer('I live in Paris', 'where do I live?')]);
        // The agent's record has no user message to preview: the session's first one is the sidecar's.
        for (const s of [one, listed]) expect(s).toMatchObject({ message_count: 4, preview: 'I live in Paris' });
      });
    });
  }
}

test('an own session held in part whose filed user messages the agent rewound previews its first turn the agent did not file, which GET /messages lists, not the rewound one', async () => {
  await partlyHeld('0.17', true, 'json', undefined, 'v19');
  // The user rewound the agent's record (Hermes marks the messages `active = 0`): it keeps no user message to preview.
  stateDb!.db.run("UPDATE messages SET active = 0 WHERE session_id = 'own' AND role = 'user'");
  const { said, one, listed } = await shown();
  expect(said).not.toContain('user:my name is Ann');
  expect(said[1]).toBe('user:I live in Paris');
  for (const s of [one, listed]) expect(s?.preview).toBe('I live in Paris');
});
