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
  TaskStats,
} from './model';
import type { TaskService } from './service';

const tags = ['tasks'];

export function tasksPlugin(tasks: TaskService) {
  return new Elysia({ name: 'tasks' })
    .get('/api/tasks/stats', () => tasks.stats(), {
      response: { 200: TaskStats },
      detail: { tags, summary: 'Counts by status, queue depth (claimable now), blocked, in progress per agent, oldest open age' },
    })
    .post(
      '/api/tasks/swarm',
      async ({ body, set }) => {
        const swarm = await tasks.swarm(body);
        set.status = 201;
        return swarm;
      },
      {
        body: SwarmBody,
        response: { 201: SwarmResponse, 422: ErrorBody },
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
        response: { 201: Task, 422: ErrorBody },
        detail: { tags, summary: 'Create a task; depends_on and parent_task_id must name existing tasks' },
      },
    )
    .get('/api/tasks', async ({ query }) => ({ ...(await tasks.list(query)), limit: query.limit, offset: query.offset }), {
      query: ListTasksQuery,
      response: { 200: TaskList },
      detail: { tags, summary: 'List tasks by priority (high first), then age (old first); filter by status, agent, swarm, parent' },
    })
    .get('/api/tasks/:id', ({ params }) => tasks.get(params.id), {
      params: TaskParams,
      response: { 200: Task, 404: ErrorBody },
      detail: { tags, summary: 'One task' },
    })
    .post('/api/tasks/:id/claim', ({ params, body }) => tasks.claim(params.id, body), {
      params: TaskParams,
      body: ClaimBody,
      response: { 200: Task, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      detail: { tags, summary: 'Claim an Open task whose dependencies are Completed (single winner; gaze check when required)' },
    })
    .post('/api/tasks/:id/complete', ({ params, body }) => tasks.complete(params.id, body), {
      params: TaskParams,
      body: CompleteBody,
      response: { 200: CompleteResponse, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      detail: { tags, summary: 'Complete (or fail) a claimed task; unblocks dependents and claims those with an assigned agent' },
    })
    .delete('/api/tasks/:id', ({ params }) => tasks.cancel(params.id), {
      params: TaskParams,
      response: { 200: Task, 404: ErrorBody, 409: ErrorBody },
      detail: { tags, summary: 'Cancel a task that is not finished' },
    });
}
