/** The holographic memory file as tests set it up and read it back. */
import { Database } from 'bun:sqlite';

/** config.yaml text setting the holographic plugin's db_path to `value`. */
export const dbPath = (value: string) => `plugins:\n  hermes-memory-store:\n    db_path: ${JSON.stringify(value)}\n`;

/** The contents of every fact of the memory_store.db at `path`, oldest first. */
export function contents(path: string): string[] {
  const db = new Database(path, { readonly: true });
  const rows = db.query<{ content: string }, []>('SELECT content FROM facts ORDER BY fact_id').all();
  db.close();
  return rows.map((r) => r.content);
}
