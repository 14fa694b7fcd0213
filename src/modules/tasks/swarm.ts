/**
 * A swarm: a goal split into subtasks, persisted as a root task for the goal (it depends on every
 * subtask, so it becomes claimable — to assemble the outcome — once they are all Completed) and the
 * subtasks under it, all sharing a `swarm_id`.
 *
 * Strategies: `parallel` (no dependencies), `sequential` (each subtask waits for the one before),
 * `dag` (the dependencies given). Explicit subtasks with a bad graph are the client's error (422);
 * an LLM plan with a bad graph is not used, and the swarm falls back to a single subtask.
 */
import { ApiError, type FieldError } from '../../lib/errors';
import { resolveDependencies, topologicalOrder, type PlanItem } from './dag';
import type { Hedgehog } from '../../config';
import { decomposeGoal, DEFAULT_DECOMPOSITION_MODEL, type LlmSubtask } from './decompose';
import type { Decomposition, SwarmBody, SwarmStrategy } from './model';
import type { NewTask } from './store';
import type { Work } from '../../lib/work';

export interface PlannedSubtask {
  title: string;
  description: string;
  priority: number;
  capabilities: string[];
  agent: string | null;
  /** Indices of the subtasks this one waits for. */
  deps: number[];
}

export interface SwarmPlan {
  subtasks: PlannedSubtask[];
  /** Subtask indices in dependency order (creation order). */
  order: number[];
  decomposition: Decomposition;
}

const TITLE_MAX = 500;

/** The goal as a title: at most 500 code points, cut with an ellipsis. */
function goalTitle(goal: string): string {
  const chars = [...goal];
  return chars.length <= TITLE_MAX ? goal : chars.slice(0, TITLE_MAX - 1).join('') + '…';
}

export async function planSwarm(body: SwarmBody, hedgehog: Hedgehog, work: Work, signal?: AbortSignal): Promise<SwarmPlan> {
  const agents = body.agents ?? [];
  if (body.subtasks) {
    const graph = applyStrategy(body.subtasks, body.strategy, true);
    if ('errors' in graph) throw new ApiError(422, 'invalid_swarm_plan', `The subtasks do not form a valid plan: ${graph.errors[0]?.path}: ${graph.errors[0]?.message}.`, { errors: graph.errors });
    return {
      subtasks: withAgents(body.subtasks, agents, (s) => s.agent ?? null).map((s, i) => ({ ...s, deps: graph.deps[i] ?? [] })),
      order: graph.order,
      decomposition: { method: 'explicit', reason: null, model: null },
    };
  }
  const model = body.model ?? DEFAULT_DECOMPOSITION_MODEL;
  const llm = await decomposeGoal(hedgehog, { goal: body.goal, strategy: body.strategy, agents, model }, work, signal);
  if (!llm.ok) return fallback(body, llm.reason, model);
  const graph = applyStrategy(llm.subtasks, body.strategy, false);
  if ('errors' in graph) return fallback(body, `the LLM plan is not a valid graph (${graph.errors[0]?.path}: ${graph.errors[0]?.message})`, model);
  return {
    // A name the model made up would make the subtask unclaimable: only listed agents count.
    subtasks: withAgents(llm.subtasks, agents, (s) => (s.agent !== null && agents.includes(s.agent) ? s.agent : null)).map((s: LlmSubtask & { agent: string | null }, i) => ({
      title: s.title,
      description: s.description,
      priority: s.priority,
      capabilities: s.capabilities,
      agent: s.agent,
      deps: graph.deps[i] ?? [],
    })),
    order: graph.order,
    decomposition: { method: 'llm', reason: null, model },
  };
}

/** The dependencies a strategy gives the items, in creation order; errors for a bad graph. */
function applyStrategy(items: PlanItem[], strategy: SwarmStrategy, explicit: boolean): { deps: number[][]; order: number[] } | { errors: FieldError[] } {
  if (strategy !== 'dag') {
    const given = items.findIndex((s) => s.depends_on.length > 0);
    // The model was told the strategy; stray dependencies in its answer are dropped, a client's are refused.
    if (explicit && given >= 0) return { errors: [{ path: `subtasks.${given}.depends_on`, message: `strategy ${strategy} takes no depends_on; use strategy "dag"` }] };
    const deps = items.map((_, i) => (strategy === 'sequential' && i > 0 ? [i - 1] : []));
    return { deps, order: items.map((_, i) => i) };
  }
  const { deps, errors } = resolveDependencies(items);
  if (errors.length) return { errors };
  const sorted = topologicalOrder(deps);
  if ('cycle' in sorted) return { errors: [{ path: 'subtasks', message: `dependency cycle: ${[...sorted.cycle, sorted.cycle[0]].join(' → ')}` }] };
  return { deps, order: sorted.order };
}

function fallback(body: SwarmBody, reason: string, model: string): SwarmPlan {
  const only = { title: goalTitle(body.goal), description: body.goal, priority: body.priority, capabilities: [], agent: roundRobin(body.agents ?? [], 0), deps: [] };
  return { subtasks: [only], order: [0], decomposition: { method: 'fallback', reason, model } };
}

/** Each item with its agent: its own when `own` names one, else the next of `agents` in turn (only those without one take a turn). */
function withAgents<T>(items: T[], agents: string[], own: (item: T) => string | null): (T & { agent: string | null })[] {
  let turn = 0;
  return items.map((item) => ({ ...item, agent: own(item) ?? roundRobin(agents, turn++) }));
}

function roundRobin(agents: string[], i: number): string | null {
  return agents.length ? (agents[i % agents.length] as string) : null;
}

export interface SwarmIds {
  swarmId: string;
  rootId: string;
  subtaskIds: string[];
}

/**
 * The tasks to create, dependencies first: the subtasks in dependency order, then the root — last,
 * because on SpacetimeDB its write is the swarm's commit point (spacetime-create.ts).
 */
export function swarmTasks(body: SwarmBody, plan: SwarmPlan, ids: SwarmIds): NewTask[] {
  const base = { validation_mode: 'CreatorReview', swarm_id: ids.swarmId, gaze_required: false, reward_units: 0 };
  const subtasks = plan.order.map((i): NewTask => {
    const s = plan.subtasks[i] as PlannedSubtask;
    return {
      ...base,
      task_id: ids.subtaskIds[i] as string,
      title: s.title,
      description: s.description,
      priority: s.priority,
      capabilities: s.capabilities,
      parent_task_id: ids.rootId,
      depends_on: s.deps.map((d) => ids.subtaskIds[d] as string),
      assigned_agent: s.agent,
    };
  });
  const root: NewTask = {
    ...base,
    task_id: ids.rootId,
    title: goalTitle(body.goal),
    description: body.goal,
    priority: body.priority,
    capabilities: [],
    parent_task_id: null,
    depends_on: ids.subtaskIds,
    assigned_agent: null,
  };
  return [...subtasks, root];
}
