/**
 * The task queue's rules on top of a store (SPEC §11): validation the schemas cannot do, the order
 * of refusals (404, then 409 for state, then 403/503 for gaze), gaze gating through AARON, leases,
 * and swarms. Every state change itself is decided atomically by the store; a write that lost a
 * race there is decided again on the state that won (untilDecided).
 */
import { clientClosed } from '../../lib/errors';
import { newId, SAFE_ID } from '../../lib/ids';
import { isoNow } from '../../lib/time';
import { unlessLeft, type Work } from '../../lib/work';
import type { GazeVerifier } from '../gaze/service';
import type { Hedgehog } from '../../config';
import type { ClaimBody, CompleteBody, CreateTaskBody, ListTasksQuery, SwarmBody, Task, TaskStats } from './model';
import { claimRefusal, NO_SWARM, raceConflict, refusalNow, taskNotFound, type Action } from './state';
import type { Completion, TaskStore, Transition } from './store';
import { planSwarm, swarmTasks } from './swarm';

/**
 * How many times one write is decided at most (docs/tasks.md, "Lost races"). A write that lost the
 * race for a version on SpacetimeDB, or was refused on a state that changed right after, is decided
 * again on the state that won; each new try follows a transition another writer made, so a request
 * racing a few others never runs out, and one on a task rewritten without pause stops here.
 */
export const DECISIONS = 5;

type Applied<R> = Extract<R, { applied: true }>;

export interface TaskServiceDeps {
  store: TaskStore;
  gaze: GazeVerifier;
  hedgehog: Hedgehog;
  /** Clock in epoch milliseconds (tests move it to expire leases). */
  now?: () => number;
}

export class TaskService {
  readonly store: TaskStore;
  private readonly now: () => string;

  constructor(private readonly deps: TaskServiceDeps) {
    this.store = deps.store;
    const clock = deps.now ?? Date.now;
    this.now = () => isoNow(clock());
  }

  async create(body: CreateTaskBody): Promise<Task> {
    const [task] = await this.store.create(
      [
        {
          task_id: newId('task_'),
          title: body.title,
          description: body.description,
          priority: body.priority,
          capabilities: body.capabilities,
          validation_mode: body.validation_mode,
          parent_task_id: body.parent_task_id ?? null,
          swarm_id: null,
          depends_on: [...new Set(body.depends_on)],
          assigned_agent: body.assigned_agent ?? null,
          gaze_required: body.gaze_required,
          reward_units: body.reward,
        },
      ],
      this.now,
    );
    return task as Task;
  }

  list(query: ListTasksQuery): Promise<{ tasks: Task[]; total: number }> {
    return this.store.list(query, this.now());
  }

  async get(id: string): Promise<Task> {
    const task = SAFE_ID.test(id) ? await this.store.get(id, this.now()) : null;
    if (!task) throw taskNotFound(id);
    return task;
  }

  /**
   * A conditional claim; only when it was refused because the task needs a gaze session is AARON
   * asked (once), and then the claim is decided again. State refusals (404, 409) come before any gaze check.
   */
  async claim(id: string, body: ClaimBody): Promise<Task> {
    if (!SAFE_ID.test(id)) throw taskNotFound(id);
    const agent = body.agent_name;
    let gazeVerified = false;
    const attempt = () => this.store.claim(id, { agent, leaseSeconds: body.lease_seconds || null, gazeVerified }, this.now);
    const r = await this.untilDecided('claim', id, agent, async () => {
      const r = await attempt();
      if (r.applied || gazeVerified || !r.task?.gaze_required || claimRefusal(r.task, agent)) return r;
      await this.deps.gaze.requireVerified(body.gaze_session_id);
      gazeVerified = true;
      return attempt();
    });
    return r.task;
  }

  async complete(id: string, body: CompleteBody): Promise<Task & { unblocked: string[]; auto_claimed: string[] }> {
    if (!SAFE_ID.test(id)) throw taskNotFound(id);
    const r = await this.untilDecided('complete', id, body.agent_name, () => this.store.complete(id, { agent: body.agent_name, result: body.result ?? null, success: body.success }, this.now));
    return { ...r.task, unblocked: r.unblocked, auto_claimed: r.auto_claimed };
  }

  async cancel(id: string): Promise<Task> {
    if (!SAFE_ID.test(id)) throw taskNotFound(id);
    return (await this.untilDecided('cancel', id, null, () => this.store.cancel(id, this.now))).task;
  }

  stats(): Promise<TaskStats> {
    return this.store.stats(this.now());
  }

  /**
   * `work` hears when the LLM took on the decomposition: the plan is paid for even if its tasks cannot
   * be stored. A client that left (`signal`) before the swarm is stored gets none: it never learns the
   * ids, and the retry it makes would be a second swarm beside the first. One that left before the LLM
   * was asked, or whose plan it gave, spent nothing (`leftFirst`): a 499 otherwise spends a payment.
   */
  async swarm(body: SwarmBody, work: Work, signal?: AbortSignal) {
    if (signal) unlessLeft(signal, work, NO_SWARM);
    const plan = await planSwarm(body, this.deps.hedgehog, work, signal);
    if (signal?.aborted) {
      // Its subtasks given, no upstream was asked; an LLM asked may have worked (spent, as a metered call's).
      if (plan.decomposition.method === 'explicit') work.leftFirst();
      throw clientClosed(NO_SWARM);
    }
    const ids = { swarmId: newId('swarm_'), rootId: newId('task_'), subtaskIds: plan.subtasks.map(() => newId('task_')) };
    const created = new Map((await this.store.create(swarmTasks(body, plan, ids), this.now)).map((t) => [t.task_id, t]));
    const tasks = ids.subtaskIds.map((id) => created.get(id) as Task);
    return {
      swarm_id: ids.swarmId,
      goal: body.goal,
      strategy: body.strategy,
      root_task_id: ids.rootId,
      root_task: created.get(ids.rootId) as Task,
      tasks,
      total: tasks.length,
      decomposition: plan.decomposition,
    };
  }

  /**
   * Runs a transition until it applies or the task as it is now refuses it, which is then the answer
   * (the one a serial order gives); 409 `task_conflict` only after DECISIONS lost races. A store
   * answers "not applied" only when it wrote nothing (refused, or its proposal lost its version and
   * was withdrawn: it can never win later), so deciding again cannot apply a write twice. A store
   * error is never retried: after a timeout the write may have landed.
   */
  private async untilDecided<R extends Transition | Completion>(action: Action, id: string, agent: string | null, attempt: () => Promise<R>): Promise<Applied<R>> {
    for (let n = 1; ; n++) {
      const r = await attempt();
      if (r.applied) return r as Applied<R>;
      if (!r.task) throw taskNotFound(id);
      const refusal = refusalNow(action, r.task, agent);
      if (refusal) throw refusal;
      if (n >= DECISIONS) throw raceConflict(id, r.task);
    }
  }
}
