/**
 * Group commit for SQLite writes: the write jobs that concurrent requests submit during one turn of
 * the event loop run one after another inside a single IMMEDIATE transaction, each in its own
 * savepoint, and every caller is answered only after that transaction has committed.
 *
 * Why: with WAL and synchronous=NORMAL the cost of a write is mostly its commit (WAL frames and the
 * checkpoints' fsyncs); 64 agents claiming at once then pay for one commit instead of 64. Nothing
 * about atomicity changes: jobs still run strictly one at a time, a conditional UPDATE in a later
 * job sees what earlier jobs did, and a job that throws is rolled back to its savepoint alone.
 *
 * The group is one write of the database handle (`DbHandle.writeOwnTransaction`): while another process holds the
 * lock it waits in line without blocking the server, and is run again whole — every job from the
 * start — since a busy failure leaves nothing of it committed. Jobs submitted meanwhile form the next group.
 */
import type { DbHandle } from '../../db';

interface Job {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  private readonly transaction;

  constructor(private readonly handle: DbHandle) {
    // Called inside the outer transaction, bun's transaction() uses a SAVEPOINT.
    this.transaction = handle.sqlite.transaction((fn: () => unknown) => fn());
  }

  /** Runs `fn` in the next group transaction; resolves with its result once committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    let outcomes: Outcome[];
    try {
      outcomes = await this.handle.writeOwnTransaction((writable) => this.runGroup(jobs, writable));
    } catch (error) {
      // The transaction failed, or never got the lock: nothing of this group was written.
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const o = outcomes[i] as Outcome;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error);
    });
  }

  /** One attempt at the whole group; the outcomes count only once it has committed. */
  private runGroup(jobs: Job[], writable: () => void): Outcome[] {
    const outcomes: Outcome[] = [];
    this.transaction.immediate(() => {
      // Under the lock: a newer version's migration committed while BEGIN waited for it is seen.
      writable();
      for (const job of jobs) {
        try {
          outcomes.push({ ok: true, value: this.transaction(job.fn) });
        } catch (error) {
          // SQLITE_FULL, IOERR, BUSY and NOMEM can roll back the whole transaction, not just the
          // job's savepoint: then nothing of the group stands, and the jobs after it would each
          // commit on their own while their callers are told the group failed.
          if (!this.handle.sqlite.inTransaction) throw error;
          outcomes.push({ ok: false, error });
        }
      }
    });
    return outcomes;
  }
}
