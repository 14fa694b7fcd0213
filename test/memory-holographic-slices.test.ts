/**
 * MEMORY_BACKEND=holographic: a search without words and the stats counts touch every fact, so after
 * an agent commit they are read in slices of fact ids with the event loop free between them
 * (holographic-sliced.ts). Each answer must be exactly the whole read's of the state it started on,
 * while the agent (here a second connection) commits between the slices.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { HolographicBackend } from '../src/modules/memory/holographic';
import { KeptReads } from '../src/db/kept-reads';
import { countFacts, type FactCounts } from '../src/modules/memory/holographic-counts';
import { SlicedFactReads } from '../src/modules/memory/holographic-sliced';
import { factImportance, factToMemory } from '../src/modules/memory/holographic-facts';
import { bestByTrust } from '../src/modules/memory/holographic-search';
import type { SearchFilters } from '../src/modules/memory/store';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { tempDir } from './helpers/temp';

const open: { close(): void }[] = [];
const dirs: string[] = [];
// Only this file's dirs: the run's temp root also holds what other files share (the built executable).
afterEach(() => {
  for (const c of open.splice(0).reverse()) c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A float64 vector blob of the plugin's size (1024 phases), told apart by its first byte. */
const vector = (i: number) => {
  const v = new Uint8Array(8192);
  v[0] = i % 251;
  return v;
};

/** A file with what the agent's own writes leave: gaps in the ids, ties and NULLs in trust, hand-written tags, NULL and case-differing categories. */
function agentFile(): { path: string; agent: Database } {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, 'memory_store.db');
  const agent = openAsAgent(path);
  open.push(agent);
  const categories = ['general', 'tool', 'Tool', 'project', null];
  const tagSets = ['tag7', 'tag7,x', ' tag7 ,\ty', 'x', '', 'tag70', 'a,tag7'];
  for (let i = 0; i < 90; i++) {
    const trust = i % 11 === 0 ? null : Math.round((i * 37) % 10) / 10;
    agent.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, ?, ?, ?, ?)')
      .run(`fact ${i}`, categories[i % 5] ?? null, tagSets[i % 7] as string, trust, i % 3 ? vector(i) : null);
  }
  agent.run('DELETE FROM facts WHERE fact_id % 9 = 4');
  // A far jump in the ids (a fact inserted with its own id): the slices skip the empty stretch.
  agent.run("INSERT INTO facts (fact_id, content, category, tags, trust_score) VALUES (1000000, 'far', 'tool', 'tag7', 0.9)");
  agent.run("INSERT INTO entities (name) VALUES ('Acme'), ('Falcon')");
  return { path, agent };
}

/** A backend whose reads go 4 fact ids to a slice; its first read starts in the call (nothing to wait for). */
function backendOf(path: string): HolographicBackend {
  const own = openDatabase(':memory:');
  const backend = new HolographicBackend(path, own, { factSlice: 4 });
  open.push(own, backend);
  return backend;
}

/** The agent's commits, one per turn of the event loop, until `read` settles: how many fell inside it. */
async function whileAgentWrites<T>(agent: Database, read: () => Promise<T>, commit?: () => void): Promise<{ value: T; commits: number }> {
  let commits = 0;
  let done = false;
  const write = () => {
    if (done) return;
    const n = commits++;
    if (commit) {
      commit();
      setImmediate(write);
      return;
    }
    // Each kind of commit changes every answer: a new best fact of every filter, a removal, a new trust.
    if (n % 3 === 0) agentAddFact(agent, { content: `late ${n}`, category: 'tool', tags: 'tag7', vector: vector(n) });
    else if (n % 3 === 1) agent.run('DELETE FROM facts WHERE fact_id = (SELECT min(fact_id) FROM facts)');
    else agent.run('UPDATE facts SET trust_score = 1.0 WHERE fact_id = (SELECT max(fact_id) FROM facts WHERE trust_score < 1.0)');
    setImmediate(write);
  };
  setImmediate(write);
  try {
    return { value: await read(), commits };
  } finally {
    done = true;
  }
}

/** A read-only connection whose snapshot is the file as it is now: the whole read of that state. */
function snapshotNow(path: string): Database {
  const db = new Database(path, { readonly: true });
  open.push(db);
  db.run('BEGIN');
  db.query('SELECT 1 FROM facts LIMIT 1').get();
  return db;
}

