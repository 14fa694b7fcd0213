/**
 * How a chat stream fails, on both upstream paths: every upstream fault ends the stream with one
 * `error` event (readable message, code) and the server stays healthy; a client that hangs up cancels
 * the upstream request at once (the fake sees it); shutdown ends open streams; 200 streams at once.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { closedUrl, makeTestApp, type TestApp } from './helpers/app';
import { appOn, UPSTREAM_KEY } from './helpers/fake-app';
import { sseEvents, sseReader, until, type SseEvent } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes, type HermesVersion } from './fakes/hermes';
import { startRedirector } from './fakes/redirector';
import { ChatService } from '../src/modules/chat/service';

const ENV = { UPSTREAM_IDLE_TIMEOUT_S: '0.5', SSE_HEARTBEAT_S: '0.05' };

const PATHS: { name: string; version: HermesVersion; upstream: string; override: string; path: (id: string) => string }[] = [
  { name: 'native session stream', version: '0.17', upstream: 'session-api', override: '/api/sessions/*/chat/stream', path: (id) => `/api/sessions/${id}/chat/stream` },
  { name: 'chat-completions fallback', version: '0.12', upstream: 'chat-completions', override: '/v1/chat/completions', path: () => '/v1/chat/completions' },
];

let counter = 0;
const nextId = () => `s${++counter}`;
const stream = (t: TestApp, id: string, message = 'one two three four') =>
  t.fetch('/api/sessions/new/chat/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message, session_id: id }) });
const contents = (events: SseEvent[]) => events.filter((e) => e.event === 'content').map((e) => e.data.content as string);

for (const p of PATHS) {
  describe(`failures on the ${p.name} (Hermes ${p.version})`, () => {
    let fake: FakeHermes;
    let t: TestApp;
    beforeAll(async () => {
      fake = await startFakeHermes({ version: p.version });
    });
    afterAll(() => fake.stop());
    beforeEach(async () => {
      fake.reset();
      t = await appOn(fake, ENV);
    });
    afterEach(async () => {
      // Whatever happened, the server still answers and a normal turn still completes.
      fake.behavior = { ...fake.behavior, statusOverride: {}, hang: {}, stallAfterTokens: null, dropAfterTokens: null, dropWhen: null, garbageAfterTokens: null, tokenDelayMs: 0, firstTokenDelayMs: 0 };
      expect((await t.fetch('/health')).status).toBe(200);
      const ok = await sseEvents(await stream(t, nextId(), 'still fine'));
      expect(ok.at(-1)?.event).toBe('done');
      t.close();
    });

    /** A turn in a new session, slowed down and read up to its first content event. */
    async function midStream(): Promise<{ id: string; reader: ReturnType<typeof sseReader> }> {
      fake.behavior.tokenDelayMs = 40;
      const id = nextId();
      const reader = sseReader(await stream(t, id));
      expect((await reader.next())?.event).toBe('session');
      expect((await reader.next())?.data.content).toBe('You');
      return { id, reader };
    }

    /**
     * Runs one turn in a new session and checks it ends with exactly one error event, last.
     * `onEvent` sees each event as it arrives.
     */
    async function failingTurn(code: string, message: RegExp | string, onEvent?: (events: SseEvent[]) => void): Promise<SseEvent[]> {
      const res = await t.fetch('/api/sessions/new/chat/stream', { method: 'POST', body: JSON.stringify({ message: 'one two three four' }) });
      const reader = sseReader(res);
      const events: SseEvent[] = [];
      for (let ev = await reader.next(); ev; ev = await reader.next()) {
        events.push(ev);
        onEvent?.(events);
      }
      const id = events[0]?.data.session_id as string;
      expect(events[0]).toEqual({ event: 'session', data: { session_id: id, status: 'created', upstream: p.upstream } });
      expect(events.filter((e) => e.event === 'error' || e.event === 'done')).toHaveLength(1);
      const last = events.at(-1);
      expect(last?.event).toBe('error');
      expect(last?.data).toEqual({ error: expect.stringMatching(message) as unknown as string, code, session_id: id });
      return events;
    }

    test('upstream down', async () => {
      await fake.pause();
      try {
        await failingTurn('upstream_unreachable', 'The Hermes upstream is unreachable.');
      } finally {
        await fake.resume();
      }
    });

    test('upstream 401', async () => {
      fake.behavior.statusOverride = { [p.override]: 401 };
      await failingTurn('invalid_api_key', /^The Hermes upstream refused the sidecar's key \(check HERMES_API_KEY\): Invalid API key$/);
    });

    test('upstream 500', async () => {
      fake.behavior.statusOverride = { [p.override]: 500 };
      await failingTurn('internal_error', 'The Hermes upstream answered 500: Fake Hermes: forced HTTP 500');
    });

    test('a garbage chunk mid-stream', async () => {
      fake.behavior.garbageAfterTokens = 2;
      const events = await failingTurn('upstream_bad_chunk', 'The Hermes upstream sent a malformed stream frame.');
      expect(contents(events)).toEqual(['You', ' said:']);
    });

    test('the connection dropped mid-stream', async () => {
      fake.behavior.dropAfterTokens = 2;
      // The drop comes once the client has both tokens: a reset that reaches the sidecar first would
      // discard frames it had not read yet (seen under load), which is not what this test is about.
      const { promise: seenBoth, resolve } = Promise.withResolvers<void>();
      fake.behavior.dropWhen = seenBoth;
      const events = await failingTurn('upstream_disconnected', /^The (connection to the Hermes upstream was lost mid-stream|Hermes upstream closed the stream before it was complete)\.$/, (so) => {
        if (contents(so).length === 2) resolve();
      });
      expect(contents(events)).toEqual(['You', ' said:']);
    });

    test('a stall longer than UPSTREAM_IDLE_TIMEOUT_S; the stalled request is cancelled', async () => {
      fake.behavior.stallAfterTokens = 1;
      const events = await failingTurn('upstream_idle_timeout', 'The Hermes upstream sent nothing for 1 s.');
      expect(contents(events)).toEqual(['You']);
      const path = p.path(events[0]?.data.session_id as string);
      await until(() => fake.aborted.includes(path));
      expect(fake.aborted).toEqual([path]);
    });

    test('a first turn that fails leaves no session behind: the same session_id can be retried', async () => {
      const id = nextId();
      fake.behavior.statusOverride = { [p.override]: 500 };
      const failedTurn = await sseEvents(await stream(t, id));
      expect(failedTurn.map((e) => e.event)).toEqual(['session', 'error']);
      expect((await t.json('GET', `/api/sessions/${id}`)).status).toBe(404);
      expect(fake.sessions.has(id)).toBe(false);
      fake.behavior.statusOverride = {};
      const retry = await sseEvents(await stream(t, id));
      expect([retry[0]?.data.status, retry.at(-1)?.event]).toEqual(['created', 'done']);
      // Failing mid-stream: the agent's session API has kept the user's message, the fallback kept nothing.
      const mid = nextId();
      fake.behavior.dropAfterTokens = 1;
      expect((await sseEvents(await stream(t, mid))).at(-1)?.event).toBe('error');
      fake.behavior.dropAfterTokens = null;
      expect((await t.json('GET', `/api/sessions/${mid}`)).status).toBe(p.upstream === 'session-api' ? 200 : 404);
    });

    test('a session of the sidecar\'s own stays chattable while the upstream is down (the stream says what is wrong)', async () => {
      const id = nextId();
      expect((await sseEvents(await stream(t, id))).at(-1)?.event).toBe('done');
      await fake.pause();
      try {
        const events = await sseEvents(await t.fetch(`/api/sessions/${id}/chat/stream`, { method: 'POST', body: JSON.stringify({ message: 'again' }) }));
        expect(events.map((e) => e.event)).toEqual(['session', 'error']);
        expect(events[1]?.data).toMatchObject({ code: 'upstream_unreachable' });
      } finally {
        await fake.resume();
      }
    });

    test('a client that hangs up mid-stream cancels the upstream request at once; nothing is recorded', async () => {
      const { id, reader } = await midStream();
      await reader.cancel();
      await until(() => fake.aborted.includes(p.path(id)));
      expect(fake.aborted).toEqual([p.path(id)]);
      const row = t.deps.db.sqlite.query('SELECT message_count, input_tokens FROM chat_sessions WHERE id = ?').get(id);
      expect(row).toEqual({ message_count: 0, input_tokens: 0 });
    });

    test('deleting the session mid-stream ends the turn with session_deleted, cancels the upstream, and keeps nothing', async () => {
      const { id, reader } = await midStream();
      expect((await t.json('DELETE', `/api/sessions/${id}`)).status).toBe(200);
      const rest: SseEvent[] = [];
      for (let e = await reader.next(); e; e = await reader.next()) rest.push(e);
      expect(rest.at(-1)).toEqual({ event: 'error', data: { error: 'The session was deleted while its reply was being written; the turn was not kept.', code: 'session_deleted', session_id: id } });
      expect(rest.filter((e) => e.event === 'done')).toEqual([]);
      await until(() => fake.aborted.includes(p.path(id)));
      // No hidden row keeps the id: it is gone everywhere and can be used again.
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all(id)).toEqual([]);
      expect((await t.json('GET', `/api/sessions/${id}`)).status).toBe(404);
      expect((await t.json('POST', '/api/sessions', { id })).status).toBe(201);
    });

    test('the session deleted mid-stream by another sidecar on the same data dir: session_deleted, and no hidden row keeps the id', async () => {
      const { id, reader } = await midStream();
      // What the other process's DELETE does to the shared database; this process is not told.
      const other = new Database(t.deps.db.path);
      other.run('PRAGMA foreign_keys = ON');
      other.run('DELETE FROM chat_sessions WHERE id = ?', [id]);
      other.close();
      fake.sessions.delete(id); // and, on the session API, the agent's copy
      const rest: SseEvent[] = [];
      for (let e = await reader.next(); e; e = await reader.next()) rest.push(e);
      expect(rest.at(-1)).toMatchObject({ event: 'error', data: { code: 'session_deleted', session_id: id } });
      expect(rest.filter((e) => e.event === 'done')).toEqual([]);
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all(id)).toEqual([]);
      expect((await t.json('GET', `/api/sessions/${id}`)).status).toBe(404);
      expect((await t.json('POST', '/api/sessions', { id })).status).toBe(201);
    });

    test('all upstream stream slots taken: 503 upstream_busy at once (JSON, nothing created); slots come back when streams end', async () => {
      // 19 requests at once for Bun → 3 streams (16 are kept for short calls such as the probe). The
      // open streams sit unread while the refusals are checked: longer than ENV's idle deadline, after
      // which a client that reads nothing is dropped (slow-clients.test.ts).
      const small = await appOn(fake, { ...ENV, BUN_CONFIG_MAX_HTTP_REQUESTS: '19', UPSTREAM_IDLE_TIMEOUT_S: '30' });
      try {
        fake.behavior.tokenDelayMs = 100;
        const open = await Promise.all([1, 2, 3].map(async () => {
          const r = sseReader(await stream(small, nextId()));
          expect((await r.next())?.event).toBe('session');
          return r;
        }));
        const busyId = nextId();
        const refused = [
          await stream(small, busyId),
          await small.fetch('/api/chat/completions/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) }),
        ];
        expect(refused.map((r) => [r.status, r.headers.get('retry-after'), r.headers.get('content-type')?.startsWith('application/json')])).toEqual([[503, '5', true], [503, '5', true]]);
        const [chat, openai] = await Promise.all(refused.map((r) => r.json() as Promise<Record<string, any>>));
        expect(chat?.code).toBe('upstream_busy');
        expect(chat?.detail).toBe("The sidecar has 3 upstream streams open, as many as it holds at once: Bun's fetch sends at most 19 requests at once, and BUN_CONFIG_MAX_HTTP_REQUESTS set when it starts raises that. Try again shortly.");
        expect(openai?.error?.code).toBe('upstream_busy');
        expect((await small.json('GET', `/api/sessions/${busyId}`)).status).toBe(404);
        // Short calls still go out: the probe and the rest of the server are unaffected.
        expect((await small.deps.probe.probeNow()).connected).toBe(true);
        // A stream that finishes and one whose client hangs up both give their slot back.
        for (let e = await open[0]?.next(); e; e = await open[0]?.next());
        await open[1]?.cancel();
        const again = await Promise.all([1, 2].map(async () => sseEvents(await stream(small, nextId(), 'fine'))));
        expect(again.map((events) => events.at(-1)?.event)).toEqual(['done', 'done']);
        await open[2]?.cancel();
      } finally {
        small.close();
      }
    });

    test('non-streaming: deleting the session while the reply is written answers 410 session_deleted', async () => {
      fake.behavior.tokenDelayMs = 40;
      const id = nextId();
      expect((await t.json('POST', '/api/sessions', { id })).status).toBe(201);
      const reply = t.json('POST', `/api/sessions/${id}/chat`, { message: 'one two three four' });
      await until(() => fake.requests.some((r) => r.path === p.path(id)));
      await Bun.sleep(20);
      expect((await t.json('DELETE', `/api/sessions/${id}`)).status).toBe(200);
      const r = await reply;
      expect([r.status, (r.body as { code: string }).code]).toEqual([410, 'session_deleted']);
      expect(t.deps.db.sqlite.query('SELECT id FROM chat_sessions WHERE id = ?').all(id)).toEqual([]);
    });

    test('a client that hangs up while the upstream has not answered yet cancels it too (heartbeats meanwhile)', async () => {
      fake.behavior.hang = { [p.override]: true };
      const id = nextId();
      const res = await stream(t, id);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toBe(': ping\n');
      await reader.cancel();
      await until(() => fake.aborted.includes(p.path(id)));
      expect(fake.aborted).toContain(p.path(id));
    });

    test('heartbeats while the first token takes its time', async () => {
      fake.behavior.firstTokenDelayMs = 250;
      const raw = await (await stream(t, nextId())).text();
      const firstContent = raw.indexOf('event: content');
      expect(raw.slice(0, firstContent)).toContain(': ping\n');
      expect(raw.trimEnd().split('\n\n').at(-1)).toStartWith('event: done');
    });

    test('non-streaming: an upstream failure is a JSON 502, a client abort cancels the upstream', async () => {
      const created = await t.json<{ session: { id: string } }>('POST', '/api/sessions', { id: nextId() });
      const id = created.body.session.id;
      if (p.version === '0.17') expect(fake.sessions.has(id)).toBe(true);
      fake.behavior.statusOverride = { [p.override]: 500 };
      const failed = await t.json('POST', `/api/sessions/${id}/chat`, { message: 'x' });
      expect(failed.status).toBe(502);
      expect(failed.body).toMatchObject({ code: 'internal_error', detail: 'The Hermes upstream answered 500: Fake Hermes: forced HTTP 500' });
      // The upstream's 403/404 are about the sidecar's way to it, not the client's (existing) session: 502 too.
      for (const status of [403, 404]) {
        // (A native 404 falls back to chat completions, which answers it too.)
        fake.behavior.statusOverride = { '/api/sessions/*/chat/stream': status, '/v1/chat/completions': status };
        const refused = await t.json<{ detail: string }>('POST', `/api/sessions/${id}/chat`, { message: 'x' });
        expect([status, refused.status, refused.body.detail]).toEqual([status, 502, expect.stringContaining(`The Hermes upstream answered ${status}`)]);
      }
      fake.behavior.statusOverride = {};
      fake.behavior.firstTokenDelayMs = 5000;
      const ac = new AbortController();
      const sent = () => fake.requests.filter((r) => r.path === p.path(id)).length;
      const before = sent();
      const pending = t.fetch(`/api/sessions/${id}/chat`, { method: 'POST', body: JSON.stringify({ message: 'x' }), signal: ac.signal }).catch(() => null);
      await until(() => sent() > before);
      ac.abort();
      await until(() => fake.aborted.includes(p.path(id)));
      expect(fake.aborted).toContain(p.path(id));
      await pending;
    });

    /** An app in front of the fake whose chat service is stopped by `shutdown` (the server's stop, as main.ts signals it). */
    async function stoppableApp(): Promise<{ shutdown: AbortController; s: TestApp }> {
      const shutdown = new AbortController();
      const s = await makeTestApp({
        env: { ...ENV, HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY },
        patch: (deps) => {
          deps.chat = new ChatService({
            sessions: deps.sessions, client: deps.upstream, idleTimeoutMs: 60_000, heartbeatMs: 50, shutdown: shutdown.signal, defaultModel: () => 'hermes-agent', log: deps.log,
          });
        },
      });
      await s.deps.probe.probeNow();
      return { shutdown, s };
    }

    test('server shutdown ends an open stream with an error event and cancels the upstream', async () => {
      const { shutdown, s } = await stoppableApp();
      fake.behavior.tokenDelayMs = 1000;
      const id = nextId();
      const reader = sseReader(await stream(s, id));
      expect((await reader.next())?.event).toBe('session');
      expect((await reader.next())?.event).toBe('content');
      shutdown.abort();
      expect(await reader.next()).toEqual({ event: 'error', data: { error: 'The sidecar is shutting down.', code: 'server_shutting_down', session_id: id } });
      expect(await reader.next()).toBeNull();
      await until(() => fake.aborted.includes(p.path(id)));
      expect(fake.aborted).toContain(p.path(id));
      s.close();
    });

    test('server shutdown before the upstream answered still sends `session` first, then the error', async () => {
      const { shutdown, s } = await stoppableApp();
      fake.behavior.hang[p.override] = true;
      const id = nextId();
      const sent = () => fake.requests.filter((r) => r.path === p.path(id)).length;
      const res = await stream(s, id);
      await until(() => sent() > 0);
      shutdown.abort();
      const events = await sseEvents(res);
      expect(events).toEqual([
        { event: 'session', data: { session_id: id, status: 'created', upstream: p.upstream } },
        { event: 'error', data: { error: 'The sidecar is shutting down.', code: 'server_shutting_down', session_id: id } },
      ]);
      s.close();
    });

    test('200 concurrent streams all complete with the right text', async () => {
      fake.behavior.tokenDelayMs = 2;
      // The default idle deadline: this describe's 0.5 s one is for the stall test, not for a busy CI box.
      const busy = await appOn(fake);
      const runs = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const events = await sseEvents(await stream(busy, nextId(), `message number ${i}`));
        return { i, text: contents(events).join(''), last: events.at(-1) };
      }));
      for (const r of runs) expect(r).toEqual({ i: r.i, text: `You said: message number ${r.i}`, last: expect.objectContaining({ event: 'done' }) as never });
      busy.close();
    });
  });
}

