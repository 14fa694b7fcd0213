/**
 * The counts behind GET /api/memory/stats on the agent's memory_store.db, kept until the file changes.
 *
 * Counting the facts that have a vector reads every row of `facts` (each holds an 8 KB vector, so
 * each sits on pages of its own): 40 ms at 100,000 facts, and the whole stats answer 48 ms, on the
 * event loop, on every request. A dashboard polling stats stalled every stream and request that
 * often. The counts are now read again only when a write has happened since: one of ours
 * (`total_changes()` of this connection moves) or the agent's (`PRAGMA data_version` moves), and
 * then in slices (holographic-sliced.ts).
 */
import type { Database } from 'bun:sqlite';
import { countByName } from './memory-values';
import { DEFAULT_CATEGORY } from './holographic-facts';

export interface FactCounts {
  total: number;
  categories: Record<string, number>;
  withVectors: number;
  entities: number;
  banks: number;
}

/** Every count from one snapshot (the caller's transaction), so they agree with each other. */
export function countFacts(sqlite: Database): FactCounts {
  const rows = sqlite.query<{ category: string | null; n: number }, []>('SELECT category, COUNT(*) AS n FROM facts GROUP BY category ORDER BY category').all();
  return withSmallCounts(sqlite, rows, sqlite.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM facts WHERE hrr_vector IS NOT NULL').get()?.n ?? 0);
}

/** The counts of facts by category (in the order of `GROUP BY category`) and with a vector, with those of the small tables. */
export function withSmallCounts(sqlite: Database, rows: { category: string | null; n: number }[], withVectors: number): FactCounts {
  const count = (sql: string) => sqlite.query<{ n: number }, []>(sql).get()?.n ?? 0;
  return {
    total: rows.reduce((sum, r) => sum + r.n, 0),
    categories: countByName(rows.map((r) => [r.category ?? DEFAULT_CATEGORY, r.n] as const)),
    withVectors,
    entities: count('SELECT COUNT(*) AS n FROM entities'),
    banks: count('SELECT COUNT(*) AS n FROM memory_banks'),
  };
}