/** Name, filters, limit, and whether the agent's commits below change the answer. */
const shapes: [string, SearchFilters, number, boolean][] = [
  ['tag browse', { tags: ['tag7'] }, 10, true],
  ['category browse', { category: 'tool' }, 10, true],
  ['category and tag', { category: 'Tool', tags: ['tag7'] }, 3, true],
  ['trust floor', { minImportance: 0.5 }, 100, true],
  ['no filter, one fact', {}, 1, true],
  ['nothing matches', { tags: ['nope'] }, 10, false],
];

for (const [name, filters, limit, changes] of shapes) {
  test(`a search without words (${name}) read in slices while the agent commits between them is the whole read of the state it started on`, async () => {
    const { path, agent } = agentFile();
    const backend = backendOf(path);
    const witness = snapshotNow(path);
    const { value: page, commits } = await whileAgentWrites(agent, () => backend.search({ query: '', limit, filters }));
    const whole = bestByTrust(witness, filters, limit);
    // The read was cut up, and the agent committed between its slices.
    expect(commits).toBeGreaterThan(5);
    expect(page.total).toBe(whole.total);
    expect(page.items).toEqual(whole.rows.map((r) => ({ ...factToMemory(r, undefined), score: factImportance(r) })));
    // The commits changed the answer: a read that saw them would differ.
    if (changes) expect(bestByTrust(snapshotNow(path), filters, limit)).not.toEqual(whole);
  });
}

test('the stats counts read in slices while the agent commits between them are the whole read of the state they started on', async () => {
  const { path, agent } = agentFile();
  const backend = backendOf(path);
  const witness = snapshotNow(path);
  const { value: stats, commits } = await whileAgentWrites(agent, () => backend.stats());
  const whole = countFacts(witness);
  expect(commits).toBeGreaterThan(5);
  expect({ total: stats.total_memories, categories: stats.categories, withVectors: stats.details.facts_with_vectors, entities: stats.details.entities, banks: stats.details.memory_banks })
    .toEqual(whole);
  // Key order too: the categories come in the order of SQLite's GROUP BY, NULL counted as general.
  expect(Object.keys(stats.categories)).toEqual(Object.keys(whole.categories));
  expect(countFacts(snapshotNow(path))).not.toEqual(whole);
});

test('reads asked after a commit while one runs share the next read, which has their commits; an unchanged file is answered from what is kept', async () => {
  const { path, agent } = agentFile();
  const backend = backendOf(path);
  const filters = { tags: ['tag7'] };
  const first = backend.search({ query: '', limit: 5, filters });
  agentAddFact(agent, { content: 'late best', category: 'tool', tags: 'tag7', vector: vector(1) });
  agent.run('UPDATE facts SET trust_score = 1.5 WHERE content = ?', ['late best']);
  const second = backend.search({ query: '', limit: 5, filters });
  const third = backend.search({ query: '', limit: 5, filters });
  const [a, b, c] = await Promise.all([first, second, third]);
  expect(a.items.map((m) => m.content)).not.toContain('late best');
  expect(b.items[0]?.content).toBe('late best');
  expect(c).toEqual(b);
  const reads = backend.pages.reads;
  expect(await backend.search({ query: '', limit: 5, filters })).toEqual(b);
  expect(backend.pages.reads).toBe(reads);
});

