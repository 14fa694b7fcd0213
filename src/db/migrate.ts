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
  for (const m of migrations) {
    const seen = done.get(m.tag);
    if (seen !== undefined) {
      if (seen !== m.hash) throw new Error(`migration ${m.tag} was changed after it was applied to this database`);
      continue;
    }
    sqlite.transaction(() => {
      for (const stmt of m.statements) sqlite.run(stmt);
      sqlite.run('INSERT INTO __migrations (tag, hash, applied_at) VALUES (?, ?, ?)', [m.tag, m.hash, new Date().toISOString()]);
    }).immediate();
    applied.push(m.tag);
  }
  return applied;
}
