/** What /health and /api/gateway-status report: the probe's findings plus what is true locally. */
import type { Config } from '../../config';
import type { ConfigRead, HermesHome } from '../../hermes/home';
import { effectiveModel } from '../../hermes/model-section';
import { redactConfig } from '../config/redact';
import type { ProbeState } from '../../upstream/probe';
import type { Features } from './model';

export interface GatewayDeps {
  config: Config;
  /** HERMES_AGENT_URL as it may be shown (publicUrl), worked out once: both routes are unauthenticated. */
  upstreamUrl: string;
  home: HermesHome;
  probe: { readonly state: ProbeState };
  startedAt: number;
}

function features(d: GatewayDeps): Features {
  const s = d.probe.state;
  const w = d.config.wallet;
  return {
    // Local features work with no upstream at all.
    sessions: true,
    memory: true,
    tasks: true,
    // Chat needs the sidecar's key: an upstream that refuses it answers, but no chat works.
    streaming: s.connected && !s.keyRefused,
    chat_stream: s.connected && !s.keyRefused,
    wallet: !!(w.solana.address || w.evm.address),
    mcp_servers: d.home.hasMcpServers(),
    // Metered calls go to HEDGEHOG_URL, which is the upstream unless configured apart.
    tempo_billing: d.config.hedgehog.url !== d.config.hermes.url || (s.connected && !s.keyRefused),
    mpp: d.config.mpp.enabled,
    sessions_api_upstream: s.endpoints.sessionsApi,
    runs_api_upstream: s.endpoints.runsApi,
    capabilities_endpoint: s.endpoints.capabilities,
    health_detailed: s.endpoints.healthDetailed,
  };
}

export function health(d: GatewayDeps) {
  const s = d.probe.state;
  return {
    status: 'ok' as const,
    platform: 'hermes-optx-api' as const,
    version: d.config.version,
    uptime_s: Math.floor((performance.now() - d.startedAt) / 1000),
    upstream: { url: d.upstreamUrl, connected: s.connected, latency_ms: s.latencyMs, error: s.error },
    mode: s.mode,
    capabilities: features(d),
    memory_backend: d.config.memory.backend,
    tasks_backend: d.config.tasks.backend,
    mpp_enabled: d.config.mpp.enabled,
  };
}

export function gatewayStatus(d: GatewayDeps) {
  const s = d.probe.state;
  return {
    status: s.connected ? ('connected' as const) : ('disconnected' as const),
    mode: s.mode,
    model: s.model ?? shownConfiguredModel(d.home),
    version: d.config.version,
    upstream_version: s.upstreamVersion,
    upstream_url: d.upstreamUrl,
    upstream_error: s.error,
    checked_at: s.checkedAt,
    features: features(d),
  };
}

/** Per read of config.yaml (HermesHome hands out the same one until the file changes). */
const shownModels = new WeakMap<ConfigRead, string | null>();

/**
 * The model config.yaml names, as GET /api/config shows it: this route needs no key, and a YAML alias
 * can repeat a secret there (`api_key: &k sk-…`, then `default: *k`), which was shown in clear.
 */
function shownConfiguredModel(home: HermesHome): string | null {
  let read: ConfigRead;
  try {
    read = home.readConfigAnchored();
  } catch {
    return null;
  }
  let model = shownModels.get(read);
  if (model === undefined) {
    model = effectiveModel(redactConfig(read.tree, read.anchored, read.sharedKeys));
    shownModels.set(read, model);
  }
  return model;
}
