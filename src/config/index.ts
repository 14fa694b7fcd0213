/**
 * Reads flags, environment, `./.env` and defaults (in that order of precedence) into one frozen Config.
 * Everything is validated here, once; a bad value throws a ConfigError whose message is one line
 * naming the variable, which main prints before exiting.
 */
import { userHome } from '../lib/home';
import { dirname, join, resolve } from 'node:path';
import { readDotenv } from '../lib/dotenv';
import { stderrIsTerminal } from '../lib/stdio';
import { scrubString } from '../modules/config/scrub';
import { VARS, type RawConfig, type VarDef } from './vars';
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The OpenAI-compatible endpoint of metered calls and swarm decomposition; `url` is its root (no `/v1`).
 * `keyFromHome`: the key is the Hermes key taken from the agent's .env (no HEDGEHOG_API_KEY, no
 * HERMES_API_KEY, the Hermes origin), so it follows that file as the upstream key does.
 */
interface HedgehogConfig { url: string; apiKey: string | null; keyFromHome: boolean; timeoutMs: number }
/**
 * The endpoint as its clients use it: the key is asked for on each call, so a rotation is followed.
 * `shutdown`: the server's stop, which gives up a call still waiting for its answer (503 server_shutting_down).
 */
export interface Hedgehog { url: string; timeoutMs: number; apiKey(): string | null; shutdown?: AbortSignal }
export interface SolanaToken { symbol: string; mint: string; network: 'mainnet' | 'devnet' }
export interface EvmRpc { chain: string; url: string }
export interface EvmToken { chain: string; symbol: string; contract: `0x${string}`; decimals: number | null }

/** Bun's own default for BUN_CONFIG_MAX_HTTP_REQUESTS: requests its fetch sends at once; more wait in a queue. */
const BUN_HTTP_REQUESTS_DEFAULT = 256;
/** Slots left to short upstream calls (the probe, the session API) when streams fill the rest. */
const SHORT_CALL_SLOTS = 16;

/**
 * How many upstream streams may be open at once. Bun reads BUN_CONFIG_MAX_HTTP_REQUESTS from the
 * process environment when it starts (not from ./.env: the executable does not load it) and queues
 * fetches beyond it; a stream waiting in that queue would only fail after UPSTREAM_TIMEOUT_S, as if
 * the upstream were down, and the probe's calls would wait behind it too.
 */
function upstreamStreamLimit(envValue: string | undefined): { httpRequests: number; streams: number } {
  const n = envValue !== undefined && /^\d{1,5}$/.test(envValue.trim()) ? Number(envValue.trim()) : 0;
  const httpRequests = n >= 1 && n <= 65535 ? n : BUN_HTTP_REQUESTS_DEFAULT;
  return { httpRequests, streams: Math.max(1, httpRequests - SHORT_CALL_SLOTS) };
}

