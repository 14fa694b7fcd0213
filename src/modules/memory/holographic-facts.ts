/**
 * A row of Hermes' `facts` table as the holographic backend reads it, and the Memory it answers as:
 * id = fact_id (decimal string), importance = trust_score, tags = the comma-separated `tags` column,
 * timestamps = the row's own (SQLite CURRENT_TIMESTAMP, UTC). `metadata` has no Hermes column; it
 * comes from the sidecar's own database, and only while the fact still holds the content it was written for.
 */
import { parseJsonObject, sha256Hex, splitTags, toIsoTimestamp } from './memory-values';
import type { Memory } from './model';

export const FACT_COLUMNS = 'f.fact_id, f.content, f.category, f.tags, f.trust_score, f.created_at, f.updated_at';

export interface FactRow {
  fact_id: number;
  content: string;
  category: string | null;
  tags: string | null;
  trust_score: number | null;
  created_at: unknown;
  updated_at: unknown;
}

/** The sidecar's metadata row of a fact (memory_fact_meta). */
export interface FactMeta {
  contentSha256: string;
  metadata: string;
}

/**
 * The plugin's defaults for a fact without a category or trust (its columns' defaults; a row written by
 * hand or by an older plugin can hold NULL). Every filter, ordering and total reads them the same way.
 */
export const DEFAULT_CATEGORY = 'general';
export const DEFAULT_TRUST = 0.5;
export const factImportance = (r: FactRow): number => r.trust_score ?? DEFAULT_TRUST;

/**
 * The order of a search without words in SQL, a NULL trust in its DEFAULT_TRUST place. No index serves
 * `coalesce()`: only for orderings of a few rows (ids already picked) or of rows read anyway.
 */
export const BEST_ORDER = `ORDER BY coalesce(f.trust_score, ${DEFAULT_TRUST}) DESC, f.fact_id DESC`;

export function factToMemory(r: FactRow, meta: FactMeta | undefined): Memory {
  return {
    id: String(r.fact_id),
    content: r.content,
    category: r.category ?? DEFAULT_CATEGORY,
    tags: splitTags(r.tags),
    importance: factImportance(r),
    // A meta row left by a fact that had this id in an earlier file names another content.
    metadata: meta && meta.contentSha256 === sha256Hex(r.content) ? parseJsonObject(meta.metadata) : {},
    created_at: toIsoTimestamp(r.created_at),
    updated_at: toIsoTimestamp(r.updated_at),
  };
}
