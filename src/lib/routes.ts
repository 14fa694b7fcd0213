/**
 * What the router would accept for a path with another method, so a request the router did not match
 * can be answered 405 with `Allow` (PUT /api/config where PATCH was meant, GET on a delete-only path)
 * instead of a 404 "No such route" that sends the client looking for a wrong URL.
 */
import { ApiError } from './errors';

export interface RouteEntry {
  method: string;
  path: string;
}

/**
 * Matches Elysia's route paths: `:name` is one non-empty segment, a trailing `*` the rest after its
 * slash, which may be empty (`/v1/*` takes `/v1/`) but must be there: the router gives `/v1` no route.
 */
function matches(pattern: string[], parts: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i] as string;
    if (seg === '*') return parts[i] !== undefined;
    const part = parts[i];
    if (part === undefined) return false;
    if (seg.startsWith(':')) {
      if (part === '') return false;
    } else if (seg !== part) return false;
  }
  return parts.length === pattern.length;
}

export interface RouteTable {
  /**
   * The methods routed for a path, sorted, as the server answers them: HEAD along with GET, and OPTIONS
   * on any path that has a route (answered 204 with this list); a catch-all (`ALL`) route adds none.
   */
  allowed(pathname: string): string[];
  /**
   * Whether some route answers this method on this path, a catch-all route included. OPTIONS is not
   * counted: it asks what the path takes (the /v1 proxy answers it too, unforwarded), so the payment
   * gate never charges for it.
   */
  serves(method: string, pathname: string): boolean;
  /**
   * The refusal of a request a route with a parameter would take from a static path (SPEC §4: static
   * paths always win), else null: DELETE /api/memory/stats is the stats path's 405, never a delete of
   * memory "stats"; /api/memory/%73tats, which the router gives the :id route as "stats" (it decodes a
   * parameter, never a fixed segment), is no route, for every method, as /api/%74asks is.
   */
  shadowed(method: string, pathname: string): ApiError | null;
}

export function routeTable(routes: readonly RouteEntry[]): RouteTable {
  const patterns = routes.map((r) => ({ method: r.method, segments: r.path.split('/') }));
  // The router ignores one trailing slash.
  const partsOf = (pathname: string) => (pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname).split('/');
  const isStatic = (segments: string[]) => segments.every((seg) => !seg.startsWith(':') && seg !== '*');
  const staticPaths = new Set(patterns.filter((p) => p.method !== 'ALL' && isStatic(p.segments)).map((p) => p.segments.join('/')));
  const allowed = (pathname: string) => {
    if (spellsStatic(pathname)) return [];
    const parts = partsOf(pathname);
    const methods = new Set<string>();
    const candidates = patterns.filter((p) => p.method !== 'ALL' && matches(p.segments, parts));
    // A static path answers alone: the methods it lacks are not the parameterised route's.
    const statics = candidates.filter((p) => isStatic(p.segments));
    for (const p of statics.length ? statics : candidates) {
      methods.add(p.method);
      if (p.method === 'GET') methods.add('HEAD');
      methods.add('OPTIONS');
    }
    return [...methods].sort();
  };
  /** A static path written with percent-escapes, each segment decoded as the router decodes a parameter. */
  function spellsStatic(pathname: string): boolean {
    if (!pathname.includes('%')) return false;
    const decoded = partsOf(pathname).map(decodedSegment);
    return decoded.every((seg) => seg !== null && !seg.includes('/')) && staticPaths.has(decoded.join('/'));
  }
  return {
    allowed,
    serves(method, pathname) {
      if (method === 'OPTIONS') return false;
      // A catch-all sees the path as sent: its trailing slash is the empty rest `*` takes.
      const parts = pathname.split('/');
      return patterns.some((p) => p.method === 'ALL' && matches(p.segments, parts)) || allowed(pathname).includes(method);
    },
    shadowed(method, pathname) {
      if (method === 'OPTIONS') return null;
      if (spellsStatic(pathname)) return new ApiError(404, 'not_found', 'No such route: a fixed path is matched as written, without percent-escapes.');
      // One set lookup for nearly every request: only a static path's own URL goes on to `allowed`.
      if (!staticPaths.has(partsOf(pathname).join('/'))) return null;
      const methods = allowed(pathname);
      return methods.includes(method) ? null : methodNotAllowed(method, methods);
    },
  };
}

function decodedSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/**
 * The answer to OPTIONS on a path with routes (RFC 9110 §9.3.7: what the path takes, in `Allow`), as
 * Express and the /v1 proxy answer it. A browser's preflight never gets here: the CORS hook answers it.
 */
export function optionsResponse(allowed: string[]): Response {
  return new Response(null, { status: 204, headers: { allow: allowed.join(', ') } });
}

export function methodNotAllowed(method: string, allowed: string[]): ApiError {
  const list = allowed.join(', ');
  return new ApiError(405, 'method_not_allowed', `${method} is not supported on this path; it accepts ${list}.`, { headers: { allow: list } });
}
