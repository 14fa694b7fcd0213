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
import { parseSse, sseJson } from '../../../lib/sse';
import { readWithIdleTimeout } from '../../../lib/stream-deadlines';
import { midStreamError, streamCutShort } from '../../../upstream/errors';
import type { ChatEvent, NativeFrame, Usage } from '../model';
import { agentFailed, badChunk, drain, failed, normalizeUsage, UpstreamUsage } from './shared';

/**
 * The fields the sidecar reads from a session-stream payload, each only when it has the type it
 * needs: a field of another type (or null) in an event that does not need it, or one the agent
 * added, must not end the turn. The payload itself passes through untouched.
 */
interface Payload {
  run_id?: string;
  seq?: number;
  delta?: string;
  content?: string;
  tool_name?: string;
  preview?: string;
  is_error?: boolean;
  usage: Usage | null;
  message?: string;
  code?: string;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** null when the data is not a JSON object. */
function readPayload(data: string): Payload | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  const usage = z.safeParse(UpstreamUsage, o.usage);
  const error = o.error && typeof o.error === 'object' ? (o.error as Record<string, unknown>) : null;
  return {
    run_id: str(o.run_id),
    seq: typeof o.seq === 'number' && Number.isFinite(o.seq) ? o.seq : undefined,
    delta: str(o.delta),
    content: str(o.content),
    tool_name: str(o.tool_name),
    preview: str(o.preview),
    is_error: o.is_error === true,
    usage: usage.success ? normalizeUsage(usage.data) : null,
    // `error` comes as `{message}` or as `{error: "…"}` / `{error: {message, code}}`.
    message: str(o.message) ?? str(o.error) ?? str(error?.message),
    code: str(o.code) ?? str(error?.code),
  };
}

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
      const p = readPayload(frame.data);
      if (!p) {
        yield failed(badChunk());
        return;
      }
      const native: NativeFrame = {
        event: frame.event,
        data: frame.data.includes('\n') ? sseJson(JSON.parse(frame.data)) : frame.data,
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
          yield finish(native, p.usage);
          break;
        case 'error':
        case 'run.failed': {
          const e = agentFailed(p.message);
          // A code the agent gives is its own finer word for the failure.
          const code = p.code !== undefined && /^[a-z0-9_]+$/.test(p.code) ? p.code : e.code;
          yield { type: 'failed', code, message: e.detail, status: 502, native };
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
    // After run.completed the turn is complete (and recorded): a connection lost before `done` changes nothing.
    if (!completed) yield failed(midStreamError(err, idleMs));
  }
}
