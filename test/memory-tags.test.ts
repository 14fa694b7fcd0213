/**
 * MEMORY_BACKEND=sqlite: the tag filter reads `memory_tags`, which triggers keep in step with `memories`.
 * It must answer exactly what the JSON `tags` of the memories say (as the filter over them did before):
 * with every other filter, in `total`, after deletes, for memories another process writes, and for a
 * database the previous version created (the migration fills the table from the rows already there).
 */
import { afterAll, afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { openDatabase } from '../src/db';
import { applyMigrations } from '../src/db/migrate';
import { MIGRATIONS } from '../src/db/migrations.gen';
import { SqliteBackend } from '../src/modules/memory/sqlite-store';

type Memory = { id: string; content: string; category: string; tags: string[]; importance: number; created_at: string };
type Page = { memories: Memory[]; total: number };
type Found = { results: Memory[]; total: number };

const apps: TestApp[] = [];
const spacetime = startFakeSpacetime();
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
afterAll(() => spacetime.stop());
async function app(backend: 'sqlite' | 'spacetimedb' = 'sqlite'): Promise<TestApp> {
  const stdb = { MEMORY_DB_URL: spacetime.url, SPACETIMEDB_DB: spacetime.db, SPACETIMEDB_TIMEOUT_S: '2' };
  const t = await makeTestApp({ env: { MEMORY_BACKEND: backend, ...(backend === 'spacetimedb' ? stdb : {}) } });
  apps.push(t);
  return t;
}

/** The (tag, memory) pairs the JSON `tags` of the memories hold, and those memory_tags holds. */
function tagPairs(sqlite: Database): { fromJson: string[]; table: string[] } {
  const fromJson = sqlite.query<{ p: string }, []>(`SELECT DISTINCT j.value || '|' || m.seq AS p FROM memories m, json_each(CASE WHEN json_valid(m.tags) THEN CASE WHEN json_type(m.tags) = 'array' THEN m.tags END END) j WHERE j.type = 'text' ORDER BY p`).all();
  const table = sqlite.query<{ p: string }, []>(`SELECT tag || '|' || memory_seq AS p FROM memory_tags ORDER BY p`).all();
  return { fromJson: fromJson.map((r) => r.p), table: table.map((r) => r.p) };
}

const LONG = 'x'.repeat(63) + 'é';
const TAG_SETS = [['red'], ['Red'], ['red', 'blue'], [LONG], ['café'], ['cafe\u0301'], [' red '], ['red', 'red'], ['绿茶']];

// SpacetimeDB filters tags in the sidecar over the rows read: both backends must give the same answers.
for (const backend of ['sqlite', 'spacetimedb'] as const) test(`${backend}: tag filters with every other filter, words or none: the same memories and totals as the tags the memories show, through deletes`, async () => {
  (spacetime.tables.get('memory_entry') as { rows: unknown[] } | undefined)?.rows.splice(0);
  const t = await app(backend);
  const pool = ['red', 'Red', 'blue', LONG, 'café', 'cafe\u0301', '绿茶', ' red ', 'red'];
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) {
    const tags = pool.filter((_, k) => (i * 7 + k * 3) % 5 === 0 || (i + k) % 11 === 0);
    const body = { content: `memory ${i}${i % 3 === 0 ? ' zebra' : ''}`, category: i % 2 ? 'work' : 'home', tags, importance: (i % 11) / 10 };
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', body);
    expect(r.status).toBe(201);
    ids.push(r.body.memory.id);
  }
  for (const id of ids.filter((_, i) => i % 4 === 1)) expect((await t.json('DELETE', `/api/memory/${id}`)).status).toBe(200);
  const all = (await t.json<Page>('GET', '/api/memory?limit=1000')).body.memories;
  expect(all).toHaveLength(45);
  const since = all[20]!.created_at;
  let nonEmpty = 0;
  for (const tags of TAG_SETS) for (const category of [undefined, 'work']) for (const min of [undefined, 0.5]) for (const from of [undefined, since]) for (const query of ['', 'zebra']) {
    const wanted = tags.map((x) => x.trim());
    const expected = all.filter((m) => wanted.every((x) => m.tags.includes(x)) && (!category || m.category === category) && (min === undefined || m.importance >= min)
      && (!from || m.created_at >= from) && (!query || m.content.includes(query)));
    const filters = { tags, ...(category ? { category } : {}), ...(min !== undefined ? { min_importance: min } : {}), ...(from ? { since: from } : {}) };
    const r = await t.json<Found>('POST', '/api/memory/search', { query, limit: 100, filters });
    expect(r.status).toBe(200);
    expect({ filters, query, ids: r.body.results.map((m) => m.id).sort(), total: r.body.total }).toEqual({ filters, query, ids: expected.map((m) => m.id).sort(), total: expected.length });
    const page = await t.json<Found>('POST', '/api/memory/search', { query, limit: 3, filters });
    expect({ n: page.body.results.length, total: page.body.total }).toEqual({ n: Math.min(3, expected.length), total: expected.length });
    if (expected.length) nonEmpty++;
  }
  expect(nonEmpty).toBeGreaterThan(100);
  if (backend === 'sqlite') expect(tagPairs(t.deps.db.sqlite).table).toEqual(tagPairs(t.deps.db.sqlite).fromJson);
});

