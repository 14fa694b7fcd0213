/**
 * A fact whose `trust_score` is NULL (a hand-written row, or one of an older plugin) is shown with
 * importance 0.5 (factImportance), so every filter and ordering by importance treats it as 0.5 and
 * the totals count it: the empty-query browse, `min_importance`, a word search's trust floor.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { HolographicBackend } from '../src/modules/memory/holographic';
import { bestByTrust } from '../src/modules/memory/holographic-search';
import { splitTags } from '../src/modules/memory/memory-values';
import type { SearchFilters } from '../src/modules/memory/store';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';
import { tempDir } from './helpers/temp';

type Memory = { id: string; importance: number; score: number };
type Found = { results: Memory[]; total: number };

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
async function app(): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic' } });
  apps.push(t);
  return t;
}

describe('a fact without a trust score', () => {
  test('is listed, browsed, filtered and searched as importance 0.5, totals included', async () => {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    agentAddFact(agent, { content: 'A trusted fact about the release train' });
    agent.run("INSERT INTO facts (content, category, tags, trust_score) VALUES ('A hand-written fact about the release train', 'general', '', NULL)");
    agent.close();
    const list = await t.json<{ memories: Memory[]; total: number }>('GET', '/api/memory');
    expect([list.body.memories.map((m) => [m.id, m.importance]), list.body.total]).toEqual([[['2', 0.5], ['1', 0.5]], 2]);
    for (const query of ['', 'release']) {
      const all = await t.json<Found>('POST', '/api/memory/search', { query, limit: 10 });
      expect([query, all.body.results.map((m) => m.id).sort(), all.body.total]).toEqual([query, ['1', '2'], 2]);
      const floor = await t.json<Found>('POST', '/api/memory/search', { query, limit: 10, filters: { min_importance: 0.4 } });
      expect([query, floor.body.results.map((m) => m.id).sort(), floor.body.total]).toEqual([query, ['1', '2'], 2]);
      const above = await t.json<Found>('POST', '/api/memory/search', { query, limit: 10, filters: { min_importance: 0.6 } });
      expect([query, above.body.results.length, above.body.total]).toEqual([query, 0, 0]);
    }
    // Without words: score = importance, equal importance newest first, the NULL row in its 0.5 place.
    const browse = await t.json<Found>('POST', '/api/memory/search', { query: '', limit: 1 });
    expect([browse.body.results.map((m) => [m.id, m.score]), browse.body.total]).toEqual([[['2', 0.5]], 2]);
  });
});

/** A row as the agent (or a hand) wrote it: NULL trust and NULL category mixed in, ids with gaps. */
type Row = { id: number; trust: number | null; category: string | null; tags: string | null; created: string };

const DAYS = ['2026-01-01 10:00:00', '2026-01-02 10:00:00', '2026-01-03 10:00:00'];
const row = fc.record({
  trust: fc.constantFrom(null, null, 0, 0.2, 0.4, 0.5, 0.5, 0.6, 1),
  category: fc.constantFrom(null, 'general', 'tool', 'Tool'),
  tags: fc.constantFrom(null, '', 'a', 'a,b', ' b ,a', 'b'),
  created: fc.constantFrom(...DAYS),
});
const rows = fc.uniqueArray(fc.integer({ min: 1, max: 80 }), { maxLength: 30 }).chain((ids) =>
  fc.tuple(...ids.map(() => row)).map((rs) => rs.map((r, i) => ({ ...r, id: ids[i] as number }))));
const iso = (day: string) => `${day.replace(' ', 'T')}.000Z`;
const filters: fc.Arbitrary<SearchFilters> = fc.record({
  category: fc.constantFrom('general', 'tool', 'Tool'),
  tags: fc.subarray(['a', 'b'], { minLength: 1 }),
  minImportance: fc.constantFrom(0, 0.3, 0.4, 0.5, 0.6, 1),
  since: fc.constantFrom(...DAYS.map(iso), '2026-01-02T09:59:59.500Z'),
  until: fc.constantFrom(...DAYS.map(iso)),
}, { requiredKeys: [] });

