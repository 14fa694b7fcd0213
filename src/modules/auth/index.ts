/**
 * Authentication as an Elysia plugin: one global check before routing (SPEC §5). Every method is
 * checked, OPTIONS too; a browser's CORS preflight carries an Origin and is answered (or refused) by
 * the CORS hook before this one runs.
 */
import { Elysia } from 'elysia';
import { errorResponse } from '../../lib/errors';
import { pathOf } from '../../lib/http';
import { markPaid, workState } from '../../lib/work';
import { settlePaid, type Authenticator, type PaymentHold } from './service';

/** `serves`: whether a route answers this method on this path (see Authenticator.decide). */
export function authPlugin(auth: Authenticator, serves: (method: string, pathname: string) => boolean) {
  // Without keys or MPP there is no hook at all: an async hook costs every request a few microtask turns.
  if (!auth.enabled) return new Elysia({ name: 'auth' });
  // The paid credential each request holds, until its finished answer settles it.
  const holds = new WeakMap<Request, PaymentHold>();
  const plugin = new Elysia({ name: 'auth' })
    .onRequest(async ({ request, set }) => {
      const pathname = pathOf(request.url);
      const decision = await auth.decide(request, pathname, () => serves(request.method, pathname));
      if (decision.allowed) {
        if (decision.headers) Object.assign(set.headers, decision.headers);
        if (decision.payment) {
          holds.set(request, decision.payment);
          markPaid(request);
        }
        return;
      }
      return decision.deny instanceof Response ? decision.deny : errorResponse(decision.deny, pathname);
    });
  if (!auth.charges) return plugin;
  // Around the whole handler, so the answer is final (error handler included) and a released
  // credential is recorded before the client can send its retry.
  return plugin.wrap((handle) => async (request: Request) => {
    const res = await (handle as unknown as (r: Request) => Response | Promise<Response>)(request);
    const hold = holds.get(request);
    return hold ? settlePaid(hold, res, workState(request)) : res;
  });
}
