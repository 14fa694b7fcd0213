/** Builds the backend MEMORY_BACKEND selects (called once, from deps.ts). */
import type { Config } from '../../config';
import type { DbHandle } from '../../db';
import { SpacetimeClient } from '../../spacetime/client';
import { HolographicBackend } from './holographic';
import { SqliteBackend } from './sqlite-store';
import { SpacetimeBackend } from './spacetime-store';
import type { MemoryBackend } from './store';

export function openMemoryBackend(config: Config, db: DbHandle): MemoryBackend {
  switch (config.memory.backend) {
    case 'holographic':
      try {
        return new HolographicBackend(config.memory.holographicDbPath, db);
      } catch (err) {
        // Start-up stops here; say which file and why (not a SQLite file, no permission, …).
        throw new Error(`Cannot open the holographic memory file ${config.memory.holographicDbPath} (HOLOGRAPHIC_DB_PATH): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    case 'sqlite':
      return new SqliteBackend(db);
    case 'spacetimedb': {
      const { url, db: database, token, timeoutMs } = config.spacetime;
      // loadConfig refuses MEMORY_BACKEND=spacetimedb without both; this only narrows the types.
      if (!url || !database) throw new Error('MEMORY_DB_URL and SPACETIMEDB_DB are required for MEMORY_BACKEND=spacetimedb');
      return new SpacetimeBackend(new SpacetimeClient({ url, db: database, token, timeoutMs }), config.wallet.agent);
    }
  }
}
