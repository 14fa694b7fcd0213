/**
 * The task routes' test harness: the real app on either store (SQLite, or SpacetimeDB through the
 * fake), a clock the test can move forward (lease expiry), and short helpers for the routes.
 */
import { TaskService } from '../../src/modules/tasks/service';
import type { Task } from '../../src/modules/tasks/model';
import { fingerprint } from '../robustness/fingerprint';
import type { FakeSpacetime } from '../fakes/spacetimedb';
import { makeTestApp, type TestApp } from './app';

export type Backend = 'sqlite' | 'spacetimedb';
export const BACKENDS: Backend[] = ['sqlite', 'spacetimedb'];

export interface TaskApp {
  t: TestApp;
  /** Added to the real time as the task service sees it. */
  clock: { offsetMs: number };
  json: TestApp['json'];
  create(body?: Record<string, unknown>): Promise<Task>;
  claim(id: string, agent: string, extra?: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }>;
  complete(id: string, agent: string, extra?: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }>;
  get(id: string): Promise<Task>;
  /** Everything the store holds, to prove a refused request changed nothing. */
  snapshot(): string;
  close(): void;
}

export function spacetimeEnv(fake: FakeSpacetime): Record<string, string> {
  return { TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: fake.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' };
}

export async function taskApp(backend: Backend, opts: { fake?: FakeSpacetime; env?: Record<string, string> } = {}): Promise<TaskApp> {
  if (backend === 'spacetimedb' && !opts.fake) throw new Error('the spacetimedb backend needs the fake');
  const clock = { offsetMs: 0 };
  const t = await makeTestApp({
    env: { ...(opts.fake ? spacetimeEnv(opts.fake) : {}), ...opts.env },
    patch: (d) => {
      d.tasks = new TaskService({ store: d.tasks.store, gaze: d.gaze, hedgehog: d.hedgehog, now: () => Date.now() + clock.offsetMs });
    },
  });
  const app: TaskApp = {
    t,
    clock,
    json: t.json,
    async create(body = {}) {
      const r = await t.json<Task>('POST', '/api/tasks', { title: 'a task', ...body });
      if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    claim: (id, agent, extra = {}) => t.json('POST', `/api/tasks/${id}/claim`, { agent_name: agent, ...extra }),
    complete: (id, agent, extra = {}) => t.json('POST', `/api/tasks/${id}/complete`, { agent_name: agent, result: 'done', ...extra }),
    async get(id) {
      const r = await t.json<Task>('GET', `/api/tasks/${id}`);
      if (r.status !== 200) throw new Error(`get failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    snapshot() {
      const rows = opts.fake ? JSON.stringify(opts.fake.tables.get('memory_entry')?.rows) : '';
      return fingerprint(t.deps.db.sqlite, [t.home]) + rows;
    },
    close: () => t.close(),
  };
  return app;
}
