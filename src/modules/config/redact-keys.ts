/**
 * Map keys that repeat a secret (SPEC §10: no secret value in any response). A YAML alias can put a
 * value where a key goes (`api_key: &k sk-…`, then `notes: {*k : hi}`), and an anchored key can be
 * aliased under a secret name (`&k sk-…: x`, then `api_key: *k`): the tree then has the secret as a
 * key name, which the value rules never look at. Such keys are masked after the values are redacted.
 * Working the copies of each key out through nested aliases blew up exponentially on a fuzz seed; this
 * is one walk of the file's keys and two of the tree, linear in the size of the file.
 */
import { mask } from './secret-keys';

const isNode = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !(v instanceof Date);

/** The text of every leaf that redaction changed (`red` is `orig` redacted): masked values, scrubbed strings. */
function changedLeaves(orig: unknown, red: unknown, found: Set<string>): void {
  if (typeof orig === 'string' || typeof orig === 'number') {
    if (orig !== red) found.add(String(orig));
  } else if (isNode(orig) && isNode(red)) for (const [k, v] of Object.entries(orig)) changedLeaves(v, red[k], found);
}

/**
 * A map's keys renamed where `secret` says so: `***` + the last 4 characters as mask() shows a value,
 * and, when that name is already a key of the map (two secrets ending alike, two short ones, or a key
 * written so), ` #2`, ` #3`, … after it, so no two keys fall into one and a value is never dropped.
 */
function renamed(map: Record<string, unknown>, secret: (key: string) => boolean): Record<string, unknown> {
  const keys = Object.keys(map);
  // Every key of the file's map is taken, the secret ones too: a masked name is then never one the
  // file has there, which is how a write tells a masked key from one written `***…` by hand.
  const taken = new Set(keys);
  const next = new Map<string, number>();
  return Object.fromEntries(
    keys.map((k) => {
      if (!secret(k)) return [k, map[k]];
      const base = mask(k);
      let name = base;
      for (let i = next.get(base) ?? 2; taken.has(name); i++) {
        name = `${base} #${i}`;
        next.set(base, i + 1);
      }
      taken.add(name);
      return [name, map[k]];
    }),
  );
}

function maskKeysIn(red: unknown, secret: Set<string>): unknown {
  if (Array.isArray(red)) return red.map((v) => maskKeysIn(v, secret));
  if (!isNode(red)) return red;
  const inner = Object.fromEntries(Object.entries(red).map(([k, v]) => [k, maskKeysIn(v, secret)]));
  return Object.keys(inner).some((k) => secret.has(k)) ? renamed(inner, (k) => secret.has(k)) : inner;
}

/**
 * `red` (the redacted `tree`) with every map key, at any depth, masked whose text is one of the
 * `shared` keys (an alias or anchored key of the file) and a value redaction changed somewhere. Only
 * shared keys are looked at: a key written out plainly that equals a masked value (`auth: oauth` and a
 * section `oauth:`) is a name, not a repeat of the secret, and stays.
 */
export function maskSecretKeys(tree: Record<string, unknown>, red: Record<string, unknown>, shared: readonly string[]): Record<string, unknown> {
  if (!shared.length) return red;
  const changed = new Set<string>();
  changedLeaves(tree, red, changed);
  const secret = new Set(shared.filter((k) => changed.has(k)));
  return secret.size ? (maskKeysIn(red, secret) as Record<string, unknown>) : red;
}
