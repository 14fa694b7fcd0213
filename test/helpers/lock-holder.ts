/**
 * Another process holding a lock on a SQLite file (the agent mid-write on its state.db, a `sqlite3`
 * session on the sidecar's database): in-process, SQLite's wait would block the very event loop that
 * has to let go of the lock.
 */
import { expect } from 'bun:test';

export interface LockHolder {
  /** Ends the holder's transaction (`end`) and waits for the process to exit. */
  release(): Promise<void>;
}

/** Opens `path` in another process, runs `begin` and `statements`, and holds that until `release()`. */
export async function holdLock(path: string, opts: { begin: 'BEGIN IMMEDIATE' | 'BEGIN EXCLUSIVE'; end: 'COMMIT' | 'ROLLBACK'; statements?: string[] }): Promise<LockHolder> {
  const steps = [opts.begin, ...(opts.statements ?? [])].map((sql) => `db.run(${JSON.stringify(sql)});`).join(' ');
  const script = `const { Database } = require('bun:sqlite'); const db = new Database(${JSON.stringify(path)});
    ${steps} console.log('locked'); await Bun.stdin.text(); db.run(${JSON.stringify(opts.end)}); db.close();`;
  const holder = Bun.spawn([process.execPath, '-e', script], { stdin: 'pipe', stdout: 'pipe' });
  const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain('locked');
  return {
    async release() {
      await holder.stdin.end();
      expect(await holder.exited).toBe(0);
    },
  };
}
