/**
 * The counts behind GET /api/memory/stats on the agent's memory_store.db, kept until the file changes.
 *
 * Counting the facts that have a vector reads every row of `facts` (each holds an 8 KB vector, so
 * each sits on pages of its own): 40 ms at 100,000 facts, and the whole stats answer 48 ms, on the
 * event loop, on every request. A dashboard polling stats stalled every stream and request that
 * often. The counts are now read again only when a write has happened since: one of ours
 * (`total_changes()` of this connection moves) or the agent's (`PRAGMA data_version` moves).
 */
import type { Database } from 'bun:sqlite';
import { KeptReads } from '../../db/kept-reads';
import { countByName } from './memory-values';

export interface FactCounts {
  total: number;
  categories: Record<string, number>;
  withVectors: number;
  entities: number;
  banks: number;
}

/** The counts, read in one snapshot when the file has been written since the last time. */
export function factCounts(kept: KeptReads<FactCounts>, sqlite: Database): FactCounts {
  return kept.get('counts', () => sqlite.transaction(() => countFacts(sqlite))());
}

/** Every count from one snapshot (the caller's transaction), so they agree with each other. */
function countFacts(sqlite: Database): FactCounts {
  const rows = sqlite.query<{ category: string | null; n: number }, []>('SELECT category, COUNT(*) AS n FROM facts GROUP BY category ORDER BY category').all();
  const categories = countByName(rows.map((r) => [r.category ?? 'general', r.n] as const));
  const total = rows.reduce((sum, r) => sum + r.n, 0);
  const count = (sql: string) => sqlite.query<{ n: number }, []>(sql).get()?.n ?? 0;
  return {
    total,
    categories,
    withVectors: count('SELECT COUNT(*) AS n FROM facts WHERE hrr_vector IS NOT NULL'),
    entities: count('SELECT COUNT(*) AS n FROM entities'),
    banks: count('SELECT COUNT(*) AS n FROM memory_banks'),
  };
}
