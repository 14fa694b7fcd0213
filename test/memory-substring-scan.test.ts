/**
 * The substring path of memory search reads each text once for all the terms (substring-hits.ts)
 * instead of one SQLite `instr` per spelling, column and term. It must give what the SQL gave: the
 * same hit counts as `instr` (lone surrogates, NFD spellings, repeats, NUL), and on both SQLite
 * backends the same matches, scores, order and totals as the previous statements, kept here as the
 * reference.
 */
import { Database, type SQLQueryBindings, type Statement } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { filterSql } from '../src/modules/memory/holographic-filters';
import { substringCandidates } from '../src/modules/memory/holographic-search';
import { ftsMatchExpression, searchTerms, substringTerms } from '../src/modules/memory/query-text';
import { Best, SubstringHits } from '../src/modules/memory/substring-hits';
import { makeTestApp, memoryDbPath, type TestApp } from './helpers/app';

const RUNS = Number(process.env.MODEL_RUNS ?? 200);

/** The SQL the backends counted hits with before (one `instr` per spelling and column). */
function instrHitsSql(subs: string[][], content: string, tags: string): { sql: string; params: string[] } {
  const params: string[] = [];
  const perTerm = subs.map((forms) => `(${forms.flatMap((f) => (params.push(f, f), [`instr(${content}, ?) > 0`, `instr(${tags}, ?) > 0`])).join(' OR ')})`);
  return { sql: `(${perTerm.join(' + ')})`, params };
}

// Characters where the two could part: CJK and Hangul (composed and as jamo), a lone surrogate and the
// U+FFFD SQLite stores it as, an astral character, NUL, Latin.
const CHARS = ['绿', '茶', '咖', '啡', '김', '치', '개', '\u1100', '\u1161', '\ud800', '\udc00', '\ufffd', '𠀋', '\0', 'a', ' ', ','];
const text = fc.array(fc.constantFrom(...CHARS), { maxLength: 14 }).map((cs) => cs.join(''));
const term = fc.array(fc.constantFrom(...CHARS.filter((c) => c !== ' ' && c !== '\0')), { minLength: 1, maxLength: 3 }).map((cs) => cs.join(''));

test('SubstringHits counts what the instr SQL counts, each term once per text', () => {
  const db = new Database(':memory:');
  try {
    fc.assert(
      fc.property(fc.array(fc.array(term, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }), text, text, (subs, content, tags) => {
        const q = instrHitsSql(subs, '?', '?');
        // Each instr takes the text as its own parameter: content, tags, in the SQL's order.
        const params = q.params.flatMap((f, i) => [i % 2 === 0 ? content : tags, f]);
        const expected = (db.query(`SELECT ${q.sql} AS n`).get(...(params as SQLQueryBindings[])) as { n: number }).n;
        // The texts come from SQLite, which stored a lone surrogate as U+FFFD: read back well-formed.
        expect(new SubstringHits(subs).count(content.toWellFormed(), tags.toWellFormed())).toBe(expected);
      }),
      { numRuns: RUNS * 10 },
    );
  } finally {
    db.close();
  }
});

test('Best keeps the k first in order, whatever the order pushed', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 3000 }), fc.integer({ min: 1, max: 40 }), (xs, k) => {
      const best = new Best<number>(k, (a, b) => a - b);
      for (const x of xs) best.push(x);
      expect(best.take()).toEqual([...xs].sort((a, b) => a - b).slice(0, k));
    }),
    { numRuns: RUNS },
  );
});

const WORDS = ['绿茶', '咖啡', '김치', '치개', '茶', 'tea', 'coffee', '我喜欢', '개를'];
const memoryText = fc.array(fc.constantFrom(...WORDS, '和', '喝', ' ', '를', 'note'), { minLength: 1, maxLength: 8 }).map((w) => w.join(''));
const query = fc.array(fc.constantFrom(...WORDS, '가나'), { minLength: 1, maxLength: 5 }).map((w) => w.join(' '));

