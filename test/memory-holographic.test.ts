/**
 * MEMORY_BACKEND=holographic against the agent's side of memory_store.db: the schema the plugin
 * creates, rows the agent wrote (float64, float32 and missing vectors, hand-written tags), rows we
 * write read the plugin's way, a second process writing at the same time, a lock held too long, a
 * fresh process reopening the file, and the variants of the FTS index a file can have.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { chmodSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import reference from './fixtures/hrr-reference.json';
import { agentAddFact, agentRebuildBank, agentSearch, float32Blob, openAsAgent, PLUGIN_SCHEMA } from './fakes/hermes-memory-agent';
import { holdLock } from './helpers/lock-holder';
import { reopen } from './helpers/memory-reopen';
import { capturePlans } from './helpers/query-plans';
import { makeTestApp, memoryDbPath, tempDir, type TestApp } from './helpers/app';
import { openDatabase } from '../src/db';
import { HolographicBackend } from '../src/modules/memory/holographic';
import { openHermesMemoryFile } from '../src/modules/memory/holographic-schema';
import { MemoryService } from '../src/modules/memory/service';
import { ReopeningBackend, RETRY_MS } from '../src/modules/memory/reopening';
import { silentLogger } from '../src/lib/log';
import { bundle, bytesToPhases, encodeFact, TWO_PI } from '../src/modules/memory/hrr';
import { MAX_CACHED_BANKS } from '../src/modules/memory/holographic-banks';

type Memory = { id: string; content: string; category: string; tags: string[]; importance: number; metadata: Record<string, unknown>; created_at: string; score?: number };

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', ...env } });
  apps.push(t);
  return t;
}
const decode = (b64: string) => bytesToPhases(new Uint8Array(Buffer.from(b64, 'base64')));
function maxAngularError(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    worst = Math.max(worst, Math.min(d, TWO_PI - d));
  }
  return worst;
}
const raw = (t: TestApp) => new Database(memoryDbPath(t), { readonly: true });

describe('the file', () => {
  test('is created at start-up with exactly the plugin’s schema, in WAL mode', async () => {
    const t = await app();
    const db = raw(t);
    const cols = (table: string) => db.query(`PRAGMA table_info(${table})`).all().map((c) => Object.values(c as object).slice(1).join('|'));
    expect(cols('facts')).toEqual([
      'fact_id|INTEGER|0||1', 'content|TEXT|1||0', "category|TEXT|0|'general'|0", "tags|TEXT|0|''|0", 'trust_score|REAL|0|0.5|0', 'retrieval_count|INTEGER|0|0|0',
      'helpful_count|INTEGER|0|0|0', 'created_at|TIMESTAMP|0|CURRENT_TIMESTAMP|0', 'updated_at|TIMESTAMP|0|CURRENT_TIMESTAMP|0', 'hrr_vector|BLOB|0||0',
    ]);
    expect(cols('entities')).toEqual(['entity_id|INTEGER|0||1', 'name|TEXT|1||0', "entity_type|TEXT|0|'unknown'|0", "aliases|TEXT|0|''|0", 'created_at|TIMESTAMP|0|CURRENT_TIMESTAMP|0']);
    expect(cols('fact_entities')).toEqual(['fact_id|INTEGER|0||1', 'entity_id|INTEGER|0||2']);
    expect(cols('memory_banks')).toEqual(['bank_id|INTEGER|0||1', 'bank_name|TEXT|1||0', 'vector|BLOB|1||0', 'dim|INTEGER|1||0', 'fact_count|INTEGER|0|0|0', 'updated_at|TIMESTAMP|0|CURRENT_TIMESTAMP|0']);
    const objects = db.query<{ type: string; name: string; sql: string | null }, []>("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'facts_fts_%' ORDER BY name").all();
    expect(objects.map((o) => `${o.type}:${o.name}`)).toEqual([
      'table:entities', 'table:fact_entities', 'table:facts', 'trigger:facts_ad', 'trigger:facts_ai', 'trigger:facts_au', 'table:facts_fts',
      'index:idx_entities_name', 'index:idx_facts_category', 'index:idx_facts_trust', 'table:memory_banks',
    ]);
    expect(objects.find((o) => o.name === 'facts_fts')?.sql).toContain('fts5(content, tags, content=facts, content_rowid=fact_id)');
    expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    // The same script run by the agent on its next start changes nothing.
    db.close();
    const agent = openAsAgent(memoryDbPath(t));
    expect(agent.query("SELECT COUNT(*) AS n FROM sqlite_master").get()).toEqual({ n: objects.length + 8 });
    agent.close();
  });

  test('a new file is readable by its owner only, as the sidecar database is (memories are personal); an existing one keeps its mode', async () => {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'the user lives in Lisbon' });
    const mode = (p: string) => statSync(p).mode & 0o777;
    const path = memoryDbPath(t);
    // SQLite created it 0644 (umask 022): every local user could read the memories.
    expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual([0o600, 0o600, 0o600]);
    const shared = join(tempDir(), 'shared.db');
    writeFileSync(shared, '');
    chmodSync(shared, 0o640);
    openHermesMemoryFile(shared).sqlite.close();
    expect(mode(shared)).toBe(0o640);
  });

  test('a fact stored through the sidecar is the fact the plugin would store: row, entities, vector, bank', async () => {
    const t = await app();
    const f = reference.facts[0] as { content: string; entities: string[]; vector_f64le_b64: string };
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: f.content, category: 'project', tags: ['acme', 'falcon'], importance: 0.7, metadata: { from: 'test' } });
    expect(r.status).toBe(201);
    expect(r.body.memory.id).toBe('1');
    const db = raw(t);
    const row = db.query('SELECT * FROM facts WHERE fact_id = 1').get() as Record<string, unknown>;
    expect(row).toMatchObject({ content: f.content, category: 'project', tags: 'acme,falcon', trust_score: 0.7, retrieval_count: 0, helpful_count: 0 });
    expect(row.created_at).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(r.body.memory.created_at).toBe(`${String(row.created_at).replace(' ', 'T')}.000Z`);
    const blob = row.hrr_vector as Uint8Array;
    expect(blob.byteLength).toBe(8192);
    expect(maxAngularError(bytesToPhases(blob), decode(f.vector_f64le_b64))).toBeLessThan(1e-9);
    const names = db.query<{ name: string }, []>('SELECT e.name FROM entities e JOIN fact_entities fe ON fe.entity_id = e.entity_id WHERE fe.fact_id = 1 ORDER BY e.entity_id').all().map((e) => e.name);
    expect(names).toEqual(f.entities);
    const bank = db.query<{ vector: Uint8Array; dim: number; fact_count: number }, []>("SELECT vector, dim, fact_count FROM memory_banks WHERE bank_name = 'cat:project'").get();
    expect(bank).toMatchObject({ dim: 1024, fact_count: 1 });
    expect(maxAngularError(bytesToPhases(bank?.vector as Uint8Array), decode(f.vector_f64le_b64))).toBeLessThan(1e-9);
    // The metadata is in the sidecar's own database, not in Hermes' file.
    expect(JSON.stringify(db.query('SELECT * FROM facts').all())).not.toContain('"from"');
    expect(t.deps.db.sqlite.query('SELECT fact_id, metadata FROM memory_fact_meta').all()).toEqual([{ fact_id: 1, metadata: '{"from":"test"}' }]);
    // The agent finds it with its own query.
    expect(agentSearch(db, 'who works at acme?').map((x) => x.fact_id)).toEqual([1]);
    db.close();
  });

  test('an entity the agent already knows is reused (name ignoring case, or alias), not duplicated', async () => {
    const dir = tempDir();
    const path = join(dir, 'memory_store.db');
    const agent = openAsAgent(path);
    agent.run("INSERT INTO entities (name, aliases) VALUES ('ALICE SMITH', ''), ('Robert', 'Bob,Bobby')");
    agent.close();
    const t = await app({ HOLOGRAPHIC_DB_PATH: path });
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'Alice Smith and "Bob" met "Carol" today' });
    const db = raw(t);
    const linked = db.query<{ entity_id: number; name: string }, []>(`SELECT e.entity_id, e.name FROM fact_entities fe JOIN entities e USING (entity_id) WHERE fe.fact_id = ${r.body.memory.id} ORDER BY e.entity_id`).all();
    expect(linked).toEqual([{ entity_id: 1, name: 'ALICE SMITH' }, { entity_id: 2, name: 'Robert' }, { entity_id: 3, name: 'Carol' }]);
    const vector = bytesToPhases(db.query<{ hrr_vector: Uint8Array }, []>(`SELECT hrr_vector FROM facts WHERE fact_id = ${r.body.memory.id}`).get()?.hrr_vector as Uint8Array);
    // Encoded with the entities' stored names, in entity order, as the plugin reads them back.
    expect(maxAngularError(vector, encodeFact('Alice Smith and "Bob" met "Carol" today', ['ALICE SMITH', 'Robert', 'Carol']))).toBe(0);
    db.close();
  });
});

describe('a file that cannot be opened', () => {
  const garbage = 'this is not a database, just text that is long enough to fill a header '.repeat(20);

  test('the sidecar starts anyway: memory routes are 503 naming the file, stats say unreachable, the rest works', async () => {
    const dir = tempDir();
    const path = join(dir, 'memory_store.db');
    await Bun.write(path, garbage);
    const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: path } });
    try {
      for (const [method, route, body] of [['GET', '/api/memory'], ['POST', '/api/memory', { content: 'x' }], ['POST', '/api/memory/search', { query: 'x' }], ['DELETE', '/api/memory/1']] as const) {
        const res = await t.json(method, route, body);
        expect({ route, status: res.status, retry: res.headers.get('retry-after') }).toEqual({ route, status: 503, retry: '5' });
        expect(res.body).toEqual({ code: 'memory_unavailable', detail: expect.stringMatching(/cannot open the holographic memory file .*memory_store\.db \(HOLOGRAPHIC_DB_PATH\): .*not a database/) as never });
      }
      const stats = await t.json('GET', '/api/memory/stats');
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({ backend: 'holographic', status: 'unreachable', total_memories: null, db_path: path, error: expect.stringContaining('not a database') as never });
      expect((await t.fetch('/health')).status).toBe(200);
      expect((await t.json('POST', '/api/tasks', { title: 'still works' })).status).toBe(201);
      expect(await Bun.file(path).text()).toBe(garbage);
    } finally {
      t.close();
    }
  });

  test('a lock another process holds on the file at start-up is not taken for a file that cannot be opened', async () => {
    // Two sidecars started at once on one Hermes home: one created the file's schema while the other
    // opened it, gave up after the 10 ms busy slice, and answered 503 memory_unavailable for the next
    // 5 s (2 of 15 starts in review). The holder is another process, as the other sidecar is; the
    // first request after it let go opens the file.
    const path = join(tempDir(), 'memory_store.db');
    const holder = Bun.spawn([process.execPath, '-e', `const { Database } = require('bun:sqlite');
      const db = new Database(${JSON.stringify(path)}); db.run('BEGIN IMMEDIATE'); db.run('CREATE TABLE held (x)');
      console.log('locked'); await Bun.sleep(300); db.run('COMMIT'); db.close();`], { stdout: 'pipe' });
    const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('locked');
    const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: path } });
    try {
      expect(await holder.exited).toBe(0);
      const r = await t.json('POST', '/api/memory', { content: 'stored right after start-up' });
      expect([r.status, r.body.code]).toEqual([201, undefined]);
      expect((await t.json('GET', '/api/memory/stats')).body).toMatchObject({ status: 'ok', total_memories: 1 });
    } finally {
      t.close();
    }
  });

  test('a file that was locked when opening failed is tried again by the next request, not RETRY_MS later', async () => {
    // Start-up blocked up to 5 s (sleepSync) while the agent held the lock: the first /health came that
    // much later (an 8 s hold: +5 s, and the file still not open). Now opening fails in the busy slice
    // and, the file being sound, the next request tries again. The clock never moves here.
    const path = join(tempDir(), 'memory_store.db');
    const own = openDatabase(':memory:');
    const held = await holdLock(path, { begin: 'BEGIN IMMEDIATE', end: 'COMMIT', statements: ['CREATE TABLE held (x)'] });
    let attempts = 0;
    const open = () => {
      attempts++;
      return new HolographicBackend(path, own);
    };
    const backend = new ReopeningBackend('holographic', () => ({ path, shown: path, from: 'HOLOGRAPHIC_DB_PATH' }), open, silentLogger, () => 0);
    const service = new MemoryService(backend);
    try {
      expect(await service.stats()).toMatchObject({ status: 'unreachable', error: expect.stringContaining('database is locked') });
      expect(attempts).toBe(2);
      await held.release();
      expect((await service.create({ content: 'after the lock', category: 'general', tags: [], importance: 0.5, metadata: {} })).status).toBe(201);
      expect([attempts, (await service.stats()).status]).toEqual([3, 'ok']);
    } finally {
      backend.close();
      own.close();
    }
  });

  test('a write that finds the file locked at opening waits for the lock, as a write on the open file does', async () => {
    // The agent mid-write when the sidecar started (or the file was reopened): the first writes were
    // answered 503 memory_unavailable at once (in review: the first adds after some starts, the agent
    // adding facts all the while), where the same write a moment later waits for the same lock.
    const path = join(tempDir(), 'memory_store.db');
    const own = openDatabase(':memory:');
    const held = await holdLock(path, { begin: 'BEGIN IMMEDIATE', end: 'COMMIT', statements: ['CREATE TABLE held (x)'] });
    const backend = new ReopeningBackend('holographic', () => ({ path, shown: path, from: 'HOLOGRAPHIC_DB_PATH' }), () => new HolographicBackend(path, own), silentLogger, () => 0);
    const service = new MemoryService(backend);
    try {
      const writing = service.create({ content: 'sent while the agent held the lock', category: 'general', tags: [], importance: 0.5, metadata: {} }).catch((e: unknown) => e);
      await held.release();
      expect(await writing).toMatchObject({ status: 201 });
      expect((await service.list({ limit: 10, offset: 0 })).memories.map((m) => m.content)).toEqual(['sent while the agent held the lock']);
    } finally {
      backend.close();
      own.close();
    }
  });

  /** A memory file that is not SQLite, as HOLOGRAPHIC_DB_PATH names it, and an own database. */
  async function unreadableFile() {
    const path = join(tempDir(), 'memory_store.db');
    await Bun.write(path, garbage);
    return { path, file: { path, shown: path, from: 'HOLOGRAPHIC_DB_PATH' } as const, own: openDatabase(':memory:') };
  }

  test('a repaired file is opened on a later request, no restart needed (at most one attempt per 5 s)', async () => {
    const { path, file, own } = await unreadableFile();
    const clock = { now: 0 };
    let attempts = 0;
    const open = () => {
      attempts++;
      return new HolographicBackend(path, own);
    };
    const backend = new ReopeningBackend('holographic', () => file, open, silentLogger, () => clock.now);
    const service = new MemoryService(backend);
    await expect(service.list({ limit: 10, offset: 0 })).rejects.toMatchObject({ status: 503, code: 'memory_unavailable' });
    rmSync(path);
    clock.now = RETRY_MS - 1;
    await expect(service.list({ limit: 10, offset: 0 })).rejects.toMatchObject({ status: 503 });
    expect(attempts).toBe(1);
    clock.now = RETRY_MS;
    expect((await service.create({ content: 'back again', category: 'general', tags: [], importance: 0.5, metadata: {} })).status).toBe(201);
    expect(attempts).toBe(2);
    expect((await service.stats()).status).toBe('ok');
    expect((await service.list({ limit: 10, offset: 0 })).total).toBe(1);
    backend.close();
    own.close();
  });

  test('a wall clock set back (NTP) does not put the next attempt off until it has caught up', async () => {
    const { path, file, own } = await unreadableFile();
    const clock = { now: 0 };
    const backend = new ReopeningBackend('holographic', () => file, () => new HolographicBackend(path, own), silentLogger, () => clock.now);
    rmSync(path);
    clock.now = -3_600_000 + RETRY_MS;
    expect((await new MemoryService(backend).stats()).status).toBe('ok');
    backend.close();
    own.close();
  });

  test('a file deleted or replaced under the sidecar is reopened: nothing is acknowledged into the unlinked file', async () => {
    const t = await makeTestApp();
    const path = join(t.home, 'memory_store.db');
    try {
      expect((await t.json('POST', '/api/memory', { content: 'before the reset' })).status).toBe(201);
      // The agent's memory reset: the file and its WAL removed, as `rm memory_store.db*` does.
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      expect((await t.json('POST', '/api/memory', { content: 'after the reset' })).status).toBe(201);
      expect((await t.json<{ memories: { content: string }[] }>('GET', '/api/memory')).body.memories.map((m) => m.content)).toEqual(['after the reset']);
      // What was acknowledged is in the file at the path, where the agent and a restarted sidecar read.
      const file = new Database(path, { readonly: true });
      expect(file.query('SELECT content FROM facts').all()).toEqual([{ content: 'after the reset' }]);
      file.close();
    } finally {
      t.close();
    }
  });
});

