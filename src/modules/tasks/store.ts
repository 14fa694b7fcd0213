/**
 * What a task store does, whatever keeps the tasks (SQLite here, SpacetimeDB for a queue shared by
 * several sidecars). Every transition is atomic and single-winner in the store; the store answers
 * whether it applied and the task as it is now, and the service turns a refusal into an error with
 * the rules of state.ts. "Not applied" must mean that nothing of the write can take effect: when the
 * task as it is now allows the write (it lost a race), the service decides it again. Lease expiry is applied by the store before it reads, counts or decides.
 */
import { ApiError } from '../../lib/errors';
import { isoNow } from '../../lib/time';
import type { Task, TaskStats, TaskStatus } from './model';

export interface NewTask {
  task_id: string;
  title: string;
  description: string;
  priority: number;
  capabilities: string[];
  validation_mode: string;
  parent_task_id: string | null;
  swarm_id: string | null;
  /** Ids of tasks that already exist or are in the same batch. */
  depends_on: string[];
  assigned_agent: string | null;
  gaze_required: boolean;
  reward_units: number;
}

export interface ListFilter {
  status?: TaskStatus;
  /** Held by (`agent`) or assigned to (`assigned_agent`) this agent. */
  agent?: string;
  swarm_id?: string;
  parent_task_id?: string;
  limit: number;
  offset: number;
}

export type Transition = { applied: true; task: Task } | { applied: false; task: Task | null };

export type Completion =
  | { applied: true; task: Task; unblocked: string[]; auto_claimed: string[] }
  | { applied: false; task: Task | null };

/**
 * The time (ISO) for a write, read by the store when it decides: in SQLite inside the write's
 * transaction, since the write may wait in line for another process's lock for up to BUSY_WAIT_MS and
 * a lease that ran out meanwhile must count as expired, and a new one must last its whole length.
 */
export type Clock = () => string;

export interface ClaimRequest {
  agent: string;
  /** How long the claim lasts from when it is applied, or null for no lease. */
  leaseSeconds: number | null;
  /** The service checked a gaze session; without it a gaze_required task is not claimed. */
  gazeVerified: boolean;
}

export interface CompleteRequest {
  agent: string;
  result: unknown;
  success: boolean;
}

export interface TaskStore {
  readonly backend: TaskStats['backend'];
  /**
   * Creates the tasks, dependencies first (the caller orders them): one task, or a swarm — its
   * subtasks, then its root last (swarmTasks), which is the commit point where one transaction
   * cannot hold them all (SpacetimeDB). Dependencies and parents must exist or be in the batch
   * (else ApiError 422, nothing created). Ids are new, so no cycle can form through a store write;
   * cycles inside a swarm plan are refused before it gets here (dag.ts).
   */
  create(tasks: NewTask[], now: Clock): Promise<Task[]>;
  get(id: string, now: string): Promise<Task | null>;
  /** By priority desc, then oldest first; `total` counts every match. */
  list(filter: ListFilter, now: string): Promise<{ tasks: Task[]; total: number }>;
  /** Open → InProgress when every dependency is Completed, the agent may take it, and gaze allows. */
  claim(id: string, req: ClaimRequest, now: Clock): Promise<Transition>;
  /**
   * InProgress → Completed/Failed by the claiming agent; a success unblocks dependents and claims
   * those with an assigned_agent and no gaze requirement for that agent.
   */
  complete(id: string, req: CompleteRequest, now: Clock): Promise<Completion>;
  cancel(id: string, now: Clock): Promise<Transition>;
  stats(now: string): Promise<TaskStats>;
  close?(): void;
}

/** Ids a batch refers to (dependencies, parents) that are not in the batch itself: the store must know them. */
export function outsideReferences(batch: NewTask[]): string[] {
  const inBatch = new Set(batch.map((t) => t.task_id));
  return [...new Set(batch.flatMap((t) => [...t.depends_on, ...(t.parent_task_id ? [t.parent_task_id] : [])]))].filter((id) => !inBatch.has(id));
}

/** Throws 422 when a depends_on or parent_task_id of the batch names a task that does not exist. */
export function checkReferences(batch: NewTask[], exists: (id: string) => boolean): void {
  const inBatch = new Set(batch.map((t) => t.task_id));
  const known = (id: string) => inBatch.has(id) || exists(id);
  const missing = batch.flatMap((t) => [
    ...t.depends_on.flatMap((id, i) => (known(id) ? [] : [{ path: `depends_on.${i}`, id }])),
    ...(t.parent_task_id && !known(t.parent_task_id) ? [{ path: 'parent_task_id', id: t.parent_task_id }] : []),
  ]);
  if (!missing.length) return;
  const errors = missing.map((m) => ({ path: m.path, message: `no task ${m.id}` }));
  throw new ApiError(422, 'unknown_task_reference', `Unknown task id${missing.length > 1 ? 's' : ''}: ${missing.map((m) => m.id).join(', ')}.`, { errors });
}

/** When a claim applied at `now` lapses (null: no lease). */
export function leaseUntil(now: string, seconds: number | null): string | null {
  return seconds === null ? null : isoNow(Date.parse(now) + seconds * 1000);
}

/** Oldest Open task's age in whole seconds, or null when nothing is Open. */
export function ageSeconds(createdAt: string | null, now: string): number | null {
  if (createdAt === null) return null;
  return Math.max(0, Math.floor((Date.parse(now) - Date.parse(createdAt)) / 1000));
}