describe('the same matches, scores, order and totals as the instr statements', () => {
  const apps: Record<string, TestApp> = {};
  beforeAll(async () => {
    for (const backend of ['sqlite', 'holographic']) {
      const t = await makeTestApp({ env: { MEMORY_BACKEND: backend } });
      apps[backend] = t;
      const texts = fc.sample(fc.tuple(memoryText, fc.array(fc.constantFrom('绿茶', 'tea', '김치찌개'), { maxLength: 2 }), fc.constantFrom(0.3, 0.5, 0.8)), { numRuns: 300, seed: 7 });
      for (const [i, [content, tags, importance]] of texts.entries()) {
        const r = await t.json('POST', '/api/memory', { content: `${content} ${i % 40}`, tags: [...new Set(tags)], importance });
        expect([200, 201]).toContain(r.status);
      }
    }
  });
  afterAll(() => {
    for (const t of Object.values(apps)) t.close();
  });

  test('sqlite: page and total as the previous SQL ranked them', async () => {
    const t = apps.sqlite as TestApp;
    await fc.assert(
      fc.asyncProperty(query, fc.constantFrom(1, 5, 20, 100), async (q, limit) => {
        const terms = searchTerms(q);
        const subs = substringTerms(terms);
        if (!subs.length) return;
        const hits = instrHitsSql(subs, 'm.content', 'm.tags');
        const s = `(coalesce(-fts.b, 0) + ${hits.sql})`;
        const from = `FROM memories m LEFT JOIN fts ON fts.r = m.seq WHERE (fts.r IS NOT NULL OR ${hits.sql} > 0)`;
        const head = 'WITH fts AS MATERIALIZED (SELECT rowid AS r, bm25(memories_fts) AS b FROM memories_fts WHERE memories_fts MATCH ?)';
        const match = ftsMatchExpression(terms);
        const rows = t.deps.db.sqlite.query(`${head} SELECT m.id, (0.7 * ${s} / (1.0 + ${s}) + 0.3 * m.importance) AS score ${from} ORDER BY score DESC, m.seq DESC LIMIT ?`)
          .all(match, ...hits.params, ...hits.params, ...hits.params, limit) as { id: string; score: number }[];
        const total = (t.deps.db.sqlite.query(`${head} SELECT COUNT(*) AS n ${from}`).get(match, ...hits.params) as { n: number }).n;
        const r = await t.json<{ results: { id: string; score: number }[]; total: number }>('POST', '/api/memory/search', { query: q, limit });
        expect({ results: r.body.results.map((m) => ({ id: m.id, score: m.score })), total: r.body.total }).toEqual({ results: rows, total });
      }),
      { numRuns: RUNS },
    );
  });

  test('holographic: candidates (rank, hits, order) and total as the previous SQL chose them', async () => {
    const t = apps.holographic as TestApp;
    const db = new Database(memoryDbPath(t), { readonly: true });
    try {
      await fc.assert(
        fc.asyncProperty(query, fc.constantFrom(1, 3, 15, 60), fc.constantFrom(0, 0.3, 0.6), async (q, n, minTrust) => {
          const terms = searchTerms(q);
          const subs = substringTerms(terms);
          if (!subs.length) return;
          const filter = filterSql({}, minTrust);
          const hits = instrHitsSql(subs, 'f.content', 'f.tags');
          const head = 'WITH m AS MATERIALIZED (SELECT rowid AS r, rank FROM facts_fts WHERE facts_fts MATCH ?)';
          const from = `FROM facts f LEFT JOIN m ON m.r = f.fact_id WHERE (m.r IS NOT NULL OR ${hits.sql} > 0) ${filter.sql}`;
          const match = ftsMatchExpression(terms);
          const expected = db.query<{ fact_id: number; fts_rank: number | null; sub_hits: number }, SQLQueryBindings[]>(`${head} SELECT f.fact_id, m.rank AS fts_rank, ${hits.sql} AS sub_hits ${from} ORDER BY m.rank IS NULL, m.rank, sub_hits DESC, f.fact_id DESC LIMIT ?`)
            .all(match, ...hits.params, ...hits.params, ...(filter.params as string[]), n);
          const total = (db.query(`${head} SELECT COUNT(*) AS n ${from}`).get(match, ...hits.params, ...(filter.params as string[])) as { n: number }).n;
          const got = substringCandidates(db, match, new SubstringHits(subs), filter, n);
          expect({ candidates: got.candidates.map((c) => ({ fact_id: c.fact_id, fts_rank: c.fts_rank, sub_hits: c.sub_hits })), total: got.total }).toEqual({ candidates: expected, total });
        }),
        { numRuns: RUNS },
      );
    } finally {
      db.close();
    }
  });
});

describe('the scan holds one row at a time', () => {
  // Read with values()/all(), every text the filters allow was held at once: 2,000 memories of 65,536
  // characters raised peak RSS by 371 MB (100,000 of them, the store's limit, would not fit). Stepped
  // (iterate), the RSS stays at SQLite's page cache and mmap. Measured RSS belongs in a benchmark, so
  // this checks how the scan statement is read, on the statements the backends prepare.
  for (const backend of ['sqlite', 'holographic']) {
    test(`${backend}: the scan statement is stepped (iterate), not read whole`, async () => {
      type Prepare = (this: Database, sql: string) => Statement;
      const proto = Database.prototype as unknown as Record<'query' | 'prepare', Prepare>;
      const originals = { query: proto.query, prepare: proto.prepare };
      const reads: string[] = [];
      for (const k of ['query', 'prepare'] as const) {
        proto[k] = function (this: Database, sql: string) {
          const st = originals[k].call(this, sql);
          if (!/materialized/i.test(sql) || /limit/i.test(sql)) return st;
          for (const m of ['all', 'values', 'get', 'iterate'] as const) {
            const read = (st[m] as (...a: unknown[]) => unknown).bind(st);
            (st as unknown as Record<string, (...a: unknown[]) => unknown>)[m] = (...a: unknown[]) => (reads.push(m), read(...a));
          }
          return st;
        };
      }
      const t = await makeTestApp({ env: { MEMORY_BACKEND: backend } });
      try {
        for (const content of ['我喜欢绿茶', '김치찌개를 먹었다', 'plain tea']) expect([200, 201]).toContain((await t.json('POST', '/api/memory', { content })).status);
        // One word (the prefilter's case) and more spellings than it takes (the scan alone).
        for (const query of ['绿茶', '绿茶 咖啡 김치 치개 我喜欢 개를 가나 다라 마바']) {
          reads.length = 0;
          const r = await t.json<{ total: number }>('POST', '/api/memory/search', { query, limit: 5 });
          expect([query, r.status, reads]).toEqual([query, 200, ['iterate']]);
        }
      } finally {
        Object.assign(proto, originals);
        t.close();
      }
    });
  }
});
