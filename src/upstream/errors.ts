/** Upstream failures as ApiErrors, the same wording for every route that talks to Hermes. */
import { ApiError, clientClosed, shuttingDown } from '../lib/errors';
import { OutboundError, readBodyText } from '../lib/http';
import { SseFrameTooLargeError } from '../lib/sse';
import { StreamIdleError } from '../lib/stream-deadlines';

export function outboundToApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof OutboundError) {
    if (err.kind === 'timeout') return new ApiError(504, 'upstream_timeout', 'The Hermes upstream did not answer in time.');
    if (err.kind === 'aborted') return clientClosed();
    if (err.kind === 'shutdown') return shuttingDown();
    if (err.kind === 'too_large') return new ApiError(502, 'upstream_response_too_large', 'The Hermes upstream sent an answer too large to read.');
    if (err.kind === 'redirected') return new ApiError(502, 'upstream_redirected', `${upperFirst(err.message)} (HERMES_AGENT_URL).`);
  }
  return new ApiError(502, 'upstream_unreachable', 'The Hermes upstream is unreachable.', { cause: err });
}

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * A non-2xx upstream answer, keeping its status and the message of an OpenAI or FastAPI error body.
 * The body must come within `deadlineMs` (the upstream's answer deadline): one that never ends is
 * given up, and only the status counts.
 */
export async function upstreamHttpError(res: Response, deadlineMs: number): Promise<ApiError> {
  // Only a message is taken from it: an error page of any size is read up to 1 MiB, else only the status counts.
  return upstreamStatusError(res.status, await readBodyText(res, 1024 * 1024, 'Hermes upstream', deadlineMs).catch(() => ''));
}

/** The same, for an answer whose body was already read (`HermesClient.json`). */
export function upstreamStatusError(status: number, text: string): ApiError {
  let message = '';
  let code = `upstream_${status}`;
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } | string; detail?: unknown; message?: unknown };
    const e = body.error;
    if (e && typeof e === 'object') {
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.code === 'string' && /^[a-z0-9_]+$/.test(e.code)) code = e.code;
    } else if (typeof e === 'string') message = e;
    else if (typeof body.detail === 'string') message = body.detail;
    else if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON: the status alone is reported; upstream HTML error pages are not echoed.
  }
  const s = status >= 400 && status <= 599 ? status : 502;
  const why = status === 401 ? 'The Hermes upstream refused the sidecar\'s key (check HERMES_API_KEY)' : `The Hermes upstream answered ${status}`;
  return new ApiError(s, code, message ? `${why}: ${message.slice(0, 500)}` : `${why}.`);
}

/** Why reading an upstream stream stopped before its end: a stall past the idle deadline, a runaway frame, or a lost connection. */
export function midStreamError(err: unknown, idleMs: number): ApiError {
  if (err instanceof StreamIdleError) return new ApiError(504, 'upstream_idle_timeout', `The Hermes upstream sent nothing for ${Math.round(idleMs / 1000)} s.`);
  if (err instanceof SseFrameTooLargeError) return new ApiError(502, 'upstream_bad_chunk', `The Hermes upstream sent a stream frame of more than ${err.maxChars / (1024 * 1024)} Mi characters.`);
  return new ApiError(502, 'upstream_disconnected', 'The connection to the Hermes upstream was lost mid-stream.');
}

/** The stream ended without its closing frame. */
export const streamCutShort = (): ApiError =>
  new ApiError(502, 'upstream_disconnected', 'The Hermes upstream closed the stream before it was complete.');

/**
 * An upstream refusal as the answer of one of the sidecar's own routes: the upstream's 401 (our key)
 * and its 5xx are a bad gateway (502), so they read neither as the client's fault nor as the sidecar's
 * own crash; 504 keeps meaning "timed out". Code and message are kept.
 */
export function asGatewayError(e: ApiError): ApiError {
  if (e.status !== 401 && (e.status < 500 || e.status === 502 || e.status === 504)) return e;
  return new ApiError(502, e.code, e.detail);
}

/**
 * The same for a chat turn, where the upstream's 403, 404 and 405 are a bad gateway too: they describe
 * the sidecar's way to it (a gateway refusing session continuation, a route it lacks), never the
 * client's session, which the sidecar looked up itself before the turn. Other 4xx (400, 413, 422, 429)
 * judge the turn the client sent and keep their status.
 */
export function asTurnError(e: ApiError): ApiError {
  return e.status === 403 || e.status === 404 || e.status === 405 ? new ApiError(502, e.code, e.detail) : asGatewayError(e);
}
