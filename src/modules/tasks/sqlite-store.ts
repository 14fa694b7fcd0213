/**
 * The task queue in the sidecar's own SQLite (TASKS_BACKEND=sqlite, the default).
 *
 * Each transition is one conditional UPDATE (`… WHERE task_id = ? AND status = ?`) whose result
 * says whether it applied, so among concurrent claimers exactly one wins. It runs in one write job
 * (a savepoint of an IMMEDIATE transaction, group-commit.ts) together with what belongs to it: the
 * stats counters, and for a completion the dependents it unblocks and claims. Expired leases are turned back to Open by a conditional
 * UPDATE before every read, count or transition, so list, stats and claim agree.
 *
 * The hot path (claim, complete) is a handful of prepared statements: UPDATE … RETURNING gives the
 * task for the answer, and `blocked_by` is only looked up for tasks that still wait (`unmet_deps`).
 */
import { and, eq, getTableColumns, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { lazyStatements, type DbHandle } from '../../db';
import { taskDependencies, tasks } from '../../db/schema';
import { readSnapshot } from '../../db/kept-reads';
import type { Task } from './model';
import { TRANSITIONS } from './state';
import { ageSeconds, checkReferences, leaseUntil, outsideReferences, type ClaimRequest, type Clock, type Completion, type CompleteRequest, type ListFilter, type NewTask, type TaskStore, type Transition } from './store';
import { Counters, newRow, rowToTask, type Countable, type TaskRow } from './sqlite-rows';
import { GroupCommit } from './group-commit';
import { TaskLister } from './sqlite-list';

const ph = (name: string) => sql.placeholder(name);
const [OPEN] = TRANSITIONS.claim.from;
const [IN_PROGRESS] = TRANSITIONS.claim.to;

export class SqliteTaskStore implements TaskStore {
  readonly backend = 'sqlite' as const;
  private readonly q;
  private readonly counters: Counters;
  private readonly writes: GroupCommit;
  /** GET /api/tasks (sqlite-list.ts); its `reads` count tells tests whether kept pages were used. */
  readonly lister: TaskLister;

  constructor(private readonly h: DbHandle) {
    const { db } = h;
    this.writes = new GroupCommit(h);
    this.counters = new Counters(db);
    this.lister = new TaskLister(h, this.counters);
    this.q = lazyStatements({
      task: () => db.select().from(tasks).where(eq(tasks.taskId, ph('id'))).prepare(),
      depStatuses: () => db
        .select({ taskId: taskDependencies.taskId, dependsOn: taskDependencies.dependsOn, status: tasks.status })
        .from(taskDependencies)
        .innerJoin(tasks, eq(tasks.taskId, taskDependencies.dependsOn))
        .where(eq(taskDependencies.taskId, ph('id')))
        .prepare(),
      // One placeholder per column, named after it. Object.fromEntries types its result as a string-keyed
      // record, which drizzle's per-column insert type does not accept: the cast restores what it is.
      insertTask: () => db.insert(tasks).values(Object.fromEntries(Object.keys(getTableColumns(tasks)).map((k) => [k, sql`${ph(k)}`])) as unknown as typeof tasks.$inferInsert).prepare(),
      insertEdge: () => db.insert(taskDependencies).values({ taskId: sql`${ph('taskId')}`, dependsOn: sql`${ph('dependsOn')}` }).prepare(),
      dueLeases: () => db
        .select({ taskId: tasks.taskId, agent: tasks.agent, unmetDeps: tasks.unmetDeps })
        .from(tasks)
        .where(and(eq(tasks.status, TRANSITIONS.expire.from[0]), lte(tasks.leaseExpiresAt, ph('now'))))
        .prepare(),
      expire: () => db
        .update(tasks)
        .set({ status: TRANSITIONS.expire.to[0], agent: null, claimedAt: null, leaseExpiresAt: null, updatedAt: sql`${tasks.leaseExpiresAt}` })
        .where(and(eq(tasks.taskId, ph('id')), eq(tasks.status, TRANSITIONS.expire.from[0]), lte(tasks.leaseExpiresAt, ph('now'))))
        .prepare(),
      claim: () => db
        .update(tasks)
        .set({ status: IN_PROGRESS, agent: sql`${ph('agent')}`, claimedAt: sql`${ph('now')}`, leaseExpiresAt: sql`${ph('lease')}`, updatedAt: sql`${ph('now')}` })
        .where(
          and(
            eq(tasks.taskId, ph('id')),
            eq(tasks.status, OPEN),
            eq(tasks.unmetDeps, 0),
            or(isNull(tasks.assignedAgent), eq(tasks.assignedAgent, ph('agent'))),
            // A gaze-gated task is only claimed once the service has verified the gaze session.
            or(eq(tasks.gazeRequired, false), eq(sql`${ph('gazeVerified')}`, 1)),
          ),
        )
        .returning()
        .prepare(),
      complete: () => db
        .update(tasks)
        .set({ status: sql`${ph('to')}`, result: sql`${ph('result')}`, completedAt: sql`${ph('now')}`, completedBy: sql`${ph('agent')}`, leaseExpiresAt: null, updatedAt: sql`${ph('now')}` })
        .where(
          and(
            eq(tasks.taskId, ph('id')),
            inArray(tasks.status, [...TRANSITIONS.complete.from]),
            eq(tasks.agent, ph('agent')),
            or(isNull(tasks.leaseExpiresAt), gt(tasks.leaseExpiresAt, ph('now'))),
          ),
        )
        .returning()
        .prepare(),
      cancel: () => db
        .update(tasks)
        .set({ status: TRANSITIONS.cancel.to[0], cancelledAt: sql`${ph('now')}`, leaseExpiresAt: null, updatedAt: sql`${ph('now')}` })
        .where(and(eq(tasks.taskId, ph('id')), inArray(tasks.status, [...TRANSITIONS.cancel.from])))
        .returning()
        .prepare(),
      dependents: () => db
        .select({ taskId: tasks.taskId, status: tasks.status, unmetDeps: tasks.unmetDeps, agent: tasks.agent, assignedAgent: tasks.assignedAgent, gazeRequired: tasks.gazeRequired })
        .from(taskDependencies)
        .innerJoin(tasks, eq(tasks.taskId, taskDependencies.taskId))
        .where(eq(taskDependencies.dependsOn, ph('id')))
        .prepare(),
      // Only the count moves: the dependent's own fields (updated_at included) are unchanged, its
      // blocked_by is worked out from its dependencies — as on SpacetimeDB, which writes nothing to it.
      unblock: () => db
        .update(tasks)
        .set({ unmetDeps: sql`${tasks.unmetDeps} - 1` })
        .where(eq(tasks.taskId, ph('id')))
        .prepare(),
      // One index seek per priority (1..10) instead of a scan of every Open task.
      oldestOpen: () => db
        .select({ at: sql<string | null>`min((SELECT ${tasks.createdAt} FROM ${tasks} WHERE ${tasks.status} = ${OPEN} AND ${tasks.priority} = p.value ORDER BY ${tasks.createdAt} LIMIT 1))` })
        .from(sql`json_each('[1,2,3,4,5,6,7,8,9,10]') AS p`)
        .prepare(),
    });
  }

  // Writes read the clock inside their job, when the transaction has the lock (see Clock).
  async create(batch: NewTask[], clock: Clock): Promise<Task[]> {
    return this.writes.run(() => {
      const now = clock();
      const known = new Map<string, string>(batch.map((t) => [t.task_id, OPEN]));
      for (const part of chunks(outsideReferences(batch), 500)) {
        for (const r of this.h.db.select({ id: tasks.taskId, status: tasks.status }).from(tasks).where(inArray(tasks.taskId, part)).all()) known.set(r.id, r.status);
      }
      checkReferences(batch, (id) => known.has(id));
      const created = batch.map((t) => {
        const blockedBy = t.depends_on.filter((id) => known.get(id) !== 'Completed');
        const row = newRow(t, blockedBy.length, now);
        this.q.insertTask.run(row);
        this.counters.move(null, row);
        return rowToTask(row, blockedBy);
      });
      // Edges after every row of the batch exists (they reference each other).
      for (const t of batch) for (const dependsOn of t.depends_on) this.q.insertEdge.run({ taskId: t.task_id, dependsOn });
      return created;
    });
  }

  async get(id: string, now: string): Promise<Task | null> {
    await this.expireLeases(now);
    return this.read(id);
  }

  async list(f: ListFilter, now: string): Promise<{ tasks: Task[]; total: number }> {
    await this.expireLeases(now);
    return this.lister.list(f);
  }

  async claim(id: string, req: ClaimRequest, clock: Clock): Promise<Transition> {
    return this.writes.run(() => {
      const now = clock();
      this.expireDue(now);
      const row = this.claimRow(id, req.agent, leaseUntil(now, req.leaseSeconds), req.gazeVerified, now);
      return row ? { applied: true, task: rowToTask(row, []) } : { applied: false, task: this.read(id) };
    });
  }

  async complete(id: string, req: CompleteRequest, clock: Clock): Promise<Completion> {
    return this.writes.run(() => {
      const now = clock();
      this.expireDue(now);
      const to = req.success ? TRANSITIONS.complete.to[0] : TRANSITIONS.complete.to[1];
      const row = this.q.complete.get({ id, agent: req.agent, to, result: JSON.stringify(req.result ?? null), now });
      if (!row) return { applied: false, task: this.read(id) };
      // Only a claimed task completes, and a claim needs every dependency Completed: unmet_deps was 0.
      this.counters.move({ status: IN_PROGRESS, unmetDeps: 0, agent: req.agent }, row);
      const unblocked: string[] = [];
      const autoClaimed: string[] = [];
      if (req.success) {
        for (const d of this.q.dependents.all({ id })) {
          // A cancelled dependent is final: neither its counts nor its updated_at change any more.
          if (d.status !== OPEN) continue;
          this.q.unblock.run({ id: d.taskId });
          const after = { ...d, unmetDeps: d.unmetDeps - 1 };
          this.counters.move(d, after);
          if (after.status !== OPEN || after.unmetDeps !== 0) continue;
          unblocked.push(d.taskId);
          if (d.assignedAgent !== null && !d.gazeRequired && this.claimRow(d.taskId, d.assignedAgent, null, false, now)) autoClaimed.push(d.taskId);
        }
      }
      return { applied: true, task: rowToTask(row, []), unblocked, auto_claimed: autoClaimed };
    });
  }

  async cancel(id: string, clock: Clock): Promise<Transition> {
    return this.writes.run(() => {
      const now = clock();
      this.expireDue(now);
      const before = this.q.task.get({ id });
      const row = before && this.q.cancel.get({ id, now });
      if (!before || !row) return { applied: false, task: this.read(id) };
      this.counters.move(before, row);
      return { applied: true, task: this.read(id) as Task };
    });
  }

  async stats(now: string) {
    await this.expireLeases(now);
    // One snapshot: read apart, another sidecar's claim of the last Open task in between gave Open 1
    // beside oldest_open_age_s null.
    const [counts, oldest] = readSnapshot(this.h.sqlite, () => [this.counters.read(), this.q.oldestOpen.get()?.at ?? null] as const);
    return { backend: this.backend, ...counts, oldest_open_age_s: ageSeconds(oldest, now) };
  }

  /** The conditional UPDATE of a claim; counters follow when it applied. Call inside a write job. */
  private claimRow(id: string, agent: string, lease: string | null, gazeVerified: boolean, now: string): TaskRow | undefined {
    const row = this.q.claim.get({ id, agent, lease, now, gazeVerified: gazeVerified ? 1 : 0 });
    // A claim needs unmet_deps = 0, so the task counted as ready before.
    if (row) this.counters.move({ status: OPEN, unmetDeps: 0, agent: null }, row);
    return row;
  }

  /** Before a read: expire due leases, writing only when there is something to expire. */
  private async expireLeases(now: string): Promise<void> {
    if (this.q.dueLeases.all({ now }).length > 0) await this.writes.run(() => this.expireDue(now));
  }

  /** InProgress → Open for every lease that ran out (an indexed read; usually nothing). Inside a write job. */
  private expireDue(now: string): void {
    for (const due of this.q.dueLeases.all({ now })) {
      if (changes(this.q.expire.run({ id: due.taskId, now })) === 0) continue;
      const was: Countable = { status: IN_PROGRESS, unmetDeps: due.unmetDeps, agent: due.agent };
      this.counters.move(was, { ...was, status: OPEN, agent: null });
    }
  }

  private read(id: string): Task | null {
    const row = this.q.task.get({ id });
    if (!row) return null;
    const blockedBy = row.unmetDeps > 0 ? this.q.depStatuses.all({ id }).filter((d) => d.status !== 'Completed').map((d) => d.dependsOn) : [];
    return rowToTask(row, blockedBy);
  }
}

/** Rows an UPDATE changed. drizzle types bun:sqlite's run() as void, but it returns bun's `Changes`. */
function changes(result: unknown): number {
  return (result as { changes: number }).changes;
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
