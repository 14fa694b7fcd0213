/**
 * Finds out what the upstream is and can do, without ever making a request wait for it: at start-up
 * (not awaited), every PROBE_INTERVAL_S, and soon after a request sees the upstream's reachability
 * change. Concurrent triggers share one probe; one that comes while a probe runs is probed again
 * after it (that probe may have had its answers before the change).
 */
import type { Logger } from '../lib/log';
import type { HermesClient } from './client';
import { hostOf, type JsonResult } from '../lib/http';
import { CapabilitiesBody, firstModelId, HealthBody, JsonObject, ModelsBody, SessionsListBody } from './model';

export type GatewayMode = 'enhanced-hermes' | 'portable' | 'disconnected';

export interface ProbeState {
  checkedAt: string | null;
  connected: boolean;
  latencyMs: number | null;
  mode: GatewayMode;
  model: string | null;
  upstreamVersion: string | null;
  /** Which upstream endpoints answered 2xx with the expected shape. */
  endpoints: { health: boolean; healthDetailed: boolean; capabilities: boolean; models: boolean; sessionsApi: boolean; runsApi: boolean };
  /** Why the last probe found the upstream unusable (unreachable, 401, …); null when fine. */
  error: string | null;
  /** The upstream answers but refuses the sidecar's key (401): nothing that needs the key works. */
  keyRefused: boolean;
  /**
   * Whether the upstream had the session API when a probe last got through to it. Kept while it is
   * down or refuses the key, so its sessions read as unreachable (502), never as absent.
   */
  sessionsApiSeen: boolean;
}

const NOTHING = { health: false, healthDetailed: false, capabilities: false, models: false, sessionsApi: false, runsApi: false };

const INITIAL_PROBE_STATE: ProbeState = Object.freeze({
  checkedAt: null, connected: false, latencyMs: null, mode: 'disconnected', model: null, upstreamVersion: null, endpoints: NOTHING, error: null, keyRefused: false, sessionsApiSeen: false,
});

export class UpstreamProbe {
  private current: ProbeState = INITIAL_PROBE_STATE;
  private inflight: Promise<ProbeState> | null = null;
  private interval: ReturnType<typeof setInterval> | null = null;
  private soon: ReturnType<typeof setTimeout> | null = null;
  /** performance.now() of the last probe: a wall clock set back would put the next one off by as much. */
  private lastRun = Number.NEGATIVE_INFINITY;
  /** A trigger came while a probe ran: that probe may have been answered before the change, so probe again after it. */
  private rerun = false;
  private stopped = false;

  constructor(
    private readonly client: HermesClient,
    private readonly opts: { intervalMs: number; timeoutMs: number; minGapMs?: number },
    private readonly log: Logger,
  ) {
    client.onReachability((reachable) => {
      if (reachable !== this.current.connected) this.probeSoon();
    });
    client.onKeyChange(() => this.probeSoon());
  }

  get state(): ProbeState {
    return this.current;
  }

  /** Starts periodic probing; the first probe runs now in the background. */
  start(): void {
    void this.probeNow();
    this.interval ??= setInterval(() => void this.probeNow(), this.opts.intervalMs);
    this.interval.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    if (this.soon) clearTimeout(this.soon);
    this.interval = this.soon = null;
  }

  /** Schedules a probe within minGapMs (default 1 s) of the last one, coalescing bursts of triggers; during a probe, after it. */
  probeSoon(): void {
    if (this.stopped || this.soon) return;
    if (this.inflight) {
      this.rerun = true;
      return;
    }
    const wait = Math.max(0, this.lastRun + (this.opts.minGapMs ?? 1000) - performance.now());
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.probeNow();
    }, wait);
    this.soon.unref?.();
  }

  /**
   * A route of the session API answered that it does not exist (the agent was downgraded in place):
   * believed at once, so the session routes stop asking it, and confirmed by a probe soon.
   */
  sessionsApiGone(): void {
    if (!this.current.sessionsApiSeen) return;
    this.current = { ...this.current, sessionsApiSeen: false, endpoints: { ...this.current.endpoints, sessionsApi: false } };
    this.probeSoon();
  }

  probeNow(): Promise<ProbeState> {
    this.inflight ??= this.run().finally(() => {
      this.inflight = null;
      if (this.rerun) {
        this.rerun = false;
        this.probeSoon();
      }
    });
    return this.inflight;
  }

  private async run(): Promise<ProbeState> {
    this.lastRun = performance.now();
    const get = (path: string) =>
      this.client.json(path, { method: 'GET', timeoutMs: this.opts.timeoutMs, unobserved: true }).catch((err: unknown) => err as Error);
    const started = performance.now();
    const health = await get('/health');
    // A /health that never answered has no latency to show: the time spent is the probe's timeout.
    const latencyMs = health instanceof Error ? null : Math.round((performance.now() - started) * 100) / 100;
    const [detailed, caps, models, sessions] = await Promise.all([
      get('/health/detailed'), get('/v1/capabilities'), get('/v1/models'), get('/api/sessions?limit=1'),
    ]);
    // A key that changed during the calls triggers another probe (onKeyChange), which corrects this one.
    const decided = decide({ health, detailed, caps, models, sessions }, latencyMs, this.client.upstreamKey !== null);
    const reached = decided.connected && !decided.keyRefused;
    // Only an answer saying so (a 404, a body that is no session list) makes a seen session API absent:
    // one request of the probe timing out or failing with a 5xx on a loaded agent did, and the agent's
    // sessions then read as absent (the list showed the sidecar's own alone) until the next probe.
    const decisive = reached && (decided.endpoints.sessionsApi || (!(sessions instanceof Error) && sessions.status < 500));
    const next = { ...decided, sessionsApiSeen: decisive ? decided.endpoints.sessionsApi : this.current.sessionsApiSeen };
    if (next.mode !== this.current.mode || next.error !== this.current.error) {
      // Losing the upstream (or its key being refused) at warn: an operator who set LOG_LEVEL=warn to
      // drop the access log must still see it; the recovery (no error) at info. The host says which
      // agent (the banner is not in the log); hostOf leaves out the URL's credentials.
      this.log[next.error ? 'warn' : 'info']('upstream probe', { upstream: hostOf(this.client.baseUrl), mode: next.mode, model: next.model, upstream_version: next.upstreamVersion, error: next.error });
    }
    this.current = next;
    return next;
  }
}

