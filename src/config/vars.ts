/**
 * Every setting the sidecar reads, in one table: its environment variable, its flag (if any),
 * how it is validated, its default and its help line. `--help` is generated from this table,
 * so a variable that is not listed here does not exist.
 */
import { isIP } from '../lib/ip';
import { z } from '../lib/zod';

export interface VarDef {
  env: string;
  flag?: string;
  help: string;
  /** Human-readable default shown by --help when the schema default is computed elsewhere. */
  shownDefault?: string;
  schema: z.ZodMiniType;
  /**
   * Never echoed back in error messages or logs: keys and tokens, and URLs, which may carry a
   * credential (`user:password@`, a key in the query, or in the path as Alchemy and Infura RPCs do).
   */
  secret?: boolean;
}

/** A refusal from a parser: its message becomes the one-line start-up error. */
class Invalid {
  constructor(readonly message: string) {}
}
type Parser<T> = (raw: string) => T | Invalid;

/**
 * One zod schema per variable: the raw string through `parse`, `fallback` when absent. A single
 * transform rather than a chain of zod steps: building ~50 chains of five steps each was a tenth of
 * the executable's start-up time.
 */
function setting<T>(parse: Parser<T>): z.ZodMiniType<T | undefined, string | undefined>;
function setting<T>(parse: Parser<T>, fallback: T): z.ZodMiniType<T, string | undefined>;
function setting<T>(parse: Parser<T>, fallback?: T): z.ZodMiniType<T | undefined, string | undefined> {
  return z.pipe(
    z.optional(z.string()),
    // zod/mini hands a transform the bare parse payload (no `addIssue` helper): issues are pushed.
    z.transform((raw, payload) => {
      if (raw === undefined) return fallback;
      const r = parse(raw);
      if (r instanceof Invalid) {
        payload.issues.push({ code: 'custom', message: r.message, input: raw });
        return z.NEVER;
      }
      return r;
    }),
  );
}

const BOOLS: Record<string, boolean> = { '1': true, true: true, yes: true, on: true, '0': false, false: false, no: false, off: false };
const bool: Parser<boolean> = (s) => BOOLS[s.trim().toLowerCase()] ?? new Invalid('expected true or false');

const httpUrl: Parser<string> = (s) => {
  const t = s.trim();
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    return new Invalid('expected an http(s) URL');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) return new Invalid('expected an http(s) URL');
  // Trailing slashes come off the path only: in a query they belong to a value (`?api-key=…/`).
  return u.search || u.hash ? t : t.replace(/\/+$/, '');
};

/**
 * A URL that paths are appended to (`/health`, `/v1/…`, `/session/{id}`): a query string or fragment
 * would end up in front of every path, so it is refused here rather than failing on every call.
 * (RPC endpoints, which are called as they are, may carry a query such as an API key.)
 */
