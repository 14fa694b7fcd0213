/**
 * MEMORY_BACKEND=sqlite beyond the shared contract: the FTS5 index follows every change, the ranking
 * is the documented mix of bm25 and importance, a second process can write the same database, and a
 * fresh process reads what an earlier one wrote.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database, type Statement } from 'bun:sqlite';
import { join } from 'node:path';
import { reopen } from './helpers/memory-reopen';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';
import { openDatabase } from '../src/db';
import { SqliteBackend } from '../src/modules/memory/sqlite-store';

type Memory = { id: string; content: string; importance: number; score: number; metadata: Record<string, unknown> };

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
async function app(): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'sqlite' } });
  apps.push(t);
  return t;
}

test('score = 0.7·s/(1+s) + 0.3·importance with s = −bm25, computed in SQL, best first', async () => {
  const t = await app();
  await t.json('POST', '/api/memory', { content: 'zebra zebra zebra crossing', importance: 0.3 });
  await t.json('POST', '/api/memory', { content: 'a zebra among many other animals in the park', importance: 0.9 });
  for (let i = 0; i < 6; i++) await t.json('POST', '/api/memory', { content: `unrelated filler text number ${i}`, importance: 0.5 });
  const r = await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: 'zebra' });
  const bm25 = t.deps.db.sqlite
    .query<{ content: string; b: number }, []>(`SELECT m.content, bm25(memories_fts) AS b FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid WHERE memories_fts MATCH '"zebra"'`)
    .all();
  const expected = bm25.map((x) => {
    const imp = x.content.startsWith('zebra') ? 0.3 : 0.9;
    return { content: x.content, score: 0.7 * (-x.b / (1 - x.b)) + 0.3 * imp };
  }).sort((a, b) => b.score - a.score);
  expect(r.body.results.map((m) => m.content)).toEqual(expected.map((e) => e.content));
  r.body.results.forEach((m, i) => expect(m.score).toBeCloseTo(expected[i]!.score, 12));
});

test('the FTS index stays in step through adds and deletes (integrity-check), deleted text is never found', async () => {
  const t = await app();
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push((await t.json<{ memory: Memory }>('POST', '/api/memory', { content: `entry ${i} keyword${i % 4}`, tags: [`t${i % 3}`] })).body.memory.id);
  for (const id of ids.filter((_, i) => i % 2 === 0)) expect((await t.json('DELETE', `/api/memory/${id}`)).status).toBe(200);
  t.deps.db.sqlite.run("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')");
  expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'keyword0' })).body.total).toBe(0);
  expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'keyword1' })).body.total).toBe(10);
  expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 't1' })).body.total).toBe(7);
});

test('refuses to start without its FTS index (the custom migration), with a clear message', () => {
  const sqlite = new Database(':memory:');
  expect(() => new SqliteBackend({ sqlite, db: null as never, path: ':memory:', instanceId: 'x', created: true, migrated: null, write: async (fn) => fn(), locked: (fn) => fn(), writeOwnTransaction: async (fn) => fn(() => {}), drained: async () => {}, close: () => sqlite.close() })).toThrow(/memories_fts is missing/);
});

test('another process writing the same database at the same time: every write lands once', async () => {
  const dir = tempDir();
  const dataDir = join(dir, 'data');
  const own = openDatabase(dataDir);
  const store = new SqliteBackend(own);
  const code = `
    import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
    import { SqliteBackend } from ${JSON.stringify(join(import.meta.dir, '../src/modules/memory/sqlite-store'))};
    const db = openDatabase(${JSON.stringify(dataDir)});
    const s = new SqliteBackend(db);
    for (let i = 0; i < 300; i++) {
      await s.add({ content: 'shared ' + (i % 150), category: 'other', tags: [], importance: 0.5, metadata: {} });
      await s.add({ content: 'theirs ' + i, category: 'other', tags: [], importance: 0.5, metadata: {} });
      if (i % 10 === 0) await Bun.sleep(1);
    }
    db.close();`;
  const other = Bun.spawn(['bun', '-e', code], { stdout: 'pipe', stderr: 'pipe' });
  const theirs = () => (own.sqlite.query("SELECT COUNT(*) AS n FROM memories WHERE content LIKE 'theirs %'").get() as { n: number }).n;
  while (theirs() === 0 && other.exitCode === null) await Bun.sleep(2);
  const atStart = theirs();
  for (let i = 0; i < 300; i++) {
    await store.add({ content: `shared ${i % 150}`, category: 'mine', tags: [], importance: 0.5, metadata: {} });
    if (i % 10 === 0) await Bun.sleep(1);
  }
  // The other process wrote while we did: the writers really overlapped.
  expect(theirs()).toBeGreaterThan(atStart);
  expect(await other.exited).toBe(0);
  const all = await store.list({ limit: 1000, offset: 0 });
  expect(all.total).toBe(450);
  expect(new Set(all.items.map((m) => m.content)).size).toBe(450);
  own.sqlite.run("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')");
  expect(own.sqlite.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
  own.close();
}, 120_000);

test('a database written by the sidecar is read back by a fresh process', async () => {
  const t = await app();
  await t.json('POST', '/api/memory', { content: 'Durable fact about Kafka retention', metadata: { keep: true } });
  await t.json('POST', '/api/memory', { content: 'Second durable fact' });
  const out = await reopen('sqlite', t.config.dataDir, '', 'kafka');
  expect(out.list.items.map((m) => m.content)).toEqual(['Second durable fact', 'Durable fact about Kafka retention']);
  expect(out.search.items.map((m) => [m.content, m.metadata])).toEqual([['Durable fact about Kafka retention', { keep: true }]]);
}, 120_000);

test('pages and category counts are read again only after a write, ours or another process\'s, and then show it', async () => {
  const own = openDatabase(join(tempDir(), 'data'));
  const store = new SqliteBackend(own);
  const page = async () => {
    const p = await store.list({ limit: 10, offset: 0 });
    return { contents: p.items.map((m) => m.content), total: p.total, categories: (await store.stats()).categories };
  };
  await store.add({ content: 'first', category: 'a', tags: [], importance: 0.5, metadata: {} });
  expect(await page()).toEqual({ contents: ['first'], total: 1, categories: { a: 1 } });
  const reads = [store.kept.pages.reads, store.kept.counts.reads];
  expect(await page()).toEqual({ contents: ['first'], total: 1, categories: { a: 1 } });
  expect([store.kept.pages.reads, store.kept.counts.reads]).toEqual(reads);
  // A kept page is shared by every caller: nobody can change it for the others.
  const shared = await store.list({ limit: 10, offset: 0 });
  expect(() => {
    (shared.items[0] as { content: string }).content = 'changed';
  }).toThrow();

  const second = await store.add({ content: 'second', category: 'b', tags: [], importance: 0.5, metadata: {} });
  expect(await page()).toEqual({ contents: ['second', 'first'], total: 2, categories: { a: 1, b: 1 } });
  await store.remove(second.memory.id);
  expect(await page()).toEqual({ contents: ['first'], total: 1, categories: { a: 1 } });
  const other = Bun.spawnSync(['bun', '-e', `
    import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
    import { SqliteBackend } from ${JSON.stringify(join(import.meta.dir, '../src/modules/memory/sqlite-store'))};
    const db = openDatabase(${JSON.stringify(join(own.path, '..'))});
    await new SqliteBackend(db).add({ content: 'theirs', category: 'c', tags: [], importance: 0.5, metadata: {} });
    db.close();`]);
  expect(other.exitCode).toBe(0);
  expect(await page()).toEqual({ contents: ['theirs', 'first'], total: 2, categories: { a: 1, c: 1 } });
  own.close();
});

test('a search without words by category reads its best memories in order from an index, never sorting the category (10.7 ms for 20,000 memories of one category)', async () => {
  const capture = capturePlans();
  try {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'kept', category: 'notes', importance: 0.4 });
    for (const filters of [{ category: 'notes' }, { category: 'notes', min_importance: 0.2 }]) {
      const plans = await capture.plans(async () => expect((await t.json('POST', '/api/memory/search', { query: '', filters })).status).toBe(200), /order by/i);
      expect(plans).toHaveLength(1);
      expect(plans[0]).toContain('memories_category_importance_idx');
      expect(plans[0]).not.toContain('TEMP B-TREE');
    }
  } finally {
    capture.restore();
  }
});

/** Plan lines that read every memory: a scan of `memories` itself or of one of its indexes. */
const fullScans = (plan: string) => plan.split('\n').filter((l) => /^SCAN memories\b(?!_fts)/.test(l.trim()) || /json_each/.test(l));

