/**
 * A `new` chat turn cut by the death of its process (kill -9) on the fallback path leaves its session
 * behind, empty. The same `new` call again (the client's `session_id`) answered 409 `session_exists`
 * from then on; now such a session — made by a `new` turn, no turn recorded, its process gone — is
 * replaced, while every session that may still be someone's keeps its 409.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyMigrations } from '../src/db/migrate';
import { MIGRATIONS } from '../src/db/migrations.gen';
import { processGone, THIS_PROCESS } from '../src/lib/process-mark';
import { TranscriptStore } from '../src/modules/sessions/transcripts';
import { makeTestApp, post, tempDir, type TestApp } from './helpers/app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.12' });
});
afterAll(() => fake.stop());

/** The sidecar as its own process (`bun src/main.ts`) on `dataDir`; resolves once it listens. */
async function spawnSidecar(env: Record<string, string>): Promise<{ proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>; base: string }> {
  const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe',
  });
  const reader = proc.stdout.getReader();
  let out = '';
  for (let m: RegExpExecArray | null = null; !m; m = /listening on (http:\/\/\S+)/.exec(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the sidecar exited: ${out}${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, base: /listening on (http:\/\/\S+)/.exec(out)![1] as string };
}

/** The pid of a process that has exited (and been reaped): no process has it. */
async function deadPid(): Promise<number> {
  const p = Bun.spawn(['true']);
  await p.exited;
  return p.pid;
}

const newTurn = (t: TestApp, id: string, message = 'hello') => post(t, '/api/sessions/new/chat/stream', { message, session_id: id });

test('the same `new` call after its sidecar was killed with SIGKILL mid-turn creates the session and runs the turn (was 409 session_exists)', async () => {
  const dir = tempDir('optx-new-kill-');
  const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey as string };
  fake.behavior.tokenDelayMs = 50;
  const first = await spawnSidecar(env);
  let t: TestApp | null = null;
  try {
    const res = await fetch(`${first.base}/api/sessions/new/chat/stream`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'one two three', session_id: 'cut-new' }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: content')) text += new TextDecoder().decode((await reader.read()).value);
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    fake.behavior.tokenDelayMs = 0;
    t = await makeTestApp({ env });
    await t.deps.probe.probeNow();
    expect((await t.json('GET', '/api/sessions/cut-new')).body).toMatchObject({ session: { origin: 'sidecar', message_count: 0 } });
    const again = await newTurn(t, 'cut-new', 'one two three');
    expect(again.status).toBe(200);
    const events = await sseEvents(again);
    expect([events[0]?.data, events.at(-1)?.event]).toEqual([{ session_id: 'cut-new', status: 'created', upstream: 'chat-completions' }, 'done']);
    expect((await t.json('GET', '/api/sessions/cut-new')).body).toMatchObject({ session: { message_count: 2 } });
  } finally {
    fake.behavior.tokenDelayMs = 0;
    first.proc.kill('SIGKILL');
    t?.close();
  }
}, 30_000);

