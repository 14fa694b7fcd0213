/** Bad input on every task route: a clear 4xx JSON error, and nothing changed. Gaze gating of claims. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { startFakeAaron, type FakeAaron } from './fakes/aaron';
import { taskApp, type TaskApp } from './helpers/tasks';

describe('bad input on every task route', () => {
  let app: TaskApp;
  let id: string;
  beforeAll(async () => {
    app = await taskApp('sqlite', { env: { MAX_BODY_BYTES: '4096' } });
    id = (await app.create()).task_id;
  });
  afterAll(() => app.close());

  const routes = () => ({
    create: ['POST', '/api/tasks'],
    claim: ['POST', `/api/tasks/${id}/claim`],
    complete: ['POST', `/api/tasks/${id}/complete`],
    swarm: ['POST', '/api/tasks/swarm'],
  });
  const bodies: Record<keyof ReturnType<typeof routes>, unknown[]> = {
    create: [
      {},
      { title: '' },
      { title: '   ' },
      { title: 'a\u0000b' },
      { title: 'x'.repeat(501) },
      { title: 7 },
      { title: 't', priority: 0 },
      { title: 't', priority: 11 },
      { title: 't', priority: 5.5 },
      { title: 't', priority: '5' },
      { title: 't', reward: -1 },
      { title: 't', reward: '1.0000001' },
      { title: 't', reward: 'ten' },
      { title: 't', reward: 1e20 },
      { title: 't', reward: 1e-21 },
      { title: 't', reward: 5e-324 },
      { title: 't', reward: null },
      { title: 't', capabilities: 'code' },
      { title: 't', capabilities: [''] },
      { title: 't', depends_on: [42] },
      { title: 't', depends_on: ['../etc'] },
      { title: 't', depends_on: Array.from({ length: 101 }, (_, i) => `task_${i}`) },
      { title: 't', parent_task_id: 'a b' },
      { title: 't', assigned_agent: '' },
      { title: 't', gaze_required: 'yes' },
      // Lone surrogates (a client cutting an emoji in half): SQLite's UTF-8 cannot keep them.
      { title: 'cut \ud83d' },
      { title: 't', description: 'cut \ude00 here' },
      { title: 't', assigned_agent: 'ann\ud800' },
      { title: 't', capabilities: ['\udfff'] },
      { title: 't', validation_mode: 'Creator\ud800' },
      [],
      null,
      'title',
    ],
    claim: [{}, { agent_name: '' }, { agent_name: 'a\nb' }, { agent_name: 'a', lease_seconds: 0 }, { agent_name: 'a', lease_seconds: 1.5 }, { agent_name: 'a', lease_seconds: '60' }, { agent_name: 'a', lease_seconds: 1e9 }, { agent_name: 'a', gaze_session_id: '' }, { agent_name: 'a', gaze_session_id: '\ud800' }, { agent_name: 'a\ud800' }],
    complete: [{}, { result: 'x' }, { agent_name: 5 }, { agent_name: 'a', success: 'no' }, { agent_name: '\udc00a' }],
    swarm: [
      {},
      { goal: '' },
      { goal: 'g', strategy: 'random' },
      { goal: 'g', subtasks: [] },
      { goal: 'g', subtasks: [{}] },
      { goal: 'g', subtasks: [{ title: 's', depends_on: [-1] }] },
      { goal: 'g', subtasks: [{ title: 's', depends_on: [0.5] }] },
      { goal: 'g', subtasks: Array.from({ length: 101 }, (_, i) => ({ title: `s${i}` })) },
      { goal: 'g', agents: [''] },
      { goal: 'g', priority: 0 },
      { goal: 'g\ud800' },
      { goal: 'g', subtasks: [{ title: 's', description: '\udc00' }] },
    ],
  };

  test('bodies that break the schema: 422 with the field named, nothing stored', async () => {
    for (const [name, [method, path]] of Object.entries(routes()) as [keyof ReturnType<typeof routes>, string[]][]) {
      for (const body of bodies[name]) {
        const before = app.snapshot();
        const r = await app.json(method as string, path as string, body);
        const where = `${name} ${JSON.stringify(body)?.slice(0, 80)} → ${r.status}`;
        expect(r.status === 422 ? 'ok' : where).toBe('ok');
        expect(typeof r.body.detail === 'string' && r.body.code === 'validation_error' ? 'ok' : where).toBe('ok');
        expect(app.snapshot() === before ? 'ok' : `${where} changed data`).toBe('ok');
      }
    }
  });

  test('malformed JSON is 400, an oversized body 413, on every body route', async () => {
    for (const [method, path] of Object.values(routes())) {
      const before = app.snapshot();
      const bad = await app.t.fetch(path as string, { method, headers: { 'content-type': 'application/json' }, body: '{"title": "x",' });
      expect([path, bad.status, ((await bad.json()) as { code: string }).code]).toEqual([path, 400, 'malformed_json']);
      const big = await app.t.fetch(path as string, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'x'.repeat(5000) }) });
      expect([path, big.status]).toEqual([path, 413]);
      expect(app.snapshot()).toBe(before);
    }
  });

  test('a result holding a number no double holds (1e400) is a 422, not stored as null; the task stays InProgress', async () => {
    const { task_id } = await app.create();
    expect((await app.claim(task_id, 'ann')).status).toBe(200);
    const before = app.snapshot();
    // JSON.parse reads 1e400 as Infinity, which the stored JSON wrote as null: the agent's result was changed without a word.
    for (const result of ['1e400', '{"score":-1e999}', '[1,[2,1e400]]']) {
      const r = await app.t.fetch(`/api/tasks/${task_id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"agent_name":"ann","result":${result}}` });
      const body = (await r.json()) as { code: string; errors: { path: string; message: string }[] };
      expect([result, r.status, body.code, body.errors[0]?.path]).toEqual([result, 422, 'validation_error', 'result']);
    }
    expect(app.snapshot()).toBe(before);
    expect((await app.complete(task_id, 'ann', { result: { score: 1e308 } })).body.result).toEqual({ score: 1e308 });
  });

  test('a result with half an emoji (a lone surrogate) is kept as sent (stored as JSON text)', async () => {
    const { task_id } = await app.create();
    expect((await app.claim(task_id, 'ann')).status).toBe(200);
    const result = { 'k\ud83d': 'x\udc00' };
    expect((await app.complete(task_id, 'ann', { result })).body.result).toEqual(result);
    expect((await app.t.json<{ result: unknown }>('GET', `/api/tasks/${task_id}`)).body.result).toEqual(result);
  });

  test('bad query parameters on the list are 422', async () => {
    for (const q of ['status=Done', 'status=open', 'limit=0', 'limit=501', 'limit=abc', 'limit=1.5', 'offset=-1', 'agent=%20', 'swarm_id=a%20b', 'limit=1e309']) {
      const r = await app.json('GET', `/api/tasks?${q}`);
      expect([q, r.status, r.body.code]).toEqual([q, 422, 'validation_error']);
    }
  });
});

describe('gaze-gated claims', () => {
  let aaron: FakeAaron;
  let app: TaskApp;
  beforeAll(() => {
    aaron = startFakeAaron();
  });
  afterAll(() => aaron.stop());
  beforeEach(async () => {
    aaron.sessions.clear();
    aaron.requests.length = 0;
    app = await taskApp('sqlite', { env: { AARON_URL: aaron.url } });
  });
  afterEach(() => app.close());

  test('a verified, fresh gaze session lets the claim through', async () => {
    const { task_id: id } = await app.create({ gaze_required: true });
    aaron.verify('gaze-1', 5_000);
    const r = await app.claim(id, 'astrojoe', { gaze_session_id: 'gaze-1' });
    expect(r.body).toMatchObject({ status: 'InProgress', agent: 'astrojoe' });
    expect(aaron.requests).toEqual(['gaze-1']);
  });

  test('missing, unverified, unknown and stale sessions are 403 and leave the task Open', async () => {
    const { task_id: id } = await app.create({ gaze_required: true });
    aaron.sessions.set('pending', { status: 'pending' });
    aaron.verify('old', 301_000);
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'gaze_required'],
      [{ gaze_session_id: 'pending' }, 'gaze_not_verified'],
      [{ gaze_session_id: 'nobody' }, 'gaze_not_verified'],
      [{ gaze_session_id: 'old' }, 'gaze_stale'],
    ];
    for (const [extra, code] of cases) {
      const before = app.snapshot();
      const r = await app.claim(id, 'astrojoe', extra);
      expect([r.status, r.body.code]).toEqual([403, code]);
      expect(app.snapshot()).toBe(before);
    }
    expect((await app.get(id)).status).toBe('Open');
  });

  test('AARON failing is 503; a task that is not claimable is refused before AARON is asked', async () => {
    const { task_id: id } = await app.create({ gaze_required: true });
    aaron.behavior.status = 500;
    const down = await app.claim(id, 'a', { gaze_session_id: 'g' });
    expect([down.status, down.body.code]).toEqual([503, 'gaze_unavailable']);
    aaron.behavior.status = null;
    aaron.verify('g');
    await app.claim(id, 'a', { gaze_session_id: 'g' });
    aaron.requests.length = 0;
    const taken = await app.claim(id, 'b', { gaze_session_id: 'g' });
    expect([taken.status, taken.body.code, aaron.requests]).toEqual([409, 'task_not_open', []]);
  });

  test('tasks without gaze_required never ask AARON', async () => {
    const { task_id: id } = await app.create();
    expect((await app.claim(id, 'a')).status).toBe(200);
    expect(aaron.requests).toEqual([]);
  });
});

test('no AARON_URL: a gaze-gated claim is 503 gaze_unavailable and the task stays Open', async () => {
  const app = await taskApp('sqlite');
  try {
    const { task_id: id } = await app.create({ gaze_required: true });
    const r = await app.claim(id, 'a', { gaze_session_id: 'g' });
    expect([r.status, r.body.code]).toEqual([503, 'gaze_unavailable']);
    expect((await app.get(id)).status).toBe('Open');
  } finally {
    app.close();
  }
});
