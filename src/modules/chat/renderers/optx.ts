/**
 * The default envelope (SPEC §7): `session` first, `content` per chunk, optional `tool`, then `done`
 * or `error` last. Nothing is written after the last frame.
 */
import { sseEvent } from '../../../lib/sse';
import type { ChatEvent, Renderer } from '../model';

export function optxRenderer(sessionId: string): Renderer {
  let ended = false;
  let started = false;
  return {
    render(ev: ChatEvent): string {
      if (ended) return '';
      switch (ev.type) {
        case 'started':
          // Once: a stop may render it again in case the turn had not (ChatService.stream).
          if (started) return '';
          started = true;
          return sseEvent('session', { session_id: sessionId, status: ev.created ? 'created' : 'opened', upstream: ev.upstream });
        case 'delta':
          return sseEvent('content', { content: ev.text, session_id: sessionId });
        case 'tool':
          return sseEvent('tool', { session_id: sessionId, tool: ev.name, status: ev.status, ...(ev.preview ? { preview: ev.preview } : {}) });
        case 'completed':
          ended = true;
          return sseEvent('done', { session_id: sessionId, status: 'complete', ...(ev.usage ? { usage: ev.usage } : {}) });
        case 'failed':
          ended = true;
          return sseEvent('error', { error: ev.message, code: ev.code, session_id: sessionId });
        default:
          return '';
      }
    },
    // `completed` and `failed` are each answered by their last frame at once.
    end: () => '',
  };
}