describe('a file the agent wrote', () => {
  async function agentFile(): Promise<{ t: TestApp; path: string }> {
    const dir = tempDir();
    const path = join(dir, 'memory_store.db');
    const agent = openAsAgent(path);
    const [f0, f1, f2] = reference.facts as { content: string; entities: string[]; vector_f64le_b64: string }[];
    agentAddFact(agent, { content: f0!.content, category: 'project', tags: 'acme, falcon', entities: f0!.entities, vector: Buffer.from(f0!.vector_f64le_b64, 'base64') });
    agentAddFact(agent, { content: f1!.content, category: 'people', entities: f1!.entities, vector: float32Blob(decode(f1!.vector_f64le_b64)) });
    agentAddFact(agent, { content: f2!.content, category: 'user_pref', tags: 'ui', vector: null });
    agent.run("UPDATE facts SET trust_score = 0.9 WHERE fact_id = 3");
    agent.close();
    return { t: await app({ HOLOGRAPHIC_DB_PATH: path }), path };
  }

  test('is listed, searched and ranked: float64, float32 and missing vectors, hand-written tags', async () => {
    const { t } = await agentFile();
    const list = await t.json<{ memories: Memory[]; total: number }>('GET', '/api/memory');
    expect(list.body.total).toBe(3);
    expect(list.body.memories.map((m) => [m.id, m.category, m.tags, m.importance])).toEqual([
      ['3', 'user_pref', ['ui'], 0.9], ['2', 'people', [], 0.5], ['1', 'project', ['acme', 'falcon'], 0.5],
    ]);
    const found = await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: 'Python creator BDFL' });
    expect(found.body.results.map((m) => m.id)).toEqual(['2']);
    const tagged = await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: 'acme', filters: { tags: ['falcon'] } });
    expect(tagged.body.results.map((m) => m.id)).toEqual(['1']);
    const noVector = await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: 'dark mode editor' });
    expect(noVector.body.results.map((m) => m.id)).toEqual(['3']);
  });

  test('writing to a category the agent banked rebuilds that bank once, then adds incrementally; the bank stays the bundle of its facts', async () => {
    const { t, path } = await agentFile();
    for (let i = 0; i < 5; i++) expect((await t.json('POST', '/api/memory', { content: `Project note ${i} for Falcon`, category: 'project' })).status).toBe(201);
    await t.json('DELETE', '/api/memory/1');
    const stats = await t.json<{ bank_rebuilds: number }>('GET', '/api/memory/stats');
    expect(stats.body.bank_rebuilds).toBe(1);
    const db = new Database(path, { readonly: true });
    const vectors = db.query<{ hrr_vector: Uint8Array }, []>("SELECT hrr_vector FROM facts WHERE category = 'project' ORDER BY fact_id").all().map((r) => bytesToPhases(r.hrr_vector));
    const bank = db.query<{ vector: Uint8Array; fact_count: number }, []>("SELECT vector, fact_count FROM memory_banks WHERE bank_name = 'cat:project'").get();
    expect(bank?.fact_count).toBe(5);
    expect(maxAngularError(bytesToPhases(bank?.vector as Uint8Array), bundle(vectors))).toBeLessThan(1e-9);
    db.close();
    // The agent rebuilds it its way: the same vector, and our next write notices the bank changed.
    const agent = openAsAgent(path);
    agentRebuildBank(agent, 'project');
    agent.close();
    await t.json('POST', '/api/memory', { content: 'One more Falcon note', category: 'project' });
    expect((await t.json<{ bank_rebuilds: number }>('GET', '/api/memory/stats')).body.bank_rebuilds).toBe(2);
  });

  test('sums of at most MAX_CACHED_BANKS categories are kept; a category dropped from the cache is rebuilt once and stays exact', async () => {
    const { t, path } = await agentFile();
    const rebuilds = async () => (await t.json<{ bank_rebuilds: number }>('GET', '/api/memory/stats')).body.bank_rebuilds;
    const categories = Array.from({ length: MAX_CACHED_BANKS + 20 }, (_, i) => `c${i}`);
    for (const c of categories) expect((await t.json('POST', '/api/memory', { content: `First note of ${c}`, category: c })).status).toBe(201);
    const before = await rebuilds();
    // The most recent one is still cached; the first one was dropped and is rebuilt from its facts.
    await t.json('POST', '/api/memory', { content: 'Second note of the last', category: categories.at(-1) });
    expect(await rebuilds()).toBe(before);
    await t.json('POST', '/api/memory', { content: 'Second note of the first', category: 'c0' });
    expect(await rebuilds()).toBe(before + 1);
    const db = new Database(path, { readonly: true });
    const vectors = db.query<{ hrr_vector: Uint8Array }, []>("SELECT hrr_vector FROM facts WHERE category = 'c0' ORDER BY fact_id").all().map((r) => bytesToPhases(r.hrr_vector));
    const bank = db.query<{ vector: Uint8Array; fact_count: number }, []>("SELECT vector, fact_count FROM memory_banks WHERE bank_name = 'cat:c0'").get();
    expect(bank?.fact_count).toBe(2);
    expect(maxAngularError(bytesToPhases(bank?.vector as Uint8Array), bundle(vectors))).toBeLessThan(1e-9);
    db.close();
  });

  test('deleting removes the fact, its links and its text from the index; the agent no longer finds it', async () => {
    const { t, path } = await agentFile();
    expect((await t.json('DELETE', '/api/memory/1')).status).toBe(200);
    const db = openAsAgent(path);
    expect(db.query('SELECT COUNT(*) AS n FROM fact_entities WHERE fact_id = 1').get()).toEqual({ n: 0 });
    expect(agentSearch(db, 'acme')).toEqual([]);
    db.run("INSERT INTO facts_fts(facts_fts) VALUES ('integrity-check')");
    db.close();
  });

  test('stats are counted again only after a write, ours or the agent\'s, and then show it', async () => {
    const { t, path } = await agentFile();
    t.close();
    const own = openDatabase(':memory:');
    const backend = new HolographicBackend(path, own);
    const details = async () => {
      const s = await backend.stats();
      return { total: s.total_memories, categories: s.categories, vectors: s.details.facts_with_vectors, entities: s.details.entities };
    };
    expect(await details()).toEqual({ total: 3, categories: { people: 1, project: 1, user_pref: 1 }, vectors: 2, entities: 5 });
    expect(backend.counts.reads).toBe(1);
    await details();
    await backend.list({ limit: 10, offset: 0 });
    expect(backend.counts.reads).toBe(1);
    await backend.add({ content: 'A new note about Falcon', category: 'project', tags: [], importance: 0.5, metadata: {} });
    expect(await details()).toMatchObject({ total: 4, categories: { project: 2 }, vectors: 3 });
    expect(backend.counts.reads).toBe(2);
    const agent = openAsAgent(path);
    agentAddFact(agent, { content: 'The agent remembers tea', category: 'user_pref', vector: null });
    expect(await details()).toMatchObject({ total: 5, categories: { user_pref: 2 }, vectors: 3 });
    agent.run('DELETE FROM facts WHERE fact_id = 1');
    expect(await details()).toMatchObject({ total: 4, categories: { project: 1 }, vectors: 2 });
    agent.close();
    expect(backend.counts.reads).toBe(4);
    backend.close();
    own.close();
  });

  test('list pages and searches without words are read again only after a write, ours or the agent\'s, and then show it', async () => {
    const { t, path } = await agentFile();
    t.close();
    const own = openDatabase(':memory:');
    const backend = new HolographicBackend(path, own);
    const shown = async () => {
      const page = await backend.list({ limit: 2, offset: 1 });
      const byTag = await backend.search({ query: '', limit: 10, filters: { tags: ['ui'] } });
      const byCategory = await backend.search({ query: '', limit: 10, filters: { category: 'project' } });
      const ids = (p: { items: { id: string }[]; total: number }) => [p.items.map((m) => m.id), p.total];
      return { page: ids(page), byTag: ids(byTag), byCategory: ids(byCategory) };
    };
    expect(await shown()).toEqual({ page: [['2', '1'], 3], byTag: [['3'], 1], byCategory: [['1'], 1] });
    expect(backend.pages.reads).toBe(3);
    await shown();
    expect(backend.pages.reads).toBe(3);
    await backend.add({ content: 'Falcon ships on Friday', category: 'project', tags: ['ui'], importance: 0.8, metadata: {} });
    expect(await shown()).toEqual({ page: [['3', '2'], 4], byTag: [['3', '4'], 2], byCategory: [['4', '1'], 2] });
    const agent = openAsAgent(path);
    agentAddFact(agent, { content: 'The agent tags this ui too', category: 'project', tags: 'x,ui', vector: null });
    expect(await shown()).toEqual({ page: [['4', '3'], 5], byTag: [['3', '4', '5'], 3], byCategory: [['4', '5', '1'], 3] });
    // A change in place, the count and the newest id unchanged: the agent lowers a fact's trust.
    agent.run('UPDATE facts SET trust_score = 0.1 WHERE fact_id = 4');
    expect(await shown()).toEqual({ page: [['4', '3'], 5], byTag: [['3', '5', '4'], 3], byCategory: [['5', '1', '4'], 3] });
    agent.run('DELETE FROM facts WHERE fact_id = 3');
    expect(await shown()).toEqual({ page: [['4', '2'], 4], byTag: [['5', '4'], 2], byCategory: [['5', '1', '4'], 3] });
    agent.close();
    expect(backend.pages.reads).toBe(15);
    backend.close();
    own.close();
  });

  test('a list page far from the newest picks its ids from an index, not by stepping through every row, and is the same page', async () => {
    const path = join(tempDir(), 'memory_store.db');
    const agent = openAsAgent(path);
    const insert = agent.query('INSERT INTO facts (content, category) VALUES (?, ?)');
    agent.transaction(() => {
      for (let i = 0; i < 1500; i++) insert.run(`fact ${i}`, `c${i % 3}`);
    })();
    agent.run('DELETE FROM facts WHERE fact_id % 7 = 0');
    const capture = capturePlans();
    const own = openDatabase(':memory:');
    const backend = new HolographicBackend(path, own);
    try {
      const reference = (limit: number, offset: number) => ({
        ids: (agent.query('SELECT fact_id FROM facts ORDER BY fact_id DESC LIMIT ? OFFSET ?').all(limit, offset) as { fact_id: number }[]).map((r) => String(r.fact_id)),
        total: (agent.query('SELECT COUNT(*) AS n FROM facts').get() as { n: number }).n,
      });
      const page = async (limit: number, offset: number) => {
        const p = await backend.list({ limit, offset });
        return { ids: p.items.map((m) => m.id), total: p.total };
      };
      for (const offset of [0, 999, 1000, 1100, 1284, 1285, 1300]) {
        for (const limit of [1, 7, 100]) expect({ limit, offset, page: await page(limit, offset) }).toEqual({ limit, offset, page: reference(limit, offset) });
      }
      // The agent writes between two reads of the same page: it shows.
      agent.run('DELETE FROM facts WHERE fact_id = (SELECT MAX(fact_id) FROM facts)');
      expect(await page(100, 1100)).toEqual(reference(100, 1100));
      const plans = await capture.plans(() => page(50, 1200), /facts/);
      expect(plans.length).toBeGreaterThan(0);
      for (const plan of plans) expect(plan.split('\n').filter((l) => /^SCAN f(acts)?$/.test(l.trim()))).toEqual([]);
    } finally {
      capture.restore();
      backend.close();
      own.close();
      agent.close();
    }
  });

  test('the same content as an agent fact returns the agent’s fact', async () => {
    const { t } = await agentFile();
    const r = await t.json<{ duplicate: boolean; memory: Memory }>('POST', '/api/memory', { content: `  ${reference.facts[0]!.content}  ` });
    expect(r.status).toBe(200);
    expect(r.body.memory.id).toBe('1');
  });
});

