/**
 * Schemas of the task routes (SPEC §11). `reward` is money: requests give a non-negative decimal
 * (JSON number or string, at most 6 decimals), responses a decimal string; stores keep integer base
 * units. Unknown request fields are ignored.
 */
import { z } from 'zod';
import { MoneyFormatError, fromBaseUnits, toBaseUnits } from '../../lib/money';
import { SAFE_ID } from '../../lib/ids';
import { TASK_STATUSES } from './state';

export const REWARD_DECIMALS = 6;
export const MAX_DEPENDENCIES = 100;
export const MAX_SUBTASKS = 100;
export const MAX_LEASE_SECONDS = 30 * 86_400;

// No control characters: agent names end up in logs, SQL literals (SpacetimeDB) and other agents' UIs.
const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;
const printable = (max: number) => z.string().trim().min(1).max(max).regex(PRINTABLE, { error: 'must not contain control characters' });

export const AgentName = printable(128).describe('Name of an agent, e.g. astrojoe');
export const TaskId = z.string().regex(SAFE_ID, { error: 'not a task id' });
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;

/** A decimal amount → integer base units (a safe integer, so it round-trips through JSON and SQLite). */
export const Reward = z
  .union([z.number(), z.string()])
  .describe('Non-negative amount with at most 6 decimals, as a JSON number or a decimal string')
  .transform((v, ctx) => {
    try {
      const units = toBaseUnits(v, REWARD_DECIMALS);
      if (units > BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyFormatError('too large');
      return Number(units);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a non-negative decimal amount with at most 6 decimals and at most 9007199254.740991' });
      return z.NEVER;
    }
  });

export const rewardToString = (units: number): string => fromBaseUnits(BigInt(units), REWARD_DECIMALS);

const Capabilities = z.array(printable(64)).max(32);
const Title = printable(500);
const Description = z.string().max(20_000);
const Priority = z.number().int().min(1).max(10);

export const CreateTaskBody = z.object({
  title: Title,
  description: Description.default(''),
  reward: Reward.default(0),
  capabilities: Capabilities.default([]),
  validation_mode: printable(64).default('CreatorReview'),
  priority: Priority.default(5),
  parent_task_id: TaskId.nullish(),
  depends_on: z.array(TaskId).max(MAX_DEPENDENCIES).default([]),
  assigned_agent: AgentName.nullish(),
  gaze_required: z.boolean().default(false),
});
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const ListTasksQuery = z.object({
  status: TaskStatus.optional(),
  agent: AgentName.optional().describe('tasks held by or assigned to this agent'),
  swarm_id: TaskId.optional(),
  parent_task_id: TaskId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const TaskParams = z.object({ id: z.string() });

export const ClaimBody = z.object({
  agent_name: AgentName,
  lease_seconds: z.number().int().min(1).max(MAX_LEASE_SECONDS).nullish().describe('the claim lapses after this long; none means no expiry'),
  gaze_session_id: z.string().min(1).max(256).nullish(),
});
export type ClaimBody = z.infer<typeof ClaimBody>;

export const CompleteBody = z.object({
  agent_name: AgentName,
  result: z.unknown().optional().describe('any JSON value: the outcome, or the error when success is false'),
  success: z.boolean().default(true),
});
export type CompleteBody = z.infer<typeof CompleteBody>;

export const Task = z.object({
  task_id: z.string(),
  title: z.string(),
  description: z.string(),
  status: TaskStatus,
  priority: z.number().int(),
  capabilities: z.array(z.string()),
  validation_mode: z.string(),
  parent_task_id: z.string().nullable(),
  swarm_id: z.string().nullable(),
  depends_on: z.array(z.string()),
  /** Dependencies not yet Completed; the task cannot be claimed while this is non-empty. */
  blocked_by: z.array(z.string()),
  assigned_agent: z.string().nullable(),
  agent: z.string().nullable(),
  gaze_required: z.boolean(),
  reward: z.string().describe('decimal string, 6 decimals at most'),
  result: z.unknown(),
  created_at: z.string(),
  updated_at: z.string(),
  claimed_at: z.string().nullable(),
  lease_expires_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  completed_by: z.string().nullable(),
  cancelled_at: z.string().nullable(),
});
export type Task = z.infer<typeof Task>;

export const TaskList = z.object({ tasks: z.array(Task), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const CompleteResponse = Task.extend({
  /** Dependents whose last unfinished dependency this was. */
  unblocked: z.array(z.string()),
  /** Of those, the ones claimed for their assigned_agent. */
  auto_claimed: z.array(z.string()),
});

export const TaskStats = z.object({
  backend: z.enum(['sqlite', 'spacetimedb']),
  total: z.number().int(),
  by_status: z.object(Object.fromEntries(TASK_STATUSES.map((s) => [s, z.number().int()])) as Record<TaskStatus, z.ZodNumber>),
  queue_depth: z.number().int().describe('Open tasks whose dependencies are all Completed'),
  blocked: z.number().int().describe('Open tasks waiting for a dependency'),
  in_progress_by_agent: z.record(z.string(), z.number().int()),
  oldest_open_age_s: z.number().nullable(),
});
export type TaskStats = z.infer<typeof TaskStats>;

export const SwarmStrategy = z.enum(['parallel', 'sequential', 'dag']);
export type SwarmStrategy = z.infer<typeof SwarmStrategy>;

export const SubtaskInput = z.object({
  title: Title,
  description: Description.default(''),
  priority: Priority.default(5),
  capabilities: Capabilities.default([]),
  agent: AgentName.nullish(),
  depends_on: z
    .array(z.union([z.number().int().min(0), printable(500)]))
    .max(MAX_DEPENDENCIES)
    .default([])
    .describe('other subtasks of this request, by 0-based index or by title'),
});
export type SubtaskInput = z.infer<typeof SubtaskInput>;

export const SwarmBody = z.object({
  goal: printable(10_000).describe('what the swarm should achieve; becomes the root task'),
  strategy: SwarmStrategy.default('parallel'),
  agents: z.array(AgentName).max(64).optional().describe('agents to spread unassigned subtasks over, round-robin'),
  subtasks: z.array(SubtaskInput).min(1).max(MAX_SUBTASKS).optional().describe('the plan; without it the goal is decomposed by the LLM'),
  priority: Priority.default(5).describe('priority of the root task'),
  model: printable(200).optional().describe('model asked for the decomposition (default hermes-agent)'),
});
export type SwarmBody = z.infer<typeof SwarmBody>;

export const Decomposition = z.object({
  method: z.enum(['explicit', 'llm', 'fallback']),
  /** Why the LLM plan was not used (fallback), or null. */
  reason: z.string().nullable(),
  model: z.string().nullable(),
});
export type Decomposition = z.infer<typeof Decomposition>;

export const SwarmResponse = z.object({
  swarm_id: z.string(),
  goal: z.string(),
  strategy: SwarmStrategy,
  root_task_id: z.string(),
  root_task: Task,
  tasks: z.array(Task),
  total: z.number().int(),
  decomposition: Decomposition,
});

export const ErrorBody = z.looseObject({
  detail: z.string(),
  code: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
