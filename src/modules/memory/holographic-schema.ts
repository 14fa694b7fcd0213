/**
 * Hermes' `memory_store.db`: the agent's file and schema, opened with bun:sqlite (never drizzle, never
 * migrated). The DDL below is the holographic plugin's own (plugins/memory/holographic/store.py), byte
 * for byte in meaning: same tables, column types, defaults, indexes, the external-content FTS5 table
 * and its three triggers. It is run only on a file that has no `facts` table yet; a file the agent
 * created is used as it is, apart from the plugin's own upgrade step (adding `hrr_vector`).
 *
 * WAL and a busy timeout, as the agent uses: both programs may write at the same time, each write is a
 * short transaction, and a writer that finds the file locked waits instead of failing.
 */
import { Database } from 'bun:sqlite';
import { mkdirSync, statSync } from 'node:fs';
import { BUSY_SLICE_MS } from '../../db/busy';
import { createPrivately } from '../../db';
import { assertRegularFile, fileIdentity } from '../../lib/files';
import { dirname } from 'node:path';

// The plugin's schema script in its own order, in three parts so a file that lacks only the index can get it.
const TABLES = `
CREATE TABLE IF NOT EXISTS facts (
    fact_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    content         TEXT NOT NULL UNIQUE,
    category        TEXT DEFAULT 'general',
    tags            TEXT DEFAULT '',
    trust_score     REAL DEFAULT 0.5,
    retrieval_count INTEGER DEFAULT 0,
    helpful_count   INTEGER DEFAULT 0,
    created_at      TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    hrr_vector      BLOB
);

CREATE TABLE IF NOT EXISTS entities (
    entity_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    entity_type TEXT DEFAULT 'unknown',
    aliases     TEXT DEFAULT '',
    created_at  TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS fact_entities (
    fact_id   INTEGER REFERENCES facts(fact_id),
    entity_id INTEGER REFERENCES entities(entity_id),
    PRIMARY KEY (fact_id, entity_id)
);

CREATE INDEX IF NOT EXISTS idx_facts_trust    ON facts(trust_score DESC);
CREATE INDEX IF NOT EXISTS idx_facts_category ON facts(category);
CREATE INDEX IF NOT EXISTS idx_entities_name  ON entities(name);

`;

const FTS_INDEX = `
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts
    USING fts5(content, tags, content=facts, content_rowid=fact_id);

CREATE TRIGGER IF NOT EXISTS facts_ai AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts(rowid, content, tags)
        VALUES (new.fact_id, new.content, new.tags);
END;

CREATE TRIGGER IF NOT EXISTS facts_ad AFTER DELETE ON facts BEGIN
    INSERT INTO facts_fts(facts_fts, rowid, content, tags)
        VALUES ('delete', old.fact_id, old.content, old.tags);
END;

CREATE TRIGGER IF NOT EXISTS facts_au AFTER UPDATE ON facts BEGIN
    INSERT INTO facts_fts(facts_fts, rowid, content, tags)
        VALUES ('delete', old.fact_id, old.content, old.tags);
    INSERT INTO facts_fts(rowid, content, tags)
        VALUES (new.fact_id, new.content, new.tags);
END;

`;

const BANKS = `
CREATE TABLE IF NOT EXISTS memory_banks (
    bank_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    bank_name  TEXT NOT NULL UNIQUE,
    vector     BLOB NOT NULL,
    dim        INTEGER NOT NULL,
    fact_count INTEGER DEFAULT 0,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
`;

export const HERMES_MEMORY_SCHEMA = TABLES + FTS_INDEX + BANKS;

/**
 * How the full-text index follows `facts`:
 * - `triggers`: the plugin's external-content table with its triggers (every upstream version);
 * - `external`: an external-content table without the triggers: we send FTS5 'delete' commands;
 * - `standalone`: a table with its own copy of the text (a fork's variant): we insert and delete rows.
 */
export type FtsMode = 'triggers' | 'external' | 'standalone';

export interface HermesMemoryFile {
  sqlite: Database;
  /** True when this process created the schema. */
  created: boolean;
  /** fileIdentity of its WAL (opening ran a transaction, so there is one): the same inode while the connection is open. */
  wal: string | null;
}

