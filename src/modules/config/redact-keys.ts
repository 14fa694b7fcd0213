/**
 * Map keys that repeat a secret (SPEC §10: no secret value in any response). A YAML alias can put a
 * value where a key goes (`api_key: &k sk-…`, then `notes: {*k : hi}`), and an anchored key can be
 * aliased under a secret name (`&k sk-…: x`, then `api_key: *k`): the tree then has the secret as a
 * key name, which the value rules never look at. Such keys are masked after the values are redacted.
 * Working the copies of each key out through nested aliases blew up exponentially on a fuzz seed; this
 * is one walk of the file's keys and two of the tree, linear in the size of the file.
 */
import type { SharedKey } from '../../hermes/home';
import { mask, PLACEHOLDER } from './secret-keys';

const isBinary = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isNode = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !(v instanceof Date) && !isBinary(v);

/**
 * A scalar as a key made from it is matched to a masked value: a date or binary key is spelled unlike
 * its value (the Date's text, the bytes decoded), so those go by what they hold. Null for anything else.
 */
function leafId(v: unknown): string | null {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v instanceof Date) return `\0date ${v.getTime()}`;
  if (isBinary(v)) return `\0binary ${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}`;
  return null;
}

/** Whether redaction changed `orig` into `red`: a binary leaf comes out as a map of its bytes, the same ones unless masked. */
function redacted(orig: unknown, red: unknown): boolean {
  if (!isBinary(orig)) return orig !== red;
  return !isNode(red) || Array.from(orig).some((byte, i) => red[i] !== byte);
}

/** The leafId of every leaf that redaction changed (`red` is `orig` redacted): masked values, scrubbed strings. */
function changedLeaves(orig: unknown, red: unknown, found: Set<string>): void {
  const id = leafId(orig);
  if (id !== null) {
    if (redacted(orig, red)) found.add(id);
  } else if (isNode(orig) && isNode(red)) for (const [k, v] of Object.entries(orig)) changedLeaves(v, red[k], found);
}

/**
 * A map's keys renamed where `secret` gives a mask: `***` + the last 4 characters as mask() shows a value
 * (a date or binary key `***` alone, as its value is shown), and, when that name is already a key of the
 * map (two secrets ending alike, two short ones, or a key written so), ` #2`, ` #3`, … after it, so no
 * two keys fall into one and a value is never dropped.
 */
function renamed(map: Record<string, unknown>, secret: Map<string, string>): Record<string, unknown> {
  const keys = Object.keys(map);
  // Every key of the file's map is taken, the secret ones too: a masked name is then never one the
  // file has there, which is how a write tells a masked key from one written `***…` by hand.
  const taken = new Set(keys);
  const next = new Map<string, number>();
  return Object.fromEntries(
    keys.map((k) => {
      const base = secret.get(k);
      if (base === undefined) return [k, map[k]];
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

function maskKeysIn(red: unknown, secret: Map<string, string>): unknown {
  if (Array.isArray(red)) return red.map((v) => maskKeysIn(v, secret));
  if (!isNode(red)) return red;
  const inner = Object.fromEntries(Object.entries(red).map(([k, v]) => [k, maskKeysIn(v, secret)]));
  return Object.keys(inner).some((k) => secret.has(k)) ? renamed(inner, secret) : inner;
}

/**
 * `red` (the redacted `tree`) with every map key, at any depth, masked whose text is one of the
 * `shared` keys (an alias or anchored key of the file) and whose value redaction changed somewhere.
 * Only shared keys are looked at: a key written out plainly that equals a masked value (`auth: oauth`
 * and a section `oauth:`) is a name, not a repeat of the secret, and stays.
 */
export function maskSecretKeys(tree: Record<string, unknown>, red: Record<string, unknown>, shared: readonly SharedKey[]): Record<string, unknown> {
  if (!shared.length) return red;
  const changed = new Set<string>();
  changedLeaves(tree, red, changed);
  /** Each secret key's name, and its mask. */
  const secret = new Map<string, string>();
  for (const { name, value } of shared) {
    const id = leafId(value);
    if (id !== null && changed.has(id)) secret.set(name, typeof value === 'string' || typeof value === 'number' ? mask(name) : PLACEHOLDER);
  }
  return secret.size ? (maskKeysIn(red, secret) as Record<string, unknown>) : red;
}
