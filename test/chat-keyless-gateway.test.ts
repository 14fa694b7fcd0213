/**
 * A keyless Hermes 0.12 gateway while the sidecar has HERMES_API_KEY: it refuses X-Hermes-Session-Id
 * for every session alike (403 "Session continuation requires API key authentication"). The refusal is
 * remembered per gateway, so only one turn goes twice, and looked at again when the gateway may have
 * been given a key (a restart seen, or after KEYLESS_RECHECK_MS).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { KEYLESS_RECHECK_MS } from '../src/modules/chat/upstream';
import { makeTestApp, type TestApp } from './helpers/app';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

const SIDECAR_KEY = 'key-the-gateway-lacks';

describe('a keyless Hermes 0.12 gateway, the sidecar with HERMES_API_KEY', () => {
  const fakes: FakeHermes[] = [];
  let t: TestApp | null = null;
  let clock = 0;
  afterEach(async () => {
    t?.close();
    t = null;
    for (const f of fakes.splice(0)) await f.stop();
  });

  async function setUp(env: Record<string, string> = {}): Promise<FakeHermes> {
    const fake = await startFakeHermes({ version: '0.12', apiKey: null });
    fakes.push(fake);
    clock = 0;
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: SIDECAR_KEY, ...env }, open: { chatClock: () => clock } });
    await t.deps.probe.probeNow();
    return fake;
  }

  /** A first turn in a new session of the sidecar's own; its answer's status. */
  async function firstTurn(id: string): Promise<number> {
    const app = t as TestApp;
    expect((await app.json('POST', '/api/sessions', { id })).status).toBe(201);
    return (await app.json('POST', `/api/sessions/${id}/chat`, { message: `hello from ${id}` })).status;
  }

  /** The X-Hermes-Session-Id of each completions request the fake got ('none' without it). */
  const sent = (fake: FakeHermes) => fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.headers['x-hermes-session-id'] ?? 'none');

  test('the refusal is the gateway\'s: over 5 sessions only the first turn goes twice (was every session\'s first turn: 10 requests)', async () => {
    const fake = await setUp();
    for (let i = 1; i <= 5; i++) expect(await firstTurn(`s${i}`)).toBe(200);
    expect(sent(fake)).toEqual(['s1', 'none', 'none', 'none', 'none', 'none']);
  });

  test('after KEYLESS_RECHECK_MS one turn sends the header again: still refused, it goes twice and the gateway is remembered anew', async () => {
    const fake = await setUp();
    expect(await firstTurn('a1')).toBe(200);
    clock = KEYLESS_RECHECK_MS - 1;
    expect(await firstTurn('a2')).toBe(200);
    clock = KEYLESS_RECHECK_MS;
    expect(await firstTurn('a3')).toBe(200);
    expect(await firstTurn('a4')).toBe(200);
    expect(sent(fake)).toEqual(['a1', 'none', 'none', 'a3', 'none', 'none']);
  });

  test('a gateway restarted with API_SERVER_KEY unseen gets the header back after KEYLESS_RECHECK_MS, and files the turn under the session', async () => {
    const keyless = await setUp();
    expect(await firstTurn('b1')).toBe(200);
    await keyless.stop();
    const keyed = await startFakeHermes({ version: '0.12', apiKey: SIDECAR_KEY, port: keyless.port });
    fakes.push(keyed);
    expect(await firstTurn('b2')).toBe(200);
    clock = KEYLESS_RECHECK_MS;
    expect(await firstTurn('b3')).toBe(200);
    expect(await firstTurn('b4')).toBe(200);
    expect(sent(keyed)).toEqual(['none', 'b3', 'b4']);
    expect(keyed.sessions.has('b3')).toBe(true);
  });

  test('a restart the sidecar saw (a turn found the gateway unreachable) forgets the refusal at once', async () => {
    const keyless = await setUp();
    expect(await firstTurn('c1')).toBe(200);
    await keyless.pause();
    expect(await firstTurn('c2')).toBe(502);
    await keyless.stop();
    const keyed = await startFakeHermes({ version: '0.12', apiKey: SIDECAR_KEY, port: keyless.port });
    fakes.push(keyed);
    expect(await firstTurn('c3')).toBe(200);
    expect(sent(keyed)).toEqual(['c3']);
    expect(keyed.sessions.has('c3')).toBe(true);
  });

  test('a keyless gateway found again after being unreachable costs one more refused turn, then none', async () => {
    const fake = await setUp();
    expect(await firstTurn('d1')).toBe(200);
    await fake.pause();
    expect(await firstTurn('d2')).toBe(502);
    await fake.resume();
    expect(await firstTurn('d3')).toBe(200);
    expect(await firstTurn('d4')).toBe(200);
    expect(sent(fake)).toEqual(['d1', 'none', 'd3', 'none', 'none']);
  });

  test('a restart the probe saw (the gateway unreachable to it) forgets the refusal too', async () => {
    const keyless = await setUp();
    expect(await firstTurn('e1')).toBe(200);
    await keyless.pause();
    expect((await (t as TestApp).deps.probe.probeNow()).connected).toBe(false);
    await keyless.stop();
    const keyed = await startFakeHermes({ version: '0.12', apiKey: SIDECAR_KEY, port: keyless.port });
    fakes.push(keyed);
    expect((await (t as TestApp).deps.probe.probeNow()).connected).toBe(true);
    expect(await firstTurn('e2')).toBe(200);
    expect(sent(keyed)).toEqual(['e2']);
    expect(keyed.sessions.has('e2')).toBe(true);
  });

  test('a probe request that only timed out (a slow endpoint, the gateway connected) does not forget the refusal', async () => {
    const fake = await setUp({ PROBE_TIMEOUT_S: '0.2' });
    expect(await firstTurn('f1')).toBe(200);
    // A loaded agent: one of the probe's endpoints answers past the probe's deadline, the rest at once.
    fake.behavior.hang['/health/detailed'] = true;
    expect((await (t as TestApp).deps.probe.probeNow()).connected).toBe(true);
    expect(await firstTurn('f2')).toBe(200);
    // Was ['f1', 'none', 'f2', 'none']: every probe interval on such an agent made one turn go twice.
    expect(sent(fake)).toEqual(['f1', 'none', 'none']);
  });
});