/**
 * Opens the file, in one try: another process holding its lock fails it within the busy slice
 * (ReopeningBackend tries again on the next request; waiting here blocked the thread, start-up included).
 */
export function openHermesMemoryFile(path: string): HermesMemoryFile {
  mkdirSync(dirname(path), { recursive: true });
  const st = statSync(path, { throwIfNoEntry: false });
  if (st) assertRegularFile(path, st);
  // The agent's memories are as private as the sidecar's transcripts: a new file is 0600 (its -wal and -shm
  // follow), also at the end of a link (a db_path linked into a synced folder before the file exists).
  else createPrivately(path, { throughLink: true });
  const sqlite = new Database(path, { create: true, strict: true });
  try {
    sqlite.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
    sqlite.run('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a crash of this process (not of the OS).
    sqlite.run('PRAGMA synchronous = NORMAL');
    // This connection's reads go through a memory map (search reads 8 KiB vectors); the agent's are unaffected.
    sqlite.run('PRAGMA mmap_size = 268435456');
    let created = false;
    sqlite.transaction(() => {
      if (!tableExists(sqlite, 'facts')) {
        sqlite.run(HERMES_MEMORY_SCHEMA);
        created = true;
        return;
      }
      // What the plugin itself runs on every open (all IF NOT EXISTS), less the FTS triggers: a fork
      // that keeps a standalone index must not get them.
      sqlite.run(TABLES + BANKS);
      const columns = sqlite.query<{ name: string }, []>('PRAGMA table_info(facts)').all().map((c) => c.name);
      // The plugin's own upgrade of files written before vectors existed.
      if (!columns.includes('hrr_vector')) sqlite.run('ALTER TABLE facts ADD COLUMN hrr_vector BLOB');
      if (!tableExists(sqlite, 'facts_fts')) {
        // Only the index is missing: create the plugin's and fill it from the facts.
        sqlite.run(FTS_INDEX);
        sqlite.run("INSERT INTO facts_fts(facts_fts) VALUES ('rebuild')");
      }
    }).immediate();
    return { sqlite, created, wal: fileIdentity(`${path}-wal`) };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

/**
 * Before closing a connection whose file was replaced (a backup moved over it) or removed. SQLite's
 * close leaves the WAL and shared memory at the path then, since they might be the new file's, and
 * the next connection to open the path (ours, the agent's) lays that WAL over the restored file: the
 * facts written since the backup came back over it, or pages of another database were read into it.
 * The WAL is folded into the file this connection has open (what a `mv` of it elsewhere keeps), then
 * leaving WAL mode removes both from the path; SQLite does that for the last connection to the file
 * only (the mode itself stays, SQLITE_READONLY_DBMOVED). False while our WAL is still at the path:
 * another connection (the agent) still has the old file open and uses it. A WAL at the path other
 * than the one this connection opened (removed, or made anew for the new file) is left alone.
 */
export function releaseReplaced(sqlite: Database, path: string, wal: string | null): boolean {
  const ours = () => fileIdentity(`${path}-wal`) === wal;
  if (!ours()) return true;
  for (const pragma of ['PRAGMA wal_checkpoint(TRUNCATE)', 'PRAGMA journal_mode = DELETE']) {
    try {
      sqlite.run(pragma);
    } catch {
      // Judged by the files left at the path, below: the error codes differ by what SQLite got to do.
    }
  }
  return !ours();
}

function tableExists(sqlite: Database, name: string): boolean {
  return sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== null;
}

/**
 * Asked on every write, never once at open: the agent's schema script creates the three triggers on
 * a file that has none whenever it opens it (and a newer plugin recreates index and triggers when it
 * adds `search_text`), and an index we went on feeding by hand got each new fact twice.
 */
export function detectFtsMode(sqlite: Database): FtsMode {
  const triggers = sqlite
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'facts' AND name IN ('facts_ai', 'facts_ad')")
    .all();
  if (triggers.length === 2) return 'triggers';
  const ddl = sqlite.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'facts_fts'").get()?.sql ?? '';
  return /content\s*=/i.test(ddl) ? 'external' : 'standalone';
}
