/**
 * GET /api/tasks on SQLite, fast with 100 000 tasks and cheap per call. The page is chosen from the
 * indexes alone (row id, priority, created_at), and only the rows of the page are read: sorting
 * hundreds of whole rows would read a table page for each. The agent filter (held by OR assigned to)
 * is a UNION of two index scans rather than an OR over the table. Every statement is compiled once per
 * filter shape and reused: on a small queue compiling SQL cost more than running it.
 *
 * The pages of the last few queries are kept until the database is written (`KeptReads`: any write
 * of ours, or a commit by another process): dashboards and agents poll the same query over and over,
 * and each answer read three statements, ~60-100 µs, most of what a 10-task GET /api/tasks cost.
 * Nothing in a task depends on the clock: lease expiry is a write made before the list is read.
 */
import { and, eq, getTableName, sql } from 'drizzle-orm';
import type { Statement } from 'bun:sqlite';
import type { DbHandle } from '../../db';
import { deepFreeze, KEPT_PAGE_BYTES, KeptReads, readSnapshot } from '../../db/kept-reads';
import { taskDependencies, tasks } from '../../db/schema';
import type { Task } from './model';
import type { Counters } from './sqlite-rows';
import { rowToTask } from './sqlite-rows';
import type { ListFilter } from './store';

const FILTERS = [
  ['status', tasks.status.name],
  ['swarm_id', tasks.swarmId.name],
  ['parent_task_id', tasks.parentTaskId.name],
] as const;

type Params = Record<string, string | number>;
type Listing = { tasks: Task[]; total: number };

export class TaskLister {
  private readonly statements = new Map<string, { page: Statement; count: Statement }>();
  private readonly byRowIds;
  private readonly waitingOn;
  /** The pages of the last queries asked; `pages.reads` counts those read from the database. */
  readonly pages: KeptReads<Listing>;

  constructor(private readonly h: DbHandle, private readonly counters: Counters) {
    this.pages = new KeptReads(h.sqlite, 32, KEPT_PAGE_BYTES);
    const ph = (name: string) => sql.placeholder(name);
    this.byRowIds = h.db
      .select({ rid: sql<number>`${tasks}.rowid`, row: tasks })
      .from(tasks)
      .where(sql`${tasks}.rowid IN (SELECT value FROM json_each(${ph('rids')}))`)
      .prepare();
    // blocked_by: the unfinished dependencies of the page's waiting tasks.
    this.waitingOn = h.db
      .select({ taskId: taskDependencies.taskId, dependsOn: taskDependencies.dependsOn })
      .from(taskDependencies)
      .innerJoin(tasks, eq(tasks.taskId, taskDependencies.dependsOn))
      .where(and(sql`${taskDependencies.taskId} IN (SELECT value FROM json_each(${ph('ids')}))`, sql`${tasks.status} <> 'Completed'`))
      .prepare();
  }

  list(f: ListFilter): Listing {
    const key = JSON.stringify([f.status, f.agent, f.swarm_id, f.parent_task_id, f.limit, f.offset]);
    // One snapshot: read apart, another sidecar's claim committed between the page's statements put
    // InProgress tasks on a `?status=Open` page and a `total` beside it that counted without them.
    return this.pages.get(key, () => deepFreeze(readSnapshot(this.h.sqlite, () => this.read(f))));
  }

  private read(f: ListFilter): Listing {
    const params: Params = { $limit: f.limit, $offset: f.offset };
    const conds: string[] = [];
    for (const [key, column] of FILTERS) {
      const v = f[key];
      if (v === undefined || v === null) continue;
      conds.push(`${column} = $${key}`);
      params[`$${key}`] = v;
    }
    if (f.agent) params.$agent = f.agent;
    const { page, count } = this.statementsFor(conds, !!f.agent);

    const rids = (page.all(params) as { rid: number }[]).map((r) => r.rid);
    const rows = rids.length ? this.byRowIds.all({ rids: JSON.stringify(rids) }) : [];
    const byRowId = new Map(rows.map((r) => [r.rid, r.row]));
    const ordered = rids.flatMap((rid) => {
      const r = byRowId.get(rid);
      return r ? [r] : [];
    });

    const waiting = ordered.filter((r) => r.unmetDeps > 0).map((r) => r.taskId);
    const blocked = new Map<string, string[]>();
    if (waiting.length) {
      for (const e of this.waitingOn.all({ ids: JSON.stringify(waiting) })) blocked.set(e.taskId, [...(blocked.get(e.taskId) ?? []), e.dependsOn]);
    }

    // The counters know totals by status; anything narrower is counted over the same index scan.
    let total: number;
    if (!f.agent && !f.swarm_id && !f.parent_task_id) {
      const c = this.counters.read();
      total = f.status ? c.by_status[f.status] : c.total;
    } else {
      const { $limit: _l, $offset: _o, ...filterParams } = params;
      total = (count.get(filterParams) as { n: number } | null)?.n ?? 0;
    }
    return { tasks: ordered.map((r) => rowToTask(r, blocked.get(r.taskId) ?? [])), total };
  }

  private statementsFor(conds: string[], byAgent: boolean) {
    const key = `${conds.join(' AND ')}|${byAgent}`;
    let s = this.statements.get(key);
    if (!s) {
      const keys = (extra: string | null) => {
        const where = [...(extra ? [extra] : []), ...conds];
        return `SELECT rowid AS rid, ${tasks.priority.name} AS priority, ${tasks.createdAt.name} AS created_at FROM ${getTableName(tasks)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
      };
      const matches = byAgent ? `${keys(`${tasks.agent.name} = $agent`)} UNION ${keys(`${tasks.assignedAgent.name} = $agent`)}` : keys(null);
      s = {
        page: this.h.sqlite.prepare(`SELECT rid FROM (${matches}) ORDER BY priority DESC, created_at, rid LIMIT $limit OFFSET $offset`),
        count: this.h.sqlite.prepare(`SELECT count(*) AS n FROM (${matches})`),
      };
      this.statements.set(key, s);
    }
    return s;
  }
}

