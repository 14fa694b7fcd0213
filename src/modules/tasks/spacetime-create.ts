/**
 * Creating tasks in SpacetimeDB, where no transaction spans several reducer calls (docs/tasks.md,
 * "Swarm creation"). A batch of several tasks is a swarm, written subtasks first and root last: the
 * root's row is the commit point. Until it exists the subtasks are invisible to every sidecar
 * (spacetime-table.ts), so a half-written swarm can be neither seen nor claimed, and taking it back
 * never pulls a task from under an agent.
 *
 * - A subtask write fails: every planned subtask row is deleted (acknowledged or not: a write that
 *   timed out may have committed), the root is never written, the error is answered.
 * - The root write fails and SpacetimeDB said so (it answered, the reducer did not commit): the same.
 * - The root write's outcome is unknown (timeout, connection lost, 5xx, garbled answer): the root is
 *   read back. There: the swarm is committed and created. Not there: the subtasks are left alone and
 *   the error is answered. Should the root's write still land, the swarm appears whole (like any
 *   write that timed out, it may have happened); if not, its subtasks stay invisible.
 *
 * Rows that could not be deleted (SpacetimeDB unreachable) or that landed after the deletes are
 * invisible leftovers; reads that see every row sweep those older than LEFTOVER_AGE_MS.
 */
import { ApiError } from '../../lib/errors';
import { SpacetimeError, spacetimeToApiError, type SpacetimeErrorKind } from '../../spacetime/errors';
import { rewardToString } from './model';
import type { StoredTask } from './spacetime-rows';
import type { TaskTable } from './spacetime-table';
import type { NewTask } from './store';

/**
 * Age past which an uncommitted subtask is deleted by a sweep: far longer than writing a swarm can
 * take (at most 101 writes of SPACETIMEDB_TIMEOUT_S each), with room for sidecar clocks that disagree.
 */
const LEFTOVER_AGE_MS = 24 * 3600 * 1000;
/** Leftovers deleted by one sweep; any others go at the next. */
const SWEEP_MAX = 100;

/** Failures after which SpacetimeDB has answered and the reducer certainly did not commit. */
const NOT_COMMITTED: SpacetimeErrorKind[] = ['reducer_failed', 'bad_request', 'not_found', 'unauthorized', 'redirected', 'invalid_value'];

/** Writes the batch (one task, or a swarm: subtasks, then the root) and returns the rows written. */
export async function createTasks(table: TaskTable, batch: NewTask[], now: string): Promise<StoredTask[]> {
  const rows = batch.map((t) => newStoredTask(t, now));
  const root = rows.at(-1);
  if (!root) return [];
  const subtasks = rows.slice(0, -1);
  assertSwarmOrder(root, subtasks);
  const subtaskIds = subtasks.map((t) => t.task_id);
  try {
    for (const t of subtasks) await table.write(t);
  } catch (err) {
    await table.purge(subtaskIds);
    throw nothingShown(err);
  }
  try {
    await table.write(root);
  } catch (err) {
    if (err instanceof SpacetimeError && NOT_COMMITTED.includes(err.kind)) {
      await table.purge(subtaskIds);
      throw err;
    }
    const landed = await table.byIds([root.task_id]).then((r) => r.length > 0, () => false);
    if (!landed) throw err instanceof SpacetimeError && err.kind === 'unreachable' ? err : mayStillAppear(err, root);
  }
  return rows;
}

/**
 * The root's write may still land (a timeout, a lost connection): the client is told which task to
 * look for before creating it again. Without its id, a payer whose swarm the LLM had planned (the
 * credential spent) could only retry, and got a second swarm beside the first once that one landed.
 */
function mayStillAppear(err: unknown, root: StoredTask): ApiError {
  const e = spacetimeToApiError(err);
  const swarm = root.swarm_id !== null;
  const ids = swarm ? { swarm_id: root.swarm_id, root_task_id: root.task_id } : { task_id: root.task_id };
  const what = swarm ? `the swarm ${root.swarm_id} (its root task ${root.task_id})` : `the task ${root.task_id}`;
  const detail = `${e.detail} Its write was sent and may still be stored: ${what} appears whole if it was; check GET /api/tasks/${root.task_id} before creating it again.`;
  return new ApiError(e.status, e.code, detail, { ...e.extra, body: { ...e.extra.body, ...ids } });
}

/**
 * A subtask write whose answer was lost may have committed, but without its root no sidecar shows it:
 * nothing was created, and the host is answered as unreachable (503, try again), not as a write that
 * may have happened (502 `spacetimedb_connection_lost`, which keeps a paid request's credential spent).
 */
function nothingShown(err: unknown): unknown {
  return err instanceof SpacetimeError && err.kind === 'connection_lost' ? new SpacetimeError('unreachable', err.message, { cause: err }) : err;
}

/** Deletes some of the uncommitted subtasks older than LEFTOVER_AGE_MS (`uncommitted` is from a read of every row). */
export async function sweepLeftovers(table: TaskTable, uncommitted: StoredTask[], now: string): Promise<void> {
  const cutoff = Date.parse(now) - LEFTOVER_AGE_MS;
  const stale = uncommitted.filter((t) => Date.parse(t.created_at) < cutoff).slice(0, SWEEP_MAX);
  await table.purge(stale.map((t) => t.task_id));
}

/** Several tasks are created together only as a swarm whose root comes last: anything else would not be all-or-nothing. */
function assertSwarmOrder(root: StoredTask, subtasks: StoredTask[]): void {
  if (!subtasks.length) return;
  const isRoot = root.swarm_id !== null && root.parent_task_id === null;
  if (!isRoot || subtasks.some((t) => t.swarm_id !== root.swarm_id || t.parent_task_id !== root.task_id)) {
    throw new Error('A batch of several tasks must be one swarm: its subtasks, then its root.');
  }
}

function newStoredTask(t: NewTask, now: string): StoredTask {
  return {
    task_id: t.task_id,
    title: t.title,
    description: t.description,
    status: 'Open',
    priority: t.priority,
    capabilities: t.capabilities,
    validation_mode: t.validation_mode,
    parent_task_id: t.parent_task_id,
    swarm_id: t.swarm_id,
    depends_on: t.depends_on,
    assigned_agent: t.assigned_agent,
    agent: null,
    gaze_required: t.gaze_required,
    reward: rewardToString(t.reward_units),
    result: null,
    created_at: now,
    updated_at: now,
    claimed_at: null,
    lease_expires_at: null,
    completed_at: null,
    completed_by: null,
    cancelled_at: null,
    version: 0,
  };
}
