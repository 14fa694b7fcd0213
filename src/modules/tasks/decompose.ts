/**
 * Goal → subtasks through the LLM at HEDGEHOG_URL (OpenAI-compatible `/v1/chat/completions`).
 * The model is asked for JSON with ids and dependencies; its answer is read leniently (fences,
 * prose, sloppy JSON: loose-json.ts), then checked with zod. Any failure — unreachable, timeout,
 * non-2xx, no JSON, wrong shape — is returned as a reason, never thrown: the swarm falls back to a
 * single task and says why. Only the sidecar's HEDGEHOG key is sent, never the client's credentials.
 */
import { z } from '../../lib/zod';
import type { Hedgehog } from '../../config';
import { fetchJson, OutboundError } from '../../lib/http';
import { clientClosed, shuttingDown } from '../../lib/errors';
import { answerText, MessageContent } from '../../upstream/completion';
import type { Work } from '../../lib/work';
import { looseJsonValues } from './loose-json';
import type { SwarmStrategy } from './model';
import { NO_SWARM } from './state';

export const DEFAULT_DECOMPOSITION_MODEL = 'hermes-agent';
/** Plans longer than this are refused (fallback): a model that rambles is not a plan. */
const MAX_LLM_SUBTASKS = 25;

const ChatCompletionWire = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: MessageContent }), finish_reason: z.optional(z.nullable(z.string())) }))
    .check(z.minLength(1)),
});

const clampPriority = (v: unknown) => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.min(10, Math.max(1, Math.round(n))) : 5;
};

// Models put newlines and tabs anywhere; the API refuses control characters in these fields. A lone
// surrogate (an escape such as \ud83d cut in half) becomes U+FFFD, as SQLite's UTF-8 would store it.
const oneLine = (s: string | null | undefined) => (s ?? '').toWellFormed().replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
const text = (max: number) => z.pipe(z.pipe(z.string(), z.transform((s: string) => oneLine(s))), z.string().check(z.minLength(1), z.maxLength(max)));

/** A field the model may leave out, write as null (or Python's None) or, for text, as "". */
const absent = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));
const refs = absent(z.array(z.union([z.string(), z.number()])).check(z.maxLength(100)));

/** One planned step as models write it: ids may be numbers, fields may be missing, null or named otherwise. */
const LlmSubtask = z.pipe(
  z.looseObject({
    id: absent(z.union([z.string(), z.number()])),
    title: text(500),
    description: absent(z.string().check(z.maxLength(20_000))),
    priority: z.optional(z.unknown()),
    capabilities: absent(z.array(z.nullable(z.string())).check(z.maxLength(32))),
    agent: absent(z.string()),
    depends_on: refs,
    dependencies: refs,
  }),
  z.transform((t) => ({
    id: t.id === undefined || t.id === null ? undefined : String(t.id),
    title: t.title,
    description: (t.description ?? '').toWellFormed(),
    priority: clampPriority(t.priority),
    capabilities: [...new Set((t.capabilities ?? []).map(oneLine).filter((c) => c && c.length <= 64))],
    // Only the names of listed agents are used (swarm.ts); anything else is no choice at all.
    agent: oneLine(t.agent) || null,
    // Numbers stay numbers (an id, else an index); strings name an id or a title (dag.ts).
    depends_on: t.depends_on ?? t.dependencies ?? [],
  })),
);
export type LlmSubtask = z.output<typeof LlmSubtask>;

const LlmSteps = z.array(LlmSubtask);

/** Where a value keeps its list of steps: a bare array, or `tasks`/`subtasks` of an object (the path, for messages). */
function stepsOf(value: unknown): { steps: unknown[]; path: string } | null {
  if (Array.isArray(value)) return { steps: value, path: '' };
  if (!value || typeof value !== 'object') return null;
  for (const key of ['tasks', 'subtasks']) {
    const steps = (value as Record<string, unknown>)[key];
    if (Array.isArray(steps)) return { steps, path: key };
  }
  return null;
}

/**
 * The plan in a model's answer: the first JSON value holding a list of steps that all read as
 * steps. Otherwise the reason, naming the first wrong field of the first list found.
 */
