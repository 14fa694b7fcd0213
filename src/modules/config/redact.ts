/**
 * Redaction of config.yaml and .env values (SPEC §10), and detection of redacted placeholders that a
 * client sends back. A secret is shown as `***` plus its last 4 characters when it is at least 12
 * long, else `***`; null and empty values stay as they are (they reveal only that nothing is set).
 *
 * Secret keys, case-insensitive: the SPEC list exactly, plus every key that contains `api_key`,
 * `secret`, `password`, `private_key` or `token` — except `tokenizer`/`tokenize` (a setting, not a
 * credential), and a key containing `tokens` whose value is a number: that is a count (`max_tokens`,
 * `max_output_tokens`), while `bot_tokens: [...]` or `.env`'s `GITHUB_TOKENS=ghp_…` are credentials.
 * (In `.env` and on command lines every value is text: there a count is a string of digits.) On top of the SPEC
 * list we also treat `apikey`/`api-key`, `passwd`, `passphrase`, `credential(s)`, `cookie` and keys
 * ending in `_key`/`-key`/`_pat` as secrets, so `API_SERVER_KEY` or `GITHUB_PAT` in `.env` never leak.
 * Everything under `mcp_servers.<name>.env` and `.headers` is secret whatever the key. Strings are
 * also scrubbed where they embed a credential: the password of a URL (`https://user:pw@host`),
 * secret-named query parameters (`?api_key=…`) and command-line arguments after or in a secret-named
 * flag (`--api-key X`, `--token=X`) — MCP server `args` and `url`s carry those.
 */

const EXACT = new Set([
  'api_key', 'apikey', 'key', 'token', 'access_token', 'refresh_token', 'id_token', 'secret', 'client_secret',
  'password', 'passwd', 'auth', 'authorization', 'private_key', 'bearer', 'jwt',
  'passphrase', 'credential', 'credentials', 'cookie', 'pat',
]);
const CONTAINS = /api[_-]?key|secret|passw(or)?d|passphrase|private[_-]?key|credential/i;
const SUFFIX = /[_.-](key|pat)$/i;
const TOKEN = /token(?!iz|is)/i;
const COUNT_NAME = /tokens/i;

/** Whether `key` names a secret; `isCount` says the value is a number (`max_tokens: 4096` is not a secret). */
function isSecretKey(key: string, isCount: boolean): boolean {
  if (EXACT.has(key.toLowerCase()) || CONTAINS.test(key) || SUFFIX.test(key)) return true;
  return TOKEN.test(key) && !(isCount && COUNT_NAME.test(key));
}

/** A count written as text (`.env`, command lines, query strings). */
const isDigits = (value: string) => /^[0-9]+$/.test(value);

const PLACEHOLDER = '***';

function mask(value: string): string {
  return value.length >= 12 ? PLACEHOLDER + value.slice(-4) : PLACEHOLDER;
}

/** A secret leaf: strings are masked, other scalars become the bare placeholder, null/"" stay. */
function maskLeaf(value: unknown): unknown {
  if (value === null || value === undefined || value === '') return value;
  if (typeof value === 'string') return mask(value);
  if (typeof value === 'object' && !(value instanceof Date)) return maskAll(value);
  return PLACEHOLDER;
}

/** Masks every leaf of a subtree that sits under a secret key; the shape stays visible. */
function maskAll(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskLeaf);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskLeaf(v);
    return out;
  }
  return maskLeaf(value);
}

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)([^@\s/]+)@/i;
const QUERY_PARAM = /([?&])([^=&#\s]+)=([^&#\s]*)/g;

/** Scrubs credentials embedded in an otherwise non-secret string. */
export function scrubString(value: string): string {
  let out = value.replace(URL_PASSWORD, (_m, head: string) => `${head}${PLACEHOLDER}@`);
  if (out.includes('://')) {
    out = out.replace(QUERY_PARAM, (m, sep: string, name: string, v: string) => (v && isSecretKey(name, isDigits(v)) ? `${sep}${name}=${PLACEHOLDER}` : m));
  }
  return out;
}

const FLAG = /^--?([A-Za-z0-9_.-]+)(=(.*))?$/s;

/** Command-line style arrays: the value after `--secret-flag`, or inside `--secret-flag=value`, is masked. */
function redactArgs(items: unknown[]): unknown[] {
  const out: unknown[] = [];
  /** The name of the flag whose value this item is, when that flag may name a secret. */
  let flagName: string | null = null;
  for (const item of items) {
    if (flagName !== null) {
      const secret = isSecretKey(flagName, typeof item === 'number' || (typeof item === 'string' && isDigits(item)));
      out.push(secret ? maskLeaf(item) : redactValue(item));
      flagName = null;
      continue;
    }
    if (typeof item !== 'string') {
      out.push(redactValue(item));
      continue;
    }
    const flag = FLAG.exec(item);
    const name = flag ? (flag[1] as string).replace(/-/g, '_') : '';
    if (flag && flag[2] === undefined && isSecretKey(name, false)) {
      out.push(item);
      flagName = name;
    } else if (flag && flag[2] !== undefined && isSecretKey(name, isDigits(flag[3] ?? ''))) {
      out.push(`${item.slice(0, item.indexOf('=') + 1)}${maskLeaf(flag[3] ?? '')}`);
    } else out.push(scrubString(item));
  }
  return out;
}

function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) return redactArgs(value);
  if (value && typeof value === 'object' && !(value instanceof Date)) return redactTree(value as Record<string, unknown>);
  return value;
}

/** A redacted copy of a config tree; the input is never modified (it is HermesHome's shared cache). */
export function redactTree(tree: Record<string, unknown>, path: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const underMcpServer = path.length === 2 && path[0] === 'mcp_servers';
    if (isSecretKey(key, typeof value === 'number') || (underMcpServer && (key === 'env' || key === 'headers'))) out[key] = maskAll(value);
    else if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
      out[key] = redactTree(value as Record<string, unknown>, [...path, key]);
    } else out[key] = redactValue(value);
  }
  return out;
}

/** A redacted copy of a `.env` map: secret-named variables masked, the others scrubbed of embedded credentials. */
export function redactEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) out[key] = isSecretKey(key, isDigits(value)) ? (maskLeaf(value) as string) : scrubString(value);
  return out;
}

const WHOLE_PLACEHOLDER = /^\*\*\*(.{4})?$/s;
/** `pw` of a URL, `name=` of a query or of `--flag=`: where scrubString and redactArgs leave placeholders. */
const EMBEDDED_PLACEHOLDER = /:\*\*\*@|=\*\*\*(.{4})?($|[&#])/s;

/** The dot path of the first string in `value` that is (or embeds) a redacted placeholder, or null. */
export function findPlaceholder(value: unknown, path: string): string | null {
  if (typeof value === 'string') {
    return WHOLE_PLACEHOLDER.test(value) || EMBEDDED_PLACEHOLDER.test(value) ? path : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findPlaceholder(value[i], `${path}[${i}]`);
      if (hit) return hit;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const hit = findPlaceholder(v, path ? `${path}.${k}` : k);
      if (hit) return hit;
    }
  }
  return null;
}
