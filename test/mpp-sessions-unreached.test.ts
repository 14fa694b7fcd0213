/**
 * The session routes on the agent's session API (Hermes ≥ 0.15, found by the probe) when that API goes
 * down afterwards: a paid request whose only upstream call was never sent (connection refused) did
 * nothing, and its 502 gives the credential back, as on the chat routes (test/mpp-unreached.test.ts).
 * Once the agent took a write (created, renamed or deleted a session), whatever fails later keeps it
 * spent. Real mppx client and server against the fake Tempo node.
 */
import { describe, expect, test } from 'bun:test';
import type { TestApp } from './helpers/app';
import { newCredential, paidOutcome, sendWithAuth, useMppApps } from './helpers/mpp';
import { failWritesTo } from './helpers/storage-faults';
import { createStateDb } from './fixtures/state-db';

type Json = Record<string, any>;
const { chain, hermes, open } = await useMppApps({ open: { dbBusyWaitMs: 200 } });

const KEY = { authorization: 'Bearer good-key' };
const send = sendWithAuth;
const credential = (app: TestApp) => newCredential(app, chain);

const outcome = paidOutcome;

/** An app whose probe found the session API of a gateway that is down now. */
async function sessionApiDown(): Promise<TestApp> {
  const app = await open();
  await app.deps.probe.probeNow();
  expect(app.deps.sessions.upstreamApi).toBe(true);
  await hermes.pause();
  return app;
}

/** Stops the gateway as soon as it answered one call of `method` (the write), so the next call is refused. */
function downAfter(app: TestApp, method: string): void {
  const client = app.deps.upstream;
  const json = client.json.bind(client);
  client.json = async (path, init) => {
    const res = await json(path, init);
    if ((init?.method ?? 'GET') === method) await hermes.pause();
    return res;
  };
}

describe('a session route whose agent session API was never reached gives the credential back', () => {
  const ROUTES: [string, string, string?][] = [
    ['GET', '/api/sessions'],
    ['GET', '/api/sessions/theirs'],
    ['GET', '/api/sessions/theirs/messages'],
    ['PATCH', '/api/sessions/theirs', '{"title":"new"}'],
    ['DELETE', '/api/sessions/theirs'],
    ['POST', '/api/sessions', '{"id":"mine"}'],
    ['POST', '/api/sessions', '{"title":"no id given"}'],
  ];
  for (const [method, path, body] of ROUTES) {
    test(`${method} ${path}${body ? ` ${body}` : ''}: 502 upstream_unreachable without a receipt`, async () => {
      const app = await sessionApiDown();
      try {
        const cred = await credential(app);
        expect(await outcome(app, cred, method, path, body)).toEqual([502, 'upstream_unreachable', false]);
        expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
        expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
        expect(chain.transactions).toHaveLength(1);
      } finally {
        await hermes.resume();
      }
    });
  }

  test('a session created without an id whose agent was down leaves nothing behind', async () => {
    const app = await sessionApiDown();
    try {
      const cred = await credential(app);
      expect((await outcome(app, cred, 'POST', '/api/sessions', '{"title":"gone"}'))[0]).toBe(502);
      await hermes.resume();
      expect(((await app.json('GET', '/api/sessions', undefined, KEY)).body as Json).total).toBe(0);
    } finally {
      await hermes.resume();
    }
  });
});

/** A turn through the sidecar leaves its bookkeeping row of the agent's session `theirs` (usage, last upstream). */
async function keptRow(app: TestApp): Promise<void> {
  expect((await app.json('POST', '/api/sessions/theirs/chat', { message: 'hi' }, KEY)).status).toBe(200);
}

