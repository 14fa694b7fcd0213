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

/** Matches Elysia's route paths: `:name` is one non-empty segment, a trailing `*` the rest. */
function matches(pattern: string[], parts: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i] as string;
    if (seg === '*') return true;
    const part = parts[i];
    if (part === undefined) return false;
    if (seg.startsWith(':')) {
      if (part === '') return false;
    } else if (seg !== part) return false;
  }
  return parts.length === pattern.length;
}

/** A function from a path to the methods routed for it (HEAD along with GET, as the server answers it), sorted. */
export function routedMethods(routes: readonly RouteEntry[]): (pathname: string) => string[] {
  const patterns = routes.map((r) => ({ method: r.method, segments: r.path.split('/') }));
  return (pathname) => {
    // The router ignores one trailing slash.
    const parts = (pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname).split('/');
    const methods = new Set<string>();
    for (const p of patterns) {
      if (p.method === 'ALL' || !matches(p.segments, parts)) continue;
      methods.add(p.method);
      if (p.method === 'GET') methods.add('HEAD');
    }
    return [...methods].sort();
  };
}

export function methodNotAllowed(method: string, allowed: string[]): ApiError {
  const list = allowed.join(', ');
  return new ApiError(405, 'method_not_allowed', `${method} is not supported on this path; it accepts ${list}.`, { headers: { allow: list } });
}
