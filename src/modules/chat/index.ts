/**
 * Chat routes of SPEC §7. The static `/api/sessions/new/chat/stream` is declared before the
 * parameterised routes so it always wins.
 */
import { Elysia } from 'elysia';
import { keepConnectionOpen } from '../../lib/http';
import { ErrorBody, SessionIdParams } from '../sessions/model';
import { ChatBody, ChatReply, NewChatBody, StreamQuery, type StreamFormat } from './model';
import type { ChatService } from './service';

const tags = ['chat'];

const streamResponses = {
  200: { description: 'text/event-stream. optx: session, content…, tool?, done | error. hermes: run.started, message.started, assistant.delta…, tool.*, assistant.completed, run.completed, done | error' },
};

export function chatPlugin(chat: ChatService, defaultFormat: StreamFormat) {
  return new Elysia({ name: 'chat' })
    .post('/api/sessions/new/chat/stream', async ({ request, body, query, server }) => {
      keepConnectionOpen(server, request);
      const turn = await chat.open({ create: body }, body, request.signal);
      return chat.stream(turn, query.format ?? defaultFormat);
    }, {
      body: NewChatBody,
      query: StreamQuery,
      detail: { tags, summary: 'Create a session (body session_id or a new id), then stream the answer as SSE', responses: streamResponses },
    })
    .post('/api/sessions/:id/chat/stream', async ({ request, params, body, query, server }) => {
      keepConnectionOpen(server, request);
      const turn = await chat.open({ id: params.id }, body, request.signal);
      return chat.stream(turn, query.format ?? defaultFormat);
    }, {
      params: SessionIdParams,
      body: ChatBody,
      query: StreamQuery,
      detail: { tags, summary: 'Send a message and stream the answer as SSE (?format=optx|hermes)', responses: streamResponses },
    })
    .post('/api/sessions/:id/chat', async ({ request, params, body, server }) => {
      keepConnectionOpen(server, request);
      return chat.reply(await chat.open({ id: params.id }, body, request.signal));
    }, {
      params: SessionIdParams,
      body: ChatBody,
      response: { 200: ChatReply, 404: ErrorBody, 502: ErrorBody, 504: ErrorBody },
      detail: { tags, summary: 'Send a message and wait for the whole answer' },
    });
}
