/**
 * Hermes' own session-stream format (`?format=hermes`), for clients written for the agent such as
 * Hermes Workspace. Events that came from the agent's session stream pass through unchanged (its
 * session_id, run_id and seq); for the chat-completions fallback the same events are synthesised
 * with a run id of our own: run.started, message.started, assistant.delta…, assistant.completed,
 * run.completed, done. A failure is an `error` event continuing the same run and sequence. A run that
 * completed always ends in one `done`, the upstream's or, when it closed without one, our own.
 */
import { sseEvent, sseNamedData } from '../../../lib/sse';
import { randomHex as hex } from '../../../lib/ids';
import type { ChatEvent, NativeFrame, Renderer } from '../model';

export function hermesRenderer(sessionId: string, userMessage: string): Renderer {
  let runId = `run_${hex(12)}`;
  const messageId = `msg_${hex(12)}`;
  let seq = 0;
  let started = false;
  let answered = false;
  let completed = false;
  let ended = false;

  const frame = (event: string, payload: Record<string, unknown> = {}) =>
    sseEvent(event, { session_id: sessionId, run_id: runId, seq: ++seq, ts: Date.now() / 1000, ...payload });

  const start = () => {
    if (started) return '';
    started = true;
    return frame('run.started', { user_message: userMessage }) + frame('message.started', { message: { id: messageId, role: 'assistant' } });
  };

  const pass = (n: NativeFrame) => {
    started = true;
    if (n.runId) runId = n.runId;
    if (n.event === 'assistant.completed') answered = true;
    if (n.event === 'done' || n.event === 'error' || n.event === 'run.failed') ended = true;
    if (n.seq !== undefined) seq = Math.max(seq, n.seq);
    if (n.seq !== undefined && n.runId) return sseNamedData(n.event, n.data);
    // Every frame carries session_id, run_id and seq (SPEC §7): what the agent left out is filled in.
    const payload = JSON.parse(n.data) as Record<string, unknown>;
    return sseEvent(n.event, { session_id: sessionId, run_id: runId, ...payload, ...(n.seq === undefined ? { seq: ++seq } : {}), ...(n.runId ? {} : { run_id: runId }) });
  };

  return {
    render(ev: ChatEvent): string {
      if (ended) return '';
      if (ev.type === 'completed') completed = true;
      if (ev.type !== 'started' && ev.native) return pass(ev.native);
      switch (ev.type) {
        case 'delta':
          // Text that came only in the upstream's assistant.completed: that event, passed on, carries it.
          if (ev.fromCompleted) return '';
          return start() + frame('assistant.delta', { message_id: messageId, delta: ev.text });
        case 'tool':
          return start() + frame(`tool.${ev.status}`, { tool_name: ev.name, ...(ev.preview ? { preview: ev.preview } : {}) });
        case 'completed': {
          ended = true;
          const content = answered ? '' : frame('assistant.completed', { message_id: messageId, content: ev.text, completed: true, partial: false, interrupted: false });
          return start() + content + frame('run.completed', { usage: ev.usage }) + frame('done');
        }
        case 'failed':
          ended = true;
          return frame('error', { message: ev.message, code: ev.code });
        default:
          // `started` has no Hermes event (the run starts with run.started); synthesised reasoning is not shown.
          return '';
      }
    },
    end(): string {
      if (ended || !completed) return '';
      ended = true;
      return frame('done');
    },
  };
}
