/**
 * Entity resolution in Hermes' `entities` table, with the plugin's rules: a candidate is the entity
 * whose name equals it ignoring ASCII case (the plugin's `name LIKE ?`), else the entity that lists
 * it among its comma-separated aliases, else a new entity. The first (lowest id) entity wins, as a
 * table scan finds it.
 *
 * Both lookups are full scans in SQL (LIKE ignores case, so no index helps), which at 100,000 facts
 * costs milliseconds per entity. This keeps an in-memory index instead, brought up to date with the
 * rows added since the last look (`entity_id > last seen`) at the start of every write transaction,
 * so entities the agent adds are seen at once. Deviation, on purpose: `%` and `_` in a candidate are
 * literal here, where the plugin's unescaped LIKE treats them as wildcards.
 */
import type { Database } from 'bun:sqlite';

export interface EntityRef {
  id: number;
  name: string;
}

/** SQLite's LIKE and NOCASE fold only A-Z. */
const asciiFold = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

export class EntityIndex {
  private byName = new Map<string, EntityRef>();
  private byAlias = new Map<string, EntityRef>();
  private lastId = 0;

  /** Reads entities added since the last call. Call inside the write transaction that uses the index. */
  refresh(sqlite: Database): void {
    const max = sqlite.query<{ m: number | null }, []>('SELECT MAX(entity_id) AS m FROM entities').get()?.m ?? 0;
    // Fewer ids than we have seen: the file was replaced or rows were removed. Start over.
    if (max < this.lastId) this.reset();
    if (max === this.lastId) return;
    const rows = sqlite
      .query<{ entity_id: number; name: string; aliases: string | null }, [number]>('SELECT entity_id, name, aliases FROM entities WHERE entity_id > ? ORDER BY entity_id')
      .all(this.lastId);
    for (const r of rows) this.remember({ id: r.entity_id, name: r.name }, r.aliases);
    this.lastId = max;
  }

  reset(): void {
    this.byName.clear();
    this.byAlias.clear();
    this.lastId = 0;
  }

  get size(): number {
    return this.byName.size;
  }

  /** The entity a candidate resolves to, creating it when there is none. */
  resolve(sqlite: Database, candidate: string): EntityRef {
    const key = asciiFold(candidate);
    const known = this.byName.get(key) ?? this.byAlias.get(key);
    if (known) return known;
    const id = Number(sqlite.query('INSERT INTO entities (name) VALUES (?)').run(candidate).lastInsertRowid);
    const ref = { id, name: candidate };
    // Seen by later candidates of this transaction; refresh() re-reads it after commit either way.
    this.byName.set(key, ref);
    return ref;
  }

  private remember(ref: EntityRef, aliases: string | null): void {
    const key = asciiFold(ref.name);
    if (!this.byName.has(key)) this.byName.set(key, ref);
    for (const alias of (aliases ?? '').split(',')) {
      const a = asciiFold(alias);
      if (a && !this.byAlias.has(a)) this.byAlias.set(a, ref);
    }
  }
}
