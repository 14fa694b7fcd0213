/**
 * CORS for browser clients (JettChat web, Hermes Workspace): only the origins in CORS_ORIGINS.
 * `*` allows any origin but never with credentials, as browsers require.
 */
export interface CorsPolicy {
  /** Headers to add to a response for this request's Origin, or null when the origin is not allowed. */
  headersFor(origin: string | null): Record<string, string> | null;
  /** A complete preflight response, or null when the request is not a preflight we answer. */
  preflight(request: Request): Response | null;
}

const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, x-hermes-session-id, x-hermes-session-key, payment';
const EXPOSED_HEADERS = 'x-hermes-session-id, x-hermes-session-key, idempotency-key, payment-receipt, www-authenticate';

export function corsPolicy(origins: readonly string[]): CorsPolicy {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  const headersFor = (origin: string | null): Record<string, string> | null => {
    if (!origin || (!any && !allowed.has(origin))) return null;
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
      return new Response(null, {
        status: 204,
        headers: { ...h, 'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS', 'access-control-allow-headers': ALLOWED_HEADERS, 'access-control-max-age': '600' },
      });
    },
  };
}
