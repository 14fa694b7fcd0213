/**
 * MEMORY_BACKEND=holographic: Hermes' own `memory_store.db`, shared with the agent (SPEC §9).
 *
 * A memory is a row of `facts`: id = fact_id (decimal string), importance = trust_score,
 * tags = the comma-separated `tags` column, timestamps = the row's own (SQLite CURRENT_TIMESTAMP, UTC).
 * A write does what the plugin's add_fact does (dedupe by content, entities and links, the HRR
 * vector, the category bank), in one transaction instead of the plugin's several commits. `metadata`
 * has no Hermes column and lives in the sidecar's own database (memory_fact_meta).
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { eq, sql } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { BUSY_WAIT_MS, BusyQueue } from '../../db/busy';
import { KEPT_PAGE_BYTES, KeptReads, readSnapshot } from '../../db/kept-reads';
import { memoryFactMeta } from '../../db/schema';
import { isoNow } from '../../lib/time';
import { BankCache } from './holographic-banks';
import { factCounts, type FactCounts } from './holographic-counts';
import { DEEP_OFFSET, deepListPage } from './holographic-pages';
import { EntityIndex } from './holographic-entities';
import { detectFtsMode, openHermesMemoryFile, releaseReplaced } from './holographic-schema';
import { encodeFact, HRR_DIM, phasesToBytes } from './hrr';
import { extractEntities } from './entities';
import { filterSql } from './holographic-filters';
import { byScoreThen, fileSize, parseJsonObject, sha256Hex, splitTags, toIsoTimestamp } from './memory-values';
import type { Memory, ScoredMemory } from './model';
import { ftsMatchExpression, searchTerms, substringHitsSql, substringTerms } from './query-text';
import { type CandidateRow, candidatesByRank, decodeVector, rankCandidates } from './holographic-rank';
import { searchTextIfIndexed } from './search-text';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchFilters, SearchOptions } from './store';

/** The plugin's default floor: facts below this trust are not search candidates unless a filter says otherwise. */
const DEFAULT_MIN_TRUST = 0.3;
const FACT_COLUMNS = 'f.fact_id, f.content, f.category, f.tags, f.trust_score, f.created_at, f.updated_at';

export interface FactRow {
  fact_id: number;
  content: string;
  category: string | null;
  tags: string | null;
  trust_score: number | null;
  created_at: unknown;
  updated_at: unknown;
}

export class HolographicBackend implements MemoryBackend {
  readonly name = 'holographic' as const;
  private readonly sqlite: Database;
  private readonly wal: string | null; // releaseReplaced
  private readonly entities = new EntityIndex();
  private readonly banks: BankCache;
  /** The plugin's `hrr_dim`: every vector in the file has it, ours included (hrr-dim.ts). */
  readonly dim: number;
  /** The counts of the stats answer, read again only after a write (holographic-counts.ts). */
  readonly counts: KeptReads<FactCounts>;
  /**
   * List pages and searches without words (the best facts by trust, by tag or category), with their
   * totals, kept until the file is written (ours: `total_changes()`; the agent's: `data_version`).
   * A tag or category filter reads every fact (no index on tags; facts of equal trust sorted by id),
   * and so does a list page far from the newest (`OFFSET` steps through the rows): 40-180 ms at
   * 50,000-100,000 facts, each time, while a dashboard re-reads the same page.
   */
  readonly pages: KeptReads<{ rows: FactRow[]; total: number }>;

  private readonly busyWaitMs: number;
  private readonly writes = new BusyQueue();
  /**
   * The metadata of a page of facts. Compiled once: drizzle builds and compiles the SQL of a query
   * on every call otherwise, which was half of what a 10-memory list cost (~50 of 110 µs).
   */
  private readonly metaOf;

  /**
   * `busyWaitMs`: how long a write waits for the agent's lock (without blocking the server) before
   * answering 503; `openWaitMs`: how long opening waits for it, blocking (openHermesMemoryFile).
   */
  constructor(readonly path: string, private readonly own: DbHandle, opts: { busyWaitMs?: number; openWaitMs?: number; dim?: number } = {}) {
    this.dim = opts.dim ?? HRR_DIM;
    this.banks = new BankCache(this.dim);
    const file = openHermesMemoryFile(path, opts.openWaitMs);
    this.sqlite = file.sqlite;
    this.wal = file.wal;
    this.counts = new KeptReads(this.sqlite, 1);
    this.pages = new KeptReads(this.sqlite, 32, KEPT_PAGE_BYTES);
    this.busyWaitMs = opts.busyWaitMs ?? BUSY_WAIT_MS;
    this.metaOf = own.db.select().from(memoryFactMeta)
      .where(sql`${memoryFactMeta.factId} IN (SELECT value FROM json_each(${sql.placeholder('ids')}))`).prepare();
  }

