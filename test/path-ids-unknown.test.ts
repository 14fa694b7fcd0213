/**
 * A path id that names nothing is a 404 with the route's own code, whatever its length or
 * characters (SPEC §4/§7/§8: an unknown session or skill is a 404; docs/sessions-chat.md,
 * docs/skills-config.md and docs/wallet.md say so). Sessions over 256 characters, skills over
 * 4,096 and escrow ids that were not URL-safe used to be 422 `validation_error` of the path, as
 * memory ids over 512 characters were until 2026-12-07.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';
import { appOn } from './helpers/fake-app';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

const LONG_IDS = ['x'.repeat(257), '2'.repeat(600), `s_${'a'.repeat(5000)}`];

async function expectNotFound(t: TestApp, method: string, path: string, code: string, body?: unknown): Promise<void> {
  const res = await t.json<{ code: string; detail: string }>(method, path, body);
  expect({ method, path: path.slice(0, 60), status: res.status, code: res.body.code }).toEqual({ method, path: path.slice(0, 60), status: 404, code });
  // The id is not echoed whole into the answer.
  expect(res.body.detail.length).toBeLessThan(400);
}

describe('session routes: an id of any length that names no session is 404 session_not_found', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp();
  });
  afterEach(() => t.close());

  test('GET, PATCH, DELETE, messages, chat and chat/stream; nothing is created', async () => {
    for (const id of LONG_IDS) {
      await expectNotFound(t, 'GET', `/api/sessions/${id}`, 'session_not_found');
      await expectNotFound(t, 'GET', `/api/sessions/${id}/messages`, 'session_not_found');
      await expectNotFound(t, 'PATCH', `/api/sessions/${id}`, 'session_not_found', { title: 'T' });
      await expectNotFound(t, 'DELETE', `/api/sessions/${id}`, 'session_not_found');
      await expectNotFound(t, 'POST', `/api/sessions/${id}/chat`, 'session_not_found', { message: 'hi' });
      await expectNotFound(t, 'POST', `/api/sessions/${id}/chat/stream`, 'session_not_found', { message: 'hi' });
    }
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 0 });
  });
});

describe('session routes with the agent\'s session API (Hermes 0.17)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.17' });
  });
  afterAll(() => fake.stop());
  beforeEach(async () => {
    fake.reset();
    t = await appOn(fake);
  });
  afterEach(() => t.close());

  test('an over-long id is a 404 without asking the agent (its ids are short; a long request line is its 400)', async () => {
    fake.requests.length = 0;
    for (const id of LONG_IDS) {
      await expectNotFound(t, 'GET', `/api/sessions/${id}`, 'session_not_found');
      await expectNotFound(t, 'GET', `/api/sessions/${id}/messages`, 'session_not_found');
      await expectNotFound(t, 'DELETE', `/api/sessions/${id}`, 'session_not_found');
    }
    expect(fake.requests.filter((r) => r.path.startsWith('/api/sessions/'))).toEqual([]);
  });
});

describe('skills and escrows', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp();
  });
  afterEach(() => t.close());

  test('GET /api/skills/{id} of any length names no skill: 404 skill_not_found', async () => {
    await expectNotFound(t, 'GET', `/api/skills/${'k'.repeat(4097)}`, 'skill_not_found');
    await expectNotFound(t, 'GET', `/api/skills/${'k'.repeat(9000)}`, 'skill_not_found');
  });

  test('an escrow id that no escrow can have (long, or not URL-safe) is 404 escrow_not_found; nothing changes', async () => {
    const bad = ['e'.repeat(129), `esc_${'z'.repeat(3000)}`, 'bad!id', '-leading-dash', 'a%20b'];
    for (const id of bad) {
      await expectNotFound(t, 'GET', `/api/wallet/escrow/${id}`, 'escrow_not_found');
      await expectNotFound(t, 'POST', `/api/wallet/escrow/${id}/refund`, 'escrow_not_found');
    }
    expect((await t.json('GET', '/api/wallet/escrow')).body).toMatchObject({ total: 0 });
  });
});