function buildConfig(raw: RawConfig, hermesEnv: Record<string, string>, home: string | null, cwd: string, httpRequestsEnv?: string) {
  const hermesHome = resolve(expandHome(raw.HERMES_HOME ?? '~/.hermes', home, 'HERMES_HOME (--hermes-home)', raw.HERMES_HOME === undefined));
  const hermesUrl = raw.HERMES_AGENT_URL;
  const hermesKey = raw.HERMES_API_KEY ?? nonEmpty(hermesEnv.API_SERVER_KEY);
  const hedgehogIsHermes = raw.HEDGEHOG_URL === undefined || sameOrigin(raw.HEDGEHOG_URL, hermesUrl);
  const mpp = {
    enabled: raw.MPP_ENABLED,
    recipient: raw.MPP_RECIPIENT ?? null,
    amount: raw.MPP_AMOUNT,
    network: raw.MPP_NETWORK,
    secretKey: raw.MPP_SECRET_KEY ?? null,
    currency: raw.MPP_CURRENCY ?? null,
    tempoRpcUrl: raw.TEMPO_RPC_URL ?? null,
  };
  if (mpp.enabled && !mpp.recipient) throw new ConfigError('MPP_ENABLED is true but MPP_RECIPIENT is not set: refusing to start with an open door.');
  if (mpp.enabled && !mpp.secretKey) throw new ConfigError('MPP_ENABLED is true but MPP_SECRET_KEY is not set (at least 32 bytes): refusing to start with an open door.');
  if ((raw.MEMORY_BACKEND === 'spacetimedb' || raw.TASKS_BACKEND === 'spacetimedb') && (!raw.MEMORY_DB_URL || !raw.SPACETIMEDB_DB)) {
    throw new ConfigError('MEMORY_DB_URL and SPACETIMEDB_DB are required when MEMORY_BACKEND or TASKS_BACKEND is spacetimedb.');
  }
  const config = {
    version: VERSION,
    // Without HERMES_API_KEY the key is the agent's own API_SERVER_KEY, followed as its .env changes.
    hermes: { url: hermesUrl, apiKey: hermesKey ?? null, home: hermesHome, keyFromHome: raw.HERMES_API_KEY === undefined },
    server: {
      host: raw.OPTX_API_HOST,
      port: raw.OPTX_API_PORT,
      maxBodyBytes: raw.MAX_BODY_BYTES,
      proxyMaxBodyBytes: raw.PROXY_MAX_BODY_BYTES,
      corsOrigins: raw.CORS_ORIGINS,
      allowedHosts: raw.ALLOWED_HOSTS,
    },
    dataDir: resolve(expandHome(raw.OPTX_DATA_DIR ?? join(hermesHome, 'optx-api'), home, 'OPTX_DATA_DIR (--data-dir)')),
    memory: {
      backend: raw.MEMORY_BACKEND,
      /** Set only by HOLOGRAPHIC_DB_PATH: otherwise the plugin's db_path in config.yaml or the default decides, when the file is opened (memory/db-path.ts). */
      holographicDbPath: raw.HOLOGRAPHIC_DB_PATH === undefined ? null : resolve(cwd, expandHome(raw.HOLOGRAPHIC_DB_PATH, home, 'HOLOGRAPHIC_DB_PATH')),
      /** What `~` and a relative path in the plugin's db_path stand for (null: `~` is kept, as Python's expanduser does). */
      userHome: home,
      workDir: cwd,
    },
    tasks: { backend: raw.TASKS_BACKEND },
    spacetime: {
      url: raw.MEMORY_DB_URL ?? null,
      db: raw.SPACETIMEDB_DB ?? null,
      token: raw.SPACETIMEDB_TOKEN ?? null,
      timeoutMs: raw.SPACETIMEDB_TIMEOUT_S * 1000,
    },
    auth: { apiKeys: raw.API_KEY ?? [] },
    mpp,
    hedgehog: {
      url: raw.HEDGEHOG_URL ?? hermesUrl,
      // The Hermes key is the default only for the Hermes gateway itself: a HEDGEHOG_URL of another
      // origin (a third-party provider) must not receive the agent gateway's credential.
      apiKey: raw.HEDGEHOG_API_KEY ?? (hedgehogIsHermes ? hermesKey : undefined) ?? null,
      keyFromHome: raw.HEDGEHOG_API_KEY === undefined && hedgehogIsHermes && raw.HERMES_API_KEY === undefined,
      timeoutMs: raw.HEDGEHOG_TIMEOUT_S * 1000,
    } satisfies HedgehogConfig,
    aaron: { url: raw.AARON_URL ?? null, timeoutMs: raw.AARON_TIMEOUT_S * 1000 },
    wallet: {
      agent: raw.WALLET_AGENT,
      solana: {
        address: raw.SOLANA_ADDRESS ?? null,
        rpcUrl: raw.SOLANA_RPC_URL,
        devnetRpcUrl: raw.SOLANA_DEVNET_RPC_URL,
        tokens: solanaTokens(raw.SOLANA_TOKENS),
      },
      evm: {
        address: (raw.EVM_ADDRESS ?? null) as `0x${string}` | null,
        rpcUrls: raw.EVM_RPC_URLS.map(parseEvmRpc),
        tokens: raw.EVM_TOKENS.map(parseEvmToken),
      },
      rpcTimeoutMs: raw.RPC_TIMEOUT_S * 1000,
      balanceCacheMs: raw.BALANCE_CACHE_S * 1000,
    },
    tempo: { pricingPath: raw.TEMPO_PRICING ?? null, callerBudgetUsd: raw.TEMPO_CALLER_BUDGET_USD ?? null },
    upstream: {
      probeIntervalMs: raw.PROBE_INTERVAL_S * 1000,
      probeTimeoutMs: raw.PROBE_TIMEOUT_S * 1000,
      timeoutMs: raw.UPSTREAM_TIMEOUT_S * 1000,
      idleTimeoutMs: raw.UPSTREAM_IDLE_TIMEOUT_S * 1000,
      ...upstreamStreamLimit(httpRequestsEnv),
    },
    skills: { warm: raw.SKILLS_WARM },
    chat: { heartbeatMs: raw.SSE_HEARTBEAT_S * 1000, defaultFormat: raw.CHAT_STREAM_FORMAT },
    log: { level: raw.LOG_LEVEL, format: raw.LOG_FORMAT ?? (stderrIsTerminal() ? 'pretty' : 'json') },
  } as const;
  return deepFreeze(config);
}

