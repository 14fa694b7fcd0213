/** Builds the task store TASKS_BACKEND asks for (called by deps.ts). */
import type { Config } from '../../config';
import type { DbHandle } from '../../db';
import type { Logger } from '../../lib/log';
import { SpacetimeClient } from '../../spacetime/client';
import { SpacetimeTaskStore } from './spacetime-store';
import { SqliteTaskStore } from './sqlite-store';
import type { TaskStore } from './store';

export function openTaskStore(config: Config, db: DbHandle, log: Logger): TaskStore {
  if (config.tasks.backend === 'sqlite') return new SqliteTaskStore(db);
  const { url, db: name, token, timeoutMs } = config.spacetime;
  // loadConfig refuses TASKS_BACKEND=spacetimedb without both; this guards other ways of building a Config.
  if (!url || !name) throw new Error('TASKS_BACKEND=spacetimedb needs MEMORY_DB_URL and SPACETIMEDB_DB.');
  return new SpacetimeTaskStore(new SpacetimeClient({ url, db: name, token, timeoutMs, log }), db.instanceId, log);
}
