/**
 * MEMORY_BACKEND=holographic: Hermes' own `memory_store.db`, shared with the agent (SPEC §9).
 *
 * A memory is a row of `facts` (holographic-facts.ts); the search is holographic-search.ts.
 * A write does what the plugin's add_fact does (dedupe by content, entities and links, the HRR
 * vector, the category bank), in one transaction instead of the plugin's several commits. `metadata`
 * has no Hermes column and lives in the sidecar's own database (memory_fact_meta).
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { eq, sql } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { BUSY_WAIT_MS, BusyQueue } from '../../db/busy';
import { KEPT_PAGE_BYTES, KeptReads, readSnapshot } from '../../db/kept-reads';
import type { LineClock } from '../../db/shared-reads';
import { memoryFactMeta } from '../../db/schema';
import type { Logger } from '../../lib/log';
import { isoNow } from '../../lib/time';
import { BankCache } from './holographic-banks';
import type { FactCounts } from './holographic-counts';
import { DEEP_OFFSET, deepListPage } from './holographic-pages';
import { EntityIndex } from './holographic-entities';
import { FACT_COLUMNS, factImportance, type FactMeta, type FactRow, factToMemory } from './holographic-facts';
import { categoryArms, categorySql } from './holographic-filters';
import { decodeVector } from './holographic-rank';
import { detectFtsMode, openHermesMemoryFile, releaseReplaced } from './holographic-schema';
import { type FactPage, searchFacts } from './holographic-search';
import { SlicedFactReads } from './holographic-sliced';
import { encodeFact, HRR_DIM, phasesToBytes } from './hrr';
import { extractEntities } from './entities';
import { fileSize, sha256Hex } from './memory-values';
import type { Memory, ScoredMemory } from './model';
import { searchTextIfIndexed } from './search-text';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchOptions } from './store';

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
  readonly pages: KeptReads<FactPage>;

  /** Reads that touch every fact (the two above, after a commit), in slices with the loop free between them. */
  private readonly sliced: SlicedFactReads;

  private readonly busyWaitMs: number;
  private readonly writes = new BusyQueue();
  /**
   * The metadata of a page of facts. Compiled once: drizzle builds and compiles the SQL of a query
   * on every call otherwise, which was half of what a 10-memory list cost (~50 of 110 µs).
   */
  private readonly metaOf;
  private readonly log: Logger | undefined;

  /** `busyWaitMs`: how long a write waits for the agent's lock (without blocking the server) before answering 503. */
  constructor(readonly path: string, private readonly own: DbHandle, opts: { busyWaitMs?: number; dim?: number; factSlice?: number; lineClock?: LineClock; log?: Logger } = {}) {
    this.log = opts.log;
    this.dim = opts.dim ?? HRR_DIM;
    this.banks = new BankCache(this.dim);
    const file = openHermesMemoryFile(path);
    this.sqlite = file.sqlite;
    this.wal = file.wal;
    this.counts = new KeptReads(this.sqlite, 1);
    this.pages = new KeptReads(this.sqlite, 32, KEPT_PAGE_BYTES);
    this.sliced = new SlicedFactReads(path, this.sqlite, opts.factSlice, opts.lineClock);
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
    const byCategory = o.category === undefined ? null : categorySql(o.category);
    const where = byCategory ? `WHERE ${byCategory.sql}` : '';
    const params: SQLQueryBindings[] = byCategory?.params ?? [];
    // Each alternative of the category its own SELECT, merged in id order (categoryArms).
    const arms = o.category === undefined ? [{ sql: '', params: [] }] : categoryArms(o.category).map((a) => ({ sql: `WHERE ${a.sql}`, params: a.params }));
    const page = arms.map((a) => `SELECT ${FACT_COLUMNS} FROM facts f ${a.sql}`).join(' UNION ALL ');
    const { rows, total } = this.pages.get(JSON.stringify(['list', o.category, o.limit, o.offset]), () => readSnapshot(this.sqlite, () => {
      if (o.category === undefined && o.offset >= DEEP_OFFSET) return deepListPage(this.sqlite, FACT_COLUMNS, o.limit, o.offset);
      return {
        rows: this.sqlite.query<FactRow, SQLQueryBindings[]>(`${page} ORDER BY fact_id DESC LIMIT ? OFFSET ?`).all(...arms.flatMap((a) => a.params), o.limit, o.offset),
        total: this.sqlite.query<{ n: number }, SQLQueryBindings[]>(`SELECT COUNT(*) AS n FROM facts f ${where}`).get(...params)?.n ?? 0,
      };
    }));
    return { items: this.withMetadata(rows), total };
  }

  async search(o: SearchOptions): Promise<Page<ScoredMemory>> {
    if (o.query.trim() === '') {
      const { rows, total } = await this.sliced.best(this.pages, o.filters, o.limit);
      return { items: this.withMetadata(rows).map((m, i) => ({ ...m, score: factImportance(rows[i] as FactRow) })), total };
    }
    const { best, total } = readSnapshot(this.sqlite, () => searchFacts(this.sqlite, this.dim, o));
    const memories = this.withMetadata(best.map((b) => b.row));
    return { items: memories.map((m, i) => ({ ...m, score: (best[i] as { score: number }).score })), total };
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
      // A fact without a category is in no bank (the plugin bundles `WHERE category = ?`): taking its vector out of
      // cat:general, as before, left that bank one fact short and pointing elsewhere.
      if (vector && row.category !== null) this.banks.apply(this.sqlite, row.category, vector, -1);
      return true;
    });
    // The metadata goes only once the fact's delete has committed, the reverse of add(): deleted first
    // (inside the fact's transaction, committed before it), a process killed between the two commits
    // left the fact standing without its metadata. A row left behind instead names an id the file's
    // AUTOINCREMENT never gives again, and the content hash ignores it anyway; so a failure to delete
    // it (another process's lock, a full disk) does not undo a delete that is done.
    if (removed) {
      await this.own.write(() => this.own.db.delete(memoryFactMeta).where(eq(memoryFactMeta.factId, factId)).run())
        .catch((err) => this.log?.warn('holographic memory deleted; its metadata row stays (harmless, ignored)', { id: factId, error: err instanceof Error ? err.message : String(err) }));
    }
    return removed;
  }

  async stats(): Promise<BackendStats> {
    const c = await this.sliced.counts(this.counts);
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
    this.sliced.abandon();
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

  private withMetadata(rows: FactRow[]): Memory[] {
    const meta = new Map<number, FactMeta>();
    if (rows.length > 0) {
      for (const r of this.metaOf.all({ ids: JSON.stringify(rows.map((r) => r.fact_id)) })) meta.set(r.factId, r);
    }
    return rows.map((r) => factToMemory(r, meta.get(r.fact_id)));
  }
}
