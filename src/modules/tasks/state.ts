/**
 * The task state machine, written once for both stores: the six statuses, the only transitions
 * the API makes, lease expiry, and why a refused transition was refused.
 *
 * Stores apply a transition atomically (a conditional UPDATE, or the claim-row protocol on
 * SpacetimeDB) and report only whether it applied plus the task as it is now; the reasons for a
 * refusal are derived here from that task, so both stores refuse with the same status and code.
 */
import { ApiError } from '../../lib/errors';

export const TASK_STATUSES = ['Open', 'InProgress', 'PendingValidation', 'Completed', 'Failed', 'Cancelled'] as const;
export type Status = (typeof TASK_STATUSES)[number];

/**
 * Every status change the API can make (SPEC §11). Nothing else moves a task: no route enters
 * PendingValidation (it is kept for validators sharing the queue, and a task there can be cancelled).
 */
export const TRANSITIONS = {
  /** POST /claim, and the automatic claim of an unblocked dependent for its assigned_agent. */
  claim: { from: ['Open'], to: ['InProgress'] },
  /** A lease that ran out: seen by the next read or claim, no background job. */
  expire: { from: ['InProgress'], to: ['Open'] },
  /** POST /complete by the claiming agent: Completed, or Failed when success is false. */
  complete: { from: ['InProgress'], to: ['Completed', 'Failed'] },
  /** DELETE. */
  cancel: { from: ['Open', 'InProgress', 'PendingValidation'], to: ['Cancelled'] },
} as const satisfies Record<string, { from: readonly Status[]; to: readonly Status[] }>;

export type Action = keyof typeof TRANSITIONS;

export function canTransition(action: Action, from: Status, to: Status): boolean {
  const t = TRANSITIONS[action];
  return (t.from as readonly Status[]).includes(from) && (t.to as readonly Status[]).includes(to);
}

/** The fields of a task the state machine looks at. */
export interface TaskState {
  task_id: string;
  status: Status;
  agent: string | null;
  assigned_agent: string | null;
  blocked_by: string[];
  lease_expires_at: string | null;
}

/** ISO timestamps of our own records compare as strings (fixed width, UTC). */
function leaseExpired(task: Pick<TaskState, 'status' | 'lease_expires_at'>, nowIso: string): boolean {
  return task.status === 'InProgress' && task.lease_expires_at !== null && task.lease_expires_at <= nowIso;
}

/** The task as every reader must see it: an InProgress task whose lease ran out is Open again. */
export function withLeaseExpiry<T extends Pick<TaskState, 'status' | 'agent' | 'lease_expires_at'> & { claimed_at: string | null; updated_at: string }>(task: T, nowIso: string): T {
  if (!leaseExpired(task, nowIso)) return task;
  return { ...task, status: 'Open', agent: null, claimed_at: null, lease_expires_at: null, updated_at: task.lease_expires_at as string };
}

/** What a swarm's client that left did not get (clientClosed). */
export const NO_SWARM = 'no swarm was created';

export const taskNotFound = (id: string) => new ApiError(404, 'task_not_found', `Task ${id} does not exist.`);

/** Why `agent` cannot claim this task now, or null when it can. */
export function claimRefusal(task: TaskState, agent: string): ApiError | null {
  if (!(TRANSITIONS.claim.from as readonly Status[]).includes(task.status)) {
    return new ApiError(409, 'task_not_open', `Task ${task.task_id} is ${task.status}, not Open.`, { body: { status: task.status, agent: task.agent } });
  }
  if (task.assigned_agent !== null && task.assigned_agent !== agent) {
    return new ApiError(409, 'task_assigned', `Task ${task.task_id} is assigned to ${task.assigned_agent}.`, { body: { assigned_agent: task.assigned_agent } });
  }
  if (task.blocked_by.length > 0) {
    return new ApiError(409, 'task_blocked', `Task ${task.task_id} waits for ${task.blocked_by.length} unfinished ${task.blocked_by.length === 1 ? 'dependency' : 'dependencies'}.`, {
      body: { blocked_by: task.blocked_by },
    });
  }
  return null;
}

/** Why `agent` cannot complete this task now, or null when it can. */
export function completeRefusal(task: TaskState, agent: string): ApiError | null {
  if (!(TRANSITIONS.complete.from as readonly Status[]).includes(task.status)) {
    return new ApiError(409, 'task_not_in_progress', `Task ${task.task_id} is ${task.status}, not InProgress${task.status === 'Open' ? ' (never claimed, or its lease ran out)' : ''}.`, {
      body: { status: task.status },
    });
  }
  if (task.agent !== agent) {
    return new ApiError(403, 'task_claimed_by_other', `Task ${task.task_id} was claimed by another agent; only that agent can complete it.`, { body: { agent: task.agent } });
  }
  return null;
}

/** Why the task cannot be cancelled, or null when it can. */
export function cancelRefusal(task: TaskState): ApiError | null {
  if ((TRANSITIONS.cancel.from as readonly Status[]).includes(task.status)) return null;
  return new ApiError(409, 'task_finished', `Task ${task.task_id} is ${task.status} and can no longer be cancelled.`, { body: { status: task.status } });
}

/**
 * Why the task as it is now refuses the action, or null when it allows it. For a transition a store
 * reported as not applied, null means the store decided on a state that changed since (a lost race
 * on SpacetimeDB): TaskService then decides the write again on this one.
 */
export function refusalNow(action: Action, task: TaskState, agent: string | null): ApiError | null {
  return action === 'claim' ? claimRefusal(task, agent ?? '') : action === 'complete' ? completeRefusal(task, agent ?? '') : cancelRefusal(task);
}

/** A write that lost every race it was decided again for: nothing of it applied. */
export function raceConflict(id: string, task: TaskState): ApiError {
  return new ApiError(409, 'task_conflict', `Task ${id} kept changing while the request was being handled; nothing was changed: read it and try again.`, { body: { status: task.status } });
}