export type Config = ReturnType<typeof buildConfig>;

export type CliRequest = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: Config };

export interface LoadOptions {
  argv?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The user's home, for `~`; null: none is known. */
  home?: string | null;
}

/** Flags > environment > `./.env` > defaults. Throws ConfigError with one readable line. */
export function loadConfig(opts: LoadOptions = {}): CliRequest {
  const argv = opts.argv ?? [];
  const env = opts.env ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const flags = parseFlags(argv);
  if (flags === 'help' || flags === 'version') return { kind: flags };
  const home = opts.home === undefined ? userHome() : opts.home;

  const dotenv = readEnvFile(join(cwd, '.env'), 'the working directory');
  const merged: Record<string, string | undefined> = {};
  for (const v of VARS as readonly VarDef[]) {
    const value = (v.flag ? flags[v.flag] : undefined) ?? nonEmpty(env[v.env]) ?? nonEmpty(dotenv[v.env]);
    merged[v.env] = value;
  }
  const raw = parseVars(merged);
  const hermesHome = resolve(expandHome(raw.HERMES_HOME ?? '~/.hermes', home, 'HERMES_HOME (--hermes-home)', raw.HERMES_HOME === undefined));
  // The agent's .env as the agent loads it (`${VAR}` interpolated): its API_SERVER_KEY is the key it checks.
  const hermesEnv = readEnvFile(join(hermesHome, '.env'), 'HERMES_HOME (--hermes-home)', (name) => env[name]);
  return { kind: 'run', config: buildConfig(raw, hermesEnv, home, cwd, env.BUN_CONFIG_MAX_HTTP_REQUESTS) };
}

/**
 * A .env that is there but cannot be read (HERMES_HOME naming a file, no permission, a directory)
 * stops start-up with a line naming the file and what located it; the bare `ENOTDIR: … open
 * '/etc/hermes/.env'` did not say which setting to fix. A missing one is simply empty.
 */
function readEnvFile(path: string, locatedBy: string, interpolateFrom?: (name: string) => string | undefined): Record<string, string> {
  try {
    return readDotenv(path, interpolateFrom);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOTDIR' ? `${dirname(path)} (or a folder above it) is not a directory` : code === 'EACCES' ? 'permission denied' : err instanceof Error ? err.message : String(err);
    throw new ConfigError(`Cannot read ${path} (located by ${locatedBy}): ${why}.`);
  }
}

/** Validates raw string values; the first failure becomes one line naming the variable. */
function parseVars(values: Record<string, string | undefined>): RawConfig {
  const out: Record<string, unknown> = {};
  for (const v of VARS as readonly VarDef[]) {
    const result = v.schema.safeParse(values[v.env]);
    if (!result.success) {
      const issue = result.error.issues[0];
      const shown = v.secret ? '' : ` (got ${JSON.stringify(values[v.env])})`;
      const where = v.flag ? `${v.env} (${v.flag})` : v.env;
      // A value that is not secret is quoted to help, but may hold a URL pasted with its credentials
      // (`CORS_ORIGINS=https://user:pw@app`): those are masked as config.yaml's are.
      throw new ConfigError(scrubString(`Invalid ${where}: ${issue?.message ?? 'invalid value'}${shown}.`, 'text'));
    }
    out[v.env] = result.data;
  }
  return out as RawConfig;
}

