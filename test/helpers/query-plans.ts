/**
 * The query plans of what a request runs: the SQL drizzle (or our own code) prepares is captured at
 * `sqlite.prepare`, and `EXPLAIN QUERY PLAN` read for it with the parameters unbound, as SQLite plans a
 * prepared statement. Plans are what a test can hold steady; timings on a shared machine are not.
 */
import type { Database } from 'bun:sqlite';

export interface PlanCapture {
  /** The plans (detail lines joined by newlines) of the statements prepared during `run` whose SQL matches `pick`. */
  plans(run: () => Promise<unknown>, pick: RegExp): Promise<string[]>;
  restore(): void;
}

export function capturePlans(sqlite: Database): PlanCapture {
  const seen: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((sql: string, ...rest: unknown[]) => {
    seen.push(sql);
    return (prepare as (s: string, ...r: unknown[]) => unknown)(sql, ...rest);
  }) as typeof sqlite.prepare;
  return {
    async plans(run, pick) {
      seen.length = 0;
      await run();
      return seen.filter((s) => pick.test(s)).map((s) => (sqlite.query(`EXPLAIN QUERY PLAN ${s}`).all() as { detail: string }[]).map((r) => r.detail).join('\n'));
    },
    restore() {
      sqlite.prepare = prepare;
    },
  };
}
