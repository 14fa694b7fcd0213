/**
 * Hermes' holographic memory plugin as it touches memory_store.db, for tests: its own connection,
 * its SQL, its order of statements (each one its own autocommit transaction, like the plugin's
 * `isolation_level=None` connection), its full bank rebuilds. Vectors come from the caller (e.g. the
 * Python reference fixture), so nothing here reuses the sidecar's HRR code to judge itself.
 *
 * Run as a script it is a second writer in another process:
 *   bun test/fakes/hermes-memory-agent.ts <db path> <count> <category>
 */
import { Database } from 'bun:sqlite';
import { HERMES_MEMORY_SCHEMA } from '../../src/modules/memory/holographic-schema';
import { bundle, bytesToPhases, phasesToBytes } from '../../src/modules/memory/hrr';

/**
 * The plugin's schema script, as the agent runs it on every open. The sidecar's copy is reused here;
 * test/memory-holographic.test.ts checks it column by column against the plugin's source.
 */
export const PLUGIN_SCHEMA = HERMES_MEMORY_SCHEMA;

export function openAsAgent(path: string, opts: { schema?: string } = {}): Database {
  const db = new Database(path, { create: true });
  db.run('PRAGMA busy_timeout = 10000'); // sqlite3.connect(timeout=10.0)
  db.run('PRAGMA journal_mode = WAL');
  db.run(opts.schema ?? PLUGIN_SCHEMA);
  return db;
}

export interface AgentFact {
  content: string;
  category?: string;
  tags?: string;
  entities?: string[];
  /** The stored blob (float64 or HRR1 float32), or null for an agent without numpy. */
  vector?: Uint8Array | null;
}

/** add_fact: insert, link entities, store the vector, rebuild the category bank, each step committed. */
export function agentAddFact(db: Database, f: AgentFact): number {
  const category = f.category ?? 'general';
  const existing = db.query<{ fact_id: number }, [string]>('SELECT fact_id FROM facts WHERE content = ?').get(f.content);
  if (existing) return existing.fact_id;
  const factId = Number(db.query('INSERT INTO facts (content, category, tags, trust_score) VALUES (?, ?, ?, ?)').run(f.content, category, f.tags ?? '', 0.5).lastInsertRowid);
  for (const name of f.entities ?? []) {
    const row = db.query<{ entity_id: number }, [string]>('SELECT entity_id FROM entities WHERE name LIKE ?').get(name);
    const entityId = row ? row.entity_id : Number(db.query('INSERT INTO entities (name) VALUES (?)').run(name).lastInsertRowid);
    db.query('INSERT OR IGNORE INTO fact_entities (fact_id, entity_id) VALUES (?, ?)').run(factId, entityId);
  }
  if (f.vector) {
    db.query('UPDATE facts SET hrr_vector = ? WHERE fact_id = ?').run(f.vector, factId);
    agentRebuildBank(db, category);
  }
  return factId;
}

/** _rebuild_bank: the bundle of every vector of the category, from scratch. */
export function agentRebuildBank(db: Database, category: string): void {
  const rows = db.query<{ hrr_vector: Uint8Array }, [string]>('SELECT hrr_vector FROM facts WHERE category = ? AND hrr_vector IS NOT NULL').all(category);
  if (rows.length === 0) {
    db.query('DELETE FROM memory_banks WHERE bank_name = ?').run(`cat:${category}`);
    return;
  }
  const vector = bundle(rows.map((r) => bytesToPhases(r.hrr_vector)));
  db.query(
    `INSERT INTO memory_banks (bank_name, vector, dim, fact_count, updated_at) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)
     ON CONFLICT(bank_name) DO UPDATE SET vector = excluded.vector, dim = excluded.dim, fact_count = excluded.fact_count, updated_at = excluded.updated_at`,
  ).run(`cat:${category}`, phasesToBytes(vector), 1024, rows.length);
}

