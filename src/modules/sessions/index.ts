import { Elysia } from 'elysia';
import { heldUntilAnswered as held } from '../../lib/connection';
import { workOf } from '../../lib/work';
import {
  CreateSessionBody, DeletedResponse, ErrorBody, ListMessagesQuery, ListSessionsQuery, MessageListResponse, PatchSessionBody,
  SessionIdParams, SessionListResponse, SessionResponse,
} from './model';
import type { SessionService } from './service';

const tags = ['sessions'];

/**
 * Every route may wait on the agent's session API (UPSTREAM_TIMEOUT_S, 300 s by default), so the idle
 * timeout (120 s) is lifted until the answer is ready: left in place, it cut a request the agent was
 * slow to answer with no answer at all instead of its 504. `idleTimeoutS`: the server's idle timeout.
 */
export function sessionsPlugin(sessions: SessionService, idleTimeoutS: number) {
  return new Elysia({ name: 'sessions' })
    .get('/api/sessions', ({ query, request, server }) => held(server, request, idleTimeoutS, () => sessions.list(query, workOf(request))), {
      query: ListSessionsQuery,
      response: { 200: SessionListResponse, 502: ErrorBody, 503: ErrorBody },
      detail: { tags, summary: 'Sessions of state.db (or the upstream session API) and the sidecar, newest activity first; `source` filters on the platform tag' },
    })
    .post('/api/sessions', async ({ body, set, request, server }) => {
      const session = await held(server, request, idleTimeoutS, () => sessions.create(body, { upstream: true, work: workOf(request) }));
      set.status = 201;
      return { session };
    }, {
      body: CreateSessionBody,
      response: { 201: SessionResponse, 409: ErrorBody, 502: ErrorBody },
      detail: { tags, summary: 'Create a session (also on the agent when it has the session API); 409 if the id exists' },
    })
    .get('/api/sessions/:id', async ({ params, request, server }) => ({ session: await held(server, request, idleTimeoutS, () => sessions.get(params.id, workOf(request))) }), {
      params: SessionIdParams,
      response: { 200: SessionResponse, 404: ErrorBody },
      detail: { tags, summary: 'One session' },
    })
    .patch('/api/sessions/:id', async ({ params, body, request, server }) => ({
      session: await held(server, request, idleTimeoutS, () => sessions.rename(params.id, body.title, workOf(request))),
    }), {
      params: SessionIdParams,
      body: PatchSessionBody,
      response: { 200: SessionResponse, 404: ErrorBody, 502: ErrorBody },
      detail: { tags, summary: 'Set or clear the title of a session' },
    })
    .delete('/api/sessions/:id', async ({ params, request, server }) => {
      await held(server, request, idleTimeoutS, () => sessions.remove(params.id, workOf(request)));
      return { deleted: true as const, session_id: params.id };
    }, {
      params: SessionIdParams,
      response: { 200: DeletedResponse, 404: ErrorBody, 503: ErrorBody },
      detail: { tags, summary: 'Delete a session and its messages wherever it lives' },
    })
    .get('/api/sessions/:id/messages', ({ params, query, request, server }) => held(server, request, idleTimeoutS, () => sessions.messages(params.id, query, workOf(request))), {
      params: SessionIdParams,
      query: ListMessagesQuery,
      response: { 200: MessageListResponse, 404: ErrorBody },
      detail: { tags, summary: 'Messages of a session, oldest first' },
    });
}
