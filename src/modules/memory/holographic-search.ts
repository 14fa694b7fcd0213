/**
 * The search of Hermes' memory_store.db (SPEC §9, the plugin's FactRetriever.search): with words, the
 * FTS5 index's matches and the substring hits it cannot find, ranked by the plugin's formula
 * (holographic-rank.ts); without, the best facts by trust (bestByTrust). Runs inside the caller's read snapshot, so
 * a page and its total agree; the caller adds each fact's metadata.
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { BEST_ORDER, DEFAULT_TRUST, FACT_COLUMNS, type FactRow } from './holographic-facts';
import { filterSql, filtersBesideTrust } from './holographic-filters';
import { type CandidateRow, candidatesByRank, rankCandidates } from './holographic-rank';
import { byScoreThen } from './memory-values';
import { ftsMatchExpression, searchTerms, substringTerms } from './query-text';
import { Best, SubstringHits } from './substring-hits';
import type { SearchFilters, SearchOptions } from './store';

/** The plugin's default floor: facts below this trust are not search candidates unless a filter says otherwise. */
const DEFAULT_MIN_TRUST = 0.3;

/** What `pages` keeps: a page of facts and the number of all that match. */
export interface FactPage {
  rows: FactRow[];
  total: number;
}

export interface ScoredFacts {
  best: { row: FactRow; score: number }[];
  total: number;
}

/** A search with words (one without is `bestByTrust`, read in slices by the backend: holographic-sliced.ts). */
export function searchFacts(sqlite: Database, dim: number, o: SearchOptions): ScoredFacts {
  const terms = searchTerms(o.query);
  if (terms.length === 0) return { best: [], total: 0 };
  // A fact without a trust is rare (a hand-written row): one indexed look keeps the common search's SQL plain.
  const nullTrust = sqlite.query('SELECT 1 FROM facts WHERE trust_score IS NULL LIMIT 1').get() !== null;
  const filter = filterSql(o.filters, o.filters.minImportance ?? DEFAULT_MIN_TRUST, nullTrust);
  const match = ftsMatchExpression(terms);
  const subs = substringTerms(terms);
  // Words FTS5 cannot find inside a run of CJK or Thai text are looked for as substrings too
  // (query-text.ts); index matches come first among the candidates, by rank, then the others.
  // Without substring terms the order is the index's rank alone, which FTS5 serves without sorting
  // every match (with the extra keys the search at 100,000 facts took 16.7 ms instead of 12.7).
  const from = `FROM facts_fts JOIN facts f ON f.fact_id = facts_fts.rowid WHERE facts_fts MATCH ? ${filter.sql}`;
  const select = `SELECT ${FACT_COLUMNS}, f.hrr_vector, facts_fts.rank AS fts_rank, 0 AS sub_hits ${from}`;
  const { candidates, total } = subs.length
    ? substringCandidates(sqlite, match, new SubstringHits(subs), filter, o.limit * 3)
    : { candidates: candidatesByRank(sqlite, select, [match, ...filter.params], o.limit * 3), total: countMatches(sqlite, match, from, filter.params, o.filters) };
  const scores = rankCandidates(o.query, candidates, dim, subs.length);
  const best = candidates
    .map((c, i) => ({ row: c, score: scores[i] as number }))
    .sort(byScoreThen((a, b) => b.row.fact_id - a.row.fact_id))
    .slice(0, o.limit);
  return { best, total };
}

/**
 * The true number of matches. Counting through the join reads every matching fact's row (one page
 * each: the vector sits in the row); when the trust floor is the only filter and no fact is below
 * it, the index alone gives the same number.
 */