/** The reference, over every row in JavaScript: a NULL trust is 0.5 and a NULL category `general`, as the list shows them. */
const trustOf = (r: Row) => r.trust ?? 0.5;
function passes(r: Row, f: SearchFilters, floor: number): boolean {
  const secs = Date.parse(iso(r.created)) / 1000;
  return trustOf(r) >= (f.minImportance ?? floor)
    && (f.category === undefined || (r.category ?? 'general') === f.category)
    && (f.tags ?? []).every((t) => splitTags(r.tags).includes(t))
    && (f.since === undefined || secs >= Math.floor(Date.parse(f.since) / 1000))
    && (f.until === undefined || secs <= Math.floor(Date.parse(f.until) / 1000));
}
const best = (all: Row[], f: SearchFilters) => all.filter((r) => passes(r, f, 0)).sort((a, b) => trustOf(b) - trustOf(a) || b.id - a.id);

describe('facts without a trust among others, generated', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  test('every browse, word search and list page (slices of any size, and the whole read) agrees with the reference over all rows', async () => {
    await fc.assert(
      fc.asyncProperty(rows, filters, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 35 }), async (all, f, limit, slice, offset) => {
        const dir = tempDir();
        dirs.push(dir);
        const path = join(dir, 'memory_store.db');
        const agent = openAsAgent(path);
        const insert = agent.query('INSERT INTO facts (fact_id, content, category, tags, trust_score, created_at) VALUES (?, ?, ?, ?, ?, ?)');
        for (const r of all) insert.run(r.id, `fact ${r.id} is a note`, r.category, r.tags, r.trust, r.created);
        agent.close();
        const own = openDatabase(':memory:');
        const backend = new HolographicBackend(path, own, { factSlice: slice });
        const whole = new Database(path, { readonly: true });
        try {
          const expected = best(all, f);
          const browse = await backend.search({ query: '', limit, filters: f });
          expect(browse.items.map((m) => [Number(m.id), m.score, m.importance])).toEqual(expected.slice(0, limit).map((r) => [r.id, trustOf(r), trustOf(r)]));
          expect(browse.total).toBe(expected.length);
          const read = bestByTrust(whole, f, limit);
          expect([read.rows.map((r) => r.fact_id), read.total]).toEqual([expected.slice(0, limit).map((r) => r.id), expected.length]);
          // A word every fact holds: exactly the facts that pass, the floor 0.3 unless min_importance is given.
          const found = all.filter((r) => passes(r, f, 0.3)).map((r) => r.id).sort((a, b) => a - b);
          const words = await backend.search({ query: 'note', limit: 100, filters: f });
          expect([words.items.map((m) => Number(m.id)).sort((a, b) => a - b), words.total]).toEqual([found, found.length]);
          const listed = all.filter((r) => f.category === undefined || (r.category ?? 'general') === f.category).sort((a, b) => b.id - a.id);
          const page = await backend.list({ limit, offset, category: f.category });
          expect([page.items.map((m) => [Number(m.id), m.importance]), page.total]).toEqual([listed.slice(offset, offset + limit).map((r) => [r.id, trustOf(r)]), listed.length]);
        } finally {
          whole.close();
          backend.close();
          own.close();
        }
      }),
      { numRuns: 80 },
    );
  });
});

describe('the reads keep their indexes', () => {
  test('a browse read whole takes the facts with a trust from idx_facts_trust, those without from its NULL range, and reads only the page rows by id', async () => {
    const capture = capturePlans();
    const dir = tempDir();
    try {
      const path = join(dir, 'memory_store.db');
      const agent = openAsAgent(path);
      const insert = agent.query('INSERT INTO facts (content, category, tags, trust_score) VALUES (?, ?, ?, ?)');
      agent.transaction(() => {
        for (let i = 0; i < 300; i++) insert.run(`fact ${i}`, i % 3 ? 'general' : 'tool', i % 4 ? 'a' : '', i % 50 === 0 ? null : (i % 10) / 10);
      })();
      agent.close();
      const db = new Database(path, { readonly: true });
      for (const f of [{}, { minImportance: 0.4 }, { category: 'tool' }, { tags: ['a'] }]) {
        // The page (the best ids with a trust, those without, their rows by id) and the total.
        const [page, total] = await capture.plans(async () => bestByTrust(db, f, 10), /facts f/);
        // A coalesce() in the order or the filter read (and sorted) every fact: `SCAN f`.
        for (const p of [page, total]) expect(p).not.toMatch(/^SCAN f\b/m);
        if (!f.category) for (const p of [page, total]) expect(p).toContain('idx_facts_trust (trust_score>?)');
        // Left to choose, SQLite walked the category index and read every fact of it for its trust.
        expect(page).toContain('SEARCH n USING COVERING INDEX idx_facts_trust (trust_score=?)');
        expect(page).toStartWith('SEARCH f USING INTEGER PRIMARY KEY (rowid=?)');
      }
      db.close();
    } finally {
      capture.restore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
