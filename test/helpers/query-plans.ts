/**
 * The query plans of what a request runs. Installed before the app is opened, it notes the SQL of every
 * statement prepared (drizzle's at `prepare`, ours at `query`, also those prepared once at start-up)
 * and which of them run; `EXPLAIN QUERY PLAN` is then read for those a request ran, with the
 * parameters unbound, as SQLite plans a prepared statement. Plans are what a test can hold steady;
 * timings on a shared machine are not.
 */
import { Database, type Statement } from 'bun:sqlite';

export interface PlanCapture {
  /** The plans (detail lines joined by newlines) of the statements `run` ran whose SQL matches `pick`, each once. */
  plans(run: () => Promise<unknown>, pick: RegExp): Promise<string[]>;
  /** The SQL of the statements `run` ran whose SQL matches `pick`, each once. */
  statements(run: () => Promise<unknown>, pick: RegExp): Promise<string[]>;
  restore(): void;
}

type Method = 'prepare' | 'query';
type Prepare = (this: Database, sql: string, ...rest: unknown[]) => Statement;
const RUNS = ['all', 'get', 'run', 'values', 'iterate', 'raw'] as const;

export function capturePlans(): PlanCapture {
  const ran: { db: Database; sql: string }[] = [];
  const noted = new WeakSet<object>();
  const proto = Database.prototype as unknown as Record<Method, Prepare>;
  const originals = { prepare: proto.prepare, query: proto.query };
  for (const m of ['prepare', 'query'] as const) {
    proto[m] = function (this: Database, sql: string, ...rest: unknown[]) {
      const st = originals[m].call(this, sql, ...rest);
      if (!noted.has(st)) {
        noted.add(st);
        // A statement's run methods are its own properties in Bun, not the prototype's.
        const own = st as unknown as Record<(typeof RUNS)[number], (...a: unknown[]) => unknown>;
        for (const k of RUNS) {
          const f = own[k];
          own[k] = (...a: unknown[]) => {
            ran.push({ db: this, sql });
            return f.apply(st, a);
          };
        }
      }
      return st;
    };
  }
  return {
    async plans(run, pick) {
      ran.length = 0;
      await run();
      const picked = new Map(ran.filter((r) => pick.test(r.sql)).map((r) => [r.sql, r.db]));
      return [...picked].map(([sql, db]) => (originals.prepare.call(db, `EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('\n'));
    },
    async statements(run, pick) {
      ran.length = 0;
      await run();
      return [...new Set(ran.filter((r) => pick.test(r.sql)).map((r) => r.sql))];
    },
    restore() {
      Object.assign(proto, originals);
    },
  };
}