function readPlan(answer: string): { ok: true; steps: LlmSubtask[] } | { ok: false; reason: string } {
  let values = 0;
  let firstProblem: string | null = null;
  for (const value of looseJsonValues(answer)) {
    values++;
    const found = stepsOf(value);
    if (!found) continue;
    const parsed = z.safeParse(LlmSteps, found.steps);
    if (parsed.success) return { ok: true, steps: parsed.data };
    const issue = parsed.error.issues[0];
    const at = [found.path, ...(issue?.path ?? [])].filter((p) => p !== '').join('.');
    firstProblem ??= `the LLM plan has the wrong shape at ${at || 'top level'}: ${issue?.message ?? 'invalid'}`;
  }
  if (firstProblem) return { ok: false, reason: firstProblem };
  if (values) return { ok: false, reason: 'the LLM plan has the wrong shape: its JSON holds no list of tasks (a list, or {"tasks": [...]})' };
  return { ok: false, reason: 'the LLM answer holds no readable JSON' };
}

/**
 * Reasoning models (DeepSeek R1, QwQ, Qwen3) write their thinking into the content before the
 * answer, drafts of the plan included: only what follows `</think>` is the answer. The opening tag
 * is often missing (the chat template put it in the prompt); an opening tag never closed means the
 * answer never came.
 */
function withoutThinking(text: string): string {
  const end = /<\/think(?:ing)?>/i.exec(text);
  if (end) return text.slice(end.index + end[0].length);
  return /^\s*<think(?:ing)?>/i.test(text) ? '' : text;
}

export type DecomposeOutcome = { ok: true; subtasks: LlmSubtask[]; model: string } | { ok: false; reason: string; model: string };

export interface DecomposeRequest {
  goal: string;
  strategy: SwarmStrategy;
  agents: string[];
  model: string;
}

function decompositionPrompt(req: DecomposeRequest): string {
  const shape = req.strategy === 'dag' ? 'list the ids of the steps each step needs finished first in "depends_on"' : 'leave "depends_on" empty';
  return [
    'You split a goal into subtasks for a team of AI agents.',
    `Answer with JSON only, no prose: {"tasks":[{"id":"t1","title":"…","description":"…","priority":1-10,"capabilities":["…"],"agent":null,"depends_on":[]}]}.`,
    `Use between 1 and ${MAX_LLM_SUBTASKS} tasks with short unique ids. Strategy: ${req.strategy}; ${shape}.`,
    req.agents.length ? `Agents available (set "agent" to one of them or null): ${req.agents.join(', ')}.` : 'Set "agent" to null.',
  ].join('\n');
}

/** `work` hears when the LLM worked on the plan: it answered, or had the request and did not answer in time or sent too much. */
export async function decomposeGoal(cfg: Hedgehog, req: DecomposeRequest, work: Work, signal?: AbortSignal): Promise<DecomposeOutcome> {
  const fail = (reason: string): DecomposeOutcome => ({ ok: false, reason, model: req.model });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = cfg.apiKey();
  if (key) headers.authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetchJson(`${cfg.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      timeoutMs: cfg.timeoutMs,
      signal,
      shutdown: cfg.shutdown,
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
    if (kind === 'timeout' || kind === 'too_large') work.started();
    // Not a reason for the fallback plan: no swarm is created while the sidecar stops.
    if (kind === 'shutdown') throw shuttingDown('no swarm was created');
    // The client left: nobody would learn of the swarm, and its retry would make a second one.
    if (kind === 'aborted') throw clientClosed(NO_SWARM);
    if (kind === 'redirected') return fail((err as OutboundError).message);
    return fail(kind === 'timeout' ? 'the LLM did not answer in time' : kind === 'too_large' ? 'the LLM answer is too large to read' : 'the LLM endpoint is unreachable');
  }
  if (!res.ok) return fail(`the LLM endpoint answered HTTP ${res.status}`);
  work.started();
  const completion = z.safeParse(ChatCompletionWire, res.json);
  if (!completion.success) return fail('the LLM endpoint sent no chat completion');
  const choice = completion.data.choices[0] as (typeof completion.data.choices)[number];
  // A cut answer can still hold readable values (the steps of one phase of a longer plan): part of a plan is no plan.
  if (choice.finish_reason === 'length') return fail('the LLM answer was cut off (finish_reason "length")');
  const plan = readPlan(withoutThinking(answerText(choice.message.content) ?? ''));
  if (!plan.ok) return fail(plan.reason);
  if (plan.steps.length === 0) return fail('the LLM plan is empty');
  if (plan.steps.length > MAX_LLM_SUBTASKS) return fail(`the LLM plan has ${plan.steps.length} tasks, more than ${MAX_LLM_SUBTASKS}`);
  return { ok: true, subtasks: plan.steps, model: req.model };
}
