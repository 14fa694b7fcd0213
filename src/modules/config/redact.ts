/**
 * Redaction of config.yaml and .env values (SPEC §10). Values under a secret key (secret-keys.ts)
 * are masked; null and empty values stay as they are (they reveal only that nothing is set).
 * Everything under `mcp_servers.<name>.env` and `.headers` is secret whatever the key. Other strings
 * are scrubbed of the credentials they embed (scrub.ts), and in lists (command lines: MCP server
 * `args`) the item after a secret-named flag (`--api-key X`) or inside one (`--token=X`) is masked.
 * A secret that a YAML alias repeats under a key that is not secret is masked there too (redactConfig),
 * and so is one that an alias or anchor makes a map key (redact-keys.ts).
 */
import type { AnchoredValue, SharedKey } from '../../hermes/home';
import { maskSecretKeys } from './redact-keys';
import { contextOf, scrubString, type Context } from './scrub';
import { isSecretKey, isSecretText, isSwitchText, mask, PLACEHOLDER } from './secret-keys';

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
  if (value && typeof value === 'object' && !(value instanceof Date)) return mapValues(value as Record<string, unknown>, (_k, v) => maskLeaf(v));
  return maskLeaf(value);
}

/**
 * A copy of `map` with each value replaced. Built with Object.fromEntries, never by assignment: a key
 * `__proto__` that a hand-written file holds is then a key of the copy, not its prototype (the key was
 * missing from GET /api/config, and what its map held was read as the root's own model and provider).
 */
function mapValues<V, W>(map: Record<string, V>, f: (key: string, value: V) => W): Record<string, W> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, f(k, v)]));
}

const FLAG = /^--?([A-Za-z0-9_.-]+)(=(.*))?$/s;

