/**
 * Every setting the sidecar reads, in one table: its environment variable, its flag (if any),
 * how it is validated, its default and its help line. `--help` is generated from this table,
 * so a variable that is not listed here does not exist.
 */
import { z } from 'zod';

export interface VarDef {
  env: string;
  flag?: string;
  help: string;
  /** Human-readable default shown by --help when the schema default is computed elsewhere. */
  shownDefault?: string;
  schema: z.ZodType;
  /** Secrets are never echoed back in error messages or logs. */
  secret?: boolean;
}

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' }))
  .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on');

const httpUrl = z
  .string()
  .trim()
  .pipe(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }))
  .transform((u) => u.replace(/\/+$/, ''));

const intIn = (min: number, max: number) =>
  z.string().trim().regex(/^-?\d+$/, { error: `expected an integer from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `expected an integer from ${min} to ${max}` }).max(max, { error: `expected an integer from ${min} to ${max}` }));

const seconds = (max: number) =>
  z.string().trim().regex(/^\d+(\.\d+)?$/, { error: 'expected a number of seconds' })
    .transform(Number)
    .pipe(z.number().positive({ error: 'expected a positive number of seconds' }).max(max, { error: `expected at most ${max} seconds` }));

const text = z.string().trim().min(1, { error: 'must not be empty' });
const csv = z.string().transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean));
const decimal = z.string().trim().regex(/^\d+(\.\d+)?$/, { error: 'expected a decimal amount such as 0.10' });

const solanaToken = z.string().regex(/^[A-Za-z0-9_.-]+:[1-9A-HJ-NP-Za-km-z]{32,44}(@devnet|@mainnet)?$/, {
  error: 'expected SYMBOL:MINT or SYMBOL:MINT@devnet',
});
const evmRpc = z.string().regex(/^[A-Za-z0-9_-]+=https?:\/\/\S+$/, { error: 'expected chain=url' });
const evmToken = z.string().regex(/^[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+:0x[0-9a-fA-F]{40}(:\d{1,2})?$/, {
  error: 'expected chain:SYMBOL:0xcontract[:decimals]',
});
const listOf = (item: z.ZodString) => csv.pipe(z.array(item));

export const VARS = [
  { env: 'HERMES_AGENT_URL', flag: '--hermes-url', help: 'upstream Hermes gateway', schema: httpUrl.default('http://localhost:8642') },
  { env: 'HERMES_API_KEY', help: 'bearer token sent upstream', shownDefault: 'API_SERVER_KEY from $HERMES_HOME/.env', schema: text.optional(), secret: true },
  { env: 'HERMES_HOME', flag: '--hermes-home', help: 'agent home (config.yaml, .env, state.db, skills/)', shownDefault: '~/.hermes', schema: text.optional() },
  { env: 'OPTX_API_HOST', flag: '--host', help: 'bind address', schema: text.default('0.0.0.0') },
  { env: 'OPTX_API_PORT', flag: '--port', help: 'port (0 picks a free one)', schema: intIn(0, 65535).default(8643) },
  { env: 'OPTX_DATA_DIR', flag: '--data-dir', help: "the sidecar's own database and files", shownDefault: '$HERMES_HOME/optx-api', schema: text.optional() },
  { env: 'MEMORY_BACKEND', flag: '--memory-backend', help: 'holographic, sqlite or spacetimedb', schema: z.enum(['holographic', 'sqlite', 'spacetimedb']).default('holographic') },
  { env: 'HOLOGRAPHIC_DB_PATH', help: "Hermes' holographic memory file", shownDefault: '$HERMES_HOME/memory_store.db', schema: text.optional() },
  { env: 'MEMORY_DB_URL', help: 'SpacetimeDB base URL, e.g. http://host:3000', schema: httpUrl.optional() },
  { env: 'SPACETIMEDB_DB', help: 'SpacetimeDB database name or identity', schema: z.string().trim().regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a database name or identity' }).optional() },
  { env: 'SPACETIMEDB_TOKEN', help: 'bearer token for SpacetimeDB', schema: text.optional(), secret: true },
  { env: 'SPACETIMEDB_TIMEOUT_S', help: 'timeout of one SpacetimeDB call', schema: seconds(600).default(10) },
  { env: 'TASKS_BACKEND', help: 'sqlite or spacetimedb', schema: z.enum(['sqlite', 'spacetimedb']).default('sqlite') },
  { env: 'API_KEY', help: 'comma-separated accepted API keys; enables auth', schema: listOf(z.string()).optional(), secret: true },
  { env: 'MPP_ENABLED', help: 'enable MPP pay-per-request (HTTP 402)', schema: bool.default(false) },
  { env: 'MPP_RECIPIENT', help: 'Tempo address that receives MPP payments', schema: z.string().trim().regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected a 0x address' }).optional() },
  { env: 'MPP_AMOUNT', help: 'price of one request', schema: decimal.default('0.10') },
  { env: 'MPP_NETWORK', help: 'testnet or mainnet', schema: z.enum(['testnet', 'mainnet']).default('testnet') },
  { env: 'MPP_SECRET_KEY', help: 'secret binding MPP challenges (at least 32 bytes)', schema: z.string().min(32, { error: 'must be at least 32 bytes' }).optional(), secret: true },
  { env: 'MPP_CURRENCY', help: 'TIP-20 token contract charged by MPP', shownDefault: 'the network default', schema: z.string().trim().regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected a 0x token address' }).optional() },
  { env: 'TEMPO_RPC_URL', help: 'Tempo JSON-RPC used to verify MPP payments', schema: httpUrl.optional() },
  { env: 'CORS_ORIGINS', help: 'comma list of allowed browser origins (* for any)', schema: csv.default([]) },
  { env: 'HEDGEHOG_URL', help: 'OpenAI-compatible endpoint for metered calls and decomposition', shownDefault: 'HERMES_AGENT_URL', schema: httpUrl.optional() },
  { env: 'HEDGEHOG_API_KEY', help: 'bearer token for HEDGEHOG_URL', shownDefault: 'HERMES_API_KEY', schema: text.optional(), secret: true },
  { env: 'HEDGEHOG_TIMEOUT_S', help: 'timeout of one metered or decomposition call', schema: seconds(3600).default(120) },
  { env: 'AARON_URL', help: 'gaze-verification service', schema: httpUrl.optional() },
  { env: 'AARON_TIMEOUT_S', help: 'timeout of one gaze check', schema: seconds(600).default(5) },
  { env: 'WALLET_AGENT', help: 'agent name shown by the wallet', schema: text.default('astrojoe') },
  { env: 'SOLANA_ADDRESS', help: 'Solana wallet address', schema: z.string().trim().regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, { error: 'expected a base58 Solana address' }).optional() },
  { env: 'SOLANA_RPC_URL', help: 'Solana mainnet RPC', schema: httpUrl.default('https://api.mainnet-beta.solana.com') },
  { env: 'SOLANA_DEVNET_RPC_URL', help: 'Solana devnet RPC', schema: httpUrl.default('https://api.devnet.solana.com') },
  { env: 'SOLANA_TOKENS', help: 'SPL tokens: SYMBOL:MINT[@devnet],…', schema: listOf(solanaToken).default([]) },
  { env: 'EVM_ADDRESS', help: 'EVM wallet address', schema: z.string().trim().regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected a 0x address' }).optional() },
  { env: 'EVM_RPC_URLS', help: 'EVM RPCs: chain=url,… (viem chain name or chain id)', schema: listOf(evmRpc).default([]) },
  { env: 'EVM_TOKENS', help: 'ERC-20/TIP-20 tokens: chain:SYMBOL:contract[:decimals],…', schema: listOf(evmToken).default([]) },
  { env: 'RPC_TIMEOUT_S', help: 'timeout of one balance RPC', schema: seconds(600).default(8) },
  { env: 'BALANCE_CACHE_S', help: 'how long GET /api/wallet reuses balances', schema: seconds(86400).default(30) },
  { env: 'TEMPO_PRICING', help: 'JSON/YAML pricing table for metered calls', shownDefault: 'built-in table', schema: text.optional() },
  { env: 'TEMPO_CALLER_BUDGET_USD', help: 'per-caller spending cap for metered calls', schema: decimal.optional() },
  { env: 'MAX_BODY_BYTES', help: 'largest JSON request body', schema: intIn(1024, 1024 ** 3).default(1024 * 1024) },
  { env: 'PROXY_MAX_BODY_BYTES', help: 'largest body proxied to /v1/*', schema: intIn(1024, 1024 ** 3).default(32 * 1024 * 1024) },
  { env: 'PROBE_INTERVAL_S', help: 'seconds between upstream probes', schema: seconds(86400).default(30) },
  { env: 'PROBE_TIMEOUT_S', help: 'timeout of one probe request', schema: seconds(600).default(5) },
  { env: 'UPSTREAM_TIMEOUT_S', help: 'wait for the upstream response headers', schema: seconds(86400).default(300) },
  { env: 'UPSTREAM_IDLE_TIMEOUT_S', help: 'longest silence inside an upstream stream', schema: seconds(86400).default(300) },
  { env: 'SSE_HEARTBEAT_S', help: 'seconds between SSE heartbeat comments', schema: seconds(3600).default(15) },
  { env: 'CHAT_STREAM_FORMAT', help: 'default chat stream format: optx or hermes', schema: z.enum(['optx', 'hermes']).default('optx') },
  { env: 'LOG_LEVEL', help: 'debug, info, warn, error or silent', schema: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info') },
  { env: 'LOG_FORMAT', help: 'pretty or json', shownDefault: 'pretty on a TTY, else json', schema: z.enum(['pretty', 'json']).optional() },
] as const satisfies readonly VarDef[];

export type VarName = (typeof VARS)[number]['env'];
export type RawConfig = { [K in (typeof VARS)[number] as K['env']]: z.output<K['schema']> };
