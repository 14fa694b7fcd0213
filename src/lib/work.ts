import { clientClosed } from './errors';
import { neverSent } from './http';

/**
 * A request's report that the work it is paid for has started: an upstream took it on (answered a
 * completion, began a chat turn, planned a swarm, carried out a session write) or may be working on it
 * (asked and no answer in time), or the route changed something of its own (a session's title or
 * bookkeeping, a state.db row deleted). From then on an MPP credential is spent whatever the answer but the stop's (auth's `settlePaid`, `cutByStop`): a 503 or
 * 507 of our storage after that work must not give the credential back, or each retry with it would
 * have the upstream do the work again for free. An upstream that answered an error status (refused
 * the request) or could not be reached did no work.
 *
 * The route makes it from its request (`workOf`) and hands it to its service, which reports through
 * it without knowing about Elysia or payments.
 */
export interface Work {
  started(): void;
  /**
   * The server's stop ended the work before its answer (503 server_shutting_down): the request got
   * nothing and its client cannot bring a stop about, so no retry loop gets free work through it, and
   * the credential is given back as before the work started.
   */
  cutByStop(): void;
  /**
   * An upstream call failed with `err`. One that never reached its server (`neverSent`: nothing
   * listening, no such host, a failed TLS handshake) did nothing, so the 502 the request is answered
   * with gives the credential back, unless work had already started; a client cannot make our
   * upstream refuse connections, so no retry gets free work through it. Any other failure (a dropped
   * connection, a timeout) may have reached it, and its 502/504 spends the credential as before.
   */
  upstreamFailed(err: unknown): void;
  /**
   * The client left before any upstream was asked and before anything was written: its 499 gives the
   * credential back, as a refusal does (a 499 otherwise spends it: an upstream may have worked). No
   * retry gets free work through it, there having been none. Ignored once work started.
   */
  leftFirst(): void;
  /**
   * Whether the request holds an MPP credential, which a refusal gives back and a served answer
   * spends: a chat stream then waits for its upstream before its 200 (see ChatService.stream).
   */
  readonly paid: boolean;
}

/** What a request reported: its paid work started, or an upstream it needed was never reached. */
export type WorkState = 'none' | 'started' | 'unreached' | 'left';

const states = new WeakMap<Request, Exclude<WorkState, 'none'>>();
const paid = new WeakSet<Request>();

/** Auth's note that the request holds a payment its answer settles (see `Work.paid`). */
export function markPaid(request: Request): void {
  paid.add(request);
}

export function workOf(request: Request): Work {
  return {
    paid: paid.has(request),
    started: () => void states.set(request, 'started'),
    cutByStop: () => void states.delete(request),
    upstreamFailed: (err) => {
      if (neverSent(err) && states.get(request) !== 'started') states.set(request, 'unreached');
    },
    leftFirst: () => {
      if (states.get(request) !== 'started') states.set(request, 'left');
    },
  };
}

/**
 * Throws clientClosed(`nothing`) (a 499) when the client already left (`signal`), the upstream not asked yet, and
 * reports it (`leftFirst`): a fetch made with an aborted signal sends nothing, and the 499 it ended in
 * spent an MPP credential on nothing. Called just before the route's upstream is asked.
 */
export function unlessLeft(signal: AbortSignal, work: Work, nothing?: string): void {
  if (!signal.aborted) return;
  work.leftFirst();
  throw clientClosed(nothing);
}

export function workState(request: Request): WorkState {
  return states.get(request) ?? 'none';
}