test('back-to-back stats reads leave the agent a moment to checkpoint its whole WAL between them', async () => {
  // Started in the same turn as the last read ended, the snapshots joined up and the agent's
  // checkpoint never passed them: its -wal grew by every commit (see scripts/bench/wal-growth.ts).
  const { path, agent } = agentFile();
  const backend = backendOf(path);
  let second: Promise<unknown> | null = null;
  let settled = false;
  let commits = 0;
  let complete = 0;
  const first = backend.stats();
  const write = () => {
    if (settled) return;
    agentAddFact(agent, { content: `tick ${commits++}`, vector: null });
    // Hermes' autocheckpoint, after a commit.
    const ck = agent.query('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number; checkpointed: number };
    if (ck.log === ck.checkpointed) complete++;
    second ??= backend.stats().finally(() => (settled = true));
    setImmediate(write);
  };
  setImmediate(write);
  await first;
  await second;
  expect(commits).toBeGreaterThan(10);
  expect(complete).toBeGreaterThan(0);
});

/** A small seeded generator: each interleaving can be run again by its seed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

test('many random interleavings of agent commits (inserts, deletes, trust and category changes, ids reused) between slices of every size: each answer is the whole read of its snapshot', async () => {
  const categories = ['general', 'tool', 'Tool', null, 'TOOL'];
  const tagSets = ['tag7', 'x', 'tag7,x', '', null];
  const trusts = [null, 0, 0.5, 0.5, 1, 0.3];
  const shapes: SearchFilters[] = [{}, { tags: ['tag7'] }, { category: 'tool' }, { category: 'general' }, { minImportance: 0.4 }];
  const wrong: string[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    const r = seeded(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)] as T;
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, 'memory_store.db');
    const agent = openAsAgent(path);
    open.push(agent);
    const insert = agent.query('INSERT OR IGNORE INTO facts (fact_id, content, category, tags, trust_score) VALUES (?, ?, ?, ?, ?)');
    for (let i = 0, n = 5 + Math.floor(r() * 40); i < n; i++) insert.run(null, `fact ${i}`, pick(categories), pick(tagSets), pick(trusts));
    const own = openDatabase(':memory:');
    const backend = new HolographicBackend(path, own, { factSlice: 1 + Math.floor(r() * 5) });
    open.push(own, backend);
    const filters = pick(shapes);
    const limit = 1 + Math.floor(r() * 6);
    const witness = snapshotNow(path);
    const commit = () => {
      const k = Math.floor(r() * 5);
      const anyFact = '(SELECT fact_id FROM facts ORDER BY random() LIMIT 1)';
      if (k === 0) insert.run(null, `late ${r()}`, pick(categories), pick(tagSets), pick(trusts));
      else if (k === 1) agent.run(`DELETE FROM facts WHERE fact_id = ${anyFact}`);
      else if (k === 2) agent.query(`UPDATE facts SET trust_score = ? WHERE fact_id = ${anyFact}`).run(pick(trusts));
      else if (k === 3) agent.query(`UPDATE facts SET category = ? WHERE fact_id = ${anyFact}`).run(pick(categories));
      // An id inside a slice already read, or one still ahead.
      else insert.run(1 + Math.floor(r() * 60), `placed ${r()}`, pick(categories), pick(tagSets), pick(trusts));
    };
    if (r() < 0.5) {
      const { value: stats } = await whileAgentWrites(agent, () => backend.stats(), commit);
      const got = { total: stats.total_memories, categories: stats.categories, withVectors: stats.details.facts_with_vectors, entities: stats.details.entities, banks: stats.details.memory_banks };
      if (JSON.stringify(got) !== JSON.stringify(countFacts(witness))) wrong.push(`seed ${seed}: stats`);
    } else {
      const { value: page } = await whileAgentWrites(agent, () => backend.search({ query: '', limit, filters }), commit);
      const whole = bestByTrust(witness, filters, limit);
      const expected = { items: whole.rows.map((row) => ({ ...factToMemory(row, undefined), score: factImportance(row) })), total: whole.total };
      if (JSON.stringify({ items: page.items, total: page.total }) !== JSON.stringify(expected)) wrong.push(`seed ${seed}: ${JSON.stringify(filters)} limit ${limit}`);
    }
    // The commits stopped: an answer now is of the last state, never one kept from before a commit.
    const last = snapshotNow(path);
    const stats = await backend.stats();
    if (stats.total_memories !== countFacts(last).total || JSON.stringify(stats.categories) !== JSON.stringify(countFacts(last).categories)) wrong.push(`seed ${seed}: stats kept past a commit`);
    const page = await backend.search({ query: '', limit, filters });
    const whole = bestByTrust(last, filters, limit);
    if (page.total !== whole.total || page.items.map((m) => m.id).join() !== whole.rows.map((row) => String(row.fact_id)).join()) wrong.push(`seed ${seed}: page kept past a commit`);
  }
  expect(wrong).toEqual([]);
});

test('a read asked for after an abandon goes on: it no longer joins the read under way or in line that the abandon failed', async () => {
  // A later caller of the same kind joined the doomed read (shared while running or waiting in line)
  // and was answered "the memory file was replaced" though it asked after the abandon.
  const { path, agent } = agentFile();
  const sqlite = new Database(path, { readonly: true });
  open.push(sqlite);
  const reads = new SlicedFactReads(path, sqlite, 4);
  const kept = new KeptReads<FactCounts>(sqlite, 1);
  const underWay = reads.counts(kept);
  agentAddFact(agent, { content: 'later' });
  const inLine = reads.counts(kept);
  reads.abandon();
  const later = reads.counts(kept);
  const settled = await Promise.allSettled([underWay, inLine, later]);
  expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  expect(await later).toEqual(countFacts(snapshotNow(path)));
});
