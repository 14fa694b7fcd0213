/** Builds the backend MEMORY_BACKEND selects (called once, from deps.ts). */
import type { Config } from '../../config';
import type { HermesHome } from '../../hermes/home';
import type { DbHandle } from '../../db';
import { fileIdentity, fileSystemNote } from '../../lib/files';
import type { Logger } from '../../lib/log';
import { SpacetimeClient } from '../../spacetime/client';
import { MemoryFileLocator, type MemoryFile } from './db-path';
import { HolographicBackend } from './holographic';
import { pluginHrrDim } from './hrr-dim';
import { ReopeningBackend } from './reopening';
import { SqliteBackend } from './sqlite-store';
import { SpacetimeBackend } from './spacetime-store';
import type { MemoryBackend } from './store';

const SOURCES: Record<MemoryFile['from'], string> = {
  HOLOGRAPHIC_DB_PATH: 'HOLOGRAPHIC_DB_PATH',
  'config.yaml': 'plugins.hermes-memory-store.db_path in config.yaml',
  default: 'the default; HOLOGRAPHIC_DB_PATH overrides',
};

/**
 * Why a file could not be opened. File-system errors quote the path (or a parent directory of it): for
 * a file named by variables, whose expansion must not be shown, only their code is.
 */
function openFailure(err: unknown, file: MemoryFile): string {
  const message = err instanceof Error ? err.message : String(err);
  if (file.shown === file.path) return message;
  const { code, path } = (err ?? {}) as { code?: unknown; path?: unknown };
  return typeof path === 'string' || message.includes(file.path) ? String(code ?? 'the file cannot be opened') : message;
}

/** Whether two paths name one file (a link or another spelling of it included); false when either cannot be read (opening says why). */
function sameFile(a: string, b: string): boolean {
  const id = fileIdentity(a);
  return id !== null && id === fileIdentity(b);
}

export function openMemoryBackend(config: Config, db: DbHandle, log: Logger, home: HermesHome): MemoryBackend {
  switch (config.memory.backend) {
    case 'holographic': {
      const { holographicDbPath: explicit, userHome, workDir } = config.memory;
      const locator = new MemoryFileLocator(home, { explicit, userHome, workDir }, log);
      const open = (file: MemoryFile) => {
        // A db_path (config.yaml is writable through /api/config) naming the sidecar's own database: the
        // plugin's tables were created in it, and a write with metadata, which takes that database's lock
        // inside a transaction of the same file, waited on itself and answered 503 memory_busy forever.
        if (sameFile(file.path, db.sqlite.filename)) {
          throw new Error(`cannot open the holographic memory file ${file.shown} (${SOURCES[file.from]}): it is the sidecar's own database; the agent's memory needs a file of its own`);
        }
        try {
          // Read again on every (re)open: the agent reads it when it starts, too.
          return new HolographicBackend(file.path, db, { dim: pluginHrrDim(home, log), log });
        } catch (err) {
          // Say which file and why (not a SQLite file, no permission, locked, …).
          throw new Error(`cannot open the holographic memory file ${file.shown} (${SOURCES[file.from]}): ${openFailure(err, file)}${fileSystemNote(file.path, err)}`, { cause: err });
        }
      };
      return new ReopeningBackend('holographic', () => locator.locate(), open, log);
    }
    case 'sqlite':
      return new SqliteBackend(db);
    case 'spacetimedb': {
      const { url, db: database, token, timeoutMs } = config.spacetime;
      // loadConfig refuses MEMORY_BACKEND=spacetimedb without both; this only narrows the types.
      if (!url || !database) throw new Error('MEMORY_DB_URL and SPACETIMEDB_DB are required for MEMORY_BACKEND=spacetimedb');
      return new SpacetimeBackend(new SpacetimeClient({ url, db: database, token, timeoutMs, log }), config.wallet.agent);
    }
  }
}