function parseFlags(argv: string[]): Record<string, string> | 'help' | 'version' {
  const known = new Set((VARS as readonly VarDef[]).flatMap((v) => (v.flag ? [v.flag] : [])));
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--version' || arg === '-v') return 'version';
    // A bare argument is most often a value without its flag (`… https://user:pw@host`): a URL or a
    // key, so it is named by position, never echoed.
    if (!arg.startsWith('-')) throw new ConfigError(`Command-line argument ${i + 1} is not an option (every value follows its flag, as in --hermes-url URL); see --help.`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) throw new ConfigError(`Unknown option ${JSON.stringify(name)}; see --help.`);
    // A flag whose value was left out must not take the next option as it (`--data-dir --port 0` ran on
    // a new, empty database in ./--port); a value that does begin with a dash can be glued: --data-dir=-x.
    const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1]?.startsWith('-') ? undefined : argv[++i];
    if (value === undefined) throw new ConfigError(`Option ${name} needs a value (one that begins with "-" is given as ${name}=VALUE).`);
    out[name] = value;
  }
  return out;
}

export function helpText(): string {
  const lines = [
    `hermes-optx-api ${VERSION} — sidecar for a Hermes Agent gateway`,
    '',
    'Usage: hermes-optx-api [options]',
    '',
    'Precedence: flag > environment variable > ./.env > default.',
    '',
  ];
  for (const v of VARS as readonly VarDef[]) {
    const name = v.flag ? `${v.flag} <value> | ${v.env}` : v.env;
    const def = v.shownDefault ?? defaultOf(v);
    lines.push(`  ${name.padEnd(44)} ${v.help}${def ? ` [default: ${def}]` : ''}`);
  }
  lines.push('  --help, --version');
  return lines.join('\n');
}

function defaultOf(v: VarDef): string {
  const r = v.schema.safeParse(undefined);
  if (!r.success || r.data === undefined) return '';
  return Array.isArray(r.data) ? (r.data.length ? r.data.join(',') : '') : String(r.data);
}

/** Balances are shown by symbol per network: a symbol listed twice on one would hide one mint's balance. */
function solanaTokens(items: readonly string[]): SolanaToken[] {
  const tokens = items.map(parseSolanaToken);
  tokens.forEach((t, i) => {
    if (tokens.findIndex((o) => o.symbol === t.symbol && o.network === t.network) !== i) {
      throw new ConfigError(`Invalid SOLANA_TOKENS: ${t.symbol} is listed twice on ${t.network}.`);
    }
  });
  return tokens;
}

function parseSolanaToken(s: string): SolanaToken {
  const [symbol, rest] = s.split(':') as [string, string];
  const [mint, net] = rest.split('@') as [string, string | undefined];
  return { symbol, mint, network: net === 'devnet' ? 'devnet' : 'mainnet' };
}

function parseEvmRpc(s: string): EvmRpc {
  const i = s.indexOf('=');
  return { chain: s.slice(0, i), url: s.slice(i + 1) };
}

function parseEvmToken(s: string): EvmToken {
  const [chain, symbol, contract, decimals] = s.split(':') as [string, string, `0x${string}`, string | undefined];
  return { chain, symbol, contract, decimals: decimals === undefined ? null : Number(decimals) };
}

function sameOrigin(a: string, b: string): boolean {
  return new URL(a).origin === new URL(b).origin;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s;
}

function expandHome(p: string, home: string | null, setting: string, defaulted = false): string {
  if (p !== '~' && !p.startsWith('~/')) return p;
  if (home === null) {
    throw new ConfigError(`Cannot expand ~ in ${setting} (${defaulted ? 'not set, so its default ' : ''}${JSON.stringify(p)}): HOME is not set and this user (uid ${process.getuid?.() ?? '?'}) has no home directory in the passwd database; set ${setting.split(' ')[0]} to an absolute path, or set HOME.`);
  }
  return p === '~' ? home : join(home, p.slice(2));
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
