/**
 * Hermes' own session stream (`POST /api/sessions/{id}/chat/stream`) → ChatEvents.
 *
 * Frames are `event: <name>` + one JSON payload with `session_id`, `run_id`, `seq` (SPEC §14). Every
 * event keeps its frame (`native`) so the hermes format can pass it through unchanged. The
 * `tool.progress` event of the pseudo-tool `_thinking` carries no user text: it becomes reasoning.
 *
 * `assistant.completed.content` is the message's final text, and the transcript's. Text in it that the
 * deltas did not bring (all of it for a failing model, whose failure text comes only there, SPEC §14)
 * is sent as one more delta before it, so every format shows the answer. When the final text does not
 * start with what was streamed (the agent replaced it), nothing is added: the client keeps what it was
 * shown, and the final text is what the transcript keeps.
 */
import { z } from '../../../lib/zod';
import { parseSse, readWithIdleTimeout } from '../../../lib/sse';
import { midStreamError, streamCutShort } from '../../../upstream/errors';
import type { ChatEvent, NativeFrame, Usage } from '../model';
import { badChunk, drain, failed, normalizeUsage, UpstreamUsage } from './shared';

/** The fields the sidecar reads from any session-stream payload; the rest passes through untouched. */
const Payload = z.looseObject({
  run_id: z.optional(z.string()),
  seq: z.optional(z.number()),
  delta: z.optional(z.string()),
  content: z.nullish(z.string()),
  tool_name: z.optional(z.string()),
  preview: z.nullish(z.string()),
  is_error: z.optional(z.boolean()),
  usage: z.nullish(UpstreamUsage),
  message: z.optional(z.unknown()),
  code: z.optional(z.unknown()),
  error: z.optional(z.unknown()),
});
type Payload = z.infer<typeof Payload>;

export async function* nativeEvents(body: ReadableStream<Uint8Array>, idleMs: number, stop: () => void): AsyncGenerator<ChatEvent> {
  let text = '';
  // What the deltas of the current message brought (a run may hold more than one message).
  let streamed = '';
  let final: string | null = null;
  let reasoning: string | null = null;
  let completed = false;
  const finish = (native?: NativeFrame, usage: Usage | null = null): ChatEvent => {
    completed = true;
    return { type: 'completed', text: final ?? text, reasoning, usage, ...(native ? { native } : {}) };
  };
  const frames = parseSse(readWithIdleTimeout(body, idleMs));
  try {
    for await (const frame of frames) {
      let p: Payload;
      try {
        p = z.parse(Payload, JSON.parse(frame.data));
      } catch {
        yield failed(badChunk());
        return;
      }
      const native: NativeFrame = {
        event: frame.event,
        data: frame.data.includes('\n') ? JSON.stringify(JSON.parse(frame.data)) : frame.data,
        ...(p.run_id !== undefined ? { runId: p.run_id } : {}),
        ...(p.seq !== undefined ? { seq: p.seq } : {}),
      };
      switch (frame.event) {
        case 'message.started':
          streamed = '';
          yield { type: 'native', native };
          break;
        case 'assistant.delta':
          if (p.delta) {
            text += p.delta;
            streamed += p.delta;
            yield { type: 'delta', text: p.delta, native };
          } else yield { type: 'native', native };
          break;
        case 'tool.started':
          yield { type: 'tool', name: p.tool_name ?? 'tool', status: 'started', ...(p.preview ? { preview: p.preview } : {}), native };
          break;
        case 'tool.completed':
        case 'tool.failed':
          yield { type: 'tool', name: p.tool_name ?? 'tool', status: frame.event === 'tool.failed' || p.is_error ? 'failed' : 'completed', native };
          break;
        case 'tool.progress':
          if (p.tool_name === '_thinking') {
            reasoning = p.delta ?? reasoning;
            yield { type: 'reasoning', text: p.delta ?? '', native };
          } else yield { type: 'native', native };
          break;
        case 'assistant.completed': {
          const content = p.content ?? '';
          if (content.length > streamed.length && content.startsWith(streamed)) {
            yield { type: 'delta', text: content.slice(streamed.length), fromCompleted: true };
          }
          streamed = '';
          final = p.content ?? final;
          yield { type: 'native', native };
          break;
        }
        case 'run.completed':
          yield finish(native, normalizeUsage(p.usage));
          break;
        case 'error':
        case 'run.failed': {
          const message = typeof p.message === 'string' ? p.message : typeof p.error === 'string' ? p.error : 'The agent reported an error.';
          const code = typeof p.code === 'string' && /^[a-z0-9_]+$/.test(p.code) ? p.code : 'upstream_error';
          yield { type: 'failed', code, message, status: 502, native };
          return;
        }
        case 'done':
          if (!completed) {
            if (final === null && !text) {
              yield failed(streamCutShort());
              return;
            }
            yield finish();
          }
          yield { type: 'native', native };
          await drain(frames, stop);
          return;
        default:
          yield { type: 'native', native };
      }
    }
    if (!completed) yield final !== null ? finish() : failed(streamCutShort());
  } catch (err) {
    yield failed(midStreamError(err, idleMs));
  }
}
