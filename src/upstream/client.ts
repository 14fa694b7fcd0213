/**
 * The one client of the Hermes gateway. It knows the base URL and the sidecar's own upstream key
 * (never a client's), puts a deadline on every call, and tells its listeners when the upstream could
 * not be reached so the probe can look again at once.
 */
import { ApiError } from '../lib/errors';
import { fetchJson, fetchWithTimeout, OutboundError, type FetchFailure, type JsonResult } from '../lib/http';

export interface UpstreamCallInit extends Omit<RequestInit, 'signal'> {
  signal?: AbortSignal;
  /** Overrides the client's default deadline for the response headers. */
  timeoutMs?: number;
  /** The probe's own calls do not report back to the probe. */
  unobserved?: boolean;
}

/** `call`: whether it was one of the probe's own, and how it failed (null when it was answered). */
export type ReachabilityListener = (reachable: boolean, call: { unobserved: boolean; failure: FetchFailure | null }) => void;

/** The session API's answers can carry a long session's whole transcript (tool outputs included). */
const MAX_JSON_ANSWER_BYTES = 64 * 1024 * 1024;

export interface HermesClientOptions {
  /** Deadline of the response headers unless a call says otherwise. */
  timeoutMs: number;
  /** Upstream streams open at once (`openStream`); see `upstreamStreamLimit` in the config. */
  maxStreams?: number;
  /** Bun's limit of simultaneous requests the stream limit was derived from, for the refusal's message. */
  httpRequests?: number;
  /**
   * The server's stop: every call still waiting for its answer is given up (kind `shutdown`, answered
   * 503 server_shutting_down) rather than holding the stop for its grace; see TimedInit.
   */
  shutdown?: AbortSignal;
}

export class HermesClient {
  private listeners: { told: ReachabilityListener; unobservedToo: boolean }[] = [];
  private keyListeners: (() => void)[] = [];
  private streams = 0;
  private readonly key: () => string | null;
  private lastKey: string | null;

  /** `apiKey` is the key, or where to ask for it on every call (the agent's .env, followed as it changes). */
  constructor(
    readonly baseUrl: string,
    apiKey: string | null | (() => string | null),
    private readonly defaults: HermesClientOptions,
  ) {
    this.key = typeof apiKey === 'function' ? apiKey : () => apiKey;
    this.lastKey = this.key();
  }

  /**
   * Takes one of the slots for a long-lived upstream stream (a chat turn, a proxied event stream);
   * the returned function gives it back, once. When every slot is taken the request is refused at
   * once with 503 `upstream_busy`, instead of waiting in fetch's queue until UPSTREAM_TIMEOUT_S and
   * failing as if the upstream were down.
   */
  openStream(): () => void {
    const max = this.defaults.maxStreams ?? Number.POSITIVE_INFINITY;
    if (this.streams >= max) {
      throw new ApiError(503, 'upstream_busy', `The sidecar has ${max} upstream streams open, as many as it holds at once: Bun's fetch `
        + `sends at most ${this.defaults.httpRequests ?? 256} requests at once, and BUN_CONFIG_MAX_HTTP_REQUESTS set when it starts raises that. Try again shortly.`, { headers: { 'retry-after': '5' } });
    }
    this.streams++;
    let open = true;
    return () => {
      if (open) this.streams--;
      open = false;
    };
  }

  /** How long an answer may take to arrive (UPSTREAM_TIMEOUT_S): its headers, and the whole of an error answer. */
  get answerTimeoutMs(): number {
    return this.defaults.timeoutMs;
  }

  /** Used by the /v1 proxy, which builds its own filtered header set. */
  get upstreamKey(): string | null {
    const key = this.key();
    if (key !== this.lastKey) {
      this.lastKey = key;
      for (const l of this.keyListeners) l();
    }
    return key;
  }

  /** Told when the key changed (the agent's key rotated): what the upstream refused may work now. */
  onKeyChange(listener: () => void): void {
    this.keyListeners.push(listener);
  }

  url(path: string): string {
    return this.baseUrl + path;
  }

  /**
   * Told after every observed call whether the upstream answered at all (any HTTP status counts);
   * `unobservedToo`: the probe's own calls as well, for a listener that must hear of every restart seen.
   */
  onReachability(listener: ReachabilityListener, opts: { unobservedToo?: boolean } = {}): void {
    this.listeners.push({ told: listener, unobservedToo: opts.unobservedToo === true });
  }

  private withAuth(headers: RequestInit["headers"]): Headers {
    const h = new Headers(headers);
    h.delete('authorization');
    const key = this.upstreamKey;
    if (key) h.set('authorization', `Bearer ${key}`);
    return h;
  }

  private report(reachable: boolean, unobserved: boolean | undefined, failure: FetchFailure | null = null): void {
    const call = { unobserved: unobserved === true, failure };
    for (const l of this.listeners) if (!unobserved || l.unobservedToo) l.told(reachable, call);
  }

  private reportError(err: unknown, unobserved: boolean | undefined): void {
    // A client that went away, or our own stop, says nothing about the upstream.
    if (err instanceof OutboundError && (err.kind === 'aborted' || err.kind === 'shutdown')) return;
    // An answer too large to read, or a redirect, is still an answer.
    const kind = err instanceof OutboundError ? err.kind : 'unreachable';
    const answered = kind === 'too_large' || kind === 'redirected';
    this.report(answered, unobserved, answered ? null : kind);
  }

  /** A call whose body may be streamed; the deadline covers the response headers only. */
  async fetch(path: string, init: UpstreamCallInit = {}): Promise<Response> {
    const { timeoutMs = this.defaults.timeoutMs, headers, unobserved, ...rest } = init;
    try {
      const res = await fetchWithTimeout(this.url(path), { ...rest, headers: this.withAuth(headers), timeoutMs, target: 'Hermes upstream', shutdown: this.defaults.shutdown });
      this.report(true, unobserved);
      return res;
    } catch (err) {
      this.reportError(err, unobserved);
      throw err;
    }
  }

  /** A small JSON exchange whose whole round trip must fit in timeoutMs. */
  async json(path: string, init: UpstreamCallInit = {}): Promise<JsonResult> {
    const { timeoutMs = this.defaults.timeoutMs, headers, unobserved, ...rest } = init;
    const h = this.withAuth(headers);
    if (init.body !== undefined && !h.has('content-type')) h.set('content-type', 'application/json');
    try {
      const res = await fetchJson(this.url(path), { ...rest, headers: h, timeoutMs, target: 'Hermes upstream', maxBytes: MAX_JSON_ANSWER_BYTES, shutdown: this.defaults.shutdown });
      this.report(true, unobserved);
      return res;
    } catch (err) {
      this.reportError(err, unobserved);
      throw err;
    }
  }
}
