import { z } from '../../lib/zod';

export const Features = z.object({
  sessions: z.boolean(),
  streaming: z.boolean(),
  chat_stream: z.boolean(),
  memory: z.boolean(),
  tasks: z.boolean(),
  wallet: z.boolean(),
  mcp_servers: z.boolean(),
  tempo_billing: z.boolean(),
  mpp: z.boolean(),
  sessions_api_upstream: z.boolean(),
  runs_api_upstream: z.boolean(),
  capabilities_endpoint: z.boolean(),
  health_detailed: z.boolean(),
});
export type Features = z.infer<typeof Features>;

const Mode = z.enum(['enhanced-hermes', 'portable', 'disconnected']);

export const HealthResponse = z.object({
  status: z.literal('ok'),
  platform: z.literal('hermes-optx-api'),
  version: z.string(),
  uptime_s: z.number(),
  // `error`: why the upstream is unusable (unreachable, refusing the sidecar's key), as in gateway-status.
  upstream: z.object({ url: z.string(), connected: z.boolean(), latency_ms: z.nullable(z.number()), error: z.nullable(z.string()) }),
  mode: Mode,
  capabilities: Features,
  memory_backend: z.string(),
  tasks_backend: z.string(),
  mpp_enabled: z.boolean(),
});

export const GatewayStatusResponse = z.object({
  status: z.enum(['connected', 'disconnected']),
  mode: Mode,
  model: z.nullable(z.string()),
  version: z.string(),
  upstream_version: z.nullable(z.string()),
  upstream_url: z.string(),
  upstream_error: z.nullable(z.string()),
  checked_at: z.nullable(z.string()),
  features: Features,
});