test('memory_tags follows hand edits of the table too: updated tags, rows whose tags are not a JSON array (no tags, write not refused)', async () => {
  const t = await app();
  const { memory } = (await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'edited later', tags: ['old'] })).body;
  const sqlite = t.deps.db.sqlite;
  sqlite.run(`UPDATE memories SET tags = '["new","new",7,"Old"]' WHERE id = ?`, [memory.id]);
  const ins = sqlite.prepare(`INSERT INTO memories (id, content, content_sha256, category, tags, importance, metadata, created_at, updated_at) VALUES (?, ?, ?, 'general', ?, 0.5, '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`);
  ['not json', '{"a":"new"}', '"new"', '[["new"]]'].forEach((tags, i) => ins.run(`mem_hand${i}`, `hand ${i}`, `h${i}`, tags));
  expect(tagPairs(sqlite).table).toEqual(tagPairs(sqlite).fromJson);
  const found = async (tag: string) => (await t.json<Found>('POST', '/api/memory/search', { query: '', filters: { tags: [tag] } })).body;
  expect((await found('new')).results.map((m) => [m.id, m.tags])).toEqual([[memory.id, ['new', 'new', 'Old']]]);
  expect((await found('old')).total).toBe(0);
  sqlite.run('DELETE FROM memories');
  expect(sqlite.query('SELECT COUNT(*) AS n FROM memory_tags').get()).toEqual({ n: 0 });
});

test('a database the previous version created gets the tags of its memories when migrated, and they are found by tag at once', async () => {
  const dataDir = join(tempDir(), 'data');
  // The previous version: every migration before memory_tags, memories written as it wrote them.
  const before = MIGRATIONS.findIndex((m) => m.tag === '0011_memory_tags');
  expect(before).toBeGreaterThan(0);
  mkdirSync(dataDir, { recursive: true });
  const old = new Database(join(dataDir, 'optx-api.db'));
  applyMigrations(old, MIGRATIONS.slice(0, before));
  const ins = old.prepare(`INSERT INTO memories (id, content, content_sha256, category, tags, importance, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)`);
  const rows: [string, string, string, string[]][] = [];
  for (let i = 0; i < 50; i++) {
    const tags = [['red'], ['red', 'Blue'], [], [LONG, 'blue'], ['blue']][i % 5]!;
    const at = new Date(Date.UTC(2026, 0, 1 + i)).toISOString();
    ins.run(`mem_old${i}`, `old memory ${i}`, `hash${i}`, i % 2 ? 'work' : 'home', JSON.stringify(tags), (i % 10) / 10, at, at);
    rows.push([`mem_old${i}`, i % 2 ? 'work' : 'home', at, tags]);
  }
  ins.run('mem_broken', 'hand-edited', 'hashb', 'home', 'not json', 0.5, '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z');
  old.close();

  const own = openDatabase(dataDir);
  try {
    expect(tagPairs(own.sqlite).table).toEqual(tagPairs(own.sqlite).fromJson);
    expect(tagPairs(own.sqlite).table).toHaveLength(60);
    const store = new SqliteBackend(own);
    const search = (filters: object) => store.search({ query: '', limit: 100, filters });
    const ids = (p: { items: { id: string }[] }) => p.items.map((m) => m.id).sort();
    const expected = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).map((r) => r[0]).sort();
    expect(ids(await search({ tags: ['red'] }))).toEqual(expected((r) => r[3].includes('red')));
    expect(ids(await search({ tags: ['blue'], category: 'work', since: '2026-01-20T00:00:00.000Z' }))).toEqual(expected((r) => r[3].includes('blue') && r[1] === 'work' && r[2] >= '2026-01-20'));
    expect((await search({ tags: ['Blue'] })).total).toBe(10);
    expect((await search({ tags: [LONG, 'blue'] })).total).toBe(10);
    // Written after the migration: found through the triggers.
    await store.add({ content: 'new one', category: 'home', tags: ['red'], importance: 0.5, metadata: {} });
    expect((await search({ tags: ['red'] })).total).toBe(21);
  } finally {
    own.close();
  }
});

