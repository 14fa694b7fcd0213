/**
 * Chat routes of SPEC §7. The static `/api/sessions/new/chat/stream` is declared before the
 * parameterised routes so it always wins.
 */
import { Elysia } from 'elysia';
import { sseResponse } from '../../lib/api-schemas';
import { heldUntilAnswered, keepConnectionOpen, whileHeld } from '../../lib/connection';
import { workOf } from '../../lib/work';
import { ErrorBody, SessionIdParams } from '../sessions/model';
import { ChatBody, ChatReply, NewChatBody, StreamQuery, type StreamFormat } from './model';
import type { ChatService } from './service';

const tags = ['chat'];

const stream = sseResponse(
  'Frames `event: <name>` + `data: <one-line JSON>`. format=optx: session, content…, tool?, then done or error. ' +
    'format=hermes: run.started, message.started, assistant.delta…, tool.*, assistant.completed, run.completed, then done or error. ' +
    'A failure after the stream started is an `error` event, not an HTTP status.',
);
// Refusals come before the stream starts, as JSON (the error schema is added by the docs module).
const busy = {
  description: 'Every upstream stream slot is taken (`upstream_busy`, with Retry-After), or storage is unavailable; '
    + 'MPP-paid request only: the server stopped before the upstream\'s first answer (`server_shutting_down`, with Retry-After; the credential is given back)',
};
// Only a paid request waits for its upstream before its 200 (see ChatService.stream).
const unreached = { description: 'MPP-paid request only: the upstream could not be reached at all (`upstream_unreachable`); the credential is given back' };

/** `idleTimeoutS`: the server's idle timeout, given back once a reply is ready or its stream over. */
export function chatPlugin(chat: ChatService, defaultFormat: StreamFormat, idleTimeoutS: number) {
  return new Elysia({ name: 'chat' })
    .post('/api/sessions/new/chat/stream', async ({ request, body, query, server }) => {
      const hold = keepConnectionOpen(server, request, idleTimeoutS);
      return whileHeld(hold, async () => chat.stream(await chat.open({ create: body }, body, request.signal, workOf(request)), query.format || defaultFormat, hold));
    }, {
      body: NewChatBody,
      query: StreamQuery,
      detail: { tags, summary: 'Create a session (body session_id or a new id), then stream the answer as SSE', responses: { 200: stream, 409: { description: 'A session with this session_id exists' }, 502: unreached, 503: busy } },
    })
    .post('/api/sessions/:id/chat/stream', async ({ request, params, body, query, server }) => {
      const hold = keepConnectionOpen(server, request, idleTimeoutS);
      return whileHeld(hold, async () => chat.stream(await chat.open({ id: params.id }, body, request.signal, workOf(request)), query.format || defaultFormat, hold));
    }, {
      params: SessionIdParams,
      body: ChatBody,
      query: StreamQuery,
      detail: { tags, summary: 'Send a message and stream the answer as SSE (?format=optx|hermes)', responses: { 200: stream, 404: { description: 'No such session' }, 502: unreached, 503: busy } },
    })
    .post('/api/sessions/:id/chat', ({ request, params, body, server }) =>
      heldUntilAnswered(server, request, idleTimeoutS, async () => chat.reply(await chat.open({ id: params.id }, body, request.signal, workOf(request)))), {
      params: SessionIdParams,
      body: ChatBody,
      response: { 200: ChatReply, 404: ErrorBody, 502: ErrorBody, 504: ErrorBody },
      detail: { tags, summary: 'Send a message and wait for the whole answer' },
    });
}
