/**
 * The two upstream proxies of SPEC §6:
 * - `/v1/*`: a transparent reverse proxy, bytes passed as they arrive, client credentials replaced by
 *   the sidecar's key, a client abort cancelling the upstream request;
 * - `/api/chat/completions/stream`: the OpenAI stream with `stream` and `include_usage` forced,
 *   frames forwarded unchanged, always ending in `data: [DONE]`, heartbeats while the model thinks.
 */
import { ApiError, openAIErrorBody } from '../../lib/errors';
import { clientResponseHeaders, linkedAbort, upstreamRequestHeaders } from '../../lib/http';
import { readLimited } from '../../lib/body';
import { eventStream, parseSse, readWithIdleTimeout, sseData, sseResponse } from '../../lib/sse';
import type { HermesClient } from '../../upstream/client';
import { midStreamError, outboundToApiError, streamCutShort, upstreamHttpError } from '../../upstream/errors';
import type { ChatCompletionsBody } from './model';

export interface ProxyDeps {
  client: HermesClient;
  maxBodyBytes: number;
  idleTimeoutMs: number;
  heartbeatMs: number;
  shutdown: AbortSignal;
}

/** Headers Hermes uses for session continuity and retries, passed both ways by both proxies. */
const SESSION_HEADERS = ['x-hermes-session-id', 'x-hermes-session-key', 'idempotency-key'];

export async function proxyV1(request: Request, d: ProxyDeps): Promise<Response> {
  const url = new URL(request.url);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  // Request bodies are read (bounded) before forwarding so an oversized one gets a clean 413
  // and the upstream sees a Content-Length; responses are never buffered.
  const body = hasBody ? await readLimited(request, d.maxBodyBytes) : undefined;
  const ac = linkedAbort(request.signal);
  let upstream: Response;
  try {
    upstream = await d.client.fetch(url.pathname + url.search, {
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, null),
      body,
      signal: ac.signal,
      redirect: 'manual',
    });
  } catch (err) {
    throw outboundToApiError(err);
  }
  const headers = clientResponseHeaders(upstream.headers);
  if (!upstream.body) return new Response(null, { status: upstream.status, headers });
  return new Response(idleGuarded(upstream.body, d.idleTimeoutMs, ac), { status: upstream.status, headers });
}

/**
 * Re-exposes an upstream body pull by pull, failing it when the upstream goes silent for idleMs
 * and aborting the upstream request when the client cancels.
 */
function idleGuarded(body: ReadableStream<Uint8Array>, idleMs: number, ac: AbortController): ReadableStream<Uint8Array> {
  const chunks = readWithIdleTimeout(body, idleMs);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        ac.abort();
        controller.error(err);
      }
    },
    cancel() {
      ac.abort();
    },
  }, { highWaterMark: 0 });
}

export async function streamChatCompletions(request: Request, body: ChatCompletionsBody, d: ProxyDeps): Promise<Response> {
  const payload = { ...body, stream: true, stream_options: { ...body.stream_options, include_usage: true } };
  const headers = new Headers({ 'content-type': 'application/json', accept: 'text/event-stream' });
  for (const h of SESSION_HEADERS) {
    const v = request.headers.get(h);
    if (v) headers.set(h, v);
  }
  const ac = linkedAbort(request.signal);
  let upstream: Response;
  try {
    upstream = await d.client.fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(payload), signal: ac.signal });
  } catch (err) {
    throw outboundToApiError(err);
  }
  if (!upstream.ok || !upstream.body) throw await upstreamHttpError(upstream);
  const passBack: Record<string, string> = {};
  for (const h of SESSION_HEADERS) {
    const v = upstream.headers.get(h);
    if (v) passBack[h] = v;
  }
  const frames = forwardFrames(upstream.body, d.idleTimeoutMs);
  const shutdownFrame = () => failFrames(new ApiError(503, 'server_shutting_down', 'The sidecar is shutting down.')).toArray().join('');
  return sseResponse(eventStream({ frames, heartbeatMs: d.heartbeatMs, cancel: () => ac.abort(), shutdown: d.shutdown, shutdownFrame }), passBack);
}

async function* forwardFrames(body: ReadableStream<Uint8Array>, idleMs: number): AsyncGenerator<string> {
  try {
    for await (const frame of parseSse(readWithIdleTimeout(body, idleMs))) {
      // Data is forwarded as the upstream wrote it; a multi-line data field is folded so each frame stays one line.
      const data = frame.data.includes('\n') ? frame.data.replace(/\n/g, '') : frame.data;
      yield sseData(data);
      if (data === '[DONE]') return;
    }
    yield* failFrames(streamCutShort());
  } catch (err) {
    yield* failFrames(midStreamError(err, idleMs));
  }
}

function* failFrames(e: ApiError): Generator<string> {
  yield sseData(JSON.stringify(openAIErrorBody(e.status, e.code, e.detail)));
  yield sseData('[DONE]');
}
