/** Builds the backend MEMORY_BACKEND selects (called once, from deps.ts). */
import type { Config } from '../../config';
import type { HermesHome } from '../../hermes/home';
import type { DbHandle } from '../../db';
import type { Logger } from '../../lib/log';
import { SpacetimeClient } from '../../spacetime/client';
import { HolographicBackend } from './holographic';
import { pluginHrrDim } from './hrr-dim';
import { ReopeningBackend } from './reopening';
import { SqliteBackend } from './sqlite-store';
import { SpacetimeBackend } from './spacetime-store';
import type { MemoryBackend } from './store';

export function openMemoryBackend(config: Config, db: DbHandle, log: Logger, home: HermesHome): MemoryBackend {
  switch (config.memory.backend) {
    case 'holographic': {
      const path = config.memory.holographicDbPath;
      const open = () => {
        try {
          // Read again on every (re)open: the agent reads it when it starts, too.
          return new HolographicBackend(path, db, { dim: pluginHrrDim(home, log) });
        } catch (err) {
          // Say which file and why (not a SQLite file, no permission, locked, …).
          throw new Error(`cannot open the holographic memory file ${path} (HOLOGRAPHIC_DB_PATH): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
      };
      return new ReopeningBackend('holographic', path, open, log);
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
