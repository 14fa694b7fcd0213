/**
 * An agent's session (state.db) continued through the chat-completions fallback when the gateway does
 * not keep the turns under that id: a gateway without a key (the sidecar sends no X-Hermes-Session-Id)
 * or one that refuses the id. The agent then files each turn under an `api-…` session of its own, so
 * the context of the next turn has to come from the sidecar (SPEC §7: context kept across fallback turns).
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, post, type TestApp } from './helpers/app';
import { UPSTREAM_KEY } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { createStateDb, type StateDbFixture } from './fixtures/state-db';

const sentMessages = (fake: FakeHermes) => fake.requests.filter((r) => r.path === '/v1/chat/completions')
  .map((r) => JSON.parse(r.body).messages as { role: string; content: unknown }[]);

for (const kind of ['keyless', 'id refused'] as const) {
  describe(`a state.db session on the fallback, ${kind}`, () => {
    let fake: FakeHermes;
    let t: TestApp;
    let fx: StateDbFixture;
    beforeEach(async () => {
      fake = await startFakeHermes({ version: '0.12', apiKey: kind === 'keyless' ? null : UPSTREAM_KEY });
      fake.behavior.strictSessionHeader = kind === 'id refused';
      fake.behavior.reply = (m) => `turn ${m.filter((x) => x.role === 'user').length}`;
      t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, ...(kind === 'keyless' ? {} : { HERMES_API_KEY: UPSTREAM_KEY }) } });
      await t.deps.probe.probeNow();
      fx = createStateDb(t.home, 'v19');
      fx.addSession({ id: 'tg-1', source: 'telegram', started_at: 1_790_000_000 }, [
        { role: 'user', content: 'hello from telegram', timestamp: 1_790_000_001 },
        { role: 'assistant', content: 'hi!', timestamp: 1_790_000_002 },
      ]);
    });
    afterEach(async () => {
      fx.close();
      t.close();
      await fake.stop();
    });

    test('the second turn carries the first (was sent with the agent\'s messages only: the first turn forgotten)', async () => {
      const first = await sseEvents(await post(t, '/api/sessions/tg-1/chat/stream', { message: 'my name is Ada' }));
      expect(first.at(-1)?.event).toBe('done');
      const second = await t.json('POST', '/api/sessions/tg-1/chat', { message: 'what is my name?' });
      expect(second.status).toBe(200);
      expect(sentMessages(fake).at(-1)).toEqual([
        { role: 'user', content: 'hello from telegram' }, { role: 'assistant', content: 'hi!' },
        { role: 'user', content: 'my name is Ada' }, { role: 'assistant', content: 'turn 2' },
        { role: 'user', content: 'what is my name?' },
      ]);
    });

    test('turns the agent wrote meanwhile (from Telegram) take their place by time', async () => {
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'my name is Ada' });
      const now = Date.now() / 1000;
      fx.addMessage('tg-1', { role: 'user', content: 'from the phone', timestamp: now + 1 });
      fx.addMessage('tg-1', { role: 'assistant', content: 'noted', timestamp: now + 2 });
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'and now?' });
      expect(sentMessages(fake).at(-1)?.map((m) => m.content)).toEqual([
        'hello from telegram', 'hi!', 'my name is Ada', 'turn 2', 'from the phone', 'noted', 'and now?',
      ]);
    });

    test('a deleted session takes the turns kept for it along (a new one under the id starts empty)', async () => {
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'my name is Ada' });
      expect((await t.json('DELETE', '/api/sessions/tg-1')).status).toBe(200);
      expect((await t.json('POST', '/api/sessions', { id: 'tg-1' })).status).toBe(201);
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'who am I?' });
      expect(sentMessages(fake).at(-1)).toEqual([{ role: 'user', content: 'who am I?' }]);
    });

    test('a DELETE while state.db cannot be read is a 404 that keeps the turns kept for the session (it comes back with them)', async () => {
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'my name is Ada' });
      // A restore: the file is away for a moment, the agent's session with it.
      const path = join(t.home, 'state.db');
      renameSync(path, `${path}.away`);
      expect((await t.json('DELETE', '/api/sessions/tg-1')).status).toBe(404);
      renameSync(`${path}.away`, path);
      await t.json('POST', '/api/sessions/tg-1/chat', { message: 'what is my name?' });
      expect(sentMessages(fake).at(-1)?.map((m) => m.content)).toEqual(['hello from telegram', 'hi!', 'my name is Ada', 'turn 2', 'what is my name?']);
    });
  });
}

describe('a state.db session on the fallback of a gateway that continues it by id', () => {
  let fake: FakeHermes;
  let t: TestApp;
  let fx: StateDbFixture;
  beforeEach(async () => {
    fake = await startFakeHermes({ version: '0.12', apiKey: UPSTREAM_KEY });
    fake.behavior.reply = () => 'ok';
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY } });
    await t.deps.probe.probeNow();
    fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 'tg-1', source: 'telegram', started_at: 1_790_000_000 });
  });
  afterEach(async () => {
    fx.close();
    t.close();
    await fake.stop();
  });

  test('the turn is not kept twice: the agent files it under the id (X-Hermes-Session-Id honoured)', async () => {
    await t.json('POST', '/api/sessions/tg-1/chat', { message: 'my name is Ada' });
    expect(fake.requests.at(-1)?.headers['x-hermes-session-id']).toBe('tg-1');
    // What Hermes does with the header: the turn lands in state.db under the session's id.
    const now = Date.now() / 1000;
    fx.addMessage('tg-1', { role: 'user', content: 'my name is Ada', timestamp: now });
    fx.addMessage('tg-1', { role: 'assistant', content: 'ok', timestamp: now });
    await t.json('POST', '/api/sessions/tg-1/chat', { message: 'who am I?' });
    expect(sentMessages(fake).at(-1)?.map((m) => m.content)).toEqual(['my name is Ada', 'ok', 'who am I?']);
  });
});