/**
 * Newer plugin versions keep each bank's complex sum Σ e^{iθ} in `memory_banks.vector_sum` (complex128,
 * numpy's tobytes) and fold a new fact into it instead of rebuilding (_update_bank_incremental); a bank
 * without a usable sum is rebuilt, sum included. Call `addVectorSumColumn` first, as their _init_db does.
 */
export function addVectorSumColumn(db: Database): void {
  db.run('ALTER TABLE memory_banks ADD COLUMN vector_sum BLOB');
}

function complexSum(vectors: Float64Array[]): Uint8Array {
  const out = new Uint8Array(1024 * 16);
  const view = new DataView(out.buffer);
  for (const v of vectors) {
    v.forEach((t, i) => {
      view.setFloat64(i * 16, view.getFloat64(i * 16, true) + Math.cos(t), true);
      view.setFloat64(i * 16 + 8, view.getFloat64(i * 16 + 8, true) + Math.sin(t), true);
    });
  }
  return out;
}

function phasesOfSum(sum: Uint8Array): Float64Array {
  const view = new DataView(sum.buffer, sum.byteOffset, sum.byteLength);
  return Float64Array.from({ length: 1024 }, (_, i) => {
    const a = Math.atan2(view.getFloat64(i * 16 + 8, true), view.getFloat64(i * 16, true));
    return a < 0 ? a + 2 * Math.PI : a;
  });
}

/** add_fact of those versions: insert with the vector, then fold it into the stored sum (or rebuild). */
export function agentAddFactFolding(db: Database, content: string, category: string, vector: Uint8Array): number {
  const factId = Number(db.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, ?, ?, ?, ?)').run(content, category, '', 0.5, vector).lastInsertRowid);
  const name = `cat:${category}`;
  const bank = db.query<{ vector_sum: Uint8Array | null; fact_count: number }, [string]>('SELECT vector_sum, fact_count FROM memory_banks WHERE bank_name = ?').get(name);
  if (bank?.vector_sum?.byteLength === 1024 * 16) {
    const sum = complexSum([bytesToPhases(vector)]);
    const old = new DataView(bank.vector_sum.buffer, bank.vector_sum.byteOffset, bank.vector_sum.byteLength);
    const view = new DataView(sum.buffer);
    for (let i = 0; i < 2048; i++) view.setFloat64(i * 8, view.getFloat64(i * 8, true) + old.getFloat64(i * 8, true), true);
    db.query('UPDATE memory_banks SET vector = ?, vector_sum = ?, fact_count = ? WHERE bank_name = ?').run(phasesToBytes(phasesOfSum(sum)), sum, bank.fact_count + 1, name);
  } else {
    const rows = db.query<{ hrr_vector: Uint8Array }, [string]>('SELECT hrr_vector FROM facts WHERE category = ? AND hrr_vector IS NOT NULL ORDER BY fact_id').all(category);
    const sum = complexSum(rows.map((r) => bytesToPhases(r.hrr_vector)));
    db.query(
      `INSERT INTO memory_banks (bank_name, vector, vector_sum, dim, fact_count) VALUES (?, ?, ?, 1024, ?)
       ON CONFLICT(bank_name) DO UPDATE SET vector = excluded.vector, vector_sum = excluded.vector_sum, fact_count = excluded.fact_count`,
    ).run(name, phasesToBytes(phasesOfSum(sum)), sum, rows.length);
  }
  return factId;
}

/**
 * Plugin versions with CJK search (NousResearch/hermes-agent 50d2c72, cjk_tokenize.py): `facts` has
 * `search_text TEXT DEFAULT ''` (bigrams of the content and tags) and `facts_fts` indexes it beside
 * content and tags, kept in step by the same three triggers. Written out from their store.py
 * rather than built from our schema, so the test judges our writes against their DDL.
 */
