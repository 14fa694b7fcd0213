/**
 * How the task queue lives in optx-cortex's `memory_entry` table (see docs/tasks.md):
 *
 * - a task row: category `task`, key `task:<id>`, value = the task's JSON plus its `version`
 *   (the number of transitions applied) — a materialised view other programs can read;
 * - step rows: category `task_step:<id>`, key `task_step:<id>:<version>:<nonce>`, value = one
 *   proposed transition to `version`, carrying the whole task as it is after that transition.
 *   Among the step rows of one version, the one with the lowest `id` is the transition that
 *   happened; winners are kept (they are the log), losers delete their rows.
 *
 * A swarm is written subtasks first, root last; the root's row is the swarm's commit point. A
 * subtask (a row with a `swarm_id` and a `parent_task_id`) whose root row does not exist is not
 * committed: it does not exist as far as the API is concerned (`isCommitted`).
 */
import { z } from '../../lib/zod';
import { isoNow } from '../../lib/time';
import { Task } from './model';
import type { Status } from './state';

export const TASK_CATEGORY = 'task';
export const SOURCE = 'hermes-optx-api';

export const taskKey = (id: string) => `task:${id}`;
export const stepCategory = (id: string) => `task_step:${id}`;
export const stepKey = (id: string, version: number, nonce: string) => `task_step:${id}:${version}:${nonce}`;

/**
 * A time as the sidecar writes it (isoNow). Leases are compared as text and stats count seconds from
 * these: a row with another writer's time ("", "yesterday") made every sidecar's stats a 500.
 */
const StoredTime = z.string().check(z.refine((s) => {
  const ms = Date.parse(s);
  return Number.isFinite(ms) && isoNow(ms) === s;
}, { error: 'not an ISO 8601 UTC time with milliseconds' }));

/**
 * A task as stored: the API task without the computed `blocked_by`, plus its version. Fields it does
 * not know (written by a newer sidecar sharing the queue) are kept, so rewriting the row after a
 * transition does not erase them; `toTask` leaves them out of answers.
 */
export const StoredTask = z.looseObject({
  ...z.omit(Task, { blocked_by: true }).shape,
  created_at: StoredTime,
  updated_at: StoredTime,
  claimed_at: z.nullable(StoredTime),
  lease_expires_at: z.nullable(StoredTime),
  completed_at: z.nullable(StoredTime),
  cancelled_at: z.nullable(StoredTime),
  version: z.number().check(z.int(), z.gte(0)),
});
export type StoredTask = z.infer<typeof StoredTask>;

/** A step's value. `action` and `proposer` are diagnostics: the transition is the task it carries. */
const StepValue = z.object({
  version: z.number().check(z.int(), z.gte(1)),
  action: z.string(),
  /** Sidecar instance that proposed it. */
  proposer: z.string(),
  task: StoredTask,
});

export interface Step {
  /** memory_entry.id: commit order, which decides between proposals of one version. */
  id: number;
  key: string;
  /** The version proposed, from the key (every writer of the protocol names it there). */
  version: number;
  /**
   * The task after the transition; null when this sidecar cannot read the value (a newer sidecar's
   * status or shape). Such a step still takes part in deciding its version: ignored, a later proposal
   * of ours would have won a version that another sidecar had already won.
   */
  task: StoredTask | null;
}

function parseValue<T>(schema: z.ZodMiniType<T>, value: unknown): T | null {
  if (typeof value !== 'string') return null;
  try {
    const r = z.safeParse(schema, JSON.parse(value));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** Task rows → tasks; a row that is not one of our tasks (another writer's shape) is skipped. */
export function parseTaskRows(rows: Record<string, unknown>[]): StoredTask[] {
  return rows.flatMap((r) => {
    const t = parseValue(StoredTask, r.value);
    return t && r.key === taskKey(t.task_id) ? [t] : [];
  });
}

export function parseSteps(rows: Record<string, unknown>[], taskId: string): Step[] {
  const prefix = `${stepCategory(taskId)}:`;
  return rows.flatMap((r) => {
    if (typeof r.id !== 'number' || typeof r.key !== 'string' || !r.key.startsWith(prefix)) return [];
    const version = Number(/^(\d+):/.exec(r.key.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(version) || version < 1) return [];
    const s = parseValue(StepValue, r.value);
    const readable = s !== null && s.version === version && s.task.task_id === taskId && s.task.version === version;
    return [{ id: r.id, key: r.key, version, task: readable ? s.task : null }];
  });
}

/** The step that won `version`: the lowest id among its proposals. */
export function winnerOf(steps: Step[], version: number): Step | null {
  let best: Step | null = null;
  for (const s of steps) if (s.version === version && (best === null || s.id < best.id)) best = s;
  return best;
}

/** The newest transition that happened: the winner of the highest version proposed. */
export function latestWinner(steps: Step[]): Step | null {
  const top = steps.reduce((max, s) => Math.max(max, s.version), 0);
  return top === 0 ? null : winnerOf(steps, top);
}

/**
 * The current task: the cached row, or a newer winning step when the cache lags behind. A winner this
 * sidecar cannot read is passed over for the newest one it can: its own proposals then lose that
 * version (the unreadable row has the lower id), so it never writes over a transition it cannot see.
 */
export function currentOf(cached: StoredTask, steps: Step[]): StoredTask {
  // The versions proposed, not every number below the highest: a key naming version 2^53 (another
  // writer's garbage) made this walk 2^53 steps and hung the process.
  const newer = [...new Set(steps.map((s) => s.version))].filter((v) => v > cached.version).sort((x, y) => y - x);
  for (const v of newer) {
    const task = winnerOf(steps, v)?.task;
    if (task) return task;
  }
  return cached;
}

/** `blocked_by` from the statuses of the dependencies; an unknown dependency blocks. */
export function blockedBy(task: StoredTask, statusOf: (id: string) => Status | undefined): string[] {
  return task.depends_on.filter((d) => statusOf(d) !== 'Completed');
}

/** The root a swarm subtask hangs on, or null for a root or an ordinary task (their `swarm_id` is null). */
export function swarmRootOf(t: StoredTask): string | null {
  return t.swarm_id !== null && t.parent_task_id !== null ? t.parent_task_id : null;
}

/** The swarm a row is the root of (a swarm id and no parent), or undefined. */
export function swarmOfRoot(t: StoredTask): string | undefined {
  return t.swarm_id !== null && t.parent_task_id === null ? t.swarm_id : undefined;
}

/**
 * Whether a task row is committed: always, unless it is a swarm subtask, which is committed once the
 * root of its swarm exists. `rootSwarm(id)` is the swarm the row `id` is the root of (undefined when
 * there is no such row, or it is no root).
 */
export function isCommitted(t: StoredTask, rootSwarm: (id: string) => string | undefined): boolean {
  const root = swarmRootOf(t);
  return root === null || rootSwarm(root) === t.swarm_id;
}
