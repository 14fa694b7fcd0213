/**
 * Who may call the sidecar (SPEC §5), decided once per request before routing:
 * 1. a Bearer token equal to one of API_KEY (constant-time) → allowed;
 * 2. a payment gate (MPP) when enabled: it accepts a valid `Payment` credential or answers 402;
 * 3. API_KEY set and no gate → 401;
 * 4. nothing configured → open.
 */
import { ApiError } from '../../lib/errors';
import { routedPath } from '../../lib/http';
import type { WorkState } from '../../lib/work';

export type AuthDecision =
  /** `payment`: the paid credential this request holds, settled by its answer (`settlePaid`). */
  | { allowed: true; headers?: Record<string, string>; payment?: PaymentHold }
  /** Refused: answered with this response (e.g. an MPP 402) or this error. */
  | { allowed: false; deny: Response | ApiError };

/** The slot MPP fills: decides requests that did not present a valid API key. */
export interface PaymentGate {
  authorize(request: Request): Promise<AuthDecision>;
}

/** The status answered when the client closed its request while an upstream was working on it. */
const CLIENT_CLOSED = 499;

/** A paid credential held by the request it paid for until the answer says whether it was served. */
export interface PaymentHold {
  /** Gives the credential back for one more request; false when that could not be recorded (it stays spent). */
  release(): Promise<boolean>;
}

/**
 * A paid request refused before any work was done — a 4xx (validation, malformed JSON, unknown id,
 * conflict, body too large, over budget), a 503 (a dependency or our storage down, nothing written) or
 * a 507 (disk full, nothing written) — does not spend its credential: it is given back so that the
 * corrected retry can present it once more, and the refusal carries no `Payment-Receipt`. Every other
 * answer spends it: a 2xx, a stream included (its status and receipt go out before the stream's
 * outcome is known), and a 500/502/504, after which the server cannot vouch that nothing was done (an
 * upstream asked, a write attempted). So does a 499: the client left while an upstream was working on
 * its request (the only place it is answered), and giving it back let one payment run the agent or a
 * metered call again and again. And so does any answer once the route reported its paid work started
 * (`workState`, lib/work.ts): a 503/507 of the ledger or transcript write after the upstream
 * answered gave the credential back, and each retry had the upstream do the work again for nothing.
 * A 502 is a refusal too when the route reported an upstream that was never reached (connection
 * refused, no such host, TLS handshake failed) and no work: the request was passed on to nobody.
 * And a 499 is one when the route reported that its client left before any upstream was asked
 * (`Work.leftFirst`: a swarm whose client was gone before the LLM was asked or its tasks stored, a
 * /v1 call, chat completions stream or metered call whose client was gone before it was sent).
 */
export async function settlePaid(hold: PaymentHold, res: Response, work: WorkState): Promise<Response> {
  const refusal = (res.status >= 400 && res.status < 500 && res.status !== CLIENT_CLOSED) || res.status === 503 || res.status === 507
    || (res.status === 502 && work === 'unreached') || (res.status === CLIENT_CLOSED && work === 'left');
  if (work === 'started' || !refusal || !(await hold.release())) return res;
  const headers = new Headers(res.headers);
  headers.delete('payment-receipt');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * Routes any client may call: liveness, the gateway summary and the docs page (which holds no route:
 * it fetches /openapi/json, which is not public, with the key a user gives it).
 */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/health', '/api/gateway-status', '/openapi']);

const sha256 = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest();

export class Authenticator {
  private readonly keyDigests: Buffer[];

  constructor(apiKeys: readonly string[], private readonly gate: PaymentGate | null) {
    // Comparing fixed-length digests keeps the comparison constant-time whatever the key lengths.
    this.keyDigests = apiKeys.map((k) => sha256(k) as Buffer);
  }

  get enabled(): boolean {
    return this.keyDigests.length > 0 || this.gate !== null;
  }

  /** Whether requests can be paid for, and so hold a payment their answer settles. */
  get charges(): boolean {
    return this.gate !== null;
  }

  /**
   * `served` says whether a route answers the request. A request none does is not offered the payment
   * gate: a 402 there is money taken for a 404 or 405 (an mppx client pays any challenge it gets, a
   * typo included); the route list is in the published OpenAPI document anyway. With API keys alone
   * nothing is at stake and such a request is refused like any other, so routes are not revealed.
   */
  async decide(request: Request, pathname: string, served: () => boolean = () => true): Promise<AuthDecision> {
    if (!this.enabled || PUBLIC_PATHS.has(routedPath(pathname))) return { allowed: true };
    // Two Authorization headers reach us joined by a comma ("Bearer k, Payment …"): a valid key
    // among them wins, as §5 orders it, and nothing is charged.
    const header = request.headers.get('authorization');
    const keys = header?.includes(',') ? header.split(',').map(bearerToken) : [bearerToken(header)];
    if (keys.some((token) => token !== null && this.matchesKey(token))) return { allowed: true };
    if (this.gate) return served() ? this.gate.authorize(request) : { allowed: true };
    return {
      allowed: false,
      deny: new ApiError(401, 'unauthorized', 'Invalid or missing API key.', { headers: { 'www-authenticate': 'Bearer realm="hermes-optx-api"' } }),
    };
  }

  private matchesKey(token: string): boolean {
    const d = sha256(token) as Buffer;
    let match = false;
    // Check every key so the time taken does not reveal which one (if any) matched. The global
    // crypto (Bun's) rather than node:crypto, whose module costs ~9 ms of start-up to load.
    for (const k of this.keyDigests) match = crypto.timingSafeEqual(k, d) || match;
    return match;
  }
}

/** The token of an `Authorization: Bearer …` header, scheme case-insensitive; null for anything else. */
export function bearerToken(header: string | null): string | null {
  if (!header) return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m ? (m[1] as string) : null;
}