describe('holographic rules', () => {
  test('search leaves out facts below trust 0.3 unless min_importance says otherwise; empty query lists them', async () => {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'low trust rumour about staging', importance: 0.2 });
    expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'staging' })).body.total).toBe(0);
    expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'staging', filters: { min_importance: 0.1 } })).body.total).toBe(1);
    expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: '' })).body.total).toBe(1);
  });

  test('metadata of a fact id is shown only for the content it was written for', async () => {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'first fact', metadata: { k: 1 } });
    // As if memory_store.db had been replaced and fact 1 were now something else.
    const db = new Database(memoryDbPath(t));
    db.run("UPDATE facts SET content = 'another fact' WHERE fact_id = 1");
    db.close();
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    expect(list.body.memories[0]).toMatchObject({ content: 'another fact', metadata: {} });
    await t.json('DELETE', '/api/memory/1');
    expect(t.deps.db.sqlite.query('SELECT COUNT(*) AS n FROM memory_fact_meta').get()).toEqual({ n: 0 });
  });

  test('while a write waits for the agent\'s lock the server goes on serving; the write lands once the lock is free', async () => {
    const t = await app();
    expect((await t.json('POST', '/api/memory', { content: 'before the lock' })).status).toBe(201);
    const holder = new Database(memoryDbPath(t));
    holder.run('BEGIN IMMEDIATE');
    let settled = false;
    const write = t.json('POST', '/api/memory', { content: 'written while the agent held the lock' }).finally(() => {
      settled = true;
    });
    // Other requests, reads of the same file included, are answered meanwhile.
    for (let i = 0; i < 5; i++) {
      expect((await t.fetch('/health')).status).toBe(200);
      expect((await t.json<{ total: number }>('GET', '/api/memory')).body.total).toBe(1);
      await Bun.sleep(20);
    }
    expect(settled).toBe(false);
    holder.run('COMMIT');
    holder.close();
    expect((await write).status).toBe(201);
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    expect(list.body.memories.map((m) => m.content)).toEqual(['written while the agent held the lock', 'before the lock']);
  });

  test('a lock held longer than the busy timeout answers 503 memory_busy and writes nothing', async () => {
    const dir = tempDir();
    const own = openDatabase(join(dir, 'data'));
    const path = join(dir, 'memory_store.db');
    const service = new MemoryService(new HolographicBackend(path, own, { busyWaitMs: 50 }));
    const holder = new Database(path);
    holder.run('BEGIN IMMEDIATE');
    const err = await service.create({ content: 'blocked', category: 'general', tags: [], importance: 0.5, metadata: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'memory_busy' });
    holder.run('ROLLBACK');
    expect((await service.create({ content: 'unblocked', category: 'general', tags: [], importance: 0.5, metadata: {} })).status).toBe(201);
    expect((await service.list({ limit: 10, offset: 0 })).memories.map((m) => m.content)).toEqual(['unblocked']);
    holder.close();
    service.backend.close();
    own.close();
  });

  test('the sidecar\'s own database locked by another process: a memory with metadata is refused whole (503, no fact), the retry stores both, a delete is done without it', async () => {
    const dir = tempDir();
    const own = openDatabase(join(dir, 'data'), { busyWaitMs: 100 });
    const path = join(dir, 'memory_store.db');
    const service = new MemoryService(new HolographicBackend(path, own, { busyWaitMs: 100 }));
    const body = { content: 'the deploy key rotates on fridays', category: 'general', tags: [], importance: 0.5, metadata: { source: 'runbook' } };
    const other = new Database(join(dir, 'data', 'optx-api.db'));
    other.run('BEGIN IMMEDIATE');
    const started = performance.now();
    const err = await service.create(body).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'memory_busy' });
    // Waited in async pauses, not in one blocking busy timeout of the sidecar's connection (5 s).
    expect(performance.now() - started).toBeLessThan(2000);
    expect(new Database(path, { readonly: true }).query('SELECT COUNT(*) AS n FROM facts').get()).toEqual({ n: 0 });
    other.run('ROLLBACK');
    const again = await service.create(body);
    expect(again).toMatchObject({ status: 201, body: { duplicate: false, memory: { metadata: { source: 'runbook' } } } });
    // A delete needs only the agent's file (its metadata goes after the fact's commit, so that a kill
    // between the two never leaves the fact without it): it is done while our database is locked, and
    // the metadata row it could not delete is never shown again, the same content stored anew included.
    other.run('BEGIN IMMEDIATE');
    expect(await service.remove(again.body.memory.id)).toMatchObject({ deleted: true });
    other.run('ROLLBACK');
    expect(own.sqlite.query('SELECT COUNT(*) AS n FROM memory_fact_meta').get()).toEqual({ n: 1 });
    expect((await service.list({ limit: 10, offset: 0 })).memories).toEqual([]);
    expect(await service.create({ ...body, metadata: {} })).toMatchObject({ status: 201, body: { memory: { metadata: {} } } });
    other.close();
    service.backend.close();
    own.close();
  });
});