export const CJK_FACTS_FTS = `
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts
    USING fts5(content, tags, search_text, content=facts, content_rowid=fact_id);
CREATE TRIGGER IF NOT EXISTS facts_ai AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts(rowid, content, tags, search_text)
        VALUES (new.fact_id, new.content, new.tags, new.search_text);
END;
CREATE TRIGGER IF NOT EXISTS facts_ad AFTER DELETE ON facts BEGIN
    INSERT INTO facts_fts(facts_fts, rowid, content, tags, search_text)
        VALUES ('delete', old.fact_id, old.content, old.tags, old.search_text);
END;
CREATE TRIGGER IF NOT EXISTS facts_au AFTER UPDATE ON facts BEGIN
    INSERT INTO facts_fts(facts_fts, rowid, content, tags, search_text)
        VALUES ('delete', old.fact_id, old.content, old.tags, old.search_text);
    INSERT INTO facts_fts(rowid, content, tags, search_text)
        VALUES (new.fact_id, new.content, new.tags, new.search_text);
END;
`;

/** _migrate_search_text's schema steps on an older file (its backfill is the caller's, with literal values). */
export function migrateToSearchText(db: Database): void {
  db.run("ALTER TABLE facts ADD COLUMN search_text TEXT DEFAULT ''");
  for (const t of ['facts_ai', 'facts_ad', 'facts_au']) db.run(`DROP TRIGGER IF EXISTS ${t}`);
  db.run('DROP TABLE facts_fts');
  db.run(CJK_FACTS_FTS);
  db.run("INSERT INTO facts_fts(facts_fts) VALUES('rebuild')");
}

/** Their search for a query already turned into bigrams by their sanitizer: `"b1" OR "b2"`. */
export function agentSearchBigrams(db: Database, bigrams: string[]): number[] {
  return db
    .query<{ fact_id: number }, [string]>(
      `SELECT f.fact_id FROM facts_fts JOIN facts f ON f.fact_id = facts_fts.rowid
       WHERE facts_fts MATCH ? AND f.trust_score >= 0.3 ORDER BY facts_fts.rank LIMIT 30`,
    )
    .all(bigrams.map((b) => `"${b}"`).join(' OR '))
    .map((r) => r.fact_id);
}

/** FactRetriever._fts_candidates with the plugin's sanitizer (OR of quoted terms), trust ≥ 0.3. */
export function agentSearch(db: Database, query: string, limit = 10): { fact_id: number; content: string }[] {
  const terms = query.toLowerCase().split(/\s+/).map((t) => t.replace(/^[.,;:!?"'()[\]{}#@<>]+|[.,;:!?"'()[\]{}#@<>]+$/g, '').replace(/["()*^:+-]/g, '')).filter((t) => t.length >= 2);
  if (terms.length === 0) return [];
  return db
    .query<{ fact_id: number; content: string }, [string, number]>(
      `SELECT f.fact_id, f.content FROM facts_fts JOIN facts f ON f.fact_id = facts_fts.rowid
       WHERE facts_fts MATCH ? AND f.trust_score >= 0.3 ORDER BY facts_fts.rank LIMIT ?`,
    )
    .all(terms.map((t) => `"${t}"`).join(' OR '), limit);
}

/** The plugin's newer blob format: "HRR1" then float32 values. */
export function float32Blob(v: Float64Array): Uint8Array {
  const out = new Uint8Array(4 + v.length * 4);
  out.set([0x48, 0x52, 0x52, 0x31]);
  const view = new DataView(out.buffer);
  v.forEach((x, i) => view.setFloat32(4 + i * 4, x, true));
  return out;
}

if (import.meta.main) {
  const [path, count, category] = process.argv.slice(2) as [string, string, string];
  const db = openAsAgent(path);
  const vector = new Uint8Array(8192);
  for (let i = 0; i < Number(count); i++) agentAddFact(db, { content: `agent fact ${i} about the staging cluster`, category, tags: 'agent', vector });
  db.close();
  console.log('done');
}
