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
  const known = new Set(migrations.map((m) => m.tag));
  const newer = [...done.keys()].filter((tag) => !known.has(tag));
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