describe('concurrency and durability', () => {
  test('the agent writing from another process at the same time: every write lands, nothing corrupts', async () => {
    const t = await app();
    const path = memoryDbPath(t);
    const agent = Bun.spawn(['bun', join(import.meta.dir, 'fakes/hermes-memory-agent.ts'), path, '150', 'shared'], { stdout: 'pipe', stderr: 'pipe' });
    const peek = new Database(path, { readonly: true });
    const agentFacts = () => (peek.query("SELECT COUNT(*) AS n FROM facts WHERE content LIKE 'agent fact%'").get() as { n: number }).n;
    while (agentFacts() === 0 && agent.exitCode === null) await Bun.sleep(5);
    const atStart = agentFacts();
    const ours = 100;
    for (let i = 0; i < ours; i++) {
      const r = await t.json('POST', '/api/memory', { content: `sidecar fact ${i} about the staging cluster`, category: 'shared' });
      expect(r.status).toBe(201);
      await Bun.sleep(1);
    }
    // The agent wrote while we did: the two writers really overlapped.
    expect(agentFacts()).toBeGreaterThan(atStart);
    peek.close();
    expect(await agent.exited).toBe(0);
    const db = new Database(path);
    expect(db.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.run("INSERT INTO facts_fts(facts_fts) VALUES ('integrity-check')");
    expect(db.query("SELECT COUNT(*) AS n FROM facts WHERE category = 'shared'").get()).toEqual({ n: 150 + ours });
    db.close();
    const found = await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'staging cluster' });
    expect(found.body.total).toBe(150 + ours);
    // Our next write sees the agent's last bank and rebuilds it: the bank is again the bundle of all of them.
    await t.json('POST', '/api/memory', { content: 'after the race', category: 'shared' });
    const check = new Database(path, { readonly: true });
    const vectors = check.query<{ hrr_vector: Uint8Array }, []>("SELECT hrr_vector FROM facts WHERE category = 'shared' ORDER BY fact_id").all().map((r) => bytesToPhases(r.hrr_vector));
    const bank = check.query<{ vector: Uint8Array; fact_count: number }, []>("SELECT vector, fact_count FROM memory_banks WHERE bank_name = 'cat:shared'").get();
    expect(bank?.fact_count).toBe(151 + ours);
    expect(maxAngularError(bytesToPhases(bank?.vector as Uint8Array), bundle(vectors))).toBeLessThan(1e-9);
    check.close();
  }, 120_000);

  test('a file written by the sidecar is read back by a fresh process', async () => {
    const t = await app();
    await t.json('POST', '/api/memory', { content: 'Durable fact about Kafka retention', metadata: { keep: true } });
    await t.json('POST', '/api/memory', { content: 'Second durable fact' });
    const out = await reopen('holographic', t.config.dataDir, memoryDbPath(t), 'kafka');
    expect(out.list.total).toBe(2);
    expect(out.list.items.map((m) => m.content)).toEqual(['Second durable fact', 'Durable fact about Kafka retention']);
    expect(out.search.items.map((m) => [m.content, m.metadata])).toEqual([['Durable fact about Kafka retention', { keep: true }]]);
  }, 120_000);
});

