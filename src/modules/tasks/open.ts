/** Builds the task store TASKS_BACKEND asks for (called by deps.ts). */
import type { Config } from '../../config';
import type { DbHandle } from '../../db';
import type { Logger } from '../../lib/log';
import { SqliteTaskStore } from './sqlite-store';
import type { TaskStore } from './store';

export function openTaskStore(config: Config, db: DbHandle, _log: Logger): TaskStore {
  return new SqliteTaskStore(db);
}
