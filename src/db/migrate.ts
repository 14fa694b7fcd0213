/**
 * Applies the embedded drizzle-kit migrations in order, each in its own transaction, recording what
 * ran in `__migrations`. A migration already applied under the same tag but with other SQL is refused:
 * an edited migration would otherwise leave databases that differ silently. So is a database holding
 * migrations this version does not have.
 */
import type { Database } from 'bun:sqlite';

export interface Migration {
  tag: string;
  when: number;
  hash: string;
  statements: string[];
}

export function applyMigrations(sqlite: Database, migrations: Migration[]): string[] {
  sqlite.run('CREATE TABLE IF NOT EXISTS __migrations (tag TEXT PRIMARY KEY, hash TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const done = new Map(sqlite.query<{ tag: string; hash: string }, []>('SELECT tag, hash FROM __migrations').all().map((r) => [r.tag, r.hash]));
  // A database a newer version migrated (a binary rolled back): its schema may not fit this code's
  // writes, so refuse it rather than fail request by request or write rows the newer version misreads.
  const newer = unknownTags([...done.keys()], migrations);
  if (newer.length) throw new Error(`it was migrated by a newer hermes-optx-api (${newer.join(', ')}); run that version, or give this one another data dir`);
  const applied: string[] = [];
  const hashOf = sqlite.query<{ hash: string }, [string]>('SELECT hash FROM __migrations WHERE tag = ?');
  const checkUnchanged = (m: Migration, seen: string) => {
    if (seen !== m.hash) throw new Error(`migration ${m.tag} was changed after it was applied to this database`);
  };
  for (const m of migrations) {
    const seen = done.get(m.tag);
    if (seen !== undefined) {
      checkUnchanged(m, seen);
      continue;
    }
    const ran = sqlite.transaction(() => {
      // Looked up again under the write lock: another process starting on the same data dir at the
      // same moment may have applied it since `done` was read, and it must not run twice.
      const current = hashOf.get(m.tag)?.hash;
      if (current !== undefined) {
        checkUnchanged(m, current);
        return false;
      }
      for (const stmt of m.statements) sqlite.run(stmt);
      sqlite.run('INSERT INTO __migrations (tag, hash, applied_at) VALUES (?, ?, ?)', [m.tag, m.hash, new Date().toISOString()]);
      return true;
    }).immediate();
    if (ran) applied.push(m.tag);
  }
  return applied;
}

function unknownTags(tags: string[], migrations: Migration[]): string[] {
  const known = new Set(migrations.map((m) => m.tag));
  return tags.filter((tag) => !known.has(tag));
}

export const DB_UPGRADED = 'SIDECAR_DB_UPGRADED';

export class DatabaseUpgradedError extends Error {
  override name = 'DatabaseUpgradedError';
  readonly code = DB_UPGRADED;
  constructor(readonly tags: string[]) {
    super(`a newer hermes-optx-api migrated the database while this one runs (${tags.join(', ')}); restart with the newer binary`);
  }
}

/**
 * A check to run before each write: throws DatabaseUpgradedError once another process (a newer
 * sidecar started on the same data dir, a rolling restart) has applied a migration this version does
 * not have. Its writes would no longer keep what the newer schema keeps: a version from before the
 * running totals (0006) went on adding metered calls to the ledger only, and the newer one's totals
 * and budget never counted them. `__migrations` is read again only when another connection has
 * committed (`PRAGMA data_version`, ~2 µs). Run inside the write's transaction once it holds the lock
 * (DbHandle.locked), so no migration can commit between the check and the write.
 */
export function schemaCheck(sqlite: Database, migrations: Migration[]): () => void {
  const version = sqlite.query<{ data_version: number }, []>('PRAGMA data_version');
  const tags = sqlite.query<{ tag: string }, []>('SELECT tag FROM __migrations');
  let seen = version.get()?.data_version;
  let newer: string[] = [];
  return () => {
    if (!newer.length) {
      const now = version.get()?.data_version;
      if (now === seen) return;
      seen = now;
      newer = unknownTags(tags.all().map((r) => r.tag), migrations);
      if (!newer.length) return;
    }
    throw new DatabaseUpgradedError(newer);
  };
}
