/**
 * A fresh process that opens what an earlier sidecar wrote and reports what it finds: `reopen()`
 * spawns this file, which prints one JSON line {list, search}.
 *   bun test/helpers/memory-reopen.ts <holographic|sqlite> <data dir> <memory_store.db path> <query>
 */
import { openDatabase } from '../../src/db';
import type { Memory, ScoredMemory } from '../../src/modules/memory/model';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { SqliteBackend } from '../../src/modules/memory/sqlite-store';
import type { Page } from '../../src/modules/memory/store';

export interface Reopened {
  list: Page<Memory>;
  search: Page<ScoredMemory>;
}

export async function reopen(backend: 'holographic' | 'sqlite', dataDir: string, holographicPath: string, query: string): Promise<Reopened> {
  const proc = Bun.spawn(['bun', import.meta.path, backend, dataDir, holographicPath, query], { stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`the fresh process failed: ${out}`);
  return JSON.parse(out) as Reopened;
}

if (import.meta.main) {
  const [backend, dataDir, holographicPath, query] = process.argv.slice(2) as [string, string, string, string];
  const db = openDatabase(dataDir);
  const store = backend === 'holographic' ? new HolographicBackend(holographicPath, db) : new SqliteBackend(db);
  const list = await store.list({ limit: 100, offset: 0 });
  const search = await store.search({ query, limit: 10, filters: {} });
  store.close();
  db.close();
  console.log(JSON.stringify({ list, search }));
}