type Answer = JsonResult | Error;

function ok(a: Answer): a is JsonResult {
  return !(a instanceof Error) && a.ok;
}

/** Pure: what the five answers mean. Exported for tests of edge cases. */
function decide(a: { health: Answer; detailed: Answer; caps: Answer; models: Answer; sessions: Answer }, latencyMs: number | null, keySent: boolean): ProbeState {
  const checkedAt = new Date().toISOString();
  const answered = [a.health, a.detailed, a.caps, a.models, a.sessions].filter((x): x is JsonResult => !(x instanceof Error));
  if (!answered.length) {
    const err = a.health instanceof Error ? a.health.message : 'no answer';
    return { ...INITIAL_PROBE_STATE, checkedAt, error: err };
  }
  const health = ok(a.health) ? HealthBody.safeParse(a.health.json) : null;
  const caps = ok(a.caps) ? CapabilitiesBody.safeParse(a.caps.json) : null;
  const models = ok(a.models) ? ModelsBody.safeParse(a.models.json) : null;
  const sessions = ok(a.sessions) ? SessionsListBody.safeParse(a.sessions.json) : null;
  const capsBody = caps?.success ? caps.data : null;
  const endpoints = {
    health: !!health?.success,
    // A JSON object, as /health/detailed answers: a web page served on every path is not one.
    healthDetailed: ok(a.detailed) && JsonObject.safeParse(a.detailed.json).success,
    capabilities: !!capsBody,
    models: !!models?.success,
    sessionsApi: !!sessions?.success,
    runsApi: capsBody ? advertises(capsBody, 'runs') : false,
  };
  const unauthorized = answered.some((r) => r.status === 401);
  const connected = endpoints.health || endpoints.models || endpoints.capabilities || endpoints.sessionsApi;
  const mode: ProbeState['mode'] = !connected ? 'disconnected' : endpoints.sessionsApi || endpoints.capabilities ? 'enhanced-hermes' : 'portable';
  return {
    checkedAt,
    connected,
    latencyMs,
    mode,
    model: modelOf(capsBody) ?? (models?.success ? firstModelId(models.data) : null),
    upstreamVersion: health?.success ? (health.data.version ?? null) : null,
    endpoints,
    keyRefused: unauthorized,
    sessionsApiSeen: endpoints.sessionsApi,
    error: unauthorized ? keyError(keySent) : connected ? null : 'the upstream answered but no endpoint worked',
  };
}

/** A 401 with no key sent is a key missing, not a wrong one (Hermes ≥ 0.15 always asks for one, SPEC §14). */
function keyError(keySent: boolean): string {
  return keySent
    ? 'the upstream refused the sidecar\'s key (401): check HERMES_API_KEY, or API_SERVER_KEY in $HERMES_HOME/.env when it is unset'
    : 'the upstream asks for a key (401) and the sidecar has none: set HERMES_API_KEY, or API_SERVER_KEY in $HERMES_HOME/.env';
}

function modelOf(c: CapabilitiesBody | null): string | null {
  if (!c) return null;
  if (typeof c.model === 'string') return c.model;
  return c.model?.id ?? c.model?.name ?? c.default_model ?? null;
}

/**
 * Whether capabilities mention a feature, in any of the shapes gateways use (flag, features map,
 * endpoint list, or Hermes' map of endpoint name → `{method, path}`, where `runs` is `/v1/runs`).
 */
function advertises(c: CapabilitiesBody, name: 'runs'): boolean {
  const key = `${name}_api`;
  if (c[key as 'runs_api']) return true;
  const f = c.features?.[key] ?? c.features?.[name];
  if (f === true || (f && typeof f === 'object')) return true;
  const eps = Array.isArray(c.endpoints)
    ? c.endpoints.map((e) => (typeof e === 'string' ? e : endpointPath(e)))
    : Object.entries(c.endpoints ?? {}).flatMap(([k, v]) => [`/${k}`, endpointPath(v)]);
  return eps.some((e) => e.includes(`/${name}`));
}

const endpointPath = (v: unknown): string => (v && typeof v === 'object' && typeof (v as { path?: unknown }).path === 'string' ? (v as { path: string }).path : '');