describe('disconnected from the start', () => {
  test('no upstream at all: the stream says so, and the failed first turn leaves no session to collide with a retry', async () => {
    const t = await makeTestApp({ env: { HERMES_AGENT_URL: await closedUrl() } });
    await t.deps.probe.probeNow();
    for (let attempt = 0; attempt < 2; attempt++) {
      const events = await sseEvents(await stream(t, 'offline'));
      expect(events).toEqual([
        { event: 'session', data: { session_id: 'offline', status: 'created', upstream: 'chat-completions' } },
        { event: 'error', data: { error: 'The Hermes upstream is unreachable.', code: 'upstream_unreachable', session_id: 'offline' } },
      ]);
      expect((await t.json('GET', '/api/sessions/offline')).status).toBe(404);
    }
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 0 });
    t.close();
  });
});

describe('an upstream address that redirects elsewhere (http:// to https://, a moved host)', () => {
  test('the probe and the stream say it was redirected and where to, not that the key is wrong', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    const moved = startRedirector(fake.url.replace('127.0.0.1', 'localhost'));
    const t = await makeTestApp({ env: { HERMES_AGENT_URL: moved.url, HERMES_API_KEY: fake.apiKey ?? '' } });
    try {
      const where = fake.url.replace('127.0.0.1', 'localhost');
      const state = await t.deps.probe.probeNow();
      expect(state.error).toBe(`Hermes upstream redirected to another address (${where}), where the sidecar's key is not sent: configure that address instead`);
      const events = await sseEvents(await stream(t, 'redirected'));
      expect(events.at(-1)).toEqual({
        event: 'error',
        data: { error: `Hermes upstream redirected to another address (${where}), where the sidecar's key is not sent: configure that address instead (HERMES_AGENT_URL).`, code: 'upstream_redirected', session_id: 'redirected' },
      });
      // The redirects were followed there, but the key never reached the other address.
      expect(fake.requests.length).toBeGreaterThan(0);
      expect(fake.requests.filter((r) => r.headers.authorization).length).toBe(0);
    } finally {
      t.close();
      moved.stop();
      await fake.stop();
    }
  });
});
