/**
 * MEMORY_BACKEND=sqlite: memories in the sidecar's own database (drizzle table `memories`), found
 * through the FTS5 index `memories_fts` with bm25. Every filter is SQL; nothing is filtered after
 * the fact, so `total` and `limit` always agree with the filters.
 *
 * Ranking: score = 0.7 · s/(1+s) + 0.3 · importance, s = −bm25 (≥ 0; bm25 is negative, better is
 * lower). s/(1+s) maps bm25 into [0, 1) without depending on the other matches, so the whole order
 * is computed by SQLite and only `limit` rows leave it.
 */
import { and, count, desc, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { SQLQueryBindings } from 'bun:sqlite';
import type { DbHandle } from '../../db';
import { deepFreeze, KEPT_PAGE_BYTES, KeptReads, readSnapshot } from '../../db/kept-reads';
import { memories, memoryTags } from '../../db/schema';
import { newId } from '../../lib/ids';
import { isoNow } from '../../lib/time';
import { countByName, fileSize, parseJsonObject, sha256Hex } from './memory-values';
import type { Memory, ScoredMemory } from './model';
import { ftsMatchExpression, searchTerms, substringTerms } from './query-text';
import { Best, SubstringHits } from './substring-hits';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchFilters, SearchOptions } from './store';

type MemoryRow = typeof memories.$inferSelect;
/** A row of the substring scan (searchWithSubstrings). */
type ScanRow = { seq: number; content: string; tags: string; importance: number; bm25: number | null };
/** Renders drizzle SQL for a statement run on the raw connection (drizzle has no row-by-row read). */
const dialect = new SQLiteSyncDialect();

export class SqliteBackend implements MemoryBackend {
  readonly name = 'sqlite' as const;

  // Prepared once: the insert path is the hot one (drizzle would otherwise rebuild the SQL per call).
  private readonly byHash;
  private readonly insert;
  private readonly page;
  /**
   * Pages and category counts kept until the database is written (`KeptReads`): a page read two
   * statements (~40-70 µs for 10 memories) and the counts scan an index (3.5 ms at 100,000).
   */
  readonly kept: { pages: KeptReads<Page<Memory>>; counts: KeptReads<Record<string, number>> };

  constructor(private readonly own: DbHandle) {
    const fts = own.sqlite.query("SELECT 1 FROM sqlite_master WHERE name = 'memories_fts'").get();
    // The index comes from a custom migration; without it every search would fail, so say so at start-up.
    if (!fts) throw new Error('memories_fts is missing from the sidecar database: the memory_fts migration was not applied');
    this.byHash = own.db.select().from(memories).where(eq(memories.contentSha256, sql.placeholder('hash'))).prepare();
    this.insert = own.db
      .insert(memories)
      .values({
        id: sql.placeholder('id'),
        content: sql.placeholder('content'),
        contentSha256: sql.placeholder('hash'),
        category: sql.placeholder('category'),
        tags: sql.placeholder('tags'),
        importance: sql.placeholder('importance'),
        metadata: sql.placeholder('metadata'),
        createdAt: sql.placeholder('now'),
        updatedAt: sql.placeholder('now'),
      })
      .returning({ seq: memories.seq })
      .prepare();
    const ph = (name: string) => sql.placeholder(name);
    const pageOf = (where: SQL | undefined) => ({
      rows: own.db.select().from(memories).where(where).orderBy(desc(memories.seq)).limit(ph('limit')).offset(ph('offset')).prepare(),
      total: own.db.select({ n: count() }).from(memories).where(where).prepare(),
    });
    // GET /api/memory is a hot read: its two shapes (all, one category) are compiled once.
    this.page = { all: pageOf(undefined), category: pageOf(eq(memories.category, ph('category'))) };
    this.kept = { pages: new KeptReads(own.sqlite, 32, KEPT_PAGE_BYTES), counts: new KeptReads(own.sqlite, 1) };
  }

  async add(m: NewMemory): Promise<AddResult> {
    const hash = sha256Hex(m.content);
    return this.own.write(() => this.own.sqlite.transaction((): AddResult => {
      const existing = this.byHash.get({ hash });
      if (existing) return { memory: toMemory(existing), created: false };
      const row = { id: newId('mem_'), content: m.content, hash, category: m.category, tags: JSON.stringify(m.tags), importance: m.importance, metadata: JSON.stringify(m.metadata), now: isoNow() };
      const { seq } = this.insert.get(row) as { seq: number };
      return {
        memory: toMemory({ seq, id: row.id, content: row.content, contentSha256: hash, category: row.category, tags: row.tags, importance: row.importance, metadata: row.metadata, createdAt: row.now, updatedAt: row.now }),
        created: true,
      };
    }).immediate());
  }

