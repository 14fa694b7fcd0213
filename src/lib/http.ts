/**
 * Outbound HTTP used by every external call: a timeout on every request, failures classified the same
 * way everywhere, and reading request URLs without a URL object.
 */

import { hideCredential, hideCredentialInStream, sentCredential } from './credential';
import { publicUrl } from './public-url';

export type FetchFailure = 'timeout' | 'aborted' | 'shutdown' | 'unreachable' | 'too_large' | 'redirected';

const MESSAGES: Record<FetchFailure, (target: string, cause: unknown) => string> = {
  timeout: (t) => `${t} did not answer in time`,
  aborted: (t) => `request to ${t} was cancelled`,
  shutdown: (t) => `request to ${t} was given up: the sidecar is shutting down`,
  unreachable: (t) => `${t} is unreachable`,
  too_large: (t) => `${t} sent an answer too large to read`,
  redirected: (t, to) => `${t} redirected to another address (${String(to)}), where the sidecar's key is not sent: configure that address instead`,
};

/** A failed outbound call, already classified; `cause` keeps the original error for logs (for `redirected`, where to). */
export class OutboundError extends Error {
  override name = 'OutboundError';
  constructor(readonly kind: FetchFailure, readonly target: string, override readonly cause?: unknown) {
    super(MESSAGES[kind](target, cause));
  }
}

/**
 * fetch follows redirects and, rightly, drops the Authorization header when one leads to another
 * origin (an `http://` upstream answering "go to https://…", a moved host). The call would then be
 * refused there as if the configured key were wrong, so such a redirect is reported as what it is.
 * Without credentials a redirect is simply followed.
 */
async function refuseRedirectDroppingKey(res: Response, url: string, init: RequestInit, target: string): Promise<void> {
  if (!res.redirected || !new Headers(init.headers).has('authorization')) return;
  const to = new URL(res.url).origin;
  if (to === new URL(url).origin) return;
  await res.body?.cancel().catch(() => {});
  throw new OutboundError('redirected', target, publicUrl(to));
}

export interface TimedInit extends RequestInit {
  timeoutMs: number;
  /** Name used in error messages, e.g. "Hermes upstream"; never includes credentials. */
  target?: string;
  /**
   * The server's stop: while the call still waits for its answer (the headers; for fetchJson the whole
   * exchange) it is given up as kind `shutdown`, so the request waiting on it is answered at once
   * instead of holding the stop for its whole grace and then losing its connection. A stream already
   * under way is not touched: its own shutdown handling ends it with a final event.
   */
  shutdown?: AbortSignal;
}

/**
 * The most fetchJson reads of a body unless told otherwise. Its exchanges are small; a bigger answer is
 * a misconfigured URL or a misbehaving server, and reading it whole could take all the memory of a
 * small host within the deadline.
 */
const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;

export interface JsonInit extends TimedInit {
  /** Largest body accepted; a bigger one fails with kind `too_large`. */
  maxBytes?: number;
}

/**
 * fetch with a deadline for the response headers. The returned body is not covered by the deadline
 * (streams have their own idle timers); the caller's `signal` still cancels it.
 */
export async function fetchWithTimeout(url: string, init: TimedInit): Promise<Response> {
  const { timeoutMs, target = hostOf(url), signal, shutdown, ...rest } = init;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new OutboundError('timeout', target)), timeoutMs);
  const onAbort = () => ac.abort(new OutboundError('aborted', target));
  if (signal) {
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  const stopShutdown = abortOnShutdown(ac, shutdown, target);
  try {
    // The caller's signal stays attached after the headers arrive: it must still cancel the body.
    const res = await fetch(url, { ...rest, signal: ac.signal });
    await refuseRedirectDroppingKey(res, url, rest, target);
    const credential = res.status >= 400 ? sentCredential(rest.headers, url) : null;
    return credential ? errorAnswerWithout(res, credential) : res;
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    throw classify(err, ac.signal, target);
  } finally {
    clearTimeout(timer);
    stopShutdown();
  }
}

export interface JsonResult {
  status: number;
  ok: boolean;
  headers: Headers;
  /** Parsed JSON, or undefined when the body was not JSON. */
  json: unknown;
  text: string;
}

/** A small request/response call whose whole exchange, body included, must finish within timeoutMs. */
export async function fetchJson(url: string, init: JsonInit): Promise<JsonResult> {
  const { timeoutMs, target = hostOf(url), signal, shutdown, maxBytes = MAX_JSON_BODY_BYTES, ...rest } = init;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new OutboundError('timeout', target)), timeoutMs);
  const onAbort = () => ac.abort(new OutboundError('aborted', target));
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const stopShutdown = abortOnShutdown(ac, shutdown, target);
  try {
    const res = await fetch(url, { ...rest, signal: ac.signal });
    await refuseRedirectDroppingKey(res, url, rest, target);
    const raw = await readBodyText(res, maxBytes, target);
    const text = res.status >= 400 ? hideCredential(raw, sentCredential(rest.headers, url)) : raw;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, ok: res.ok, headers: res.headers, json, text };
  } catch (err) {
    throw classify(err, ac.signal, target);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    stopShutdown();
  }
}

