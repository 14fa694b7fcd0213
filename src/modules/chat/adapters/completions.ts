/**
 * A streaming OpenAI `/v1/chat/completions` answer → ChatEvents: `delta.content` chunks as they come,
 * `delta.reasoning_content`/`delta.reasoning` as reasoning, Hermes' tool progress as tool events,
 * usage from whichever chunk carries it, and `data: [DONE]` as the end. A stream that stops before
 * `[DONE]`, a chunk that is not JSON, or a `finish_reason: "error"` (the agent crashed) fails.
 */
import { z } from '../../../lib/zod';
import { isPlainObject } from '../../../lib/api-schemas';
import { ApiError } from '../../../lib/errors';
import { parseSse } from '../../../lib/sse';
import { readWithIdleTimeout } from '../../../lib/stream-deadlines';
import { midStreamError, streamCutShort } from '../../../upstream/errors';
import type { ChatEvent, Usage } from '../model';
import { agentFailed, badChunk, drain, failed, isUpstreamUsage, normalizeUsage, UpstreamUsage } from './shared';

export const Chunk = z.looseObject({
  choices: z.nullish(z.array(z.looseObject({
    finish_reason: z.nullish(z.string()),
    delta: z.nullish(z.looseObject({
      content: z.nullish(z.string()),
      reasoning_content: z.nullish(z.string()),
      reasoning: z.nullish(z.string()),
    })),
  }))),
  usage: z.nullish(UpstreamUsage),
  error: z.nullish(z.union([z.string(), z.looseObject({ message: z.optional(z.string()), code: z.optional(z.unknown()) })])),
});

type Chunk = z.infer<typeof Chunk>;
const nullishString = (v: unknown) => v == null || typeof v === 'string';
const isChoice = (c: unknown) =>
  isPlainObject(c) && nullishString(c.finish_reason)
  && (c.delta == null || (isPlainObject(c.delta) && nullishString(c.delta.content) && nullishString(c.delta.reasoning_content) && nullishString(c.delta.reasoning)));

/**
 * Chunk by hand: zod's check of each chunk costs ~30 µs on cold caches, between the upstream's token
 * and the client's. A chunk it refuses still goes through zod; a property test holds it to the schema.
 */
export const isChunk = (c: unknown): c is Chunk =>
  isPlainObject(c)
  && (c.choices == null || (Array.isArray(c.choices) && c.choices.every(isChoice)))
  && (c.usage == null || isUpstreamUsage(c.usage))
  && (c.error == null || typeof c.error === 'string' || (isPlainObject(c.error) && (c.error.message === undefined || typeof c.error.message === 'string')));

/**
 * Hermes' own named frames inside its completions stream (`event: hermes.tool.progress`,
 * `{tool, emoji, label, toolCallId, status:"running"|"completed"}`): the tools the agent runs while
 * it answers, as `tool` events. Other gateways' spellings (`name`, `started`, `error`) are read too.
 */
const ToolProgress = z.looseObject({
  tool: z.nullish(z.string()),
  name: z.nullish(z.string()),
  label: z.nullish(z.string()),
  status: z.nullish(z.string()),
});

function toolEvent(data: string): ChatEvent | null {
  let parsed: z.infer<typeof ToolProgress>;
  try {
    parsed = z.parse(ToolProgress, JSON.parse(data));
  } catch {
    return null; // a progress note is not worth failing the answer for
  }
  const name = parsed.tool ?? parsed.name;
  // `_thinking` and the like are the agent's own bookkeeping, not tools a user ran.
  if (!name || name.startsWith('_')) return null;
  const status = parsed.status === 'completed' ? 'completed' : parsed.status === 'failed' || parsed.status === 'error' ? 'failed' : 'started';
  return { type: 'tool', name, status, ...(parsed.label && status === 'started' ? { preview: parsed.label } : {}) };
}

export async function* completionsEvents(body: ReadableStream<Uint8Array>, idleMs: number, stop: () => void): AsyncGenerator<ChatEvent> {
  let text = '';
  let reasoning = '';
  let usage: Usage | null = null;
  const frames = parseSse(readWithIdleTimeout(body, idleMs));
  try {
    for await (const frame of frames) {
      if (frame.data === '[DONE]') {
        yield { type: 'completed', text, reasoning: reasoning || null, usage };
        await drain(frames, stop);
        return;
      }
      if (frame.event === 'hermes.tool.progress') {
        const tool = toolEvent(frame.data);
        if (tool) yield tool;
        continue;
      }
      let chunk: Chunk;
      try {
        const raw: unknown = JSON.parse(frame.data);
        chunk = isChunk(raw) ? raw : z.parse(Chunk, raw);
      } catch {
        yield failed(badChunk());
        return;
      }
      const e = chunk.error;
      const reason = typeof e === 'string' ? e : e?.message;
      const choice = chunk.choices?.[0];
      // Hermes ends the stream of an agent that crashed mid-answer with this and `[DONE]` (newer
      // gateways add the run's `error`): what was streamed is a fragment, not an answer to keep or to
      // send as the next turn's context.
      if (choice?.finish_reason === 'error') {
        yield failed(agentFailed(reason));
        return;
      }
      if (e) {
        const code = typeof e === 'object' && typeof e.code === 'string' && /^[a-z0-9_]+$/.test(e.code) ? e.code : 'upstream_error';
        yield failed(new ApiError(502, code, reason ?? 'The Hermes upstream reported an error.'));
        return;
      }
      usage = normalizeUsage(chunk.usage) ?? usage;
      const delta = choice?.delta;
      if (!delta) continue;
      const thought = delta.reasoning_content ?? delta.reasoning;
      if (thought) {
        reasoning += thought;
        yield { type: 'reasoning', text: thought };
      }
      if (delta.content) {
        text += delta.content;
        yield { type: 'delta', text: delta.content };
      }
    }
    yield failed(streamCutShort());
  } catch (err) {
    yield failed(midStreamError(err, idleMs));
  }
}
