/**
 * The task queue in SpacetimeDB (TASKS_BACKEND=spacetimedb), shared by several sidecars, using
 * only what the real optx-cortex module has: `store_memory` (upsert by key), `delete_memory` and
 * SQL reads. Upserts cannot compare-and-set, so transitions are decided by the step-row protocol
 * (spacetime-rows.ts, docs/tasks.md): propose by inserting a row of your own, read the proposals of
 * that version, the lowest `id` wins. Reducer calls are serialised and ids grow in commit order, so
 * every proposer sees the same lowest row; exactly one transition happens per version.
 *
 * Rows are read and written through TaskTable (spacetime-table.ts), which leaves out the subtasks of
 * a swarm not committed yet; creation is in spacetime-create.ts.
 */
import type { Logger } from '../../lib/log';
import type { SpacetimeClient } from '../../spacetime/client';
import { afterCommit, spacetimeToApiError } from '../../spacetime/errors';
import { Task, type TaskStats } from './model';
import { cancelRefusal, canTransition, claimRefusal, completeRefusal, TASK_STATUSES, TRANSITIONS, withLeaseExpiry, type Action, type Status } from './state';
import { ageSeconds, checkReferences, leaseUntil, outsideReferences, type ClaimRequest, type Clock, type Completion, type CompleteRequest, type ListFilter, type NewTask, type TaskStore, type Transition } from './store';
import { blockedBy, currentOf, latestWinner, SOURCE, stepCategory, stepKey, winnerOf, type StoredTask } from './spacetime-rows';
import { createTasks, sweepLeftovers } from './spacetime-create';
import { TaskTable } from './spacetime-table';

/** How many times a materialiser follows newer winners before leaving the rest to the next writer. */
const MATERIALISE_ROUNDS = 8;

export class SpacetimeTaskStore implements TaskStore {
  readonly backend = 'spacetimedb' as const;
  private readonly table: TaskTable;

  constructor(
    private readonly stdb: SpacetimeClient,
    /** This sidecar's instance id, recorded in the step rows it proposes. */
    private readonly instanceId: string,
    private readonly log: Logger,
  ) {
    this.table = new TaskTable(stdb, log);
  }

  /** One task, or a swarm (its subtasks, then its root: the commit point, see spacetime-create.ts). */
  async create(batch: NewTask[], clock: Clock): Promise<Task[]> {
    // Read once, when the write starts: SpacetimeDB has no lock to wait in line for here.
    const now = clock();
    return this.guard(async () => {
      const inBatch = new Set(batch.map((t) => t.task_id));
      const existing = new Map((await this.table.byIds(outsideReferences(batch))).map((t) => [t.task_id, t.status]));
      checkReferences(batch, (id) => existing.has(id));
      const rows = await createTasks(this.table, batch, now);
      return rows.map((t) => toTask(t, (id) => (inBatch.has(id) ? 'Open' : existing.get(id))));
    });
  }

  async get(id: string, now: string): Promise<Task | null> {
    return this.guard(async () => {
      const found = await this.current(id);
      if (!found) return null;
      // A sidecar that stopped between winning and writing the row left it behind: bring it up to date.
      if (found.lagging) await this.materialise(id, found.task);
      const task = withLeaseExpiry(found.task, now);
      // Exact, as a claim decides: a dependency's row can lag behind its completion.
      const unfinished = new Set(await this.unfinished(task.depends_on));
      return toTask(task, (d) => (unfinished.has(d) ? undefined : 'Completed'));
    });
  }

  async list(f: ListFilter, now: string): Promise<{ tasks: Task[]; total: number }> {
    return this.guard(async () => {
      const all = await this.allTasks(now);
      const matches = all.filter(
        (t) =>
          (!f.status || t.status === f.status) &&
          (!f.agent || t.agent === f.agent || t.assigned_agent === f.agent) &&
          (!f.swarm_id || t.swarm_id === f.swarm_id) &&
          (!f.parent_task_id || t.parent_task_id === f.parent_task_id),
      );
      // Same priority and millisecond: creation order, which the rows' ids keep.
      matches.sort((a, b) => b.priority - a.priority || cmp(a.created_at, b.created_at) || a.seq - b.seq);
      return { tasks: matches.slice(f.offset, f.offset + f.limit).map(({ seq: _seq, ...t }) => t), total: matches.length };
    });
  }

  async claim(id: string, req: ClaimRequest, clock: Clock): Promise<Transition> {
    const now = clock();
    return this.guard(() => this.claimAs(id, req, now));
  }

