/**
 * MEMORY_BACKEND=spacetimedb against the fake SpacetimeDB host: the exact reducer calls, SQL that no
 * quote can change, rows that are not memories, Option columns, and every failure (unreachable, hang,
 * 530, unknown database, refused token) as a readable error, never a hang.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { ReducerFailure } from './fakes/spacetimedb-db';
import { closedUrl, makeTestApp, type TestApp } from './helpers/app';

type Memory = { id: string; content: string; category: string; tags: string[]; importance: number; metadata: Record<string, unknown>; created_at: string };

let fake: FakeSpacetime;
const apps: TestApp[] = [];
beforeAll(() => {
  fake = startFakeSpacetime();
});
afterAll(async () => {
  await fake.stop();
});
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
  fake.tables.get('memory_entry')!.rows = [];
  fake.requests.length = 0;
  Object.assign(fake.behavior, { hang: false, delayMs: 0, failReducer: null, statusOverride: {} });
  fake.resume();
});

async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: fake.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2', ...env } });
  apps.push(t);
  return t;
}
const sqlSent = () => fake.requests.filter((r) => r.path.endsWith('/sql')).map((r) => r.body);
const seed = (key: string, value: string, extra: Record<string, unknown> = {}) =>
  fake.tables.get('memory_entry')!.insert({ id: 0, category: 'general', key, value, source: 'other', owner: 'someone', importance: 5, session_id: '', created_at: Date.now() * 1000, ...extra });

describe('writes', () => {
  test('store_memory gets [category, mem:<id>, {content, metadata, tags}, source, owner, importance×10, ""] as JSON', async () => {
    const t = await app({ WALLET_AGENT: 'joe' });
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'Kafka keeps 7 days', category: 'infra', tags: ['kafka'], importance: 0.55, metadata: { a: 1 } });
    expect(r.status).toBe(201);
    const call = fake.requests.find((q) => q.path.endsWith('/call/store_memory'));
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers.authorization).toBeUndefined();
    const args = JSON.parse(call?.body ?? '[]') as unknown[];
    expect(args).toEqual(['infra', `mem:${r.body.memory.id}`, JSON.stringify({ content: 'Kafka keeps 7 days', metadata: { a: 1 }, tags: ['kafka'] }), 'hermes-optx-api', 'joe', 6, '']);
    expect(r.body.memory.id).toMatch(/^[0-9a-f]{32}$/);
    // Tenths are what the column keeps: 0.55 is stored as 6 and read back as 0.6.
    expect(r.body.memory).toMatchObject({ content: 'Kafka keeps 7 days', category: 'infra', tags: ['kafka'], importance: 0.6, metadata: { a: 1 } });
    // The write is read back with a confirmed (durable) read.
    expect(fake.requests.some((q) => q.path.endsWith('/sql') && q.search === '?confirmed=true')).toBe(true);
  });

  test('delete checks the key exists (404 without calling delete_memory), then calls delete_memory [key]', async () => {
    const t = await app();
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'to delete' });
    expect((await t.json('DELETE', '/api/memory/nothing-here')).status).toBe(404);
    expect(fake.requests.some((q) => q.path.endsWith('/call/delete_memory'))).toBe(false);
    expect((await t.json('DELETE', `/api/memory/${r.body.memory.id}`)).status).toBe(200);
    const call = fake.requests.find((q) => q.path.endsWith('/call/delete_memory'));
    expect(JSON.parse(call?.body ?? '[]')).toEqual([`mem:${r.body.memory.id}`]);
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(0);
  });

  test('the same content stored twice at once: one 201, the other 200 duplicate with the first memory; nothing overwritten', async () => {
    const t = await app();
    fake.behavior.delayMs = 5;
    const rs = await Promise.all([
      t.json<{ duplicate: boolean; memory: Memory }>('POST', '/api/memory', { content: 'shared fact', category: 'alpha', importance: 0.9, metadata: { by: 'A' } }),
      t.json<{ duplicate: boolean; memory: Memory }>('POST', '/api/memory', { content: 'shared fact', category: 'beta', importance: 0.1, metadata: { by: 'B' } }),
      t.json<{ duplicate: boolean; memory: Memory }>('POST', '/api/memory', { content: 'shared fact', category: 'gamma', importance: 0.5, metadata: { by: 'C' } }),
    ]);
    expect(rs.map((r) => [r.status, r.body.duplicate]).sort()).toEqual([[200, true], [200, true], [201, false]]);
    const created = rs.find((r) => r.status === 201)!.body.memory;
    for (const r of rs) expect(r.body.memory).toEqual(created);
    expect(fake.requests.filter((q) => q.path.endsWith('/call/store_memory'))).toHaveLength(1);
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    expect(list.body.memories).toEqual([created]);
  });

  test('a failed store does not hold up the next store of the same content', async () => {
    const t = await app();
    const original = fake.reducers.get('store_memory')!;
    let calls = 0;
    fake.defineReducer('store_memory', {
      params: original.params,
      run(ctx, args) {
        if (calls++ === 0) throw new ReducerFailure('first store fails');
        original.run(ctx, args);
      },
    });
    try {
      const [first, second] = await Promise.all([
        t.json<{ code: string }>('POST', '/api/memory', { content: 'retried fact' }),
        t.json<{ duplicate: boolean }>('POST', '/api/memory', { content: 'retried fact' }),
      ]);
      expect([first.status, first.body.code]).toEqual([502, 'spacetimedb_reducer_failed']);
      expect([second.status, second.body.duplicate]).toEqual([201, false]);
      expect(fake.tables.get('memory_entry')!.rows).toHaveLength(1);
    } finally {
      fake.defineReducer('store_memory', original);
    }
  });

  test('the bearer token is sent when configured; a refused token is a readable 502', async () => {
    const secured = startFakeSpacetime({ token: 'stdb-secret-token' });
    try {
      const t = await app({ MEMORY_DB_URL: secured.url, SPACETIMEDB_TOKEN: 'stdb-secret-token' });
      expect((await t.json('POST', '/api/memory', { content: 'secured' })).status).toBe(201);
      expect(secured.requests.every((q) => q.headers.authorization === 'Bearer stdb-secret-token')).toBe(true);
      const wrong = await app({ MEMORY_DB_URL: secured.url, SPACETIMEDB_TOKEN: 'wrong-token' });
      const r = await wrong.json<{ code: string; detail: string }>('POST', '/api/memory', { content: 'nope' });
      expect(r.status).toBe(502);
      expect(r.body.code).toBe('spacetimedb_unauthorized');
      expect(r.body.detail).not.toContain('wrong-token');
      expect((await wrong.json<{ status: string }>('GET', '/api/memory/stats')).body.status).toBe('degraded');
    } finally {
      await secured.stop();
    }
  });
});

describe('reads', () => {
  test('rows whose key is not mem: (tasks, escrow, claims, memo:) are never memories', async () => {
    const t = await app();
    seed('task:1', JSON.stringify({ task_id: '1', title: 'staging task' }), { category: 'task' });
    seed('escrow:9', '{"amount":"5"}', { category: 'escrow' });
    seed('claim:1:0:joe', '{}', { category: 'task' });
    seed('memo:x', 'staging memo');
    seed('mem;', 'staging edge');
    seed('mem:abc', JSON.stringify({ content: 'staging memory', metadata: {}, tags: ['t'] }));
    const list = await t.json<{ memories: Memory[]; total: number }>('GET', '/api/memory');
    expect(list.body.memories.map((m) => m.id)).toEqual(['abc']);
    expect(list.body.total).toBe(1);
    expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'staging' })).body.total).toBe(1);
    expect((await t.json<{ total_memories: number; categories: object }>('GET', '/api/memory/stats')).body).toMatchObject({ total_memories: 1, categories: { general: 1 } });
    expect((await t.json('DELETE', '/api/memory/..%2Ftask:1')).status).toBe(404);
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(6);
  });

  test('a mem: row from another writer with a plain value shows the value as content', async () => {
    const t = await app();
    seed('mem:plain', 'just text, not JSON', { importance: 10 });
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    expect(list.body.memories).toEqual([expect.objectContaining({ id: 'plain', content: 'just text, not JSON', tags: [], metadata: {}, importance: 1 })]);
  });

  test('a value another writer shaped differently keeps its content, with tags and metadata read field by field', async () => {
    const t = await app();
    const rows: [string, unknown][] = [
      ['mem:s', { content: 'tags as a string', tags: 'alpha, beta,,alpha', metadata: { by: 'agent' } }],
      ['mem:n', { content: 'metadata null', metadata: null, tags: ['x', null, 3, ' y '] }],
      ['mem:a', { content: 'metadata a list', metadata: [1, 2] }],
      ['mem:c', { content: 42, tags: ['lost'] }],
    ];
    for (const [key, value] of rows) seed(key, JSON.stringify(value));
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    const byId = Object.fromEntries(list.body.memories.map((m) => [m.id, m]));
    expect(byId.s).toMatchObject({ content: 'tags as a string', tags: ['alpha', 'beta'], metadata: { by: 'agent' } });
    expect(byId.n).toMatchObject({ content: 'metadata null', tags: ['x', 'y'], metadata: {} });
    expect(byId.a).toMatchObject({ content: 'metadata a list', tags: [], metadata: {} });
    // Content that is not text: the value is shown whole, as for any value of another shape.
    expect(byId.c).toMatchObject({ content: JSON.stringify(rows[3]![1]), tags: [], metadata: {} });
    const tagged = await t.json<{ total: number; results: Memory[] }>('POST', '/api/memory/search', { query: '', filters: { tags: ['alpha'] } });
    expect(tagged.body.results.map((m) => m.id)).toEqual(['s']);
  });

  test('rows are decoded by the schema the server returns, Option columns included', async () => {
    const t = await app();
    const original = fake.tables.get('memory_entry')!;
    const table = fake.defineTable('memory_entry', original.columns.map((c) => (c.name === 'owner' || c.name === 'session_id' ? { ...c, type: 'Option<String>' as const } : c)), original.options);
    try {
      table.insert({ id: 0, category: 'general', key: 'mem:a', value: JSON.stringify({ content: 'with owner' }), source: 's', owner: 'joe', importance: 3, session_id: null, created_at: 1_700_000_000_000_000 });
      table.insert({ id: 0, category: 'general', key: 'mem:b', value: JSON.stringify({ content: 'without owner' }), source: 's', owner: null, importance: 4, session_id: 'x', created_at: 1_700_000_001_000_000 });
      const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
      expect(list.body.memories.map((m) => [m.id, m.content, m.importance, m.created_at])).toEqual([
        ['b', 'without owner', 0.4, '2023-11-14T22:13:21.000Z'],
        ['a', 'with owner', 0.3, '2023-11-14T22:13:20.000Z'],
      ]);
    } finally {
      fake.tables.set('memory_entry', original);
    }
  });

  test('a quote in a category or a query cannot change the SQL', async () => {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'owned by it', category: "it's" });
    await t.json('POST', '/api/memory', { content: 'another one', category: 'other' });
    fake.requests.length = 0;
    const quoted = await t.json<{ memories: Memory[] }>('GET', `/api/memory?category=${encodeURIComponent("it's")}`);
    expect(quoted.body.memories.map((m) => m.content)).toEqual(['owned by it']);
    const attack = await t.json<{ memories: Memory[]; total: number }>('GET', `/api/memory?category=${encodeURIComponent("x' OR '1'='1")}`);
    expect(attack.body).toMatchObject({ memories: [], total: 0 });
    expect(sqlSent()).toEqual([
      "SELECT * FROM memory_entry WHERE key >= 'mem:' AND key < 'mem;' AND category = 'it''s'",
      "SELECT * FROM memory_entry WHERE key >= 'mem:' AND key < 'mem;' AND category = 'x'' OR ''1''=''1'",
    ]);
    fake.requests.length = 0;
    const search = await t.json<{ total: number }>('POST', '/api/memory/search', { query: "owned' OR 1=1; --", filters: { category: "it's" } });
    expect(search.body.total).toBe(1);
    // The query text is matched in the sidecar and never reaches SQL.
    expect(sqlSent()).toEqual(["SELECT * FROM memory_entry WHERE key >= 'mem:' AND key < 'mem;' AND category = 'it''s'"]);
    const deleted = await t.json('DELETE', `/api/memory/${encodeURIComponent("x' OR '1'='1")}`);
    expect(deleted.status).toBe(404);
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(2);
  });

  test('min_importance is a SQL condition on the 0..10 column', async () => {
    const t = await app();
    for (const [content, importance] of [['low', 0.2], ['mid', 0.3], ['high', 0.8]] as const) await t.json('POST', '/api/memory', { content, importance });
    fake.requests.length = 0;
    const r = await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: '', filters: { min_importance: 0.3 } });
    expect(r.body.results.map((m) => m.content)).toEqual(['high', 'mid']);
    expect(sqlSent()).toEqual(["SELECT * FROM memory_entry WHERE key >= 'mem:' AND key < 'mem;' AND importance >= 3"]);
  });
});

describe('failures', () => {
  test('unreachable: stats says so, reads and writes are 503, never a hang; back when it returns', async () => {
    const t = await app();
    await fake.pause();
    const stats = await t.json<Record<string, unknown>>('GET', '/api/memory/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ backend: 'spacetimedb', status: 'unreachable', total_memories: null, categories: {}, url: fake.url, database: fake.db });
    for (const [method, path, body] of [['POST', '/api/memory', { content: 'x' }], ['GET', '/api/memory', undefined], ['POST', '/api/memory/search', { query: 'x' }], ['DELETE', '/api/memory/abc', undefined]] as const) {
      const r = await t.json<{ code: string }>(method, path, body);
      expect([method, path, r.status, r.body.code]).toEqual([method, path, 503, 'spacetimedb_unreachable']);
    }
    fake.resume();
    expect((await t.json<{ status: string }>('GET', '/api/memory/stats')).body.status).toBe('ok');
  });

  test('a host that never answers: 504 after the timeout, stats unreachable', async () => {
    const t = await app({ SPACETIMEDB_TIMEOUT_S: '0.3' });
    fake.behavior.hang = true;
    const r = await t.json<{ code: string }>('POST', '/api/memory', { content: 'x' });
    expect(r).toMatchObject({ status: 504, body: { code: 'spacetimedb_timeout' } });
    expect((await t.json<{ status: string }>('GET', '/api/memory/stats')).body.status).toBe('unreachable');
  });

  test('a reducer failure (530) is a 502 with the reducer’s message', async () => {
    const t = await app();
    fake.behavior.failReducer = 'store_memory';
    fake.behavior.failMessage = 'energy quota exceeded';
    const r = await t.json<{ code: string; detail: string }>('POST', '/api/memory', { content: 'x' });
    expect(r.status).toBe(502);
    expect(r.body.code).toBe('spacetimedb_reducer_failed');
    expect(r.body.detail).toContain('energy quota exceeded');
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(0);
  });

  test('an unknown database: 502 not_found on use, stats degraded with the server’s words', async () => {
    const t = await app({ SPACETIMEDB_DB: 'no-such-db' });
    const r = await t.json<{ code: string; detail: string }>('GET', '/api/memory');
    expect(r.status).toBe(502);
    expect(r.body.code).toBe('spacetimedb_not_found');
    expect(r.body.detail).toContain('no-such-db');
    const stats = await t.json<{ status: string; error: string }>('GET', '/api/memory/stats');
    expect(stats.body.status).toBe('degraded');
    expect(stats.body.error).toContain('not found');
  });

  test('stats never shows credentials from the URL', async () => {
    const t = await app({ MEMORY_DB_URL: fake.url.replace('http://', 'http://user:hunter2@') });
    const stats = await t.json<{ url: string }>('GET', '/api/memory/stats');
    expect(stats.body.url).toBe(fake.url);
    expect(JSON.stringify(stats.body)).not.toContain('hunter2');
  });

  test('nothing listens at all (connection refused at start): the sidecar still starts and answers 503', async () => {
    const t = await app({ MEMORY_DB_URL: await closedUrl() });
    expect((await t.json('GET', '/api/memory')).status).toBe(503);
    expect((await t.json<{ status: string }>('GET', '/api/memory/stats')).body.status).toBe('unreachable');
  });
});