  async list(o: ListOptions): Promise<Page<Memory>> {
    return this.kept.pages.get(JSON.stringify([o.category, o.limit, o.offset]), () => {
      const q = o.category === undefined ? this.page.all : this.page.category;
      return readSnapshot(this.own.sqlite, () => {
        const rows = q.rows.all({ limit: o.limit, offset: o.offset, category: o.category });
        const total = q.total.get({ category: o.category })?.n ?? 0;
        return deepFreeze({ items: rows.map(toMemory), total });
      });
    });
  }

  async search(o: SearchOptions): Promise<Page<ScoredMemory>> {
    return readSnapshot(this.own.sqlite, () => this.searchNow(o));
  }

  private searchNow(o: SearchOptions): Page<ScoredMemory> {
    if (o.query.trim() === '') {
      const filters = filterConditions(o.filters, 'list');
      const rows = this.own.db.select().from(memories).where(filters).orderBy(desc(memories.importance), desc(memories.seq)).limit(o.limit).all();
      const total = this.own.db.select({ n: count() }).from(memories).where(filters).get()?.n ?? 0;
      return { items: rows.map((r) => ({ ...toMemory(r), score: r.importance })), total };
    }
    const terms = searchTerms(o.query);
    if (terms.length === 0) return { items: [], total: 0 };
    const filters = filterConditions(o.filters, 'probe');
    const subs = substringTerms(terms);
    if (subs.length > 0) return this.searchWithSubstrings(o, terms, subs, filters);
    const where = sql`memories_fts MATCH ${ftsMatchExpression(terms)}${filters ? sql` AND ${filters}` : sql``}`;
    // CROSS JOIN keeps the index's matches the outer loop. With a category and min_importance SQLite
    // otherwise walked the category's index and ran the MATCH once per memory there (148-297 ms at 100,000
    // memories, 6,000 of them in range, for a query with 77 matches).
    const from = sql`FROM memories_fts CROSS JOIN ${memories} ON ${memories.seq} = memories_fts.rowid WHERE ${where}`;
    const rows = this.own.db.all<RawRow & { score: number }>(sql`
      SELECT ${memories}.*, (0.7 * (-bm25(memories_fts)) / (1.0 - bm25(memories_fts)) + 0.3 * ${memories.importance}) AS score
      ${from} ORDER BY score DESC, ${memories.seq} DESC LIMIT ${o.limit}`);
    // Without filters the index alone can count (no row lookups). db.get() on raw SQL returns a bare
    // values array; all() returns named columns.
    const counted = filters ? sql`SELECT COUNT(*) AS n ${from}` : sql`SELECT COUNT(*) AS n FROM memories_fts WHERE ${where}`;
    const total = this.own.db.all<{ n: number }>(counted)[0]?.n ?? 0;
    return { items: rows.map((r) => ({ ...toMemory(fromRaw(r)), score: r.score })), total };
  }

  /**
   * A query with words FTS5 cannot find inside a run of CJK or Thai text (query-text.ts): a memory
   * matches by the index or by holding such a word; each word held adds 1 to s, as if bm25 scored it 1.
   * One statement reads the memories the filters allow with their index score, each text is scanned
   * once for all the words (substring-hits.ts), and only the page's rows are read whole.
   */
  private searchWithSubstrings(o: SearchOptions, terms: string[], subs: string[][], filters: SQL | undefined): Page<ScoredMemory> {
    const hits = new SubstringHits(subs);
    const few = hits.prefilter();
    const prefilter = few && sql.join(few.flatMap((f) => [sql`instr(${memories.content}, ${f}) > 0`, sql`instr(${memories.tags}, ${f}) > 0`]), sql` OR `);
    // The index's matches are worked out once (MATERIALIZED): joined as a subquery, SQLite ran the MATCH
    // again for every memory (64 Korean words over 2,000 memories: 5 s with the server stopped).
    // Stepped row by row (iterate): read all at once, every allowed memory's text was held together
    // (2,000 memories of 65,536 characters: peak RSS +371 MB; 100,000 of them would not fit).
    const scan = dialect.sqlToQuery(sql`
      WITH fts AS MATERIALIZED (SELECT rowid AS r, bm25(memories_fts) AS b FROM memories_fts WHERE memories_fts MATCH ${ftsMatchExpression(terms)})
      SELECT ${memories.seq} AS seq, ${memories.content} AS content, ${memories.tags} AS tags, ${memories.importance} AS importance, fts.b AS bm25
      FROM ${memories} LEFT JOIN fts ON fts.r = ${memories.seq} WHERE ${filters ?? sql`1 = 1`}${prefilter ? sql` AND (fts.r IS NOT NULL OR ${prefilter})` : sql``}`);
    const scanned = this.own.sqlite.query<ScanRow, SQLQueryBindings[]>(scan.sql).iterate(...(scan.params as SQLQueryBindings[]));
    const best = new Best<{ seq: number; score: number }>(o.limit, (a, b) => b.score - a.score || b.seq - a.seq);
    let total = 0;
    for (const { seq, content, tags, importance, bm25 } of scanned) {
      const held = hits.count(content, tags);
      if (bm25 === null && held === 0) continue;
      total++;
      // The order of operations SQLite used, so the scores are the same doubles.
      const s = (bm25 === null ? 0 : -bm25) + held;
      best.push({ seq, score: (0.7 * s) / (1.0 + s) + 0.3 * importance });
    }
    const page = best.take();
    const rows = new Map(page.length ? this.own.db.select().from(memories).where(inArray(memories.seq, page.map((p) => p.seq))).all().map((r) => [r.seq, r]) : []);
    return { items: page.map((p) => ({ ...toMemory(rows.get(p.seq) as MemoryRow), score: p.score })), total };
  }

