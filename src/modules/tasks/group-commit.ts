/**
 * Group commit for SQLite writes: the write jobs that concurrent requests submit during one turn of
 * the event loop run one after another inside a single IMMEDIATE transaction, each in its own
 * savepoint, and every caller is answered only after that transaction has committed.
 *
 * Why: with WAL and synchronous=NORMAL the cost of a write is mostly its commit (WAL frames and the
 * checkpoints' fsyncs); 64 agents claiming at once then pay for one commit instead of 64. Nothing
 * about atomicity changes: jobs still run strictly one at a time, a conditional UPDATE in a later
 * job sees what earlier jobs did, and a job that throws is rolled back to its savepoint alone.
 */
import type { Database } from 'bun:sqlite';

interface Job {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  private readonly transaction;

  constructor(private readonly sqlite: Database) {
    // Called inside the outer transaction, bun's transaction() uses a SAVEPOINT.
    this.transaction = sqlite.transaction((fn: () => unknown) => fn());
  }

  /** Runs `fn` in the next group transaction; resolves with its result once committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.transaction.immediate(() => {
        for (const job of jobs) {
          try {
            outcomes.push({ ok: true, value: this.transaction(job.fn) });
          } catch (error) {
            // SQLITE_FULL, IOERR, BUSY and NOMEM can roll back the whole transaction, not just the
            // job's savepoint: then nothing of the group stands, and the jobs after it would each
            // commit on their own while their callers are told the group failed.
            if (!this.sqlite.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed: nothing of this group was written.
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const o = outcomes[i] as (typeof outcomes)[number];
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error);
    });
  }
}
