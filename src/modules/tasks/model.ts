/**
 * Schemas of the task routes (SPEC §11). `reward` is money: requests give a non-negative decimal
 * (JSON number or string, at most 6 decimals), responses a decimal string; stores keep integer base
 * units. Unknown request fields are ignored.
 */
import { Counts, errorBodyWith } from '../../lib/api-schemas';
import { finiteNumbers, queryInt, wellFormed, z } from '../../lib/zod';
import { MoneyFormatError, fromBaseUnits, toBaseUnits } from '../../lib/money';
import { SAFE_ID } from '../../lib/ids';
import { GazeSessionId } from '../gaze/model';
import { TASK_STATUSES } from './state';

const REWARD_DECIMALS = 6;
const MAX_DEPENDENCIES = 100;
const MAX_SUBTASKS = 100;
const MAX_LEASE_SECONDS = 30 * 86_400;

// No control characters: agent names end up in logs, SQL literals (SpacetimeDB) and other agents' UIs.
const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;
// No lone surrogates either: SQLite stores text as UTF-8, which cannot hold one (it became U+FFFD, so
// a task read back differed from the one created, and from the same task on SpacetimeDB).
const WELL_FORMED = 'must be well-formed Unicode text (no lone surrogates)';
const printable = (max: number) => z.string().check(z.trim(), z.minLength(1), z.maxLength(max), z.regex(PRINTABLE, { error: 'must not contain control characters' }), wellFormed(WELL_FORMED));

const AgentName = printable(128).check(z.describe('Name of an agent, e.g. astrojoe'));
const TaskId = z.string().check(z.regex(SAFE_ID, { error: 'not a task id' }));
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;