  async complete(id: string, req: CompleteRequest, clock: Clock): Promise<Completion> {
    const now = clock();
    return this.guard(async () => {
      const to: Status = req.success ? TRANSITIONS.complete.to[0] : TRANSITIONS.complete.to[1];
      const done = await this.transition(id, 'complete', now, (cur) =>
        completeRefusal({ ...cur, blocked_by: [] }, req.agent) ? null : { ...cur, status: to, result: req.result, completed_at: now, completed_by: req.agent, lease_expires_at: null, updated_at: now },
      );
      if (!done.applied) return done;
      const { step, ...completed } = done;
      if (!req.success) return { ...completed, unblocked: [], auto_claimed: [] };
      try {
        return { ...completed, ...(await this.unblock(id, step, now)) };
      } catch (err) {
        // The completion stands: SpacetimeDB gone now is not "nothing was done, try again" (503).
        throw afterCommit(err, 'The completion');
      }
    });
  }

  /** The dependents a completion (its winning step `step`) unblocked, and those of them claimed for their assigned agent. */
  private async unblock(id: string, step: number, now: string): Promise<{ unblocked: string[]; auto_claimed: string[] }> {
    // A dependent is unblocked by the completion of its dependencies that committed last: step ids
    // grow in commit order, so when two of them complete at once both see the dependent ready, but
    // only one of them (the higher step id) reports it, as SQLite does in its one transaction.
    // A row can lag behind its task's last transition (a dependent cancelled by a sidecar that has
    // not written the row yet, or died first): only those still Open by their exact state wait.
    const rows = (await this.allTasks(now)).filter((t) => t.depends_on.includes(id) && t.status === 'Open');
    const exact = await Promise.all(rows.map((t) => this.exact(t.task_id, now)));
    const waiting = rows.filter((_, i) => exact[i]?.status === 'Open');
    const ready = await Promise.all(
      waiting.map(async (t) => {
        const others = await Promise.all(t.depends_on.filter((d) => d !== id).map((d) => this.completionStep(d)));
        return others.every((o) => o !== null && o < step);
      }),
    );
    const unblocked = waiting.filter((_, i) => ready[i]);
    const claims = await Promise.all(
      unblocked.map(async (t) => (t.assigned_agent !== null && !t.gaze_required && (await this.claimAs(t.task_id, { agent: t.assigned_agent, leaseSeconds: null, gazeVerified: false }, now)).applied ? t.task_id : null)),
    );
    return { unblocked: unblocked.map((t) => t.task_id), auto_claimed: claims.filter((c): c is string => c !== null) };
  }

  async cancel(id: string, clock: Clock): Promise<Transition> {
    const now = clock();
    return this.guard(() =>
      this.transition(id, 'cancel', now, (cur) =>
        cancelRefusal({ ...cur, blocked_by: [] }) ? null : { ...cur, status: TRANSITIONS.cancel.to[0], cancelled_at: now, lease_expires_at: null, updated_at: now },
      ),
    );
  }

  async stats(now: string): Promise<TaskStats> {
    return this.guard(async () => {
      const all = await this.allTasks(now);
      const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<Status, number>;
      const perAgent = new Map<string, number>();
      let ready = 0;
      let oldest: string | null = null;
      for (const t of all) {
        byStatus[t.status]++;
        if (t.status === 'Open' && t.blocked_by.length === 0) ready++;
        if (t.status === 'Open' && (oldest === null || t.created_at < oldest)) oldest = t.created_at;
        if (t.status === 'InProgress' && t.agent !== null) perAgent.set(t.agent, (perAgent.get(t.agent) ?? 0) + 1);
      }
      return {
        backend: this.backend,
        total: all.length,
        by_status: byStatus,
        queue_depth: ready,
        blocked: byStatus.Open - ready,
        in_progress_by_agent: Object.fromEntries(perAgent),
        oldest_open_age_s: ageSeconds(oldest, now),
      };
    });
  }

  private claimAs(id: string, req: ClaimRequest, now: string): Promise<Transition> {
    return this.transition(id, 'claim', now, async (cur) => {
      if (claimRefusal({ ...cur, blocked_by: [] }, req.agent) || (cur.gaze_required && !req.gazeVerified)) return null;
      // Completed is final, so dependencies found Completed here stay Completed.
      if ((await this.unfinished(cur.depends_on)).length) return null;
      return { ...cur, status: TRANSITIONS.claim.to[0], agent: req.agent, claimed_at: now, lease_expires_at: leaseUntil(now, req.leaseSeconds), updated_at: now };
    });
  }

