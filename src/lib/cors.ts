/**
 * CORS for browser clients (JettChat web, Hermes Workspace): only the origins in CORS_ORIGINS.
 * `*` allows any origin but never with credentials, as browsers require.
 *
 * CORS only decides what a page may read; a "simple" cross-site request (a form post, a text/plain
 * fetch) is sent without a preflight and runs whatever it asks. The sidecar is open by default and
 * listens beside the user's browser, so `refusesWrite` turns such requests away before they act.
 */
import { ApiError } from './errors';

export interface CorsPolicy {
  /** Headers to add to a response for this request's Origin, or null when the origin is not allowed. */
  headersFor(origin: string | null): Record<string, string> | null;
  /** A complete preflight response, or null when the request is not a preflight we answer. */
  preflight(request: Request): Response | null;
  /** The 403 for a state-changing request from a page of a foreign origin, or null when it may go on. */
  refusesWrite(request: Request): ApiError | null;
}

const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, x-hermes-session-id, x-hermes-session-key, payment';
/** A header name (RFC 9110 §5.6.2 token): what may be echoed from Access-Control-Request-Headers. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
// Beyond the CORS-safelisted response headers a page can read only these: `retry-after` of every 503
// (storage or memory busy, upstream saturated) and `allow` of a 405 included, so that a browser client
// can back off and correct itself as any other client does.
const EXPOSED_HEADERS = 'x-hermes-session-id, x-hermes-session-key, idempotency-key, payment-receipt, www-authenticate, retry-after, allow';
/** Methods a browser sends cross-site without asking and that must not change anything (RFC 9110 §9.2.1). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function corsPolicy(origins: readonly string[]): CorsPolicy {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  // `null` (sandboxed frames, file: pages, data: URLs; any site can create one) is allowed only when
  // listed, or under `*`, which already lets every site read and write with its own origin.
  const allows = (origin: string) => any || allowed.has(origin);
  const headersFor = (origin: string | null): Record<string, string> | null => {
    if (!origin || !allows(origin)) return null;
    return {
      'access-control-allow-origin': any ? '*' : origin,
      'access-control-expose-headers': EXPOSED_HEADERS,
      ...(any ? {} : { 'access-control-allow-credentials': 'true', vary: 'Origin' }),
    };
  };
  return {
    headersFor,
    preflight(request) {
      if (request.method !== 'OPTIONS' || !request.headers.has('access-control-request-method')) return null;
      const h = headersFor(request.headers.get('origin'));
      if (!h) return new Response(null, { status: 403 });
      // The headers the page asked for are allowed too: the OpenAI and Anthropic SDKs add their own
      // (`x-stainless-os`, `x-stainless-retry-count`, …) to every call, and a preflight that leaves one
      // out makes the browser drop the request. The origin is trusted already; auth still applies.
      const asked = (request.headers.get('access-control-request-headers') ?? '').split(',').map((x) => x.trim().toLowerCase()).filter((x) => TOKEN.test(x));
      const allowHeaders = [...new Set([...ALLOWED_HEADERS.split(', '), ...asked])].join(', ');
      return new Response(null, {
        status: 204,
        headers: {
          ...h,
          'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
          'access-control-allow-headers': allowHeaders,
          'access-control-max-age': '600',
          vary: h.vary ? `${h.vary}, Access-Control-Request-Headers` : 'Access-Control-Request-Headers',
        },
      });
    },
    refusesWrite(request) {
      const origin = request.headers.get('origin');
      if (origin === null || SAFE_METHODS.has(request.method) || allows(origin) || sameOrigin(origin, request.headers.get('host'))) return null;
      // The browser's own word that the page and the URL it called share an origin: a page cannot set
      // a Sec- header. It is what a proxy in front of the sidecar that rewrites Host passes on (Vite's or
      // webpack's dev-server proxy, nginx's default `Host: $proxy_host`), where the Host no longer tells.
      if (request.headers.get('sec-fetch-site') === 'same-origin') return null;
      return new ApiError(403, 'origin_not_allowed', `Requests that change state from a web page of origin ${origin.slice(0, 200)} are refused; add it to CORS_ORIGINS to allow it.`);
    },
  };
}

/**
 * Whether a page of `origin` is served by this server: its host and port are the Host the request was
 * sent to (the /openapi page; a client served beside the sidecar). The scheme is not compared: behind
 * a TLS-terminating proxy the sidecar cannot know it. Both sides are read as URLs of the origin's
 * scheme, so case and a spelled-out default port (`:80`) do not matter.
 */
function sameOrigin(origin: string, host: string | null): boolean {
  if (!host) return false;
  try {
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
