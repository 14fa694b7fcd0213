/** Authentication as an Elysia plugin: one global check before routing (SPEC §5). */
import { Elysia } from 'elysia';
import { errorResponse } from '../../lib/errors';
import type { Authenticator } from './service';

export function authPlugin(auth: Authenticator) {
  return new Elysia({ name: 'auth' }).onRequest(async ({ request, set }) => {
    if (!auth.enabled || request.method === 'OPTIONS') return;
    const pathname = pathOf(request.url);
    const decision = await auth.decide(request, pathname);
    if (decision.allowed) {
      if (decision.headers) Object.assign(set.headers, decision.headers);
      return;
    }
    return decision.deny instanceof Response ? decision.deny : errorResponse(decision.deny, pathname);
  });
}

/** The path of a request URL without allocating a URL object (this runs on every request). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start < 0) return '/';
  const q = url.indexOf('?', start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}