test('a search by tag reads the memories carrying the tag (memory_tags), never every memory (18-37 ms at 100,000 before)', async () => {
  const capture = capturePlans();
  try {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'tagged', category: 'notes', tags: ['red', 'blue'], importance: 0.4 });
    for (const filters of [{ tags: ['red'] }, { tags: ['red', 'blue'] }, { tags: ['red'], category: 'notes', min_importance: 0.2, since: '2020-01-01' }]) {
      for (const query of ['', 'tagged']) {
        const plans = await capture.plans(async () => expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query, filters })).body.total).toBe(1), /memories/);
        expect(plans).toHaveLength(2);
        for (const plan of plans) {
          expect(plan).toContain('memory_tags');
          expect(fullScans(plan)).toEqual([]);
          // With words each match is looked up in memory_tags, rather than reading every memory carrying
          // the tag first (for a common tag, far more than the matches).
          if (query) expect(plan).toContain('(tag=? AND memory_seq=?)');
        }
      }
    }
  } finally {
    capture.restore();
  }
});

test('a category count since a time comes from the (category, created_at) index, not from every memory of the category (8.4 ms for 12,000)', async () => {
  const capture = capturePlans();
  try {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'recent', category: 'notes' });
    const plans = await capture.plans(async () => expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: '', filters: { category: 'notes', since: '2020-01-01' } })).body.total).toBe(1), /count\(/i);
    expect(plans).toHaveLength(1);
    expect(plans[0]).toContain('COVERING INDEX memories_category_created_at_idx (category=? AND created_at>?)');
  } finally {
    capture.restore();
  }
});

