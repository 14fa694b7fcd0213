/**
 * The holographic backend's search candidates (the plugin's FactRetriever.search): which, and their ranking.
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { factImportance, type FactRow } from './holographic-facts';
import { bytesToPhases, encodeText, similarity, type Phases } from './hrr';
import { jaccard, jaccardTokens } from './query-text';

export interface CandidateRow extends FactRow {
  hrr_vector: Uint8Array | null;
  /** null for a fact found only as a substring. */
  fts_rank: number | null;
  sub_hits: number;
}

/**
 * SPEC §9 / the plugin's FactRetriever.search: relevance = 0.4·fts + 0.3·jaccard + 0.3·(hrr+1)/2,
 * score = relevance × trust, fts = |rank| / max |rank| over the candidates; a fact without a
 * readable vector gets the neutral HRR term 0.5.
 */
export function rankCandidates(query: string, candidates: CandidateRow[], dim: number, substringTerms: number): number[] {
  const maxRank = Math.max(1e-6, ...candidates.map((c) => Math.abs(c.fts_rank ?? 0)));
  const queryTokens = jaccardTokens(query);
  let queryVector: Phases | null = null;
  return candidates.map((c) => {
    const tokens = jaccardTokens(c.content);
    for (const t of jaccardTokens(c.tags ?? '')) tokens.add(t);
    const vector = decodeVector(c.hrr_vector, dim);
    let hrr = 0.5;
    if (vector) {
      queryVector ??= encodeText(query, dim);
      hrr = (similarity(queryVector, vector) + 1) / 2;
    }
    // A substring match (a CJK word inside a sentence) counts as the index's best match would.
    const fts = Math.max(Math.abs(c.fts_rank ?? 0) / maxRank, substringTerms ? c.sub_hits / substringTerms : 0);
    const relevance = 0.4 * fts + 0.3 * jaccard(queryTokens, tokens) + 0.3 * hrr;
    return relevance * factImportance(c);
  });
}

export function decodeVector(blob: Uint8Array | null, dim: number): Phases | null {
  if (!blob) return null;
  try {
    return bytesToPhases(blob, dim);
  } catch {
    return null;
  }
}

/**
 * The `n` best index matches of `select` (the search's statement without ORDER BY), equal ranks newest
 * first. Without substring terms FTS5 serves ORDER BY rank alone without sorting every match; equal
 * ranks came out oldest first, so a limit of 1 could answer an older fact than the first of limit 2,
 * and the newest of equally relevant facts never be a candidate. Only when equal ranks straddle the
 * cut are those tied matches read again, newest first.
 */
export function candidatesByRank(sqlite: Database, select: string, params: SQLQueryBindings[], n: number): CandidateRow[] {
  const rows = sqlite.query<CandidateRow, SQLQueryBindings[]>(`${select} ORDER BY facts_fts.rank LIMIT ?`).all(...params, n + 1);
  const edge = rows[n - 1]?.fts_rank ?? null;
  if (rows.length <= n || edge === null || rows[n]?.fts_rank !== edge) return rows.slice(0, n);
  const better = rows.slice(0, n).filter((r) => r.fts_rank !== edge);
  // `+`: FTS5 would read a bare `rank = ?` as the choice of a ranking function. Ordered by the index's
  // own rowid, FTS5 walks its matches newest first and stops at the limit (by f.fact_id it sorted them all).
  const tied = sqlite.query<CandidateRow, SQLQueryBindings[]>(`${select} AND +facts_fts.rank = ? ORDER BY facts_fts.rowid DESC LIMIT ?`)
    .all(...params, edge, n - better.length);
  return [...better, ...tied];
}