/** Command-line style arrays: the value after `--secret-flag`, or inside `--secret-flag=value`, is masked. */
function redactArgs(items: unknown[]): unknown[] {
  const out: unknown[] = [];
  /** The name of the flag whose value this item is, when that flag may name a secret. */
  let flagName: string | null = null;
  for (const item of items) {
    if (flagName !== null) {
      const secret = typeof item === 'string' ? isSecretText(flagName, item) : isSecretKey(flagName, typeof item === 'number', typeof item === 'boolean');
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
    } else if (flag && flag[2] !== undefined && isSecretText(name, flag[3] ?? '')) {
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

/**
 * A redacted copy of a config tree; the input is never modified (it is HermesHome's shared cache).
 * `wholeEnv` false leaves out the rule that masks all of an mcp `env`/`headers` map: what is then still
 * masked is a secret by its own name or shape, not only by where it sits.
 */
function redactTree(tree: Record<string, unknown>, path: readonly string[] = [], wholeEnv = true): Record<string, unknown> {
  const underMcpServer = wholeEnv && path.length === 2 && path[0] === 'mcp_servers';
  return mapValues(tree, (key, value) => {
    // A string is never a count here (YAML has numbers), but may be a switch: YAML 1.1's `yes`, which Hermes reads as one.
    const secret = isSecretKey(key, typeof value === 'number', typeof value === 'boolean' || (typeof value === 'string' && isSwitchText(value)));
    if (secret || (underMcpServer && (key === 'env' || key === 'headers'))) return maskAll(value);
    if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) return redactTree(value as Record<string, unknown>, [...path, key], wholeEnv);
    return redactValue(value, contextOf(key));
  });
}

/** A redacted copy of a `.env` map: secret-named variables masked, the others scrubbed of embedded credentials. */
export function redactEnv(env: Record<string, string>): Record<string, string> {
  return mapValues(env, (key, value) => (isSecretText(key, value) ? (maskLeaf(value) as string) : scrubString(value, contextOf(key))));
}

const isLeaf = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';
const isNode = (v: unknown): v is Record<string | number, unknown> => !!v && typeof v === 'object' && !(v instanceof Date);

type Path = readonly (string | number)[];

const child = (v: unknown, seg: string | number): unknown => (isNode(v) ? v[seg] : undefined);

function valueAt(value: unknown, path: Path): unknown {
  let v = value;
  for (const seg of path) v = child(v, seg);
  return v;
}

/**
 * Adds every leaf of `orig` that redaction changed in `red` (the same tree, redacted) to `own` when it
 * changed in `bare` too (redacted without the whole-env rule: a secret by itself), else to `placed`
 * (masked only for sitting in an mcp env or headers map, where model names and URLs sit as well).
 */
function collectChanged(orig: unknown, red: unknown, bare: unknown, own: Set<unknown>, placed: Set<unknown>): void {
  if (isLeaf(orig)) {
    if (orig !== red) (orig !== bare ? own : placed).add(orig);
  } else if (Array.isArray(orig)) orig.forEach((v, i) => collectChanged(v, child(red, i), child(bare, i), own, placed));
  else if (isNode(orig)) for (const [k, v] of Object.entries(orig)) collectChanged(v, child(red, k), child(bare, k), own, placed);
}

function collectLeaves(value: unknown, found: Set<unknown>): void {
  if (isLeaf(value)) found.add(value);
  else if (Array.isArray(value)) for (const v of value) collectLeaves(v, found);
  else if (isNode(value)) for (const v of Object.values(value)) collectLeaves(v, found);
}

/** `red` with every leaf that is one of `secrets` in `orig`, and that redaction left as it was, masked. */
function maskRepeats(orig: unknown, red: unknown, secrets: Set<unknown>): unknown {
  if (isLeaf(orig)) return secrets.has(orig) && red === orig ? maskLeaf(orig) : red;
  if (Array.isArray(orig) && Array.isArray(red)) return red.map((v, i) => maskRepeats(orig[i], v, secrets));
  if (isNode(orig) && isNode(red) && !Array.isArray(red)) return mapValues(red, (k, v) => maskRepeats((orig as Record<string, unknown>)[k], v, secrets));
  return red;
}

/** `red` (a fresh copy, changed in place) with maskRepeats applied to what sits at `path`. */
function maskRepeatsAt(orig: unknown, red: Record<string, unknown>, path: Path, secrets: Set<unknown>): Record<string, unknown> {
  if (!path.length) return maskRepeats(orig, red, secrets) as Record<string, unknown>;
  const parent = valueAt(red, path.slice(0, -1));
  const last = path[path.length - 1] as string | number;
  // Defined, not assigned: assigning to a key `__proto__` would replace the prototype.
  if (isNode(parent)) Object.defineProperty(parent, last, { value: maskRepeats(valueAt(orig, path), parent[last], secrets), writable: true, enumerable: true, configurable: true });
  return red;
}

/**
 * The places `paths` (where `a` is defined, or its copies) hold `a`: a map's copy made by a `<<` merge
 * is the map it merges into, which holds other keys too, so a map stands at each of its own keys.
 * Taking the whole target made every env value of it a leaf of `a`: `<<: *defaults` at the root
 * masked a model name in model.default for sitting in an mcp env map too.
 */
function placesOf(a: AnchoredValue, paths: readonly Path[]): Path[] {
  const { value } = a;
  if (!isNode(value) || Array.isArray(value)) return [...paths];
  const keys = Object.keys(value);
  return paths.flatMap((p) => keys.map((k) => [...p, k]));
}

/**
 * Each anchored value by the places it stands in the tree (where it is defined, its aliases),
 * JSON-spelled, and those spellings sorted: the places inside one are then a run of them.
 */
interface PlaceIndex {
  at: Map<string, AnchoredValue[]>;
  sorted: string[];
}

function byPlace(anchored: readonly AnchoredValue[]): PlaceIndex {
  const at = new Map<string, AnchoredValue[]>();
  for (const a of anchored) {
    for (const place of placesOf(a, [a.path, ...a.copies])) {
      const key = JSON.stringify(place);
      const list = at.get(key);
      if (list) list.push(a);
      else at.set(key, [a]);
    }
  }
  return { at, sorted: [...at.keys()].sort() };
}

/** The places whose spelling starts with `prefix`: found by binary search, not a walk of every place. */
function* placesFrom(index: PlaceIndex, prefix: string): Generator<AnchoredValue> {
  const { sorted } = index;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as string) < prefix) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < sorted.length && (sorted[i] as string).startsWith(prefix); i++) yield* index.at.get(sorted[i] as string) ?? [];
}

/**
 * Where the tree holds a copy of `a`: where it is defined and its aliases, and, as an anchored value
 * that holds one of those is repeated too, every copy of that one (`nested: &d {inner: &g …}`, then
 * `bot: {<<: *d}` repeats g in bot); and every copy of an anchored value that stands inside one of
 * those places (`env: *d` repeats g into the env map, so g's own alias `default: *g` is a copy too:
 * it was shown in clear). Each place is looked up by its prefixes, and the places inside it by binary search: linear in the anchors (a walk of every place per zone took 2,000 anchored env maps from 0.28 to 1.2 s).
 */
