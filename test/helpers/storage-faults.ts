/**
 * One table of the sidecar's database refusing writes the way a busy lock or a full disk refuses them
 * (SQLITE_BUSY → 503 storage_busy once the busy wait is over, SQLITE_FULL → 507 storage_full), while
 * every other write goes through: the ledger row of a metered call fails after its upstream answered,
 * and the MPP credit beside it can still be written (another process's lock let go meanwhile, a small
 * row finding room in a page). A TEMP trigger rolls the transaction back (`RAISE(ROLLBACK)`, so a
 * task group commit fails whole as under SQLITE_FULL), and the write wrappers give its error the code.
 */
import type { TestApp } from './app';

const MARK = 'injected storage fault';

export function failWritesTo(app: TestApp, table: string, code: 'SQLITE_BUSY' | 'SQLITE_FULL'): void {
  const handle = app.deps.db;
  for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
    handle.sqlite.run(`CREATE TEMP TRIGGER IF NOT EXISTS fault_${table}_${op} BEFORE ${op} ON main.${table} BEGIN SELECT RAISE(ROLLBACK, '${MARK}'); END`);
  }
  const coded = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes(MARK)) throw err;
      throw Object.assign(new Error(code === 'SQLITE_BUSY' ? 'database is locked' : 'database or disk is full'), { code });
    }
  };
  const { write, writeOwnTransaction } = handle;
  handle.write = <T>(fn: () => T) => write(() => coded(fn));
  handle.writeOwnTransaction = <T>(fn: (writable: () => void) => T) => writeOwnTransaction((writable) => coded(() => fn(writable)));
}
