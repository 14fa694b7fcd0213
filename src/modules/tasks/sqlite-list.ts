/**
 * GET /api/tasks on SQLite, fast with 100 000 tasks. The page is chosen from the indexes alone
 * (row id, priority, created_at), and only the rows of the page are read: sorting hundreds of whole
 * rows would read a table page for each. The agent filter (held by OR assigned to) is a UNION of
 * two index scans rather than an OR over the table.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db';
import { taskDependencies, tasks } from '../../db/schema';
import type { Task } from './model';
import type { Counters } from './sqlite-rows';
import { rowToTask } from './sqlite-rows';
import type { ListFilter } from './store';

/** Ordering keys of the tasks matching `where`, from the index that serves the filter. */
function keys(where: SQL[]): SQL {
  const cond = where.length ? sql`WHERE ${and(...where)}` : sql``;
  return sql`SELECT ${tasks}.rowid AS rid, ${tasks.priority} AS priority, ${tasks.createdAt} AS created_at FROM ${tasks} ${cond}`;
}

export function listTasks(db: Db, counters: Counters, f: ListFilter): { tasks: Task[]; total: number } {
  const common: SQL[] = [];
  if (f.status) common.push(eq(tasks.status, f.status));
  if (f.swarm_id) common.push(eq(tasks.swarmId, f.swarm_id));
  if (f.parent_task_id) common.push(eq(tasks.parentTaskId, f.parent_task_id));
  const matches = f.agent ? sql`${keys([eq(tasks.agent, f.agent), ...common])} UNION ${keys([eq(tasks.assignedAgent, f.agent), ...common])}` : keys(common);

  const page = db.all<{ rid: number }>(sql`SELECT rid FROM (${matches}) ORDER BY priority DESC, created_at, rid LIMIT ${f.limit} OFFSET ${f.offset}`).map((r) => r.rid);
  const byRowId = new Map<number, (typeof rows)[number]>();
  const rows = page.length ? db.select({ rid: sql<number>`${tasks}.rowid`, row: tasks }).from(tasks).where(inArray(sql`${tasks}.rowid`, page)).all() : [];
  for (const r of rows) byRowId.set(r.rid, r);
  const ordered = page.flatMap((rid) => {
    const r = byRowId.get(rid);
    return r ? [r.row] : [];
  });

  // blocked_by only for tasks that still wait for something.
  const waiting = ordered.filter((r) => r.unmetDeps > 0).map((r) => r.taskId);
  const blocked = new Map<string, string[]>();
  if (waiting.length) {
    const edges = db
      .select({ taskId: taskDependencies.taskId, dependsOn: taskDependencies.dependsOn })
      .from(taskDependencies)
      .innerJoin(tasks, eq(tasks.taskId, taskDependencies.dependsOn))
      .where(and(inArray(taskDependencies.taskId, waiting), sql`${tasks.status} <> 'Completed'`))
      .all();
    for (const e of edges) blocked.set(e.taskId, [...(blocked.get(e.taskId) ?? []), e.dependsOn]);
  }

  // The counters know totals by status; anything narrower is counted over the same index scan.
  let total: number;
  if (!f.agent && !f.swarm_id && !f.parent_task_id) {
    const c = counters.read();
    total = f.status ? c.by_status[f.status] : c.total;
  } else {
    // (drizzle's db.get returns bun:sqlite rows as arrays; db.all gives objects.)
    total = db.all<{ n: number }>(sql`SELECT count(*) AS n FROM (${matches})`)[0]?.n ?? 0;
  }
  return { tasks: ordered.map((r) => rowToTask(r, blocked.get(r.taskId) ?? [])), total };
}