  async add(m: NewMemory): Promise<AddResult> {
    const { row, created } = await this.write(() => {
      const existing = this.sqlite.query<FactRow, [string]>(`SELECT ${FACT_COLUMNS} FROM facts f WHERE f.content = ?`).get(m.content);
      if (existing) return { row: existing, created: false };
      this.entities.refresh(this.sqlite);
      // Linked once per entity; the plugin reads them back ordered by entity id, and so encodes them.
      const linked = new Map(extractEntities(m.content).map((c) => this.entities.resolve(this.sqlite, c)).map((e) => [e.id, e.name]));
      const ids = [...linked.keys()].sort((a, b) => a - b);
      const vector = encodeFact(m.content, ids.map((id) => linked.get(id) as string), this.dim);
      const tags = m.tags.join(',');
      const row: Record<string, SQLQueryBindings> = { content: m.content, category: m.category, tags, trust_score: m.importance, hrr_vector: phasesToBytes(vector) };
      const searchText = searchTextIfIndexed(this.sqlite, m.content, tags);
      if (searchText !== null) row.search_text = searchText;
      const columns = Object.keys(row);
      const factId = Number(
        this.sqlite.query(`INSERT INTO facts (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...Object.values(row)).lastInsertRowid,
      );
      this.ftsChange('insert', factId, m.content, tags);
      const link = this.sqlite.query('INSERT OR IGNORE INTO fact_entities (fact_id, entity_id) VALUES (?, ?)');
      for (const id of ids) link.run(factId, id);
      this.banks.apply(this.sqlite, m.category, vector, 1);
      if (Object.keys(m.metadata).length > 0) {
        const meta = { contentSha256: sha256Hex(m.content), metadata: JSON.stringify(m.metadata), updatedAt: isoNow() };
        // A row left by a fact that had this id in an earlier file is replaced. Written to the
        // sidecar's own database inside this transaction of the agent's file, before it commits: if
        // it fails (another sidecar holds our lock, a full disk) the fact change rolls back with it,
        // instead of standing without its metadata behind an error that says to try again (the retry
        // then found a duplicate and the metadata was lost). So it is no `DbHandle.write` of its own:
        // it waits no longer than the connection's busy slice (BUSY_SLICE_MS), the agent's lock being
        // held meanwhile, and a busy failure is retried with the whole fact change by `write`. If the
        // agent's commit fails after it, the meta row stays behind for a fact id that does not hold
        // its content, which the content hash already ignores.
        this.own.locked(() => this.own.db.insert(memoryFactMeta).values({ factId, ...meta }).onConflictDoUpdate({ target: memoryFactMeta.factId, set: meta }).run());
      }
      return { row: this.sqlite.query<FactRow, [number]>(`SELECT ${FACT_COLUMNS} FROM facts f WHERE f.fact_id = ?`).get(factId) as FactRow, created: true };
    });
    return { memory: this.withMetadata([row])[0] as Memory, created };
  }

  async list(o: ListOptions): Promise<Page<Memory>> {
    const where = o.category === undefined ? '' : 'WHERE f.category = ?';
    const params: SQLQueryBindings[] = o.category === undefined ? [] : [o.category];
    const { rows, total } = this.pages.get(JSON.stringify(['list', o.category, o.limit, o.offset]), () => readSnapshot(this.sqlite, () => {
      if (o.category === undefined && o.offset >= DEEP_OFFSET) return deepListPage(this.sqlite, FACT_COLUMNS, o.limit, o.offset);
      return {
        rows: this.sqlite.query<FactRow, SQLQueryBindings[]>(`SELECT ${FACT_COLUMNS} FROM facts f ${where} ORDER BY f.fact_id DESC LIMIT ? OFFSET ?`).all(...params, o.limit, o.offset),
        total: this.sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n FROM facts f ${where}`).get(...params)?.n ?? 0,
      };
    }));
    return { items: this.withMetadata(rows), total };
  }

  async search(o: SearchOptions): Promise<Page<ScoredMemory>> {
    return readSnapshot(this.sqlite, () => this.searchNow(o));
  }

  private searchNow(o: SearchOptions): Page<ScoredMemory> {
    if (o.query.trim() === '') return this.byImportance(o);
    const terms = searchTerms(o.query);
    if (terms.length === 0) return { items: [], total: 0 };
    const filter = filterSql(o.filters, o.filters.minImportance ?? DEFAULT_MIN_TRUST);
    const match = ftsMatchExpression(terms);
    const subs = substringTerms(terms);
    // Words FTS5 cannot find inside a run of CJK or Thai text are looked for as substrings too
    // (query-text.ts); index matches come first among the candidates, by rank, then the others.
    const hits = subs.length ? substringHitsSql(subs, 'f.content', 'f.tags') : { sql: '0', params: [] };
    // The index's matches are worked out once (MATERIALIZED): joined as a subquery, SQLite ran the MATCH
    // again for every fact (64 Korean words over 5,000 facts: 16 s with the server stopped).
    // Without substring terms the order is the index's rank alone, which FTS5 serves without sorting
    // every match (with the extra keys the search at 100,000 facts took 16.7 ms instead of 12.7).
    const [head, from, rank] = subs.length
      ? ['WITH m AS MATERIALIZED (SELECT rowid AS r, rank FROM facts_fts WHERE facts_fts MATCH ?)',
        `FROM facts f LEFT JOIN m ON m.r = f.fact_id WHERE (m.r IS NOT NULL OR ${hits.sql} > 0) ${filter.sql}`, 'm.rank']
      : ['', `FROM facts_fts JOIN facts f ON f.fact_id = facts_fts.rowid WHERE facts_fts MATCH ? ${filter.sql}`, 'facts_fts.rank'];
    // `match` binds first either way (WITH, or FROM when the select list has no parameters).
    const params = [match, ...hits.params, ...filter.params];
    const select = `${head} SELECT ${FACT_COLUMNS}, f.hrr_vector, ${rank} AS fts_rank, ${hits.sql} AS sub_hits ${from}`;
    const candidates = subs.length
      ? this.sqlite.query<CandidateRow, SQLQueryBindings[]>(`${select} ORDER BY m.rank IS NULL, m.rank, sub_hits DESC, f.fact_id DESC LIMIT ?`)
        .all(match, ...hits.params, ...hits.params, ...filter.params, o.limit * 3)
      : candidatesByRank(this.sqlite, select, [match, ...filter.params], o.limit * 3);
    const total = subs.length
      ? (this.sqlite.query<{ n: number }, SQLQueryBindings[]>(`${head} SELECT COUNT(*) AS n ${from}`).get(...params)?.n ?? 0)
      : this.countMatches(match, from, filter.params, o.filters);
    const scores = rankCandidates(o.query, candidates, this.dim, subs.length);
    const best = candidates
      .map((c, i) => ({ row: c, score: scores[i] as number }))
      .sort(byScoreThen((a, b) => b.row.fact_id - a.row.fact_id))
      .slice(0, o.limit);
    const memories = this.withMetadata(best.map((b) => b.row));
    return { items: memories.map((m, i) => ({ ...m, score: (best[i] as { score: number }).score })), total };
  }

  /**
   * The true number of matches. Counting through the join reads every matching fact's row (one page
   * each: the vector sits in the row); when the trust floor is the only filter and no fact is below
   * it, the index alone gives the same number.
   */
  private countMatches(match: string, from: string, params: SQLQueryBindings[], f: SearchFilters): number {
    const minTrust = f.minImportance ?? DEFAULT_MIN_TRUST;
    const onlyTrust = f.category === undefined && !f.tags?.length && f.since === undefined && f.until === undefined;
    const anyBelow = () => this.sqlite.query('SELECT 1 FROM facts WHERE trust_score < ? OR trust_score IS NULL LIMIT 1').get(minTrust) !== null;
    if (onlyTrust && !anyBelow()) return this.sqlite.query<{ n: number }, [string]>('SELECT COUNT(*) AS n FROM facts_fts WHERE facts_fts MATCH ?').get(match)?.n ?? 0;
    return this.sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n ${from}`).get(match, ...params)?.n ?? 0;
  }

  async remove(id: string): Promise<boolean> {
    if (!/^[1-9]\d{0,15}$/.test(id)) return false;
    const factId = Number(id);
    const removed = await this.write(() => {
      const row = this.sqlite.query<{ content: string; category: string | null; tags: string | null; hrr_vector: Uint8Array | null }, [number]>('SELECT content, category, tags, hrr_vector FROM facts WHERE fact_id = ?').get(factId);
      if (!row) return false;
      this.sqlite.query('DELETE FROM fact_entities WHERE fact_id = ?').run(factId);
      this.sqlite.query('DELETE FROM facts WHERE fact_id = ?').run(factId);
      this.ftsChange('delete', factId, row.content, row.tags ?? '');
      const vector = decodeVector(row.hrr_vector, this.dim);
      if (vector) this.banks.apply(this.sqlite, row.category ?? 'general', vector, -1);
      // Inside this transaction, as in add().
      this.own.locked(() => this.own.db.delete(memoryFactMeta).where(eq(memoryFactMeta.factId, factId)).run());
      return true;
    });
    return removed;
  }

  async stats(): Promise<BackendStats> {
    const c = factCounts(this.counts, this.sqlite);
    return {
      status: 'ok',
      total_memories: c.total,
      categories: c.categories,
      details: {
        db_path: this.path,
        file_size_bytes: fileSize(this.path),
        wal_size_bytes: fileSize(`${this.path}-wal`),
        journal_mode: this.sqlite.query<{ journal_mode: string }, []>('PRAGMA journal_mode').get()?.journal_mode ?? null,
        vector_dim: this.dim,
        vector_format: 'float64 little-endian',
        facts_with_vectors: c.withVectors,
        entities: c.entities,
        memory_banks: c.banks,
        fts_sync: detectFtsMode(this.sqlite),
        bank_rebuilds: this.banks.rebuilds,
      },
    };
  }

  drained(): Promise<void> {
    return this.writes.drained();
  }

  release(): boolean {
    return releaseReplaced(this.sqlite, this.path, this.wal);
  }

  close(): void {
    this.sqlite.close();
  }

  /** One IMMEDIATE transaction, in line behind this sidecar's other writes, tried again while the agent holds the lock. */
  private write<T>(fn: () => T): Promise<T> {
    return this.writes.run(() => {
      let ran = false;
      try {
        return this.sqlite.transaction(() => {
          ran = true;
          return fn();
        }).immediate();
      } catch (err) {
        // The caches may hold what was just rolled back (a lock refused at BEGIN ran nothing).
        if (ran) {
          this.entities.reset();
          this.banks.clear();
        }
        throw err;
      }
    }, this.busyWaitMs);
  }

  /** Keeps a trigger-less FTS index in step (a file from a variant of the plugin); no-op with the plugin's triggers. */
  private ftsChange(kind: 'insert' | 'delete', factId: number, content: string, tags: string): void {
    const mode = detectFtsMode(this.sqlite);
    if (mode === 'triggers') return;
    if (kind === 'insert') this.sqlite.query('INSERT INTO facts_fts (rowid, content, tags) VALUES (?, ?, ?)').run(factId, content, tags);
    else if (mode === 'external') this.sqlite.query("INSERT INTO facts_fts (facts_fts, rowid, content, tags) VALUES ('delete', ?, ?, ?)").run(factId, content, tags);
    else this.sqlite.query('DELETE FROM facts_fts WHERE rowid = ?').run(factId);
  }

  private byImportance(o: SearchOptions): Page<ScoredMemory> {
    const { rows, total } = this.pages.get(JSON.stringify(['best', o.filters, o.limit]), () => {
      const filter = filterSql(o.filters, o.filters.minImportance ?? 0);
      return {
        rows: this.sqlite
          .query<FactRow, SQLQueryBindings[]>(`SELECT ${FACT_COLUMNS} FROM facts f WHERE 1 = 1 ${filter.sql} ORDER BY f.trust_score DESC, f.fact_id DESC LIMIT ?`)
          .all(...filter.params, o.limit),
        total: this.sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n FROM facts f WHERE 1 = 1 ${filter.sql}`).get(...filter.params)?.n ?? 0,
      };
    });
    return { items: this.withMetadata(rows).map((m) => ({ ...m, score: m.importance })), total };
  }

  private withMetadata(rows: FactRow[]): Memory[] {
    const meta = new Map<number, { contentSha256: string; metadata: string }>();
    if (rows.length > 0) {
      for (const r of this.metaOf.all({ ids: JSON.stringify(rows.map((r) => r.fact_id)) })) meta.set(r.factId, r);
    }
    return rows.map((r) => {
      const m = meta.get(r.fact_id);
      return {
        id: String(r.fact_id),
        content: r.content,
        category: r.category ?? 'general',
        tags: splitTags(r.tags),
        importance: r.trust_score ?? 0.5,
        metadata: m && m.contentSha256 === sha256Hex(r.content) ? parseJsonObject(m.metadata) : {},
        created_at: toIsoTimestamp(r.created_at),
        updated_at: toIsoTimestamp(r.updated_at),
      };
    });
  }
}
