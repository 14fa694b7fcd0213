/**
 * The task queue in the sidecar's own SQLite (TASKS_BACKEND=sqlite, the default).
 *
 * Each transition is one conditional UPDATE (`… WHERE task_id = ? AND status = ?`) whose `changes`
 * say whether it applied, so among concurrent claimers exactly one sees 1. It runs inside an
 * IMMEDIATE transaction together with what belongs to it: the stats counters, and for a completion
 * the dependents it unblocks and claims. Expired leases are turned back to Open by a conditional
 * UPDATE before every read, count or transition, so list, stats and claim agree.
 */
import { and, asc, count, desc, eq, inArray, isNull, lte, gt, or, sql, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { taskCounters, taskDependencies, tasks } from '../../db/schema';
import type { Task } from './model';
import { TRANSITIONS } from './state';
import { ageSeconds, checkReferences, outsideReferences, type ClaimRequest, type Completion, type CompleteRequest, type ListFilter, type NewTask, type TaskStore, type Transition } from './store';
import { countsToStats, counterMoves, rowToTask, type Countable, type DepState, type TaskRow } from './sqlite-rows';

const ph = (name: string) => sql.placeholder(name);
// Insertion order: breaks ties between tasks created in the same millisecond (a swarm's are).
const ROWID = sql`${tasks}.rowid`;
const [OPEN] = TRANSITIONS.claim.from;
const [IN_PROGRESS] = TRANSITIONS.claim.to;

export class SqliteTaskStore implements TaskStore {
  readonly backend = 'sqlite' as const;
  private readonly q;
  private readonly runTx;

  constructor(private readonly h: DbHandle) {
    const { db } = h;
    this.runTx = h.sqlite.transaction((fn: () => unknown) => fn());
    const depRows = db
      .select({ taskId: taskDependencies.taskId, dependsOn: taskDependencies.dependsOn, status: tasks.status })
      .from(taskDependencies)
      .innerJoin(tasks, eq(tasks.taskId, taskDependencies.dependsOn));
    this.q = {
      task: db.select().from(tasks).where(eq(tasks.taskId, ph('id'))).prepare(),
      deps: depRows.where(eq(taskDependencies.taskId, ph('id'))).orderBy(asc(taskDependencies.position)).prepare(),
      dueLeases: db
        .select({ taskId: tasks.taskId, agent: tasks.agent, unmetDeps: tasks.unmetDeps })
        .from(tasks)
        .where(and(eq(tasks.status, TRANSITIONS.expire.from[0]), lte(tasks.leaseExpiresAt, ph('now'))))
        .prepare(),
      expire: db
        .update(tasks)
        .set({ status: TRANSITIONS.expire.to[0], agent: null, claimedAt: null, leaseExpiresAt: null, updatedAt: sql`${tasks.leaseExpiresAt}` })
        .where(and(eq(tasks.taskId, ph('id')), eq(tasks.status, TRANSITIONS.expire.from[0]), lte(tasks.leaseExpiresAt, ph('now'))))
        .prepare(),
      claim: db
        .update(tasks)
        .set({ status: IN_PROGRESS, agent: sql`${ph('agent')}`, claimedAt: sql`${ph('now')}`, leaseExpiresAt: sql`${ph('lease')}`, updatedAt: sql`${ph('now')}` })
        .where(and(eq(tasks.taskId, ph('id')), eq(tasks.status, OPEN), eq(tasks.unmetDeps, 0), or(isNull(tasks.assignedAgent), eq(tasks.assignedAgent, ph('agent')))))
        .prepare(),
      complete: db
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
        .prepare(),
      cancel: db
        .update(tasks)
        .set({ status: TRANSITIONS.cancel.to[0], cancelledAt: sql`${ph('now')}`, leaseExpiresAt: null, updatedAt: sql`${ph('now')}` })
        .where(and(eq(tasks.taskId, ph('id')), inArray(tasks.status, [...TRANSITIONS.cancel.from])))
        .prepare(),
      dependents: db
        .select({ taskId: tasks.taskId, status: tasks.status, unmetDeps: tasks.unmetDeps, agent: tasks.agent, assignedAgent: tasks.assignedAgent, gazeRequired: tasks.gazeRequired })
        .from(taskDependencies)
        .innerJoin(tasks, eq(tasks.taskId, taskDependencies.taskId))
        .where(eq(taskDependencies.dependsOn, ph('id')))
        .prepare(),
      unblock: db
        .update(tasks)
        .set({ unmetDeps: sql`${tasks.unmetDeps} - 1`, updatedAt: sql`${ph('now')}` })
        .where(eq(tasks.taskId, ph('id')))
        .prepare(),
      bump: db
        .insert(taskCounters)
        .values({ bucket: sql`${ph('bucket')}`, n: sql`${ph('delta')}` })
        .onConflictDoUpdate({ target: taskCounters.bucket, set: { n: sql`${taskCounters.n} + excluded.n` } })
        .prepare(),
      counters: db.select().from(taskCounters).prepare(),
      oldestOpen: db
        .select({ at: tasks.createdAt })
        .from(tasks)
        .where(eq(tasks.status, OPEN))
        .orderBy(asc(tasks.createdAt))
        .limit(1)
        .prepare(),
    };
  }

  async create(batch: NewTask[], now: string): Promise<Task[]> {
    return this.tx(() => {
      const known = new Map<string, string>(batch.map((t) => [t.task_id, OPEN]));
      for (const part of chunks(outsideReferences(batch), 500)) {
        for (const r of this.h.db.select({ id: tasks.taskId, status: tasks.status }).from(tasks).where(inArray(tasks.taskId, part)).all()) known.set(r.id, r.status);
      }
      checkReferences(batch, (id) => known.has(id));
      const created = batch.map((t) => {
        const deps: DepState[] = t.depends_on.map((id) => ({ dependsOn: id, status: known.get(id) as string }));
        const row = newRow(t, deps.filter((d) => d.status !== 'Completed').length, now);
        this.h.db.insert(tasks).values(row).run();
        this.moveCounters(null, row);
        return rowToTask(row, deps);
      });
      // Edges after every row of the batch exists (they reference each other).
      for (const t of batch) {
        if (t.depends_on.length) this.h.db.insert(taskDependencies).values(t.depends_on.map((id, position) => ({ taskId: t.task_id, dependsOn: id, position }))).run();
      }
      return created;
    });
  }

  async get(id: string, now: string): Promise<Task | null> {
    this.expireLeases(now);
    return this.read(id);
  }

  async list(f: ListFilter, now: string): Promise<{ tasks: Task[]; total: number }> {
    this.expireLeases(now);
    const where: SQL[] = [];
    if (f.status) where.push(eq(tasks.status, f.status));
    if (f.agent) where.push(or(eq(tasks.agent, f.agent), eq(tasks.assignedAgent, f.agent)) as SQL);
    if (f.swarm_id) where.push(eq(tasks.swarmId, f.swarm_id));
    if (f.parent_task_id) where.push(eq(tasks.parentTaskId, f.parent_task_id));
    const cond = where.length ? and(...where) : undefined;
    const rows = this.h.db.select().from(tasks).where(cond).orderBy(desc(tasks.priority), asc(tasks.createdAt), asc(ROWID)).limit(f.limit).offset(f.offset).all();
    const deps = new Map<string, DepState[]>();
    if (rows.length) {
      const ids = rows.map((r) => r.taskId);
      const all = this.h.db
        .select({ taskId: taskDependencies.taskId, dependsOn: taskDependencies.dependsOn, status: tasks.status })
        .from(taskDependencies)
        .innerJoin(tasks, eq(tasks.taskId, taskDependencies.dependsOn))
        .where(inArray(taskDependencies.taskId, ids))
        .orderBy(asc(taskDependencies.taskId), asc(taskDependencies.position))
        .all();
      for (const d of all) deps.set(d.taskId, [...(deps.get(d.taskId) ?? []), d]);
    }
    return { tasks: rows.map((r) => rowToTask(r, deps.get(r.taskId) ?? [])), total: this.total(f, cond) };
  }

  async claim(id: string, req: ClaimRequest, now: string): Promise<Transition> {
    this.expireLeases(now);
    return this.tx(() => {
      const applied = this.claimRow(id, req.agent, req.leaseExpiresAt, now);
      const task = this.read(id);
      return applied && task ? { applied: true, task } : { applied: false, task };
    });
  }

  async complete(id: string, req: CompleteRequest, now: string): Promise<Completion> {
    this.expireLeases(now);
    return this.tx(() => {
      const before = this.q.task.get({ id });
      const to = req.success ? TRANSITIONS.complete.to[0] : TRANSITIONS.complete.to[1];
      const result = req.result === undefined ? null : JSON.stringify(req.result);
      if (!before || changes(this.q.complete.run({ id, agent: req.agent, to, result, now })) === 0) return { applied: false, task: this.read(id) };
      this.moveCounters(before, { ...before, status: to });
      const unblocked: string[] = [];
      const autoClaimed: string[] = [];
      if (req.success) {
        for (const d of this.q.dependents.all({ id })) {
          this.q.unblock.run({ id: d.taskId, now });
          const after = { ...d, unmetDeps: d.unmetDeps - 1 };
          this.moveCounters(d, after);
          if (after.status !== OPEN || after.unmetDeps !== 0) continue;
          unblocked.push(d.taskId);
          if (d.assignedAgent !== null && !d.gazeRequired && this.claimRow(d.taskId, d.assignedAgent, null, now)) autoClaimed.push(d.taskId);
        }
      }
      return { applied: true, task: this.read(id) as Task, unblocked, auto_claimed: autoClaimed };
    });
  }

  async cancel(id: string, now: string): Promise<Transition> {
    this.expireLeases(now);
    return this.tx(() => {
      const before = this.q.task.get({ id });
      const applied = before !== undefined && changes(this.q.cancel.run({ id, now })) === 1;
      if (applied) this.moveCounters(before, { ...before, status: TRANSITIONS.cancel.to[0] });
      const task = this.read(id);
      return applied && task ? { applied: true, task } : { applied: false, task };
    });
  }

  async stats(now: string) {
    this.expireLeases(now);
    const oldest = this.q.oldestOpen.get()?.at ?? null;
    return { backend: this.backend, ...countsToStats(this.q.counters.all()), oldest_open_age_s: ageSeconds(oldest, now) };
  }

  /** The conditional UPDATE of a claim; counters follow when it applied. Call inside a transaction. */
  private claimRow(id: string, agent: string, lease: string | null, now: string): boolean {
    if (changes(this.q.claim.run({ id, agent, lease, now })) === 0) return false;
    // A claim needs unmet_deps = 0, so the task counted as ready before.
    this.moveCounters({ status: OPEN, unmetDeps: 0, agent: null }, { status: IN_PROGRESS, unmetDeps: 0, agent });
    return true;
  }

  /**
   * InProgress → Open for every lease that ran out. The cheap indexed read runs on every request;
   * the write transaction only when something is due, and re-checks each row inside it.
   */
  private expireLeases(now: string): void {
    if (this.q.dueLeases.all({ now }).length === 0) return;
    this.tx(() => {
      for (const due of this.q.dueLeases.all({ now })) {
        if (changes(this.q.expire.run({ id: due.taskId, now })) === 0) continue;
        this.moveCounters({ status: IN_PROGRESS, unmetDeps: due.unmetDeps, agent: due.agent }, { status: OPEN, unmetDeps: due.unmetDeps, agent: null });
      }
    });
  }

  private read(id: string): Task | null {
    const row = this.q.task.get({ id });
    return row ? rowToTask(row, this.q.deps.all({ id })) : null;
  }

  /** `total` of a listing: from the counters when only the status (or nothing) filters, else counted. */
  private total(f: ListFilter, cond: SQL | undefined): number {
    if (!f.agent && !f.swarm_id && !f.parent_task_id) {
      const c = countsToStats(this.q.counters.all());
      return f.status ? c.by_status[f.status] : c.total;
    }
    return this.h.db.select({ n: count() }).from(tasks).where(cond).get()?.n ?? 0;
  }

  private moveCounters(before: Countable | null, after: Countable | null): void {
    for (const [bucket, delta] of counterMoves(before, after)) this.q.bump.run({ bucket, delta });
  }

  private tx<T>(fn: () => T): T {
    return this.runTx.immediate(fn) as T;
  }
}

function newRow(t: NewTask, unmetDeps: number, now: string): TaskRow {
  return {
    taskId: t.task_id,
    title: t.title,
    description: t.description,
    status: OPEN,
    priority: t.priority,
    capabilities: JSON.stringify(t.capabilities),
    validationMode: t.validation_mode,
    parentTaskId: t.parent_task_id,
    swarmId: t.swarm_id,
    assignedAgent: t.assigned_agent,
    agent: null,
    gazeRequired: t.gaze_required,
    rewardUnits: t.reward_units,
    result: null,
    unmetDeps,
    createdAt: now,
    updatedAt: now,
    claimedAt: null,
    leaseExpiresAt: null,
    completedAt: null,
    completedBy: null,
    cancelledAt: null,
  };
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Rows an UPDATE changed. drizzle types bun:sqlite's run() as void, but it returns bun's `Changes`.
 */
function changes(result: unknown): number {
  return (result as { changes: number }).changes;
}
