import { afterAll, beforeEach, describe, expect, test } from 'bun:test';
import { ApiError } from '../src/lib/errors';
import { AaronGazeVerifier, toMillis } from '../src/modules/gaze/service';
import { startFakeAaron } from './fakes/aaron';
import { closedUrl } from './helpers/app';

const aaron = startFakeAaron();
afterAll(() => aaron.stop());
beforeEach(() => {
  aaron.sessions.clear();
  aaron.paths.length = 0;
  aaron.behavior = { hang: false, status: null, garbage: false };
});

async function refusal(p: Promise<void>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a refusal');
}

describe('gaze verification through AARON', () => {
  // A generous deadline: at 500 ms a busy CI box's answers came too late and read as AARON down. The
  // hang test has its own short one.
  const gaze = new AaronGazeVerifier(aaron.url, 30_000);

  test('a fresh verified session passes', async () => {
    aaron.verify('g-1', 10_000);
    await gaze.requireVerified('g-1');
    expect(aaron.requests).toContain('g-1');
  });

  test('verified:true without verified_at passes; epoch seconds are understood', async () => {
    aaron.sessions.set('g-2', { verified: true });
    await gaze.requireVerified('g-2');
    aaron.sessions.set('g-3', { status: 'verified', verified_at: Math.floor(Date.now() / 1000) - 5 });
    await gaze.requireVerified('g-3');
  });

  test('a session verified 300 s ago or more is stale (403)', async () => {
    aaron.verify('old', 301_000);
    const e = await refusal(gaze.requireVerified('old'));
    expect([e.status, e.code]).toEqual([403, 'gaze_stale']);
  });

  test('a verified_at in the future is not believed (a microsecond stamp read as milliseconds would never go stale); a little clock skew is', async () => {
    aaron.sessions.set('micro', { status: 'verified', verified_at: Date.now() * 1000 });
    const e = await refusal(gaze.requireVerified('micro'));
    expect([e.status, e.code, e.detail]).toEqual([503, 'gaze_unavailable', 'The gaze verification service sent a verified_at in the future.']);
    aaron.sessions.set('ahead', { status: 'verified', verified_at: new Date(Date.now() + 30_000).toISOString() });
    await gaze.requireVerified('ahead');
  });

  test('pending, unknown and missing sessions are refused with 403', async () => {
    aaron.sessions.set('p', { status: 'pending' });
    expect((await refusal(gaze.requireVerified('p'))).code).toBe('gaze_not_verified');
    expect((await refusal(gaze.requireVerified('nobody'))).code).toBe('gaze_not_verified');
    expect((await refusal(gaze.requireVerified(undefined))).code).toBe('gaze_required');
  });

  test('null fields are an answer, not garbage (403, not 503); an explicit verified:false is never verified', async () => {
    aaron.sessions.set('n1', { status: 'pending', verified: null });
    aaron.sessions.set('n2', { status: null, verified: false });
    aaron.sessions.set('both', { status: 'verified', verified: false });
    for (const id of ['n1', 'n2', 'both']) {
      const e = await refusal(gaze.requireVerified(id));
      expect([id, e.status, e.code]).toEqual([id, 403, 'gaze_not_verified']);
    }
    aaron.sessions.set('n3', { status: 'verified', verified: null, verified_at: null });
    await gaze.requireVerified('n3');
  });

  test('ids are path-encoded, never able to reach another AARON route', async () => {
    aaron.verify('a/../b');
    await gaze.requireVerified('a/../b');
    expect(aaron.requests).toContain('a/../b');
  });

  test('"." and ".." are refused without asking AARON: fetch would resolve them as dot segments (`/session/..` is AARON\'s root)', async () => {
    for (const id of ['.', '..']) {
      const e = await refusal(gaze.requireVerified(id));
      expect([id, e.status, e.code]).toEqual([id, 403, 'gaze_not_verified']);
    }
    expect(aaron.paths).toEqual([]);
  });

  test('AARON failing, hanging, garbled or unreachable → 503 gaze_unavailable', async () => {
    aaron.behavior.status = 500;
    expect((await refusal(gaze.requireVerified('x'))).status).toBe(503);
    aaron.behavior = { hang: false, status: null, garbage: true };
    expect((await refusal(gaze.requireVerified('x'))).code).toBe('gaze_unavailable');
    aaron.behavior = { hang: true, status: null, garbage: false };
    // The fake never ends a hung request (idleTimeout 0): only the verifier's deadline answers this.
    expect((await refusal(new AaronGazeVerifier(aaron.url, 500).requireVerified('x'))).code).toBe('gaze_unavailable');
    const down = new AaronGazeVerifier(await closedUrl(), 500);
    expect((await refusal(down.requireVerified('x'))).code).toBe('gaze_unavailable');
  });

  test('no AARON_URL → 503 for gaze-gated actions', async () => {
    const e = await refusal(new AaronGazeVerifier(null, 500).requireVerified('x'));
    expect([e.status, e.code]).toEqual([503, 'gaze_unavailable']);
  });

  test('toMillis reads ISO, seconds and milliseconds', () => {
    expect(toMillis('2026-11-29T00:00:00.000Z')).toBe(Date.UTC(2026, 10, 29));
    expect(toMillis(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toMillis(1_700_000_000_123)).toBe(1_700_000_000_123);
    expect(toMillis('1700000000')).toBe(1_700_000_000_000);
    expect(toMillis('yesterday')).toBeNull();
  });

  test('a verified_at without a zone is UTC whatever the host\'s zone (Python\'s utcnow().isoformat() writes them so)', async () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(toMillis('2026-11-29T13:07:33.120000')).toBe(Date.UTC(2026, 10, 29, 13, 7, 33, 120));
      expect(toMillis('2026-11-29 13:07:33')).toBe(Date.UTC(2026, 10, 29, 13, 7, 33));
      aaron.sessions.set('naive', { status: 'verified', verified_at: new Date(Date.now() - 10_000).toISOString().replace('Z', '000') });
      await gaze.requireVerified('naive');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});