describe('which leftover sessions a `new` call replaces', () => {
  let t: TestApp;
  let store: TranscriptStore;
  beforeAll(async () => {
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey as string } });
    await t.deps.probe.probeNow();
    store = new TranscriptStore(t.deps.db);
  });
  afterAll(() => t.close());
  afterEach(() => fake.reset());

  test('a session left by a `new` turn whose process is gone: replaced, and it starts afresh (its title not kept)', async () => {
    await store.create({ id: 'gone', title: 'old title' }, { opener: { ...THIS_PROCESS, pid: await deadPid(), token: 'earlier' } });
    const res = await newTurn(t, 'gone');
    expect(res.status).toBe(200);
    expect((await sseEvents(res)).at(-1)?.event).toBe('done');
    expect((await t.json('GET', '/api/sessions/gone')).body).toMatchObject({ session: { title: null, message_count: 2 } });
  });

  test('a `new` turn\'s session is marked with its process, also under a made-up id; one from POST /api/sessions is not', async () => {
    const made = await sseEvents(await post(t, '/api/sessions/new/chat/stream', { message: 'hi' }));
    const id = made[0]?.data.session_id as string;
    expect(store.row(id)).toMatchObject({ openerPid: process.pid, openerToken: THIS_PROCESS.token, openerPlace: THIS_PROCESS.place });
    expect((await t.json('POST', '/api/sessions', { id: 'plain' })).status).toBe(201);
    expect(store.row('plain')).toMatchObject({ openerPid: null, openerToken: null, openerPlace: null });
  });

  test('… of concurrent retries, exactly one wins', async () => {
    await store.create({ id: 'raced' }, { opener: { ...THIS_PROCESS, pid: await deadPid(), token: 'earlier' } });
    const answers = await Promise.all([newTurn(t, 'raced', 'a'), newTurn(t, 'raced', 'b'), newTurn(t, 'raced', 'c')]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    await Promise.all(answers.map((r) => r.text()));
    expect((await t.json('GET', '/api/sessions/raced')).body).toMatchObject({ session: { message_count: 2 } });
  });

  test('a session whose `new` turn runs in a live process (another sidecar on the data dir) stays 409', async () => {
    const other = Bun.spawn(['sleep', '30']);
    try {
      await store.create({ id: 'running' }, { opener: { ...THIS_PROCESS, pid: other.pid, token: 'other-sidecar' } });
      expect(await statusOf(newTurn(t, 'running'))).toBe(409);
    } finally {
      other.kill();
      await other.exited;
    }
  });

  test('a `new` turn still streaming in this process keeps its session: the same call meanwhile is 409', async () => {
    fake.behavior.firstTokenDelayMs = 300;
    const running = await newTurn(t, 'mine');
    expect(await statusOf(newTurn(t, 'mine'))).toBe(409);
    expect((await sseEvents(running)).at(-1)?.event).toBe('done');
  });

  test('sessions that are not such a leftover stay 409: created by POST /api/sessions (or before the opener was kept), a turn recorded, made in another pid namespace or host', async () => {
    const dead = await deadPid();
    expect((await t.json('POST', '/api/sessions', { id: 'posted' })).status).toBe(201);
    await store.create({ id: 'answered' }, { opener: { ...THIS_PROCESS, pid: dead, token: 'earlier' } });
    await store.recordTurn('answered', { user: 'hi', userAt: Date.now(), assistant: 'hello', reasoning: null, usage: null, upstream: 'chat-completions', keepMessages: true, own: true, unfiled: false });
    await store.create({ id: 'elsewhere' }, { opener: { place: 'another-host ', pid: dead, token: 'earlier' } });
    for (const id of ['posted', 'answered', 'elsewhere']) expect([id, await statusOf(newTurn(t, id))]).toEqual([id, 409]);
  });

  test('POST /api/sessions with the id of such a leftover is still 409: only the repeated `new` call replaces it', async () => {
    await store.create({ id: 'left' }, { opener: { ...THIS_PROCESS, pid: await deadPid(), token: 'earlier' } });
    expect((await t.json('POST', '/api/sessions', { id: 'left' })).status).toBe(409);
  });
});

test('processGone: only a process certainly not running (same host and pid namespace, pid unused or now ours) is gone', async () => {
  const self = THIS_PROCESS;
  expect(processGone(self)).toBe(false);
  expect(processGone({ ...self, token: 'earlier' })).toBe(true);
  expect(processGone({ ...self, pid: await deadPid(), token: 'earlier' })).toBe(true);
  expect(processGone({ ...self, pid: await deadPid(), token: 'earlier', place: 'elsewhere' })).toBe(false);
  expect(processGone({ ...self, pid: process.ppid, token: 'parent' })).toBe(false);
  expect(processGone({ ...self, pid: 0, token: 'x' })).toBe(false);
});

async function statusOf(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.text();
  return r.status;
}

test('a database from before the opener columns opens, and its sessions (no opener) stay 409 to a `new` call', async () => {
  const dir = tempDir('optx-new-old-db-');
  const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey as string };
  mkdirSync(env.OPTX_DATA_DIR, { recursive: true });
  const old = new Database(join(env.OPTX_DATA_DIR, 'optx-api.db'));
  applyMigrations(old, MIGRATIONS.filter((m) => m.tag < '0015'));
  const at = Date.now() / 1000;
  old.run(`INSERT INTO chat_sessions (id, origin, started_at, last_active, created_at, updated_at) VALUES ('before', 'sidecar', ?, ?, '2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z')`, [at, at]);
  old.close();
  const t = await makeTestApp({ env });
  try {
    expect((await t.json('GET', '/api/sessions/before')).body).toMatchObject({ session: { origin: 'sidecar', message_count: 0 } });
    expect(await statusOf(newTurn(t, 'before'))).toBe(409);
  } finally {
    t.close();
  }
});