  /**
   * One transition by the step-row protocol: read the current version, propose version + 1 with
   * the whole next state, read that version's proposals; the lowest id won. The winner
   * materialises the task row; a loser deletes its proposal and reports the task as it is now.
   */
  private async transition(id: string, action: Action, now: string, decide: (cur: StoredTask) => Promise<StoredTask | null> | StoredTask | null): Promise<Stepped> {
    const cur = await this.exact(id, now);
    if (!cur) return { applied: false, task: null };
    const proposed = await decide(cur);
    if (!proposed || !canTransition(action, cur.status, proposed.status)) return { applied: false, task: await this.get(id, now) };
    const version = cur.version + 1;
    const next: StoredTask = { ...proposed, version };
    const key = stepKey(id, version, `${this.instanceId}-${crypto.randomUUID()}`);
    await this.stdb.call('store_memory', [stepCategory(id), key, JSON.stringify({ version, action, proposer: this.instanceId, task: next }), SOURCE, next.agent ?? '', 0, '']);
    try {
      const winner = winnerOf(await this.table.steps(id), version);
      if (winner?.key !== key) {
        await this.stdb.call('delete_memory', [key]).catch((err) => this.log.warn('tasks: could not delete a losing step row', { key, error: String(err) }));
        return { applied: false, task: await this.get(id, now) };
      }
      await this.materialise(id, next);
      return { applied: true, task: (await this.get(id, now)) as Task, step: winner.id };
    } catch (err) {
      // The proposal is in: if it is the lowest, the transition happened, whatever the host's state now.
      throw afterCommit(err, `The ${action} proposal`);
    }
  }

  /**
   * Writes the task row, then follows any newer winner another sidecar committed meanwhile, so the
   * last writer always leaves the newest state (a slow writer cannot leave an old one behind).
   */
  private async materialise(id: string, state: StoredTask): Promise<void> {
    let current = state;
    for (let round = 0; round < MATERIALISE_ROUNDS; round++) {
      await this.table.write(current);
      const latest = latestWinner(await this.table.steps(id));
      // A newer winner this sidecar cannot read is written by the sidecar that can.
      if (!latest?.task || latest.version <= current.version) return;
      current = latest.task;
    }
  }

  /** The task as it is, leases applied. */
  private async exact(id: string, now: string): Promise<StoredTask | null> {
    const found = await this.current(id);
    return found ? withLeaseExpiry(found.task, now) : null;
  }

  /** The task row, overtaken by a newer winning step when the row lags behind (`lagging`); null when not committed. */
  private async current(id: string): Promise<{ task: StoredTask; lagging: boolean } | null> {
    const found = await this.table.read(id);
    if (!found) return null;
    const task = currentOf(found.row, found.steps);
    return { task, lagging: task !== found.row };
  }

  /**
   * The id of the step that completed task `id` (its commit position), 0 for a row that says
   * Completed without one (written by another program: completed before any step), null when the
   * task is not Completed (or not there).
   */
  private async completionStep(id: string): Promise<number | null> {
    const found = await this.table.read(id);
    if (!found || currentOf(found.row, found.steps).status !== 'Completed') return null;
    const step = found.steps.find((s) => s.task?.status === 'Completed' && winnerOf(found.steps, s.version)?.id === s.id);
    return step?.id ?? 0;
  }

  /**
   * Dependencies that are not Completed, by their exact state: the step rows of those whose row says
   * otherwise are read (in one query per 50) and may show a completion the row lags behind. Completed
   * is final, and no lease applies to it.
   */
  private async unfinished(ids: string[]): Promise<string[]> {
    const rows = new Map((await this.table.byIds(ids)).map((t) => [t.task_id, t]));
    const doubtful = ids.filter((d) => rows.has(d) && rows.get(d)?.status !== 'Completed');
    const steps = await this.table.stepsOf(doubtful);
    return ids.filter((d) => {
      const row = rows.get(d);
      return !row || (row.status !== 'Completed' && currentOf(row, steps.get(d) ?? []).status !== 'Completed');
    });
  }

  /**
   * Every committed task (leases applied) with its row id (`seq`, creation order); one SQL read.
   * Subtasks of swarms that never committed, seen on the way, are swept once old enough.
   */
  private async allTasks(now: string): Promise<(Task & { seq: number })[]> {
    const { committed, uncommitted } = await this.table.all();
    if (uncommitted.length) await sweepLeftovers(this.table, uncommitted, now);
    const live = committed.map((t) => withLeaseExpiry(t, now));
    const status = new Map(live.map((t) => [t.task_id, t.status]));
    return live.map((t) => ({ ...toTask(t, (d) => status.get(d)), seq: t.seq }));
  }

  /** SpacetimeDB failures become the API's 503/504/502; our own ApiErrors pass through. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw spacetimeToApiError(err);
    }
  }
}

/** The API's fields of a stored task (not its version, nor fields a newer sidecar added), with `blocked_by`. */
function toTask(t: StoredTask, statusOf: (id: string) => Status | undefined): Task {
  const task = Object.fromEntries(TASK_FIELDS.map((k) => [k, t[k]])) as Omit<Task, 'blocked_by'>;
  return { ...task, blocked_by: blockedBy(t, statusOf) };
}

const TASK_FIELDS = Object.keys(Task.shape).filter((k) => k !== 'blocked_by') as (keyof Omit<Task, 'blocked_by'>)[];

/** A transition, and when it applied, the id of its winning step row: its position in commit order. */
type Stepped = { applied: true; task: Task; step: number } | { applied: false; task: Task | null };

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