/** A decimal amount → integer base units (a safe integer, so it round-trips through JSON and SQLite). */
const Reward = z.pipe(
  z.union([z.number(), z.string()]).check(z.describe('Non-negative amount with at most 6 decimals, as a JSON number or a decimal string')),
  // zod/mini hands a transform the bare parse payload (no `addIssue` helper): issues are pushed.
  z.transform((v, payload) => {
    try {
      const units = toBaseUnits(v, REWARD_DECIMALS);
      if (units > BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyFormatError('too large');
      return Number(units);
    } catch {
      payload.issues.push({ code: 'custom', message: 'must be a non-negative decimal amount with at most 6 decimals and at most 9007199254.740991', input: v });
      return z.NEVER;
    }
  }),
);

export const rewardToString = (units: number): string => fromBaseUnits(BigInt(units), REWARD_DECIMALS);

/** Body fields holding money sent as a JSON number, by route path: the body reader keeps their digits (lib/body.ts). */
export const EXACT_NUMBER_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([['/api/tasks', ['reward']]]);

const Capabilities = z.array(printable(64)).check(z.maxLength(32));
const Title = printable(500);
const Description = z.string().check(z.maxLength(20_000), wellFormed(WELL_FORMED));
const Priority = z.number().check(z.int(), z.gte(1), z.lte(10));

export const CreateTaskBody = z.object({
  title: Title,
  description: z._default(Description, ''),
  reward: z._default(Reward, 0),
  capabilities: z._default(Capabilities, []),
  validation_mode: z._default(printable(64), 'CreatorReview'),
  priority: z._default(Priority, 5),
  parent_task_id: z.nullish(TaskId),
  depends_on: z._default(z.array(TaskId).check(z.maxLength(MAX_DEPENDENCIES)), []),
  assigned_agent: z.nullish(AgentName),
  gaze_required: z._default(z.boolean(), false),
});
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const ListTasksQuery = z.object({
  status: z.optional(TaskStatus),
  agent: z.optional(AgentName).check(z.describe('tasks held by or assigned to this agent')),
  swarm_id: z.optional(TaskId),
  parent_task_id: z.optional(TaskId),
  limit: z._default(queryInt(1, 500), 50),
  offset: z._default(queryInt(0, 1_000_000_000), 0),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const TaskParams = z.object({ id: z.string() });

export const ClaimBody = z.object({
  agent_name: AgentName,
  lease_seconds: z.nullish(z.number().check(z.int(), z.gte(1), z.lte(MAX_LEASE_SECONDS))).check(z.describe('the claim lapses after this long; none means no expiry')),
  gaze_session_id: z.nullish(GazeSessionId),
});
export type ClaimBody = z.infer<typeof ClaimBody>;

export const CompleteBody = z.object({
  agent_name: AgentName,
  result: z.optional(z.unknown()).check(
    finiteNumbers('result'),
    z.describe('any JSON value: the outcome, or the error when success is false'),
  ),
  success: z._default(z.boolean(), true),
});
export type CompleteBody = z.infer<typeof CompleteBody>;

export const Task = z.object({
  task_id: z.string(),
  title: z.string(),
  description: z.string(),
  status: TaskStatus,
  priority: z.number().check(z.int()),
  capabilities: z.array(z.string()),
  validation_mode: z.string(),
  parent_task_id: z.nullable(z.string()),
  swarm_id: z.nullable(z.string()),
  depends_on: z.array(z.string()),
  /** Dependencies not yet Completed; the task cannot be claimed while this is non-empty. */
  blocked_by: z.array(z.string()),
  assigned_agent: z.nullable(z.string()),
  agent: z.nullable(z.string()),
  gaze_required: z.boolean(),
  reward: z.string().check(z.describe('decimal string, 6 decimals at most')),
  result: z.unknown(),
  created_at: z.string(),
  updated_at: z.string(),
  claimed_at: z.nullable(z.string()),
  lease_expires_at: z.nullable(z.string()),
  completed_at: z.nullable(z.string()),
  completed_by: z.nullable(z.string()),
  cancelled_at: z.nullable(z.string()),
});
export type Task = z.infer<typeof Task>;

export const TaskList = z.object({ tasks: z.array(Task), total: z.number().check(z.int()), limit: z.number().check(z.int()), offset: z.number().check(z.int()) });

export const CompleteResponse = z.extend(Task, {
  /** Dependents whose last unfinished dependency this was. */
  unblocked: z.array(z.string()),
  /** Of those, the ones claimed for their assigned_agent. */
  auto_claimed: z.array(z.string()),
});

export const TaskStats = z.object({
  backend: z.enum(['sqlite', 'spacetimedb']),
  total: z.number().check(z.int()),
  by_status: z.object(Object.fromEntries(TASK_STATUSES.map((s) => [s, z.number().check(z.int())])) as Record<TaskStatus, z.ZodMiniNumber>),
  queue_depth: z.number().check(z.int(), z.describe('Open tasks whose dependencies are all Completed')),
  blocked: z.number().check(z.int(), z.describe('Open tasks waiting for a dependency')),
  in_progress_by_agent: Counts,
  oldest_open_age_s: z.nullable(z.number()),
});
export type TaskStats = z.infer<typeof TaskStats>;

export const SwarmStrategy = z.enum(['parallel', 'sequential', 'dag']);
export type SwarmStrategy = z.infer<typeof SwarmStrategy>;

const SubtaskInput = z.object({
  title: Title,
  description: z._default(Description, ''),
  priority: z._default(Priority, 5),
  capabilities: z._default(Capabilities, []),
  agent: z.nullish(AgentName),
  depends_on: z
    ._default(z.array(z.union([z.number().check(z.int(), z.gte(0)), printable(500)])).check(z.maxLength(MAX_DEPENDENCIES)), [])
    .check(z.describe('other subtasks of this request, by 0-based index or by title')),
});

export const SwarmBody = z.object({
  goal: printable(10_000).check(z.describe('what the swarm should achieve; becomes the root task')),
  strategy: z._default(SwarmStrategy, 'parallel'),
  agents: z.optional(z.array(AgentName).check(z.maxLength(64))).check(z.describe('agents to spread unassigned subtasks over, round-robin')),
  subtasks: z.optional(z.array(SubtaskInput).check(z.minLength(1), z.maxLength(MAX_SUBTASKS))).check(z.describe('the plan; without it the goal is decomposed by the LLM')),
  priority: z._default(Priority, 5).check(z.describe('priority of the root task')),
  model: z.optional(printable(200)).check(z.describe('model asked for the decomposition (default hermes-agent)')),
});
export type SwarmBody = z.infer<typeof SwarmBody>;

export const Decomposition = z.object({
  method: z.enum(['explicit', 'llm', 'fallback']),
  /** Why the LLM plan was not used (fallback), or null. */
  reason: z.nullable(z.string()),
  model: z.nullable(z.string()),
});
export type Decomposition = z.infer<typeof Decomposition>;

export const SwarmResponse = z.object({
  swarm_id: z.string(),
  goal: z.string(),
  strategy: SwarmStrategy,
  root_task_id: z.string(),
  root_task: Task,
  tasks: z.array(Task),
  total: z.number().check(z.int()),
  decomposition: Decomposition,
});

export { ErrorBody } from '../../lib/api-schemas';
/** A 409 says what stands in the way: the task's status and holder, its assigned agent, or its unfinished dependencies. */
export const TaskConflictBody = errorBodyWith({
  status: z.optional(TaskStatus),
  agent: z.optional(z.nullable(z.string())),
  assigned_agent: z.optional(z.string()),
  blocked_by: z.optional(z.array(z.string())),
});
/** A 403 of `complete` names the agent that holds the task (a failed gaze check has no `agent`). */
export const TaskForbiddenBody = errorBodyWith({ agent: z.optional(z.nullable(z.string())) });
