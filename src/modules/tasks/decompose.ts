/**
 * Goal → subtasks through the LLM at HEDGEHOG_URL (OpenAI-compatible `/v1/chat/completions`).
 * The model is asked for JSON with ids and dependencies; its answer is read leniently (fences,
 * prose, sloppy JSON: loose-json.ts), then checked with zod. Any failure — unreachable, timeout,
 * non-2xx, no JSON, wrong shape — is returned as a reason, never thrown: the swarm falls back to a
 * single task and says why. Only the sidecar's HEDGEHOG key is sent, never the client's credentials.
 */
import { z } from '../../lib/zod';
import { fetchJson, OutboundError } from '../../lib/http';
import { LooseJsonError, parseLooseJson } from './loose-json';
import type { SwarmStrategy } from './model';

export interface HedgehogConfig {
  url: string;
  apiKey: string | null;
  timeoutMs: number;
}

export const DEFAULT_DECOMPOSITION_MODEL = 'hermes-agent';
/** Plans longer than this are refused (fallback): a model that rambles is not a plan. */
export const MAX_LLM_SUBTASKS = 25;

const ChatCompletionWire = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).check(z.minLength(1)),
});

const clampPriority = (v: unknown) => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.min(10, Math.max(1, Math.round(n))) : 5;
};

// Models put newlines and tabs anywhere; the API refuses control characters in these fields.
const text = (max: number) =>
  z.pipe(
    z.pipe(z.string(), z.transform((s) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim())),
    z.string().check(z.minLength(1), z.maxLength(max)),
  );

/** One planned step as models write it: ids may be numbers, fields may be missing or named otherwise. */
const LlmSubtask = z.pipe(
  z.looseObject({
    id: z.optional(z.union([z.string(), z.number()])),
    title: text(500),
    description: z.optional(z.string().check(z.maxLength(20_000))),
    priority: z.optional(z.unknown()),
    capabilities: z.optional(z.array(text(64)).check(z.maxLength(32))),
    agent: z.optional(z.nullable(text(128))),
    depends_on: z.optional(z.array(z.union([z.string(), z.number()])).check(z.maxLength(100))),
    dependencies: z.optional(z.array(z.union([z.string(), z.number()])).check(z.maxLength(100))),
  }),
  z.transform((t) => ({
    id: t.id === undefined ? undefined : String(t.id),
    title: t.title,
    description: t.description ?? '',
    priority: clampPriority(t.priority),
    capabilities: t.capabilities ?? [],
    agent: t.agent ?? null,
    // Ids are matched as text, so a plan numbering its steps 1, 2, 3 refers to them the same way.
    depends_on: (t.depends_on ?? t.dependencies ?? []).map(String),
  })),
);
export type LlmSubtask = z.output<typeof LlmSubtask>;

const LlmPlan = z.union([
  z.array(LlmSubtask),
  z.pipe(z.looseObject({ tasks: z.array(LlmSubtask) }), z.transform((p) => p.tasks)),
  z.pipe(z.looseObject({ subtasks: z.array(LlmSubtask) }), z.transform((p) => p.subtasks)),
]);

export type DecomposeOutcome = { ok: true; subtasks: LlmSubtask[]; model: string } | { ok: false; reason: string; model: string };

export interface DecomposeRequest {
  goal: string;
  strategy: SwarmStrategy;
  agents: string[];
  model: string;
}

export function decompositionPrompt(req: DecomposeRequest): string {
  const shape = req.strategy === 'dag' ? 'list the ids of the steps each step needs finished first in "depends_on"' : 'leave "depends_on" empty';
  return [
    'You split a goal into subtasks for a team of AI agents.',
    `Answer with JSON only, no prose: {"tasks":[{"id":"t1","title":"…","description":"…","priority":1-10,"capabilities":["…"],"agent":null,"depends_on":[]}]}.`,
    `Use between 1 and ${MAX_LLM_SUBTASKS} tasks with short unique ids. Strategy: ${req.strategy}; ${shape}.`,
    req.agents.length ? `Agents available (set "agent" to one of them or null): ${req.agents.join(', ')}.` : 'Set "agent" to null.',
  ].join('\n');
}

export async function decomposeGoal(cfg: HedgehogConfig, req: DecomposeRequest): Promise<DecomposeOutcome> {
  const fail = (reason: string): DecomposeOutcome => ({ ok: false, reason, model: req.model });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (cfg.apiKey) headers.authorization = `Bearer ${cfg.apiKey}`;
  let res;
  try {
    res = await fetchJson(`${cfg.url.replace(/\/+$/, '')}/v1/chat/completions`, {
      method: 'POST',
      headers,
      timeoutMs: cfg.timeoutMs,
      target: 'HEDGEHOG',
      body: JSON.stringify({
        model: req.model,
        stream: false,
        temperature: 0.2,
        messages: [
          { role: 'system', content: decompositionPrompt(req) },
          { role: 'user', content: req.goal },
        ],
      }),
    });
  } catch (err) {
    const kind = err instanceof OutboundError ? err.kind : 'unreachable';
    if (kind === 'redirected') return fail((err as OutboundError).message);
    return fail(kind === 'timeout' ? 'the LLM did not answer in time' : kind === 'too_large' ? 'the LLM answer is too large to read' : 'the LLM endpoint is unreachable');
  }
  if (!res.ok) return fail(`the LLM endpoint answered HTTP ${res.status}`);
  const completion = z.safeParse(ChatCompletionWire, res.json);
  if (!completion.success) return fail('the LLM endpoint sent no chat completion');
  let raw: unknown;
  try {
    raw = parseLooseJson(completion.data.choices[0]?.message.content ?? '');
  } catch (err) {
    return fail(`the LLM answer holds no readable JSON (${err instanceof LooseJsonError ? err.message : 'parse error'})`);
  }
  const plan = z.safeParse(LlmPlan, raw);
  if (!plan.success) {
    const issue = plan.error.issues[0];
    return fail(`the LLM plan has the wrong shape${issue ? ` at ${issue.path.join('.') || 'top level'}: ${issue.message}` : ''}`);
  }
  if (plan.data.length === 0) return fail('the LLM plan is empty');
  if (plan.data.length > MAX_LLM_SUBTASKS) return fail(`the LLM plan has ${plan.data.length} tasks, more than ${MAX_LLM_SUBTASKS}`);
  return { ok: true, subtasks: plan.data, model: req.model };
}