function countMatches(sqlite: Database, match: string, from: string, params: SQLQueryBindings[], f: SearchFilters): number {
  const minTrust = f.minImportance ?? DEFAULT_MIN_TRUST;
  const onlyTrust = f.category === undefined && !f.tags?.length && f.since === undefined && f.until === undefined;
  // A fact without a trust counts as DEFAULT_TRUST, below a floor above that only.
  const anyBelow = () => sqlite.query(`SELECT 1 FROM facts WHERE trust_score < ? ${minTrust > DEFAULT_TRUST ? 'OR trust_score IS NULL' : ''} LIMIT 1`).get(minTrust) !== null;
  if (onlyTrust && !anyBelow()) return sqlite.query<{ n: number }, [string]>('SELECT COUNT(*) AS n FROM facts_fts WHERE facts_fts MATCH ?').get(match)?.n ?? 0;
  return sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n ${from}`).get(match, ...params)?.n ?? 0;
}

/**
 * The candidates of a query with substring terms and the number of all matches, in one statement:
 * every fact the filters allow with its index rank, each text scanned once for all the terms
 * (substring-hits.ts); the order SQL gave them (index matches by rank, then most hits, newest first),
 * and only the candidates' rows read whole, with their vectors.
 */
export function substringCandidates(sqlite: Database, match: string, hits: SubstringHits, filter: { sql: string; params: SQLQueryBindings[] }, n: number): { candidates: CandidateRow[]; total: number } {
  // The index's matches are worked out once (MATERIALIZED): joined as a subquery, SQLite ran the MATCH
  // again for every fact (64 Korean words over 5,000 facts: 16 s with the server stopped).
  const few = hits.prefilter() ?? [];
  const prefilter = few.length ? `AND (m.r IS NOT NULL OR ${few.map(() => 'instr(f.content, ?) > 0 OR instr(f.tags, ?) > 0').join(' OR ')})` : '';
  // Stepped row by row (iterate): read all at once, every allowed fact's text was held together.
  const scanned = sqlite.query<{ id: number; content: string; tags: string | null; rank: number | null }, SQLQueryBindings[]>(
    `WITH m AS MATERIALIZED (SELECT rowid AS r, rank FROM facts_fts WHERE facts_fts MATCH ?)
     SELECT f.fact_id AS id, f.content AS content, f.tags AS tags, m.rank AS rank FROM facts f LEFT JOIN m ON m.r = f.fact_id WHERE 1 = 1 ${filter.sql} ${prefilter}`,
  ).iterate(match, ...filter.params, ...few.flatMap((f) => [f, f]));
  type Found = { id: number; rank: number | null; hits: number };
  const best = new Best<Found>(n, (a, b) =>
    Number(a.rank === null) - Number(b.rank === null) || (a.rank ?? 0) - (b.rank ?? 0) || b.hits - a.hits || b.id - a.id);
  let total = 0;
  for (const { id, content, tags, rank } of scanned) {
    const held = hits.count(content, tags);
    if (rank === null && held === 0) continue;
    total++;
    best.push({ id, rank, hits: held });
  }
  const found = best.take();
  if (!found.length) return { candidates: [], total };
  const rows = new Map(sqlite.query<FactRow & { hrr_vector: Uint8Array | null }, number[]>(
    `SELECT ${FACT_COLUMNS}, f.hrr_vector FROM facts f WHERE f.fact_id IN (${found.map(() => '?').join(', ')})`,
  ).all(...found.map((c) => c.id)).map((r) => [r.fact_id, r]));
  return { candidates: found.map((c) => ({ ...(rows.get(c.id) as FactRow & { hrr_vector: Uint8Array | null }), fts_rank: c.rank, sub_hits: c.hits })), total };
}

/**
 * A search without words, in one read: the `limit` best facts by trust that pass `filters`, and how many
 * pass. The facts with a trust come from idx_facts_trust in its order, those without one (read as
 * DEFAULT_TRUST, few) from its NULL range newest first; the `limit` best of both are ordered by SQLite.
 * The ids stay in SQL: this read is also the one for files whose ids pass 2^53 (holographic-sliced.ts).
 */
export function bestByTrust(sqlite: Database, filters: SearchFilters, limit: number): FactPage {
  const min = filters.minImportance ?? 0;
  const rest = filtersBesideTrust(filters);
  const arms = [`SELECT id FROM (SELECT f.fact_id AS id FROM facts f WHERE f.trust_score >= ? ${rest.sql} ORDER BY f.trust_score DESC, f.fact_id DESC LIMIT ?)`];
  const params: SQLQueryBindings[] = [min, ...rest.params, limit];
  if (min <= DEFAULT_TRUST) {
    // Walked from the NULL range (CROSS JOIN keeps it outside): left to choose, SQLite took the category
    // index for `category = ?` and read every fact of the category for its trust (86 ms at 100,000 facts).
    arms.push(`SELECT id FROM (SELECT f.fact_id AS id FROM facts n CROSS JOIN facts f ON f.fact_id = n.fact_id WHERE n.trust_score IS NULL ${rest.sql} ORDER BY n.fact_id DESC LIMIT ?)`);
    params.push(...rest.params, limit);
  }
  const filter = filterSql(filters, min);
  return {
    rows: sqlite.query<FactRow, SQLQueryBindings[]>(`SELECT ${FACT_COLUMNS} FROM facts f WHERE f.fact_id IN (${arms.join(' UNION ALL ')}) ${BEST_ORDER} LIMIT ?`).all(...params, limit),
    total: sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n FROM facts f WHERE 1 = 1 ${filter.sql}`).get(...filter.params)?.n ?? 0,
  };
}
