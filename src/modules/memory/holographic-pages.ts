/**
 * A list page of the agent's memory_store.db far from the newest fact. `ORDER BY fact_id DESC LIMIT
 * OFFSET` steps through the rows of every fact before the page, each on pages of its own (the vector
 * is 8 KB): ~41 ms warm at offset 99,900 of 100,000, 173 ms after a commit of the agent (our page
 * cache dropped). Every fact id is read instead from the smallest index (SQLite scans a covering
 * index for a rowid-only select: ~12 ms, 27 ms after a commit), sorted here, and only the page's rows
 * are read, by id. Runs inside the caller's snapshot, so the page and its total agree.
 */
import type { Database } from 'bun:sqlite';
import type { FactRow } from './holographic-facts';

/** From this offset on, a list page picks its ids from an index instead of stepping through rows. */
export const DEEP_OFFSET = 1000;

/** The page of `limit` facts after the newest `offset`, newest first, and the number of facts. */
export function deepListPage(sqlite: Database, columns: string, limit: number, offset: number): { rows: FactRow[]; total: number } {
  const { ids } = sqlite.query<{ ids: string }, []>('SELECT json_group_array(fact_id) AS ids FROM facts').get() as { ids: string };
  const all = Float64Array.from(JSON.parse(ids) as number[]).sort();
  const page = all.slice(Math.max(0, all.length - offset - limit), Math.max(0, all.length - offset)).reverse();
  const rows = page.length
    ? sqlite.query<FactRow, [string]>(`SELECT ${columns} FROM facts f WHERE f.fact_id IN (SELECT value FROM json_each(?)) ORDER BY f.fact_id DESC`).all(JSON.stringify(Array.from(page)))
    : [];
  return { rows, total: all.length };
}
