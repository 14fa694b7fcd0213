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
      return new HolographicBackend(config.memory.holographicDbPath, db);
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