describe('FTS variants of the file', () => {
  for (const variant of ['standalone', 'external'] as const) {
    test(`${variant} index without triggers is kept in step by the sidecar`, async () => {
      const dir = tempDir();
      const path = join(dir, 'memory_store.db');
      const ddl = variant === 'standalone' ? 'USING fts5(content, tags)' : 'USING fts5(content, tags, content=facts, content_rowid=fact_id)';
      const schema = PLUGIN_SCHEMA.replace(/USING fts5\(content, tags, content=facts, content_rowid=fact_id\)/, ddl).replace(/CREATE TRIGGER[\s\S]*?END;/g, '');
      openAsAgent(path, { schema }).close();
      const t = await app({ HOLOGRAPHIC_DB_PATH: path });
      expect((await t.json<{ fts_sync: string }>('GET', '/api/memory/stats')).body.fts_sync).toBe(variant);
      const a = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'zebra crossing near the office' });
      await t.json('POST', '/api/memory', { content: 'zebra stripes' });
      expect((await t.json<{ total: number }>('POST', '/api/memory/search', { query: 'zebra' })).body.total).toBe(2);
      await t.json('DELETE', `/api/memory/${a.body.memory.id}`);
      expect((await t.json<{ results: Memory[] }>('POST', '/api/memory/search', { query: 'zebra' })).body.results.map((m) => m.content)).toEqual(['zebra stripes']);
      const db = new Database(path);
      db.run("INSERT INTO facts_fts(facts_fts) VALUES ('integrity-check')");
      expect(db.query("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger'").get()).toEqual({ n: 0 });
      db.close();
    });
  }

  test('an external index that gets the plugin’s triggers while we run (the agent opened the file) is no longer fed by hand', async () => {
    const path = join(tempDir(), 'memory_store.db');
    openAsAgent(path, { schema: PLUGIN_SCHEMA.replace(/CREATE TRIGGER[\s\S]*?END;/g, '') }).close();
    const t = await app({ HOLOGRAPHIC_DB_PATH: path });
    expect((await t.json<{ fts_sync: string }>('GET', '/api/memory/stats')).body.fts_sync).toBe('external');
    openAsAgent(path).close();
    expect((await t.json('POST', '/api/memory', { content: 'kafka cluster notes' })).status).toBe(201);
    const db = new Database(path);
    // Fed twice (trigger and by hand), the index failed this check: "database disk image is malformed".
    db.run("INSERT INTO facts_fts(facts_fts, rank) VALUES ('integrity-check', 1)");
    expect((await t.json<{ fts_sync: string }>('GET', '/api/memory/stats')).body.fts_sync).toBe('triggers');
    // The agent deletes the fact with one trigger 'delete': nothing of it may stay in the index.
    db.run('DELETE FROM facts WHERE fact_id = 1');
    expect(db.query("SELECT COUNT(*) AS n FROM facts_fts WHERE facts_fts MATCH 'kafka'").get()).toEqual({ n: 0 });
    db.run("INSERT INTO facts_fts(facts_fts, rank) VALUES ('integrity-check', 1)");
    db.close();
  });
});