/** Aborts `ac` as kind `shutdown` when `shutdown` fires; the returned function detaches it. */
function abortOnShutdown(ac: AbortController, shutdown: AbortSignal | undefined, target: string): () => void {
  if (!shutdown) return () => {};
  const onShutdown = () => ac.abort(new OutboundError('shutdown', target));
  if (shutdown.aborted) onShutdown();
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  return () => shutdown.removeEventListener('abort', onShutdown);
}

/**
 * An error answer passed on as it streams, with the credential its request carried hidden (see
 * credential.ts); its status and other headers stay.
 */
function errorAnswerWithout(res: Response, credential: string): Response {
  const headers = new Headers(res.headers);
  // The body is decoded and maybe shorter: the upstream's framing no longer describes it.
  headers.delete('content-length');
  headers.delete('content-encoding');
  const body = res.body ? hideCredentialInStream(res.body, credential) : null;
  return new Response(body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * The body as text, refused (and cancelled) as soon as it is known to be bigger than maxBytes, or
 * not complete within `deadlineMs` when one is given (a `timeout`: the body is cancelled).
 */
export async function readBodyText(res: Response, maxBytes: number, target: string, deadlineMs?: number): Promise<string> {
  const declared = res.headers.get('content-length');
  // A declared length bounds the body (HTTP framing stops there): the native reader is then safe,
  // unless fetch decompresses it — a small gzip body can hold gigabytes — or it must come in time.
  if (declared !== null && /^\d+$/.test(declared) && !res.headers.has('content-encoding')) {
    if (Number(declared) > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new OutboundError('too_large', target);
    }
    if (deadlineMs === undefined) return res.text();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  let late = false;
  const timer = deadlineMs === undefined ? null : setTimeout(() => {
    late = true;
    void reader.cancel().catch(() => {});
  }, deadlineMs);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (late) throw new OutboundError('timeout', target);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new OutboundError('too_large', target);
      }
      parts.push(value);
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
  return new TextDecoder().decode(Bun.concatArrayBuffers(parts));
}

/**
 * Why a connection was never made, so that no byte of the request reached anyone: nothing listening,
 * no route, no such host, or a TLS handshake or certificate check that failed (the request is sent
 * only after them). A connection reset or closed once made (ECONNRESET, …) is not among them: the
 * server may have read the request, and worked on it.
 */
const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ConnectionRefused', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'FailedToOpenSocket',
  'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA',
  'EPROTO', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REVOKED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH',
]);

/**
 * Whether an outbound call failed without its request reaching the server (see NOT_CONNECTED): what
 * it asked for was certainly not done. A timeout is not: the request may have been sent. `err` may
 * also be the error a caller made of it (an ApiError with it as `cause`).
 */
export function neverSent(err: unknown): boolean {
  const failure = err instanceof OutboundError ? err : (err as { cause?: unknown } | null | undefined)?.cause;
  if (!(failure instanceof OutboundError) || failure.kind !== 'unreachable') return false;
  const code = (failure.cause as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && NOT_CONNECTED.has(code);
}

function classify(err: unknown, signal: AbortSignal, target: string): OutboundError {
  if (err instanceof OutboundError) return err;
  if (signal.aborted && signal.reason instanceof OutboundError) return signal.reason;
  return new OutboundError('unreachable', target, err);
}

/** host:port only, for messages: a URL may carry user:password, which never goes into one. */
export function hostOf(url: string, fallback = 'upstream'): string {
  try {
    return new URL(url).host;
  } catch {
    return fallback;
  }
}

/** An AbortController that also fires when the client's request is aborted. */
export function linkedAbort(signal: AbortSignal): AbortController {
  const ac = new AbortController();
  if (signal.aborted) ac.abort();
  else signal.addEventListener('abort', () => ac.abort(), { once: true });
  return ac;
}

/**
 * A string as an HTTP header value. Header values are bytes, which the Fetch API holds one Latin-1
 * character each: an id outside Latin-1 (`会话`) makes `new Headers` throw. Its UTF-8 bytes are sent
 * instead, as Hermes itself writes such an id. Null for a string a header cannot carry unchanged
 * (control characters, or surrounding whitespace, which header parsing trims).
 */
export function headerValue(s: string): string | null {
  if (/[\x00-\x1f\x7f]/.test(s) || s !== s.trim()) return null;
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** The path as the router matches it: Elysia serves `/health/` as `/health`. */
export const routedPath = (pathname: string): string => (pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname);

/**
 * Where the path of a request URL starts. Bun gives the bare request target (`/v1/models`) as the URL
 * of a request without a usable Host (HTTP/1.0 health checkers send none): its path starts at once.
 */
function pathStart(url: string): number {
  return url.charCodeAt(0) === 47 ? 0 : url.indexOf('/', url.indexOf('//') + 2);
}

/** The path of a request URL without allocating a URL object (this runs on every request). */
export function pathOf(url: string): string {
  const start = pathStart(url);
  if (start < 0) return '/';
  const q = url.indexOf('?', start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

/** The path and query string of a request URL, as a proxy forwards them. */
export function pathAndQueryOf(url: string): string {
  const start = pathStart(url);
  return start < 0 ? '/' : url.slice(start);
}
