import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The task queue (SPEC §11) under TASKS_BACKEND=sqlite. Timestamps are ISO 8601 UTC text (fixed
 * width, so they compare and sort as strings); `reward` is integer base units (6 decimals).
 * `unmet_deps` counts dependencies not yet Completed, kept exact by the transaction that completes a
 * dependency, so a claim checks one row instead of walking the graph.
 */
export const tasks = sqliteTable(
  'tasks',
  {
    taskId: text('task_id').primaryKey(),
    title: text('title').notNull(),
    description: text('description').notNull(),
    status: text('status').notNull(),
    priority: integer('priority').notNull(),
    /** JSON array of strings. */
    capabilities: text('capabilities').notNull(),
    validationMode: text('validation_mode').notNull(),
    parentTaskId: text('parent_task_id'),
    /** JSON array of task ids, in the order given; the edges are also in task_dependencies. */
    dependsOn: text('depends_on').notNull(),
    swarmId: text('swarm_id'),
    assignedAgent: text('assigned_agent'),
    agent: text('agent'),
    gazeRequired: integer('gaze_required', { mode: 'boolean' }).notNull(),
    rewardUnits: integer('reward_units').notNull(),
    /** JSON text of whatever the agent sent as result; null until completed. */
    result: text('result'),
    unmetDeps: integer('unmet_deps').notNull(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
    claimedAt: text('claimed_at'),
    leaseExpiresAt: text('lease_expires_at'),
    completedAt: text('completed_at'),
    completedBy: text('completed_by'),
    cancelledAt: text('cancelled_at'),
  },
  (t) => [
    // GET /api/tasks picks its page from these alone: each filter, then the list order (priority
    // desc, age, insertion order = the rowid every index ends with). Also the oldest Open task.
    index('tasks_order_idx').on(sql`${t.priority} DESC`, t.createdAt),
    index('tasks_status_order_idx').on(t.status, sql`${t.priority} DESC`, t.createdAt),
    index('tasks_agent_idx').on(t.agent, t.status, sql`${t.priority} DESC`, t.createdAt),
    index('tasks_assigned_idx').on(t.assignedAgent, t.status, sql`${t.priority} DESC`, t.createdAt),
    index('tasks_swarm_idx').on(t.swarmId, sql`${t.priority} DESC`, t.createdAt),
    index('tasks_parent_idx').on(t.parentTaskId, sql`${t.priority} DESC`, t.createdAt),
    // Lazy lease expiry: claimed tasks whose lease ran out. Tasks without a lease stay out of it.
    index('tasks_lease_idx').on(t.status, t.leaseExpiresAt).where(sql`${t.leaseExpiresAt} IS NOT NULL`),
  ],
);

/**
 * Edges of the dependency DAG: `task_id` waits for `depends_on`. Fixed when the task is created;
 * read to find a completed task's dependents and the statuses behind `blocked_by`.
 */
export const taskDependencies = sqliteTable(
  'task_dependencies',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.taskId),
    dependsOn: text('depends_on')
      .notNull()
      .references(() => tasks.taskId),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.dependsOn] }), index('task_dependencies_depends_on_idx').on(t.dependsOn)],
);

/**
 * Counts behind GET /api/tasks/stats, changed in the same transaction as the tasks they count, so
 * stats never scan the table. Buckets: `status:<Status>`, `ready` (Open with every dependency
 * Completed), `agent:<name>` (InProgress held by that agent).
 */
export const taskCounters = sqliteTable('task_counters', {
  bucket: text('bucket').primaryKey(),
  n: integer('n').notNull(),
});
