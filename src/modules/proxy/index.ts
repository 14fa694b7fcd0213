/**
 * Routes of the upstream proxies. `/v1/*` must be mounted before the app's JSON body parser so the
 * request body reaches the upstream untouched.
 */
import { Elysia } from 'elysia';
import { OpenAIErrorBody, sseResponse } from '../../lib/api-schemas';
import { ChatCompletionsBody } from './model';
import { proxyV1, streamChatCompletions, type ProxyDeps } from './service';
import { keepConnectionOpen, whileHeld } from '../../lib/connection';
import { workOf } from '../../lib/work';

export function v1ProxyPlugin(deps: ProxyDeps) {
  return new Elysia({ name: 'v1-proxy' }).all('/v1/*', ({ request, server, set }) => {
    // The CORS headers set before routing are added to the answer only where it has none of its own.
    const vary = set.headers.vary;
    return proxyV1(request, deps, workOf(request), {
      vary: vary === undefined ? undefined : String(vary),
      keepOpen: () => keepConnectionOpen(server, request, deps.serverIdleTimeoutS),
    });
  }, {
    detail: {
      tags: ['proxy'],
      summary: 'OpenAI-compatible reverse proxy to the Hermes gateway (any method, streamed)',
      responses: {
        200: {
          description: 'The upstream answer, streamed unchanged (JSON, or an event stream for `stream: true`)',
          content: { 'application/json': {}, 'text/event-stream': { schema: { type: 'string' } } },
        },
        413: { description: 'The request body is larger than PROXY_MAX_BODY_BYTES' },
        502: { description: 'Upstream unreachable (OpenAI error envelope)' },
        504: { description: 'Upstream timeout (OpenAI error envelope)' },
      },
    },
  });
}

export function chatCompletionsStreamPlugin(deps: ProxyDeps) {
  return new Elysia({ name: 'chat-completions-stream' }).post('/api/chat/completions/stream', ({ request, body, server }) => {
    const hold = keepConnectionOpen(server, request, deps.serverIdleTimeoutS);
    // A refusal (503 upstream_busy included) gives the idle timeout back, or its connection is never reaped.
    return whileHeld(hold, () => streamChatCompletions(request, body, deps, workOf(request), hold));
  }, {
    body: ChatCompletionsBody,
    response: { 400: OpenAIErrorBody, 502: OpenAIErrorBody, 504: OpenAIErrorBody },
    detail: {
      tags: ['proxy'],
      summary: 'OpenAI-compatible SSE chat stream (stream and include_usage forced), ends with data: [DONE]',
      responses: {
        200: sseResponse('`data: <chat.completion.chunk JSON>` frames as the upstream sends them (its other events, such as `hermes.tool.progress`, as chunks with empty `choices` and `hermes_event: {event, data}`), the last chunk with `usage`, then `data: [DONE]`. An upstream error after the first byte: `data: {"error":{…}}` then `data: [DONE]`. An upstream error before it is answered with its own status and the OpenAI error envelope.'),
      },
    },
  });
}
