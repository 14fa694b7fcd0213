/**
 * A fresh process that opens what an earlier sidecar wrote and prints what it finds:
 *   bun test/helpers/memory-reopen.ts <holographic|sqlite> <data dir> <memory_store.db path> <query>
 * Prints one JSON line: {list, search}.
 */
import { openDatabase } from '../../src/db';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { SqliteBackend } from '../../src/modules/memory/sqlite-store';

const [backend, dataDir, holographicPath, query] = process.argv.slice(2) as [string, string, string, string];
const db = openDatabase(dataDir);
const store = backend === 'holographic' ? new HolographicBackend(holographicPath, db) : new SqliteBackend(db);
const list = await store.list({ limit: 100, offset: 0 });
const search = await store.search({ query, limit: 10, filters: {} });
store.close();
db.close();
console.log(JSON.stringify({ list, search }));