const baseUrl: Parser<string> = (s) => {
  const u = httpUrl(s);
  if (typeof u !== 'string') return u;
  return /[?#]/.test(u) ? new Invalid('expected a base URL without a query string or fragment (paths are appended to it)') : u;
};

/**
 * The gateway's root: its routes are /health, /api/… and /v1/…, so the OpenAI-style base URL people
 * habitually configure (`http://host:8642/v1`) means the same gateway, not a prefix that 404s.
 * HEDGEHOG_URL is read the same way: every caller appends `/v1/chat/completions` to it.
 */
const gatewayUrl: Parser<string> = (s) => {
  const u = baseUrl(s);
  return typeof u === 'string' ? u.replace(/\/v1$/, '') : u;
};

/**
 * The address to listen on: an IP literal (an IPv6 one also in brackets, as URLs write it) or a host
 * name. A URL or `host:port` is refused here, naming the variable, instead of failing in the resolver
 * with "getaddrinfo ENOTFOUND http://localhost"; brackets are taken off (the banner printed `[[::1]]`).
 */
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
const bindHost: Parser<string> = (s) => {
  const t = s.trim();
  const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  if (isIP(bare) === 6 || (bare === t && (isIP(t) === 4 || HOST_NAME.test(t)))) return bare;
  return new Invalid('expected an IP address or a host name, without scheme or port');
};

const intIn = (min: number, max: number): Parser<number> => (s) => {
  const t = s.trim();
  const n = Number(t);
  return /^-?\d+$/.test(t) && n >= min && n <= max ? n : new Invalid(`expected an integer from ${min} to ${max}`);
};

const seconds = (max: number): Parser<number> => (s) => {
  const t = s.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return new Invalid('expected a number of seconds');
  const n = Number(t);
  if (n <= 0) return new Invalid('expected a positive number of seconds');
  return n <= max ? n : new Invalid(`expected at most ${max} seconds`);
};

const text: Parser<string> = (s) => s.trim() || new Invalid('must not be empty');
const matching = (re: RegExp, message: string): Parser<string> => (s) => (re.test(s.trim()) ? s.trim() : new Invalid(message));
const oneOf = <const T extends string>(values: readonly T[]): Parser<T> => (s) =>
  (values as readonly string[]).includes(s) ? (s as T) : new Invalid(`expected one of ${values.join(', ')}`);
/** A comma list; every item must match `re` when given. */
const listOf = (re?: RegExp, message = ''): Parser<string[]> => (s) => {
  const items = s.split(',').map((p) => p.trim()).filter(Boolean);
  const bad = re ? items.find((i) => !re.test(i)) : undefined;
  return bad === undefined ? items : new Invalid(message);
};
/**
 * Browser origins, each as a browser sends it in `Origin` (lower case, no default port, no slash):
 * `https://App.example:443/`, as typed or pasted from the address bar, matched no request when
 * compared as written, and the page got neither CORS headers nor, for writes, anything but a 403.
 * A host without a scheme or a URL with a path is refused: which origin was meant is a guess.
 * Other schemes (`app://obsidian.md`, `chrome-extension://…`) are kept as written, less a final slash.
 * `file://` is what Electron sends for its `file:` pages (a desktop client): kept, though it has no host.
 */
const originList: Parser<string[]> = (s) => {
  const origins: string[] = [];
  for (const item of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    if (item === '*' || item === 'null' || item === 'file://') {
      origins.push(item);
      continue;
    }
    const u = URL.parse(item);
    if (!u || !/^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(item) || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password) {
      return new Invalid(`${item.slice(0, 100)} is not an origin: expected scheme://host[:port] with no path (https://app.example), * or null`);
    }
    origins.push(u.origin === 'null' ? item.replace(/\/$/, '') : u.origin);
  }
  return origins;
};
/**
 * ALLOWED_HOSTS: names the sidecar may be called by (lib/cors.ts), kept in lower case without
 * a final dot, as they are compared. Only the name is compared, so a scheme or port is refused rather
 * than never matching; IP addresses are always allowed and need no listing.
 */
const hostList: Parser<string[]> = (s) => {
  const names: string[] = [];
  for (const item of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const name = item.toLowerCase().replace(/\.$/, '');
    const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    if (name !== '*' && !isIP(bare) && !HOST_NAME.test(name.startsWith('.') ? name.slice(1) : name)) {
      return new Invalid(`${item.slice(0, 100)} is not a host name: expected names without scheme or port (agent.office.net; .example.com for it and its subdomains) or *`);
    }
    names.push(name);
  }
  return names;
};
/**
 * EVM_RPC_URLS: `chain=url` items, each URL checked as the other RPC URLs are (`http://[::1` or a port
 * of 99999 passed a pattern and failed every balance call as "unreachable"). The URL is not named in
 * the message: it may hold a key.
 */
const evmRpcList: Parser<string[]> = (s) => {
  const out: string[] = [];
  for (const item of listOf()(s) as string[]) {
    const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(item);
    if (!m) return new Invalid('expected chain=url');
    const url = httpUrl(m[2] as string);
    if (typeof url !== 'string') return new Invalid(`the URL given for ${m[1]} is not an http(s) URL`);
    out.push(`${m[1]}=${url}`);
  }
  return out;
};
/** API keys: set but holding no key (`,`, or `${KEY},` with KEY unset) would turn auth off, and a key no client can send locks every client out; both refused. */
const keyList: Parser<string[]> = (s) => {
  const keys = listOf()(s);
  if (!Array.isArray(keys)) return keys;
  if (keys.length === 0) return new Invalid('holds no key (only commas and spaces); unset it to run without auth');
  // A client presents a key as `Authorization: Bearer <key>`, one token of header bytes: a key with a
  // space inside, or a character a client sends as several UTF-8 bytes (read back one Latin-1
  // character each), could never match, and every request was refused with a 401.
  return keys.every((k) => /^[\x21-\x7e]+$/.test(k)) ? keys : new Invalid('each key must be printable ASCII without spaces, as a client sends it in `Authorization: Bearer <key>`');
};

/** A USD amount of a 6-decimal token (TIP-20, micro-USD): more places could only be rounded away. */
const usdAmount = (min: 'positive' | 'zero'): Parser<string> => (s) => {
  const t = s.trim();
  const m = /^\d+(?:\.(\d+))?$/.exec(t);
  if (!m) return new Invalid('expected a decimal amount such as 0.10');
  if ((m[1] ?? '').replace(/0+$/, '').length > 6) return new Invalid('at most 6 decimal places (the token has 6)');
  if (min === 'positive' && !/[1-9]/.test(t)) return new Invalid('must be greater than 0');
  return t;
};
const evmAddress = matching(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x address');
const SOLANA_TOKEN = /^[A-Za-z0-9_.-]+:[1-9A-HJ-NP-Za-km-z]{32,44}(@devnet|@mainnet)?$/;
const EVM_TOKEN = /^[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+:0x[0-9a-fA-F]{40}(:\d{1,2})?$/;

export const VARS = [
  { env: 'HERMES_AGENT_URL', flag: '--hermes-url', help: 'upstream Hermes gateway', schema: setting(gatewayUrl, 'http://localhost:8642'), secret: true },
  { env: 'HERMES_API_KEY', help: 'bearer token sent upstream', shownDefault: 'API_SERVER_KEY from $HERMES_HOME/.env', schema: setting(text), secret: true },
  { env: 'HERMES_HOME', flag: '--hermes-home', help: 'agent home (config.yaml, .env, state.db, skills/)', shownDefault: '~/.hermes', schema: setting(text) },
  { env: 'OPTX_API_HOST', flag: '--host', help: 'bind address: an IP (IPv6 with or without brackets) or a host name, no scheme or port', schema: setting(bindHost, '0.0.0.0') },
  { env: 'OPTX_API_PORT', flag: '--port', help: 'port (0 picks a free one)', schema: setting(intIn(0, 65535), 8643) },
  { env: 'OPTX_DATA_DIR', flag: '--data-dir', help: "the sidecar's own database and files", shownDefault: '$HERMES_HOME/optx-api', schema: setting(text) },
  { env: 'MEMORY_BACKEND', flag: '--memory-backend', help: 'holographic, sqlite or spacetimedb', schema: setting(oneOf(['holographic', 'sqlite', 'spacetimedb']), 'holographic') },
  { env: 'HOLOGRAPHIC_DB_PATH', help: "Hermes' holographic memory file", shownDefault: "plugins.hermes-memory-store.db_path of config.yaml, else $HERMES_HOME/memory_store.db", schema: setting(text) },
  { env: 'MEMORY_DB_URL', help: 'SpacetimeDB base URL, e.g. http://host:3000', schema: setting(baseUrl), secret: true },
  { env: 'SPACETIMEDB_DB', help: 'SpacetimeDB database name or identity', schema: setting(matching(/^[A-Za-z0-9_-]+$/, 'expected a database name or identity')) },
  { env: 'SPACETIMEDB_TOKEN', help: 'bearer token for SpacetimeDB', schema: setting(text), secret: true },
  { env: 'SPACETIMEDB_TIMEOUT_S', help: 'timeout of one SpacetimeDB call', schema: setting(seconds(600), 10) },
  { env: 'TASKS_BACKEND', help: 'sqlite or spacetimedb', schema: setting(oneOf(['sqlite', 'spacetimedb']), 'sqlite') },
  { env: 'API_KEY', help: 'comma-separated accepted API keys; enables auth', schema: setting(keyList), secret: true },
  { env: 'MPP_ENABLED', help: 'enable MPP pay-per-request (HTTP 402)', schema: setting(bool, false) },
  { env: 'MPP_RECIPIENT', help: 'Tempo address that receives MPP payments', schema: setting(evmAddress) },
  { env: 'MPP_AMOUNT', help: 'price of one request', schema: setting(usdAmount('positive'), '0.10') },
  { env: 'MPP_NETWORK', help: 'testnet or mainnet', schema: setting(oneOf(['testnet', 'mainnet']), 'testnet') },
  { env: 'MPP_SECRET_KEY', help: 'secret binding MPP challenges (at least 32 bytes)', schema: setting((s) => (Buffer.byteLength(s) >= 32 ? s : new Invalid('must be at least 32 bytes'))), secret: true },
  { env: 'MPP_CURRENCY', help: 'TIP-20 token contract charged by MPP', shownDefault: 'the network default', schema: setting(matching(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x token address')) },
  { env: 'TEMPO_RPC_URL', help: 'Tempo JSON-RPC used to verify MPP payments', schema: setting(httpUrl), secret: true },
  { env: 'CORS_ORIGINS', help: 'comma list of browser origins allowed to read and write: scheme://host[:port], null, file://, or * for any', schema: setting(originList, [] as string[]) },
  { env: 'ALLOWED_HOSTS', help: 'without API_KEY, host names the sidecar may be called by (DNS rebinding), besides IPs, localhost, dotless, .local, .internal, .home.arpa, .lan, .home, .corp, .intranet, .private and CORS_ORIGINS hosts: agent.office.net, .example.com (and subdomains), or * for any', schema: setting(hostList, [] as string[]) },
  { env: 'HEDGEHOG_URL', help: 'OpenAI-compatible endpoint for metered calls and decomposition', shownDefault: 'HERMES_AGENT_URL', schema: setting(gatewayUrl), secret: true },
  { env: 'HEDGEHOG_API_KEY', help: 'bearer token for HEDGEHOG_URL', shownDefault: 'HERMES_API_KEY when HEDGEHOG_URL is the Hermes origin', schema: setting(text), secret: true },
  { env: 'HEDGEHOG_TIMEOUT_S', help: 'timeout of one metered or decomposition call', schema: setting(seconds(3600), 120) },
  { env: 'AARON_URL', help: 'gaze-verification service', schema: setting(baseUrl), secret: true },
  { env: 'AARON_TIMEOUT_S', help: 'timeout of one gaze check', schema: setting(seconds(600), 5) },
  { env: 'WALLET_AGENT', help: 'agent name shown by the wallet', schema: setting(text, 'astrojoe') },
  { env: 'SOLANA_ADDRESS', help: 'Solana wallet address', schema: setting(matching(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, 'expected a base58 Solana address')) },
  { env: 'SOLANA_RPC_URL', help: 'Solana mainnet RPC', schema: setting(httpUrl, 'https://api.mainnet-beta.solana.com'), secret: true },
  { env: 'SOLANA_DEVNET_RPC_URL', help: 'Solana devnet RPC', schema: setting(httpUrl, 'https://api.devnet.solana.com'), secret: true },
  { env: 'SOLANA_TOKENS', help: 'SPL tokens: SYMBOL:MINT[@devnet],…', schema: setting(listOf(SOLANA_TOKEN, 'expected SYMBOL:MINT or SYMBOL:MINT@devnet'), [] as string[]) },
  { env: 'EVM_ADDRESS', help: 'EVM wallet address', schema: setting(evmAddress) },
  { env: 'EVM_RPC_URLS', help: 'EVM RPCs: chain=url,… (viem chain name or chain id)', schema: setting(evmRpcList, [] as string[]), secret: true },
  { env: 'EVM_TOKENS', help: 'ERC-20/TIP-20 tokens: chain:SYMBOL:contract[:decimals],…', schema: setting(listOf(EVM_TOKEN, 'expected chain:SYMBOL:0xcontract[:decimals]'), [] as string[]) },
  { env: 'RPC_TIMEOUT_S', help: 'timeout of one balance RPC', schema: setting(seconds(600), 8) },
  { env: 'BALANCE_CACHE_S', help: 'how long GET /api/wallet reuses balances', schema: setting(seconds(86400), 30) },
  { env: 'TEMPO_PRICING', help: 'path of a JSON or YAML pricing table file for metered calls', shownDefault: 'built-in table', schema: setting(text) },
  { env: 'TEMPO_CALLER_BUDGET_USD', help: 'per-caller spending cap for metered calls', schema: setting(usdAmount('zero')) },
  { env: 'MAX_BODY_BYTES', help: 'largest JSON request body', schema: setting(intIn(1024, 1024 ** 3), 1024 * 1024) },
  { env: 'PROXY_MAX_BODY_BYTES', help: 'largest body proxied to /v1/*', schema: setting(intIn(1024, 1024 ** 3), 32 * 1024 * 1024) },
  { env: 'PROBE_INTERVAL_S', help: 'seconds between upstream probes', schema: setting(seconds(86400), 30) },
  { env: 'PROBE_TIMEOUT_S', help: 'timeout of one probe request', schema: setting(seconds(600), 5) },
  { env: 'UPSTREAM_TIMEOUT_S', help: 'wait for the upstream response headers (and, on the chat routes, the whole of an error answer)', schema: setting(seconds(86400), 300) },
  { env: 'UPSTREAM_IDLE_TIMEOUT_S', help: 'longest silence inside a stream: from the upstream, or a client reading nothing', schema: setting(seconds(86400), 300) },
  { env: 'SKILLS_WARM', help: 'build the skills index in the background once started, so the first GET /api/skills finds it ready', schema: setting(bool, true) },
  { env: 'SSE_HEARTBEAT_S', help: 'seconds between SSE heartbeat comments', schema: setting(seconds(3600), 15) },
  { env: 'CHAT_STREAM_FORMAT', help: 'default chat stream format: optx or hermes', schema: setting(oneOf(['optx', 'hermes']), 'optx') },
  { env: 'LOG_LEVEL', help: 'debug, info, warn, error or silent', schema: setting(oneOf(['debug', 'info', 'warn', 'error', 'silent']), 'info') },
  { env: 'LOG_FORMAT', help: 'pretty or json', shownDefault: 'pretty when stderr is a terminal, else json', schema: setting(oneOf(['pretty', 'json'])) },
] as const satisfies readonly VarDef[];

export type RawConfig = { [K in (typeof VARS)[number] as K['env']]: z.output<K['schema']> };
