/**
 * Applies the embedded drizzle-kit migrations in order, each in its own transaction, recording what
 * ran in `__migrations`. A migration already applied under the same tag but with other SQL is refused:
 * an edited migration would otherwise leave databases that differ silently.
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