test('another process writing and deleting tagged memories at the same time: memory_tags matches every memory\'s tags', async () => {
  const dataDir = join(tempDir(), 'data');
  const own = openDatabase(dataDir);
  const store = new SqliteBackend(own);
  const code = `
    import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
    import { SqliteBackend } from ${JSON.stringify(join(import.meta.dir, '../src/modules/memory/sqlite-store'))};
    const db = openDatabase(${JSON.stringify(dataDir)});
    const s = new SqliteBackend(db);
    for (let i = 0; i < 200; i++) {
      const m = await s.add({ content: 'theirs ' + (i % 120), category: 'other', tags: ['t' + (i % 3), 'shared'], importance: 0.5, metadata: {} });
      if (i % 3 === 0) await s.remove(m.memory.id);
      if (i % 10 === 0) await Bun.sleep(1);
    }
    db.close();`;
  const other = Bun.spawn(['bun', '-e', code], { stdout: 'pipe', stderr: 'pipe' });
  for (let i = 0; i < 200; i++) {
    const m = await store.add({ content: `theirs ${i % 120}`, category: 'mine', tags: [`t${i % 4}`, 'shared'], importance: 0.5, metadata: {} });
    if (i % 5 === 0) await store.remove(m.memory.id);
    if (i % 10 === 0) await Bun.sleep(1);
  }
  expect(await other.exited).toBe(0);
  try {
    const pairs = tagPairs(own.sqlite);
    expect(pairs.table).toEqual(pairs.fromJson);
    const all = await store.list({ limit: 1000, offset: 0 });
    expect((await store.search({ query: '', limit: 100, filters: { tags: ['shared'] } })).total).toBe(all.total);
    expect((await store.search({ query: '', limit: 100, filters: { tags: ['t1'] } })).total).toBe(all.items.filter((m) => m.tags.includes('t1')).length);
  } finally {
    own.close();
  }
}, 120_000);

test('a tag or category is up to 64 characters as the docs count them (code points, after trimming): 40 emoji or padding around 64 letters are accepted', async () => {
  const t = await app();
  const emoji = '😀'.repeat(40);
  const padded = ` ${'y'.repeat(64)} `;
  const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'long labels', category: ` ${'c'.repeat(64)} `, tags: [emoji, padded] });
  expect(r.status).toBe(201);
  expect([r.body.memory.category, r.body.memory.tags]).toEqual(['c'.repeat(64), [emoji, 'y'.repeat(64)]]);
  expect((await t.json<Found>('POST', '/api/memory/search', { query: '', filters: { tags: [emoji, padded], category: 'c'.repeat(64) } })).body.total).toBe(1);
  for (const tags of [['😀'.repeat(65)], ['y'.repeat(65)]]) expect((await t.json('POST', '/api/memory', { content: 'too long', tags })).status).toBe(422);
  expect((await t.json<Page>('GET', '/api/memory')).body.total).toBe(1);
});
