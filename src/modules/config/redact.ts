/**
 * Redaction of config.yaml and .env values (SPEC §10). Values under a secret key (secret-keys.ts)
 * are masked; null and empty values stay as they are (they reveal only that nothing is set).
 * Everything under `mcp_servers.<name>.env` and `.headers` is secret whatever the key. Other strings
 * are scrubbed of the credentials they embed (scrub.ts), and in lists (command lines: MCP server
 * `args`) the item after a secret-named flag (`--api-key X`) or inside one (`--token=X`) is masked.
 * A secret that a YAML alias repeats under a key that is not secret is masked there too (redactConfig).
 */
import type { AnchoredValue } from '../../hermes/home';
import { contextOf, scrubString, type Context } from './scrub';
import { isDigits, isSecretKey, mask, PLACEHOLDER } from './secret-keys';

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

const FLAG = /^--?([A-Za-z0-9_.-]+)(=(.*))?$/s;

/** Command-line style arrays: the value after `--secret-flag`, or inside `--secret-flag=value`, is masked. */
function redactArgs(items: unknown[]): unknown[] {
  const out: unknown[] = [];
  /** The name of the flag whose value this item is, when that flag may name a secret. */
  let flagName: string | null = null;
  for (const item of items) {
    if (flagName !== null) {
      const secret = isSecretKey(flagName, typeof item === 'number' || (typeof item === 'string' && isDigits(item)));
      out.push(secret ? maskLeaf(item) : redactValue(item, 'command'));
      flagName = null;
      continue;
    }
    if (typeof item !== 'string') {
      out.push(redactValue(item, 'command'));
      continue;
    }
    const flag = FLAG.exec(item);
    const name = flag ? (flag[1] as string).replace(/-/g, '_') : '';
    if (flag && flag[2] === undefined && isSecretKey(name, false)) {
      out.push(item);
      flagName = name;
    } else if (flag && flag[2] !== undefined && isSecretKey(name, isDigits(flag[3] ?? ''))) {
      out.push(`${item.slice(0, item.indexOf('=') + 1)}${maskLeaf(flag[3] ?? '')}`);
    } else out.push(scrubString(item, 'command'));
  }
  return out;
}

function redactValue(value: unknown, context: Context): unknown {
  if (typeof value === 'string') return scrubString(value, context);
  if (Array.isArray(value)) return redactArgs(value);
  if (value && typeof value === 'object' && !(value instanceof Date)) return redactTree(value as Record<string, unknown>);
  return value;
}

/** A redacted copy of a config tree; the input is never modified (it is HermesHome's shared cache). */
function redactTree(tree: Record<string, unknown>, path: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const underMcpServer = path.length === 2 && path[0] === 'mcp_servers';
    if (isSecretKey(key, typeof value === 'number') || (underMcpServer && (key === 'env' || key === 'headers'))) out[key] = maskAll(value);
    else if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
      out[key] = redactTree(value as Record<string, unknown>, [...path, key]);
    } else out[key] = redactValue(value, contextOf(key));
  }
  return out;
}

/** A redacted copy of a `.env` map: secret-named variables masked, the others scrubbed of embedded credentials. */
export function redactEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) out[key] = isSecretKey(key, isDigits(value)) ? (maskLeaf(value) as string) : scrubString(value, contextOf(key));
  return out;
}

const isLeaf = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';

/** Adds to `found` every leaf of `orig` that redaction changed in `red` (the same tree, redacted). */
function collectChanged(orig: unknown, red: unknown, found: Set<unknown>): void {
  if (isLeaf(orig)) {
    if (orig !== red) found.add(orig);
  } else if (Array.isArray(orig)) orig.forEach((v, i) => collectChanged(v, Array.isArray(red) ? red[i] : undefined, found));
  else if (orig && typeof orig === 'object' && !(orig instanceof Date)) {
    const r = red && typeof red === 'object' ? (red as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(orig)) collectChanged(v, r[k], found);
  }
}

function collectLeaves(value: unknown, found: Set<unknown>): void {
  if (isLeaf(value)) found.add(value);
  else if (Array.isArray(value)) for (const v of value) collectLeaves(v, found);
  else if (value && typeof value === 'object' && !(value instanceof Date)) for (const v of Object.values(value)) collectLeaves(v, found);
}

/** `red` with every leaf that is one of `secrets` in `orig`, and that redaction left as it was, masked. */
function maskRepeats(orig: unknown, red: unknown, secrets: Set<unknown>): unknown {
  if (isLeaf(orig)) return secrets.has(orig) && red === orig ? maskLeaf(orig) : red;
  if (Array.isArray(orig) && Array.isArray(red)) return red.map((v, i) => maskRepeats(orig[i], v, secrets));
  if (orig && typeof orig === 'object' && !(orig instanceof Date) && red && typeof red === 'object' && !Array.isArray(red)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(red)) out[k] = maskRepeats((orig as Record<string, unknown>)[k], v, secrets);
    return out;
  }
  return red;
}

/**
 * The redacted config.yaml tree, aliases included: `api_key: &k sk-…` and then `fallback: *k`, or an
 * anchored mcp `env` map repeated elsewhere, put a secret under a name that is not secret, where the
 * key-based rules show it. Each anchored value that an alias repeats is compared with its redacted
 * copy where it is defined; the leaves that changed there are secrets, and are masked wherever else
 * the tree still shows them; an anchored leaf that redaction changed where an alias repeats it is one as
 * well. A value equal to such a secret but written out separately is masked
 * too: only anchored secrets are looked for, and they are rare.
 */
export function redactConfig(tree: Record<string, unknown>, anchored: readonly AnchoredValue[]): Record<string, unknown> {
  const out = redactTree(tree);
  const secrets = new Set<unknown>();
  const anchoredLeaves = new Set<unknown>();
  for (const { path, value } of anchored) {
    // config.yaml's root is a map (a file whose root is not one reads as {}), so the first segment is a key.
    if (typeof path[0] !== 'string') continue;
    let orig: unknown = tree;
    let red: unknown = out;
    for (const seg of path) {
      orig = (orig as Record<string | number, unknown> | undefined)?.[seg];
      red = (red as Record<string | number, unknown> | undefined)?.[seg];
    }
    if (!Bun.deepEquals(orig, value, true)) {
      // A repeated key replaced the anchored value where it is defined: redact it alone at that place.
      const placed = path.reduceRight<unknown>((acc, seg) => (typeof seg === 'number' ? [acc] : { [seg]: acc }), value);
      red = redactTree(placed as Record<string, unknown>);
      for (const seg of path) red = (red as Record<string | number, unknown>)[typeof seg === 'number' ? 0 : seg];
    }
    collectChanged(value, red, secrets);
    collectLeaves(value, anchoredLeaves);
  }
  // The other way round: an anchor defined under a name that is not secret (`keys: {openrouter: &k …}`)
  // and repeated under a secret one (`api_key: *k`) is a secret too, masked where it is defined.
  const changed = new Set<unknown>();
  collectChanged(tree, out, changed);
  for (const leaf of changed) if (anchoredLeaves.has(leaf)) secrets.add(leaf);
  return secrets.size ? (maskRepeats(tree, out, secrets) as Record<string, unknown>) : out;
}
