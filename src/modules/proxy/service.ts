/**
 * The two upstream proxies of SPEC §6:
 * - `/v1/*`: a transparent reverse proxy, bytes passed as they arrive, client credentials replaced by
 *   the sidecar's key, a client abort cancelling the upstream request;
 * - `/api/chat/completions/stream`: the OpenAI stream with `stream` and `include_usage` forced,
 *   chunks forwarded unchanged, other upstream events as chunks an OpenAI SDK can read, always
 *   ending in `data: [DONE]`, heartbeats while the model thinks.
 */
import { ApiError, errorResponse, shuttingDown } from '../../lib/errors';
import type { ConnectionHold } from '../../lib/connection';
import { linkedAbort, pathAndQueryOf } from '../../lib/http';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers';
import { readLimited } from '../../lib/body';
import { eventStream, parseSse, sseData, sseJson, sseResponse } from '../../lib/sse';
import { readWithIdleTimeout } from '../../lib/stream-deadlines';
import type { Logger } from '../../lib/log';
import { unlessLeft, type Work } from '../../lib/work';
import { logRepeated } from '../../lib/log-repeats';
import type { HermesClient } from '../../upstream/client';
import { midStreamError, outboundToApiError, streamCutShort, upstreamHttpError } from '../../upstream/errors';
import type { ChatCompletionsBody } from './model';
import { boundedBody, failFrames, idleGuarded } from './streams';

export interface ProxyDeps {
  client: HermesClient;
  maxBodyBytes: number;
  idleTimeoutMs: number;
  /** The server's idle timeout, given back once an answer is bounded or a stream over (keepConnectionOpen). */
  serverIdleTimeoutS: number;
  heartbeatMs: number;
  shutdown: AbortSignal;
  log: Logger;
}

/** Headers Hermes uses for session continuity and retries, passed both ways by both proxies. */
const SESSION_HEADERS = ['x-hermes-session-id', 'x-hermes-session-key', 'idempotency-key'];

/** Methods a fetch may carry (TRACE/CONNECT are forbidden by the Fetch standard). */
export const PROXIED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const ALLOW = [...PROXIED_METHODS, 'OPTIONS'].join(', ');

export interface ProxyV1Options {
  /** The Vary the sidecar's own headers (CORS) need on this answer, kept alongside the upstream's. */
  vary?: string;
  /**
   * Lifts the server's idle timeout for the rest of the exchange (the upstream may think for minutes).
   * Called only once the request body is in: a client that stops sending its body mid-way is then
   * still cut off by the idle timeout, instead of holding the connection for the life of the process.
   * Its hold is restored once the answer is known to be bounded, or the stream is over.
   */
  keepOpen?: () => ConnectionHold;
}