describe('a session route whose agent took the write spends it', () => {
  test('POST /api/sessions the agent created, whose read-back then finds it down (502): spent', async () => {
    const app = await open();
    await app.deps.probe.probeNow();
    downAfter(app, 'POST');
    try {
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/sessions', '{"id":"made"}')).toEqual([502, 'upstream_unreachable', true]);
      expect(hermes.sessions.has('made')).toBe(true);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      await hermes.resume();
    }
  });

  test('PATCH of a session the agent renamed, whose read-back then finds it down (502): spent', async () => {
    hermes.addSession({ id: 'theirs', title: 'old' });
    const app = await open();
    await app.deps.probe.probeNow();
    downAfter(app, 'PATCH');
    try {
      const cred = await credential(app);
      expect(await outcome(app, cred, 'PATCH', '/api/sessions/theirs', '{"title":"new"}')).toEqual([502, 'upstream_unreachable', true]);
      expect(hermes.sessions.get('theirs')?.title).toBe('new');
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      await hermes.resume();
    }
  });

  // The title is kept by the sidecar (the agent does not have the session): a local write, after which
  // the agent's read-back found down is no proof that nothing was done.
  test('PATCH of a session only the sidecar keeps, whose read-back then finds the agent down (502): spent', async () => {
    const app = await open();
    await app.deps.probe.probeNow();
    expect((await app.json('POST', '/api/sessions', { id: 'mine' }, KEY)).status).toBe(201);
    hermes.sessions.delete('mine');
    downAfter(app, 'GET');
    try {
      const cred = await credential(app);
      expect(await outcome(app, cred, 'PATCH', '/api/sessions/mine', '{"title":"new"}')).toEqual([502, 'upstream_unreachable', true]);
      await hermes.resume();
      expect(((await app.json('GET', '/api/sessions/mine', undefined, KEY)).body as Json).session.title).toBe('new');
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      await hermes.resume();
    }
  });

  for (const [fault, status, code] of [['SQLITE_BUSY', 503, 'storage_busy'], ['SQLITE_FULL', 507, 'storage_full']] as const) {
    test(`DELETE the agent carried out whose own bookkeeping is refused (${status} ${code}): spent`, async () => {
      hermes.addSession({ id: 'theirs' });
      const app = await open();
      await app.deps.probe.probeNow();
      await keptRow(app);
      failWritesTo(app, 'chat_sessions', fault);
      const cred = await credential(app);
      expect(await outcome(app, cred, 'DELETE', '/api/sessions/theirs')).toEqual([status, code, true]);
      expect(hermes.sessions.has('theirs')).toBe(false);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    });

    test(`DELETE of a state.db session whose own bookkeeping is then refused (${status} ${code}): spent`, async () => {
      const app = await open();
      const fx = createStateDb(app.home, 'v19');
      try {
        fx.addSession({ id: 'local', source: 'cli', started_at: 1_780_000_000 });
        // A title kept by the sidecar: the bookkeeping row the DELETE then removes too.
        expect((await app.json('PATCH', '/api/sessions/local', { title: 'kept' }, KEY)).status).toBe(200);
        failWritesTo(app, 'chat_sessions', fault);
        const cred = await credential(app);
        expect(await outcome(app, cred, 'DELETE', '/api/sessions/local')).toEqual([status, code, true]);
        expect(fx.db.query('SELECT count(*) AS n FROM sessions WHERE id = ?').get('local')).toEqual({ n: 0 });
        expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
      } finally {
        fx.close();
      }
    });

    test(`PATCH the agent carried out whose own bookkeeping is refused (${status} ${code}): spent`, async () => {
      hermes.addSession({ id: 'theirs', title: 'old' });
      const app = await open();
      await app.deps.probe.probeNow();
      await keptRow(app);
      failWritesTo(app, 'chat_sessions', fault);
      const cred = await credential(app);
      expect(await outcome(app, cred, 'PATCH', '/api/sessions/theirs', '{"title":"new"}')).toEqual([status, code, true]);
      expect(hermes.sessions.get('theirs')?.title).toBe('new');
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    });
  }
});

describe('a session created over a bookkeeping row', () => {
  // The agent deleted `theirs` after a turn left its bookkeeping row (usage, title); a POST with that id
  // replaces the row in our store before the agent is asked. The agent then refused (connection
  // refused): the 502 must not give the credential back, since the old row was already gone.
  test('POST /api/sessions {"id"} whose agent create is never sent, after our row replaced the old bookkeeping: spent', async () => {
    hermes.addSession({ id: 'theirs' });
    const app = await open();
    await app.deps.probe.probeNow();
    await keptRow(app);
    hermes.sessions.delete('theirs');
    const client = app.deps.upstream;
    const json = client.json.bind(client);
    client.json = async (path, init) => {
      if ((init?.method ?? 'GET') === 'POST') await hermes.pause();
      return json(path, init);
    };
    try {
      const kept = () => app.deps.db.sqlite.query("SELECT origin, message_count FROM chat_sessions WHERE id = 'theirs'").all();
      expect(kept()).toEqual([{ origin: 'upstream', message_count: 0 }]);
      const cred = await credential(app);
      expect(await outcome(app, cred, 'POST', '/api/sessions', '{"id":"theirs"}')).toEqual([502, 'upstream_unreachable', true]);
      expect(kept()).toEqual([]);
      expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
    } finally {
      await hermes.resume();
    }
  });
});
