/** Routes of the task queue (SPEC §11). The static paths (stats, swarm) are declared before `:id`. */
import { Elysia } from 'elysia';
import {
  ClaimBody,
  CompleteBody,
  CompleteResponse,
  CreateTaskBody,
  ErrorBody,
  ListTasksQuery,
  SwarmBody,
  SwarmResponse,
  Task,
  TaskList,
  TaskParams,
  TaskConflictBody,
  TaskForbiddenBody,
  TaskStats,
} from './model';
import type { TaskService } from './service';
import { workOf } from '../../lib/work';
import { z } from '../../lib/zod';

const tags = ['tasks'];
const STORE_DOWN = 'The task store is unavailable: SpacetimeDB unreachable, or the local database busy or read-only';
/** Every route reads or writes the store (SpacetimeDB's 502/504 are under `default`). */
const unavailable = { 503: ErrorBody.check(z.describe(STORE_DOWN)) };
const ClaimForbidden = ErrorBody.check(z.describe('`gaze_required`, `gaze_not_verified` or `gaze_stale`: the task requires a verified gaze session (gaze_session_id)'));
const CompleteForbidden = TaskForbiddenBody.check(z.describe('`task_claimed_by_other`: another agent holds the claim (`agent` names it)'));
const RACE = '; on SpacetimeDB, `task_conflict` after repeated lost races (nothing changed)';
const ClaimConflict = TaskConflictBody.check(z.describe(`\`task_not_open\` (status, agent), \`task_assigned\` (assigned_agent) or \`task_blocked\` (blocked_by)${RACE}`));
const CompleteConflict = TaskConflictBody.check(z.describe(`\`task_not_in_progress\` (status): never claimed, its lease ran out, or already finished${RACE}`));
const CancelConflict = TaskConflictBody.check(z.describe(`\`task_finished\` (status): Completed, Failed or Cancelled already${RACE}`));
const ClaimUnavailable = ErrorBody.check(z.describe(`${STORE_DOWN}; or gaze verification (AARON_URL) is, for a gaze_required task`));

export function tasksPlugin(tasks: TaskService) {
  return new Elysia({ name: 'tasks' })
    .get('/api/tasks/stats', () => tasks.stats(), {
      response: { ...unavailable, 200: TaskStats },
      detail: { tags, summary: 'Counts by status, queue depth (claimable now), blocked, in progress per agent, oldest open age' },
    })
    .post(
      '/api/tasks/swarm',
      async ({ body, request, set }) => {
        const swarm = await tasks.swarm(body, workOf(request), request.signal);
        set.status = 201;
        return swarm;
      },
      {
        body: SwarmBody,
        response: { ...unavailable, 201: SwarmResponse, 422: ErrorBody },
        detail: { tags, summary: 'Create a swarm: a root task for the goal and subtasks (given, or decomposed by the LLM) with dependencies' },
      },
    )
    .post(
      '/api/tasks',
      async ({ body, set }) => {
        const task = await tasks.create(body);
        set.status = 201;
        return task;
      },
      {
        body: CreateTaskBody,
        response: { ...unavailable, 201: Task, 422: ErrorBody },
        detail: { tags, summary: 'Create a task; depends_on and parent_task_id must name existing tasks' },
      },
    )
    .get('/api/tasks', async ({ query }) => ({ ...(await tasks.list(query)), limit: query.limit, offset: query.offset }), {
      query: ListTasksQuery,
      response: { ...unavailable, 200: TaskList },
      detail: { tags, summary: 'List tasks by priority (high first), then age (old first); filter by status, agent, swarm, parent' },
    })
    .get('/api/tasks/:id', ({ params }) => tasks.get(params.id), {
      params: TaskParams,
      response: { ...unavailable, 200: Task, 404: ErrorBody },
      detail: { tags, summary: 'One task' },
    })
    .post('/api/tasks/:id/claim', ({ params, body }) => tasks.claim(params.id, body), {
      params: TaskParams,
      body: ClaimBody,
      response: { ...unavailable, 200: Task, 403: ClaimForbidden, 404: ErrorBody, 409: ClaimConflict, 503: ClaimUnavailable },
      detail: { tags, summary: 'Claim an Open task whose dependencies are Completed (single winner; gaze check when required)' },
    })
    .post('/api/tasks/:id/complete', ({ params, body }) => tasks.complete(params.id, body), {
      params: TaskParams,
      body: CompleteBody,
      response: { ...unavailable, 200: CompleteResponse, 403: CompleteForbidden, 404: ErrorBody, 409: CompleteConflict },
      detail: { tags, summary: 'Complete (or fail) a claimed task; unblocks dependents and claims those with an assigned agent' },
    })
    .delete('/api/tasks/:id', ({ params }) => tasks.cancel(params.id), {
      params: TaskParams,
      response: { ...unavailable, 200: Task, 404: ErrorBody, 409: CancelConflict },
      detail: { tags, summary: 'Cancel a task that is not finished' },
    });
}