/** `work` hears of an upstream never reached: its 502 then gives an MPP credential back (lib/work.ts). */
export async function proxyV1(request: Request, d: ProxyDeps, work: Work, { vary, keepOpen }: ProxyV1Options = {}): Promise<Response> {
  // OPTIONS is answered here: browsers' preflights are the sidecar's (CORS), and Hermes answers any
  // other OPTIONS with an empty 403 from its CORS middleware, since no Origin is forwarded.
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: { allow: ALLOW } });
  if (!PROXIED_METHODS.has(request.method)) {
    throw new ApiError(405, 'method_not_allowed', `${request.method} is not proxied to the upstream.`, { headers: { allow: ALLOW } });
  }
  const pathAndQuery = pathAndQueryOf(request.url);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  // Request bodies are read (bounded) before forwarding so an oversized one gets a clean 413
  // and the upstream sees a Content-Length; responses are never buffered.
  const body = hasBody ? await readLimited(request, d.maxBodyBytes) : undefined;
  unlessLeft(request.signal, work);
  // Held while the upstream answers, and for as long as an event stream stays open. Taken before the
  // idle timeout is lifted: its refusal (503 upstream_busy) left a kept-alive connection unreaped.
  const slot = d.client.openStream();
  const hold = keepOpen?.();
  request.signal.addEventListener('abort', slot, { once: true });
  let upstream: Response;
  try {
    upstream = await d.client.fetch(pathAndQuery, {
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, null),
      body,
      // The client going away aborts the upstream request, headers or body.
      signal: request.signal,
      redirect: 'manual',
    });
  } catch (err) {
    slot();
    hold?.restore();
    work.upstreamFailed(err);
    throw outboundToApiError(err);
  }
  // fetch passes on a status line of 000 to 099 (interim 1xx it reads past), which no Response can carry.
  if (upstream.status < 200) {
    slot();
    hold?.restore();
    void upstream.body?.cancel().catch(() => {});
    throw new ApiError(502, 'upstream_bad_status', `The Hermes upstream answered with status ${upstream.status}, which HTTP does not have.`);
  }
  const headers = clientResponseHeaders(upstream.headers, vary);
  if (request.method === 'HEAD') keepHeadLength(upstream.headers, headers);
  const contentType = upstream.headers.get('content-type') ?? '';
  const isEventStream = !!upstream.body && contentType.startsWith('text/event-stream');
  if (!isEventStream) slot();
  // Hermes' aiohttp answers a path or method it has no route for in bare text (`404: Not Found`): that
  // gets the OpenAI envelope SPEC §4 gives /v1 errors, with the upstream's status and Allow. Any other
  // error answer is passed on as it comes (the agent's own words, credential hidden).
  if ((upstream.status === 404 || upstream.status === 405) && contentType.startsWith('text/plain')) {
    // Its body is still awaited (up to UPSTREAM_TIMEOUT_S, longer than the server's idle timeout).
    const err = await upstreamHttpError(upstream, d.client.answerTimeoutMs).finally(() => hold?.restore());
    const allow = upstream.headers.get('allow');
    return errorResponse(allow ? new ApiError(err.status, err.code, err.detail, { headers: { allow } }) : err, '/v1/');
  }
  if (!isEventStream) hold?.restore();
  if (!upstream.body) return new Response(null, { status: upstream.status, headers });
  // A client that leaves cancels the upstream request through its signal, which fails the read: that is
  // no failure, and logging it let any client write a warning per request. Real ones come in bursts
  // (the agent restarting ends every stream at once), so they are summarised.
  const onFailure = (err: unknown) => {
    if (request.signal.aborted) return;
    logRepeated(d.log, 'warn', 'proxied upstream stream failed', { path: pathAndQuery.split('?')[0], reason: err instanceof Error ? err.message : String(err) });
  };
  // A bounded answer is passed on as it reads (as bytes when it came whole); an event stream also gets the idle guard.
  if (!isEventStream) return new Response(await boundedBody(upstream.body, declaredLength(upstream.headers), onFailure), { status: upstream.status, headers });
  return new Response(idleGuarded(upstream.body, { idleMs: d.idleTimeoutMs, shutdown: d.shutdown, onFailure, onEnd: () => (slot(), hold?.restore()), onUnread: hold?.close }), { status: upstream.status, headers });
}

/**
 * A HEAD answer has no body for Bun to measure, so it writes `Content-Length: 0`, which RFC 9110 §8.6
 * allows only where GET's body is empty (`curl -I` showed 0 for every /v1 path). The upstream's own
 * length still describes what GET passes on, unless fetch would unpack that body (Content-Encoding):
 * then its length is unknown and Bun's 0 stays, a limit README names.
 */
function keepHeadLength(upstream: Headers, headers: Headers): void {
  const length = declaredLength(upstream);
  if (length !== null) headers.set('content-length', String(length));
}

/** The length of the body fetch passes on, as the upstream declared it; null when unknown (none, or a body fetch unpacks). */
function declaredLength(upstream: Headers): number | null {
  const length = upstream.get('content-length');
  return length !== null && /^\d+$/.test(length) && !upstream.has('content-encoding') ? Number(length) : null;
}

