/** SQLite rows of the task queue ⇄ API tasks, and the bookkeeping of the stats counters. */
import { sql } from 'drizzle-orm';
import type { Db } from '../../db';
import { taskCounters, type tasks } from '../../db/schema';
import { rewardToString, type Task, type TaskStats } from './model';
import { TASK_STATUSES, type Status } from './state';
import type { NewTask } from './store';

export type TaskRow = typeof tasks.$inferSelect;
export type CounterRow = typeof taskCounters.$inferSelect;

/**
 * `blockedBy`: the dependencies not Completed (empty when `unmet_deps` is 0), in any order: they are
 * listed in the order of `depends_on`, whichever index the query that found them walked.
 */
export function rowToTask(r: TaskRow, blockedBy: string[]): Task {
  const dependsOn = JSON.parse(r.dependsOn) as string[];
  return {
    task_id: r.taskId,
    title: r.title,
    description: r.description,
    status: r.status as Status,
    priority: r.priority,
    capabilities: JSON.parse(r.capabilities) as string[],
    validation_mode: r.validationMode,
    parent_task_id: r.parentTaskId,
    swarm_id: r.swarmId,
    depends_on: dependsOn,
    blocked_by: blockedBy.length ? dependsOn.filter((id) => blockedBy.includes(id)) : [],
    assigned_agent: r.assignedAgent,
    agent: r.agent,
    gaze_required: r.gazeRequired,
    reward: rewardToString(r.rewardUnits),
    result: r.result === null ? null : JSON.parse(r.result),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    claimed_at: r.claimedAt,
    lease_expires_at: r.leaseExpiresAt,
    completed_at: r.completedAt,
    completed_by: r.completedBy,
    cancelled_at: r.cancelledAt,
  };
}

export function newRow(t: NewTask, unmetDeps: number, now: string): TaskRow {
  return {
    taskId: t.task_id,
    title: t.title,
    description: t.description,
    status: 'Open',
    priority: t.priority,
    capabilities: JSON.stringify(t.capabilities),
    validationMode: t.validation_mode,
    parentTaskId: t.parent_task_id,
    dependsOn: JSON.stringify(t.depends_on),
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

/** The fields of a task row the counters depend on. */
export interface Countable {
  status: string;
  unmetDeps: number;
  agent: string | null;
}

const READY = 'ready';
const STATUS = 'status:';
const AGENT = 'agent:';

function bucketsOf(c: Countable): string[] {
  const b = [STATUS + c.status];
  if (c.status === 'Open' && c.unmetDeps === 0) b.push(READY);
  if (c.status === 'InProgress' && c.agent !== null) b.push(AGENT + c.agent);
  return b;
}

/** Counter changes for a row going from `before` to `after` (null: not there). */
function counterMoves(before: Countable | null, after: Countable | null): Map<string, number> {
  const delta = new Map<string, number>();
  for (const b of before ? bucketsOf(before) : []) delta.set(b, (delta.get(b) ?? 0) - 1);
  for (const b of after ? bucketsOf(after) : []) delta.set(b, (delta.get(b) ?? 0) + 1);
  for (const [b, d] of delta) if (d === 0) delta.delete(b);
  return delta;
}

/**
 * The stats counters, moved in the caller's transaction: all the changes of one row transition go
 * in a single multi-row upsert (one statement per transition on the hot path).
 */
export class Counters {
  private readonly upserts = new Map<number, { run(values: Record<string, unknown>): unknown }>();
  private readonly all;

  constructor(private readonly db: Db) {
    this.all = db.select().from(taskCounters).prepare();
  }

  move(before: Countable | null, after: Countable | null): void {
    const moves = [...counterMoves(before, after)];
    if (!moves.length) return;
    const values: Record<string, unknown> = {};
    moves.forEach(([bucket, delta], i) => {
      values[`b${i}`] = bucket;
      values[`d${i}`] = delta;
    });
    this.upsert(moves.length).run(values);
  }

  read(): Omit<TaskStats, 'backend' | 'oldest_open_age_s'> {
    return countsToStats(this.all.all());
  }

  private upsert(n: number) {
    let stmt = this.upserts.get(n);
    if (!stmt) {
      const rows = Array.from({ length: n }, (_, i) => ({ bucket: sql`${sql.placeholder(`b${i}`)}`, n: sql`${sql.placeholder(`d${i}`)}` }));
      stmt = this.db
        .insert(taskCounters)
        .values(rows)
        .onConflictDoUpdate({ target: taskCounters.bucket, set: { n: sql`${taskCounters.n} + excluded.n` } })
        .prepare();
      this.upserts.set(n, stmt);
    }
    return stmt;
  }
}

function countsToStats(rows: CounterRow[]): Omit<TaskStats, 'backend' | 'oldest_open_age_s'> {
  const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  // Agent names are client text ("__proto__" included): entries, never property assignment.
  const perAgent: [string, number][] = [];
  let ready = 0;
  for (const { bucket, n } of rows) {
    const status = bucket.slice(STATUS.length) as Status;
    if (bucket === READY) ready = n;
    else if (bucket.startsWith(STATUS) && TASK_STATUSES.includes(status)) byStatus[status] = n;
    else if (bucket.startsWith(AGENT) && n > 0) perAgent.push([bucket.slice(AGENT.length), n]);
  }
  return {
    total: TASK_STATUSES.reduce((sum, s) => sum + byStatus[s], 0),
    by_status: byStatus,
    queue_depth: ready,
    blocked: byStatus.Open - ready,
    in_progress_by_agent: Object.fromEntries(perAgent),
  };
}