function copiesOf(a: AnchoredValue, index: PlaceIndex): Path[] {
  const zones: Path[] = [];
  const taken = new Set<AnchoredValue>();
  const take = (b: AnchoredValue) => {
    if (taken.has(b)) return;
    taken.add(b);
    zones.push(...placesOf(b, [b.path, ...b.copies]));
  };
  take(a);
  for (let i = 0; i < zones.length; i++) {
    const zone = zones[i] as Path;
    for (let n = 0; n <= zone.length; n++) for (const b of index.at.get(JSON.stringify(zone.slice(0, n))) ?? []) take(b);
    const inside = `${JSON.stringify(zone).slice(0, -1)}${zone.length ? ',' : ''}`;
    for (const b of placesFrom(index, inside)) take(b);
  }
  return zones;
}

/**
 * The redacted config.yaml tree, aliases included: `api_key: &k sk-…` and then `fallback: *k`, or an
 * anchored mcp `env` map repeated elsewhere, put a secret under a name that is not secret, where the
 * key-based rules show it. Each anchored value that an alias repeats is compared with its redacted
 * copy where it is defined; the leaves that changed there are secrets. One that is a secret by itself
 * (its name, its shape) is masked wherever else the tree still shows it: a value equal to it but
 * written out separately too (only anchored secrets are looked for, and they are rare). One masked
 * only for sitting in an mcp `env`/`headers` map, which holds model names and URLs as well, is masked
 * in the copies of that anchored value alone: until 2026-12-07 an env map shared by two servers
 * (`env: &e`, `env: *e`) masked its `gpt-4o` in `model.default` too, and GET /api/config/model showed "***".
 */
function redactValues(tree: Record<string, unknown>, anchored: readonly AnchoredValue[]): Record<string, unknown> {
  const out = redactTree(tree);
  if (!anchored.length) return out;
  // Only an mcp server's env or headers map is redacted differently without the whole-env rule.
  const servers = tree.mcp_servers;
  const wholeEnvUsed = isNode(servers) && Object.values(servers).some((srv) => isNode(srv) && ('env' in srv || 'headers' in srv));
  const bare = wholeEnvUsed ? redactTree(tree, [], false) : out;
  const secrets = new Set<unknown>();
  const anchoredLeaves = new Set<unknown>();
  const local: { a: AnchoredValue; leaves: Set<unknown> }[] = [];
  for (const a of anchored) {
    const { path, value } = a;
    // config.yaml's root is a map (a file whose root is not one reads as {}), so the first segment is a key.
    if (typeof path[0] !== 'string') continue;
    let red = valueAt(out, path);
    let redBare = valueAt(bare, path);
    if (!Bun.deepEquals(valueAt(tree, path), value, true)) {
      // A repeated key replaced the anchored value where it is defined: redact it alone at that place.
      const placed = path.reduceRight<unknown>((acc, seg) => (typeof seg === 'number' ? [acc] : { [seg]: acc }), value) as Record<string, unknown>;
      const where = path.map((seg) => (typeof seg === 'number' ? 0 : seg));
      red = valueAt(redactTree(placed), where);
      redBare = valueAt(redactTree(placed, [], false), where);
    }
    const leaves = new Set<unknown>();
    collectChanged(value, red, redBare, secrets, leaves);
    // An alias that stands in an env map (`env: {K: *k}`) makes what it repeats one such leaf too.
    for (const c of placesOf(a, a.copies)) collectChanged(valueAt(tree, c), valueAt(out, c), valueAt(bare, c), new Set(), leaves);
    collectLeaves(value, anchoredLeaves);
    if (leaves.size) local.push({ a, leaves });
  }
  // The other way round: an anchor defined under a name that is not secret (`keys: {openrouter: &k …}`)
  // and repeated under a secret one (`api_key: *k`) is a secret too, masked where it is defined.
  const changed = new Set<unknown>();
  collectChanged(tree, out, bare, changed, new Set());
  for (const leaf of changed) if (anchoredLeaves.has(leaf)) secrets.add(leaf);
  let result = secrets.size ? (maskRepeats(tree, out, secrets) as Record<string, unknown>) : out;
  const index = local.length ? byPlace(anchored) : null;
  for (const { a, leaves } of local) for (const zone of copiesOf(a, index as PlaceIndex)) result = maskRepeatsAt(tree, result, zone, leaves);
  return result;
}

/** redactValues, then the keys that an alias or anchor (`sharedKeys`, anchored.ts) makes repeat a secret masked too. */
export function redactConfig(tree: Record<string, unknown>, anchored: readonly AnchoredValue[], sharedKeys: readonly SharedKey[] = []): Record<string, unknown> {
  return maskSecretKeys(tree, redactValues(tree, anchored), sharedKeys);
}