/** `hold` drops a client that stopped reading, and gets the idle timeout back with an error answer or at the stream's end. */
export async function streamChatCompletions(request: Request, body: ChatCompletionsBody, d: ProxyDeps, work: Work, hold?: ConnectionHold): Promise<Response> {
  const payload = { ...body, stream: true, stream_options: { ...body.stream_options, include_usage: true } };
  const headers = new Headers({ 'content-type': 'application/json', accept: 'text/event-stream' });
  for (const h of SESSION_HEADERS) {
    const v = request.headers.get(h);
    if (v) headers.set(h, v);
  }
  unlessLeft(request.signal, work);
  const slot = d.client.openStream();
  const ac = linkedAbort(request.signal);
  ac.signal.addEventListener('abort', slot, { once: true });
  let upstream: Response;
  try {
    upstream = await d.client.fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(payload), signal: ac.signal });
  } catch (err) {
    slot();
    hold?.restore();
    work.upstreamFailed(err);
    throw outboundToApiError(err);
  }
  if (!upstream.ok || !upstream.body) {
    slot();
    // Its body is still awaited (up to UPSTREAM_TIMEOUT_S, longer than the server's idle timeout).
    throw await upstreamHttpError(upstream, d.client.answerTimeoutMs).finally(() => hold?.restore());
  }
  const passBack: Record<string, string> = {};
  for (const h of SESSION_HEADERS) {
    const v = upstream.headers.get(h);
    if (v) passBack[h] = v;
  }
  const frames = forwardFrames(upstream.body, d.idleTimeoutMs, slot, body.model);
  const shutdownFrame = () => failFrames(shuttingDown()).toArray().join('');
  return sseResponse(eventStream({ frames, heartbeatMs: d.heartbeatMs, unreadMs: d.idleTimeoutMs, onUnread: hold?.close, onEnd: hold?.restore, cancel: () => ac.abort(), shutdown: d.shutdown, shutdownFrame }), passBack);
}

async function* forwardFrames(body: ReadableStream<Uint8Array>, idleMs: number, onEnd: () => void, model: string | undefined): AsyncGenerator<string> {
  // The last completion chunk, for the id, created and model of an event made into a chunk.
  let lastChunk: string | null = null;
  try {
    for await (const frame of parseSse(readWithIdleTimeout(body, idleMs))) {
      // A multi-line data field is folded so each frame stays one line.
      const data = frame.data.includes('\n') ? frame.data.replace(/\n/g, '') : frame.data;
      if (data === '[DONE]') {
        yield sseData(data);
        return;
      }
      if (frame.event === 'message' || frame.event === 'error') {
        // Chunks are forwarded as the upstream wrote them; so is a named `error`, which the SDKs raise.
        if (frame.event === 'message') lastChunk = data;
        yield sseData(data, frame.event);
      } else yield sseData(eventAsChunk(frame.event, data, lastChunk, model));
    }
    yield* failFrames(streamCutShort());
  } catch (err) {
    yield* failFrames(midStreamError(err, idleMs));
  } finally {
    onEnd();
  }
}

/**
 * An upstream event that is not a completion chunk (Hermes' `event: hermes.tool.progress`), as a chunk
 * with no choices that carries the event under `hermes_event: {event, data}`. The OpenAI SDKs yield
 * every frame but `thread.*` ones as a chunk whatever its event name, so the event as Hermes sends it
 * made `chunk.choices[0]` throw in the SDKs' own examples; a chunk with empty `choices` is what
 * clients of this route already read at the end (the forced usage chunk). The id, created and model
 * are the stream's, for typed clients that require them. `/v1/*` passes the events on unchanged.
 */
function eventAsChunk(event: string, data: string, lastChunk: string | null, model: string | undefined): string {
  let last: Record<string, unknown> = {};
  let payload: unknown = data;
  try {
    const parsed: unknown = lastChunk ? JSON.parse(lastChunk) : null;
    // A chunk that is not a JSON object (`null`, a number) leaves the defaults too.
    if (parsed && typeof parsed === 'object') last = parsed as Record<string, unknown>;
  } catch {
    // a chunk that is not JSON leaves the defaults
  }
  try {
    payload = JSON.parse(data);
  } catch {
    // kept as the text it is
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return sseJson({
    id: str(last.id) ?? 'chatcmpl-hermes',
    object: 'chat.completion.chunk',
    created: typeof last.created === 'number' ? last.created : Math.floor(Date.now() / 1000),
    model: str(last.model) ?? model ?? 'hermes-agent',
    choices: [],
    hermes_event: { event, data: payload },
  });
}
