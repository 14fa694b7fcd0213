/**
 * The search filters of the holographic backend as SQL on Hermes' `facts f`, every value a bound
 * parameter. The columns are the agent's: `tags` is one comma-separated string, written by hand as
 * often as by us.
 */
import type { SQLQueryBindings } from 'bun:sqlite';
import { TRIMMED_CHARS } from './memory-values';
import { DEFAULT_CATEGORY, DEFAULT_TRUST } from './holographic-facts';
import type { SearchFilters } from './store';

/** The comma-separated parts of `f.tags`, untrimmed, as rows `part(tag)` (a recursive CTE). */
const TAG_PARTS = "WITH RECURSIVE part(tag, rest) AS (SELECT NULL, f.tags || ',' UNION ALL " +
  "SELECT substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1) FROM part WHERE rest <> '')";

/**
 * `f.tags` has `tag` as one of its comma-separated parts once each part is trimmed as the list trims
 * it (splitTags, TRIMMED_CHARS). Cheapest test first, each a necessary or a sufficient condition:
 * the text occurs at all; `,tag,` as written by us; a comma or a trimmed character on both sides of
 * it (GLOB); only then the column is split into its parts (docs/memory.md has the timings).
 */
function tagCondition(tag: string): { sql: string; params: SQLQueryBindings[] } {
  const edge = `[,${TRIMMED_CHARS}]`;
  const glob = `*${edge}${tag.replace(/[*?[]/g, (c) => `[${c}]`)}${edge}*`;
  return {
    sql: `AND instr(f.tags, ?) > 0 AND (instr(',' || f.tags || ',', ?) > 0 OR ((',' || f.tags || ',') GLOB ? ` +
      `AND EXISTS (${TAG_PARTS} SELECT 1 FROM part WHERE trim(part.tag, ?) = ?)))`,
    params: [tag, `,${tag},`, glob, TRIMMED_CHARS, tag],
  };
}

/**
 * `f.category` is `category`. A fact written without one (NULL: the column's default is the plugin's
 * `general`, but a hand-written row can leave it out) is shown and counted as `general`
 * (factToMemory, the stats), so `general` finds it too: before, such a fact was listed as `general` and
 * left out of `?category=general`, its page and its total.
 */
export function categorySql(category: string): { sql: string; params: SQLQueryBindings[] } {
  const arms = categoryArms(category);
  return { sql: arms.length > 1 ? `(${arms.map((a) => a.sql).join(' OR ')})` : (arms[0] as { sql: string }).sql, params: arms.flatMap((a) => a.params) };
}

/**
 * `categorySql` as its alternatives, each one range of idx_facts_category (so in fact_id order): a list
 * page selects each apart and has SQLite merge them (UNION ALL), where one WHERE with OR read every
 * `general` fact and sorted them for each page (80 ms a page at 100,000 facts, 0.04 for a category).
 */
export function categoryArms(category: string): { sql: string; params: SQLQueryBindings[] }[] {
  const named = { sql: 'f.category = ?', params: [category] };
  return category === DEFAULT_CATEGORY ? [named, { sql: 'f.category IS NULL', params: [] }] : [named];
}

/**
 * `f.trust_score` at least `min`, a NULL trust read as DEFAULT_TRUST as the list shows it
 * (factImportance). Written as ranges of idx_facts_trust (`trust_score IS NULL` is one too): a
 * `coalesce()` here would have every count scan the whole index and every read by trust sort the table.
 * `nullTrust` false (the caller found no fact without a trust) leaves the NULL range out: a word search at
 * 100,000 facts took ~4 ms more with it (p50 13.8–14.2 against 8.5–10.2 ms, `scripts/bench/memory.ts`).
 */
export function trustAtLeast(min: number, nullTrust = true): { sql: string; params: SQLQueryBindings[] } {
  return { sql: min <= DEFAULT_TRUST && nullTrust ? '(f.trust_score >= ? OR f.trust_score IS NULL)' : 'f.trust_score >= ?', params: [min] };
}

/** Filters as SQL on `facts f`: every value a bound parameter. */
export function filterSql(f: SearchFilters, minTrust: number, nullTrust = true): { sql: string; params: SQLQueryBindings[] } {
  const trust = trustAtLeast(minTrust, nullTrust);
  const rest = filtersBesideTrust(f);
  return { sql: `AND ${trust.sql} ${rest.sql}`, params: [...trust.params, ...rest.params] };
}

/** The filters other than the trust floor (`AND …` each, or nothing). */
export function filtersBesideTrust(f: SearchFilters): { sql: string; params: SQLQueryBindings[] } {
  const parts: string[] = [];
  const params: SQLQueryBindings[] = [];
  if (f.category !== undefined) {
    const c = categorySql(f.category);
    parts.push(`AND ${c.sql}`);
    params.push(...c.params);
  }
  // Hermes' tags are written by hand as well ("a,  b", "a ,\tb"): matched as the list shows them.
  for (const tag of f.tags ?? []) {
    const c = tagCondition(tag);
    parts.push(c.sql);
    params.push(...c.params);
  }
  // created_at is whole seconds (CURRENT_TIMESTAMP), so the bounds are too: a fact of the same second as
  // `since` or `until` matches (with `since` in milliseconds, one stored just after it was dropped).
  if (f.since !== undefined) {
    parts.push('AND unixepoch(f.created_at) >= ?');
    params.push(wholeSecond(f.since));
  }
  if (f.until !== undefined) {
    parts.push('AND unixepoch(f.created_at) <= ?');
    params.push(wholeSecond(f.until));
  }
  return { sql: parts.join(' '), params };
}

/** An ISO 8601 UTC time as whole seconds since the epoch, rounded down (SQLite's `unixepoch()` does the same). */
function wholeSecond(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