test('a search with words reads the index\'s matches first, never running the match once per memory of a category (148 ms at 100,000 before)', async () => {
  const capture = capturePlans();
  try {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'zebra crossing', category: 'notes', importance: 0.8 });
    const plans = await capture.plans(async () => expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'zebra', filters: { category: 'notes', min_importance: 0.5 } })).body.total).toBe(1), /memories_fts/);
    expect(plans).toHaveLength(2);
    // Outer loop first: the FTS matches, each then looked up by rowid.
    for (const plan of plans) expect(plan.split('\n')[0]).toStartWith('SCAN memories_fts VIRTUAL TABLE INDEX 0:M');
  } finally {
    capture.restore();
  }
});

test('a page and its total are one snapshot: a memory another process adds between the two reads is in both or neither', async () => {
  type Prepare = (this: Database, sql: string) => Statement;
  const proto = Database.prototype as unknown as { prepare: Prepare; query: Prepare };
  const originals = { prepare: proto.prepare, query: proto.query };
  let other: ReturnType<typeof openDatabase> | undefined;
  let n = 0;
  // Installed before the app opens (its statements are prepared once and kept): right after this
  // process read a page, the other process commits a memory, as it could at any moment.
  const hooked = (original: Prepare): Prepare => function (this: Database, sql: string) {
    const st = original.call(this, sql);
    if (!/order by/i.test(sql)) return st;
    const own = st as unknown as Record<'all' | 'get' | 'values', (...a: unknown[]) => unknown>;
    for (const k of ['all', 'get', 'values'] as const) {
      const run = own[k];
      own[k] = (...a: unknown[]) => {
        const res = run.apply(st, a);
        if (other && this !== other.sqlite) {
          n++;
          const now = new Date().toISOString();
          other.sqlite.run(`INSERT INTO memories (id, content, content_sha256, category, tags, importance, metadata, created_at, updated_at) VALUES (?, 'theirs zebra', ?, 'general', '["x"]', 0.5, '{}', ?, ?)`, [`mem_theirs${n}`, `h${n}`, now, now]);
        }
        return res;
      };
    }
    return st;
  };
  Object.assign(proto, { prepare: hooked(originals.prepare), query: hooked(originals.query) });
  try {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'ours zebra', tags: ['x'] });
    other = openDatabase(join(t.dir, 'data'));
    const pages = [
      (await t.json<{ memories: unknown[]; total: number }>('GET', '/api/memory?limit=100')).body,
      (await t.json<{ results: unknown[]; total: number }>('POST', '/api/memory/search', { query: '', limit: 100, filters: { tags: ['x'] } })).body,
      (await t.json<{ results: unknown[]; total: number }>('POST', '/api/memory/search', { query: 'zebra', limit: 100 })).body,
      (await t.json<{ results: unknown[]; total: number }>('POST', '/api/memory/search', { query: 'zebra', limit: 100, filters: { tags: ['x'] } })).body,
    ];
    expect(n).toBe(4);
    expect(pages.map((p) => p.total - ('memories' in p ? p.memories : p.results).length)).toEqual([0, 0, 0, 0]);
  } finally {
    Object.assign(proto, originals);
    other?.close();
  }
});