  async remove(id: string): Promise<boolean> {
    // The FTS row goes with it (trigger memories_fts_ad).
    return this.own.write(() => this.own.db.delete(memories).where(eq(memories.id, id)).returning({ id: memories.id }).all().length > 0);
  }

  async stats(): Promise<BackendStats> {
    const categories = this.kept.counts.get('categories', () => {
      const rows = this.own.db.select({ category: memories.category, n: count() }).from(memories).groupBy(memories.category).orderBy(memories.category).all();
      return deepFreeze(countByName(rows.map((r) => [r.category, r.n] as const)));
    });
    const total = Object.values(categories).reduce((a, b) => a + b, 0);
    return {
      status: 'ok',
      total_memories: total,
      categories,
      details: {
        db_path: this.own.path,
        file_size_bytes: fileSize(this.own.path),
        table: 'memories',
        fts_table: 'memories_fts',
        ranking: '0.7·bm25/(1+bm25) + 0.3·importance',
      },
    };
  }

  close(): void {
    // The connection belongs to the sidecar's database handle, closed with it.
  }
}

/**
 * Tags by memory_tags (kept by triggers), never by parsing each memory's JSON tags. Without words
 * (`list`) SQLite may start from the memories carrying the tag (a rare tag: 50 of 100,000) or check
 * each candidate against that list; with words (`probe`) each index match is looked up by (tag,
 * memory), as reading the whole list of a common tag costs far more than the matches.
 */
function filterConditions(f: SearchFilters, tagsBy: 'list' | 'probe'): SQL | undefined {
  const tagged = (tag: string) =>
    tagsBy === 'list'
      ? sql`${memories.seq} IN (SELECT ${memoryTags.memorySeq} FROM ${memoryTags} WHERE ${memoryTags.tag} = ${tag})`
      : sql`EXISTS (SELECT 1 FROM ${memoryTags} WHERE ${memoryTags.tag} = ${tag} AND ${memoryTags.memorySeq} = ${memories.seq})`;
  const parts: (SQL | undefined)[] = [
    f.category === undefined ? undefined : eq(memories.category, f.category),
    f.minImportance === undefined ? undefined : gte(memories.importance, f.minImportance),
    // created_at is ISO 8601 UTC with milliseconds everywhere, so text order is time order.
    f.since === undefined ? undefined : gte(memories.createdAt, f.since),
    f.until === undefined ? undefined : lte(memories.createdAt, f.until),
    ...(f.tags ?? []).map(tagged),
  ];
  return and(...parts);
}

/** A row as `SELECT memories.*` returns it (SQL column names). */
interface RawRow {
  seq: number;
  id: string;
  content: string;
  content_sha256: string;
  category: string;
  tags: string;
  importance: number;
  metadata: string;
  created_at: string;
  updated_at: string;
}

function fromRaw(r: RawRow): MemoryRow {
  return { seq: r.seq, id: r.id, content: r.content, contentSha256: r.content_sha256, category: r.category, tags: r.tags, importance: r.importance, metadata: r.metadata, createdAt: r.created_at, updatedAt: r.updated_at };
}

function toMemory(r: MemoryRow): Memory {
  let tags: unknown = [];
  try {
    tags = JSON.parse(r.tags);
  } catch {
    // written by us as JSON; a hand-edited row shows no tags rather than failing the whole list
  }
  return {
    id: r.id,
    content: r.content,
    category: r.category,
    tags: Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [],
    importance: r.importance,
    metadata: parseJsonObject(r.metadata),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}
