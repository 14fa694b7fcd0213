/**
 * A request's report that the work it is paid for has started: an upstream took it on (answered a
 * completion, began a chat turn, planned a swarm) or may be working on it (asked and no answer in
 * time). From then on an MPP credential is spent whatever the answer but the stop's (auth's `settlePaid`, `cutByStop`): a 503 or
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
}

const started = new WeakSet<Request>();

export function workOf(request: Request): Work {
  return { started: () => void started.add(request), cutByStop: () => void started.delete(request) };
}

export function workStarted(request: Request): boolean {
  return started.has(request);
}
