/**
 * Holographic reduced representations with phase vectors, as Hermes' holographic memory plugin
 * computes them (SPEC §9). A vector is `dim` angles in [0, 2π):
 *
 * - atom(word): SHA-256 of `"{word}:{i}"` for i = 0, 1, … concatenated, read as little-endian uint16,
 *   × 2π/65536, first `dim` values: the same in every process and language;
 * - bind = (a + b) mod 2π, unbind = (a − b) mod 2π;
 * - bundle = angle(Σ e^{iθ}) mod 2π (circular mean), summed in argument order like numpy's axis-0 sum;
 * - similarity = mean(cos(a − b)), in [−1, 1], about 0 for unrelated vectors.
 *
 * `mod` is Python's (numpy's) floating modulo, whose result takes the divisor's sign: a negative
 * angle becomes angle + 2π, and −0 becomes +0. Everything here is pure; the atom cache and the
 * cos/sin tables only save work (they hold exactly the values a direct computation gives).
 */
import { pySplit, pyStripChars } from './pytext';

export const HRR_DIM = 1024;
export const TWO_PI = 2 * Math.PI;
const UINT16_TO_PHASE = TWO_PI / 65536;

const ROLE_CONTENT = '__hrr_role_content__';
const ROLE_ENTITY = '__hrr_role_entity__';
const EMPTY_TEXT = '__hrr_empty__';

/** Characters encode_text strips from both ends of every token. */
const TOKEN_STRIP = '.,!?;:"\'()[]{}';
/** The plugin's newer float32 blob format: this prefix, then float32 values. */
const FLOAT32_PREFIX = [0x48, 0x52, 0x52, 0x31]; // "HRR1"

export type Phases = Float64Array;

/** Python's `x % (2π)` for a finite x. */
export function wrapPhase(x: number): number {
  const r = x % TWO_PI;
  if (r === 0) return 0;
  return r < 0 ? r + TWO_PI : r;
}

// Vocabulary repeats across facts and queries; an atom costs dim/16 SHA-256 digests. Atoms are kept
// as their uint16 values (2 KiB each at dim 1024). The bound is in bytes, not words: the plugin's
// hrr_dim goes up to 65,536, where 8,192 atoms held 1 GiB. An entry is charged its key (the word, up
// to a fact's 65,536 characters) and the Map entry and typed-array object around it too: at a small
// hrr_dim those outweigh the atom, and counted as its 2·dim bytes alone, the "16 MiB" cache held 3
// million one-dimension atoms in 820 MiB.
export const ATOM_CACHE_MAX_BYTES = 24 * 1024 * 1024;
const ATOM_CACHE_LOW_BYTES = (ATOM_CACHE_MAX_BYTES / 8) * 7;
/** What an entry costs besides its atom and key, measured (Bun 1.4, dim 1): ~260 bytes. */
const ENTRY_BYTES = 256;
const atomCache = new Map<string, Uint16Array>();
let cachedBytes = 0;
const digest = new Uint8Array(32);
const digestView = new DataView(digest.buffer);
const entryBytes = (key: string, atom: Uint16Array) => ENTRY_BYTES + key.length * 2 + atom.byteLength;

/** Bytes the cache is charged for now: atoms, keys and entries (for tests and statistics). */
export function atomCacheBytes(): number {
  return cachedBytes;
}

/** Atoms the cache holds now (for tests and statistics). */
export function atomCacheSize(): number {
  return atomCache.size;
}

/** The uint16 values u of an atom (its phases are u × 2π/65536). Shared with the cache: never mutate. */
function atomUnits(word: string, dim: number = HRR_DIM): Uint16Array {
  const key = `${dim}\u0000${word}`;
  const hit = atomCache.get(key);
  if (hit) {
    // Map keeps insertion order: re-inserting makes it the most recently used.
    atomCache.delete(key);
    atomCache.set(key, hit);
    return hit;
  }
  const out = new Uint16Array(dim);
  for (let block = 0, j = 0; j < dim; block++) {
    // Bun encodes the string as UTF-8, like Python's str.encode().
    Bun.SHA256.hash(`${word}:${block}`, digest);
    for (let k = 0; k < 16 && j < dim; k++, j++) out[j] = digestView.getUint16(k * 2, true);
  }
  atomCache.set(key, out);
  cachedBytes += entryBytes(key, out);
  // Down to 7/8 of the bound in one pass, the newest atom always kept (one entry is at most ~256 KiB).
  // One eviction per insert started a new iterator each time, which in Bun steps over every entry
  // deleted before it: ~45 µs an insert at 80,000 entries.
  if (cachedBytes > ATOM_CACHE_MAX_BYTES) {
    for (const [oldKey, oldAtom] of atomCache) {
      if (cachedBytes <= ATOM_CACHE_LOW_BYTES || oldKey === key) break;
      atomCache.delete(oldKey);
      cachedBytes -= entryBytes(oldKey, oldAtom);
    }
  }
  return out;
}

export function atom(word: string, dim: number = HRR_DIM): Phases {
  const units = atomUnits(word, dim);
  const out = new Float64Array(dim);
  for (let i = 0; i < dim; i++) out[i] = (units[i] as number) * UINT16_TO_PHASE;
  return out;
}

// cos and sin of every possible atom phase u × 2π/65536: the very values Math.cos/Math.sin give for
// that angle, computed once, so bundling atoms (every text vector) needs no trigonometry.
let unitTables: { cos: Float64Array; sin: Float64Array } | null = null;
function tables(): { cos: Float64Array; sin: Float64Array } {
  if (!unitTables) {
    const cos = new Float64Array(65536);
    const sin = new Float64Array(65536);
    for (let u = 0; u < 65536; u++) {
      cos[u] = Math.cos(u * UINT16_TO_PHASE);
      sin[u] = Math.sin(u * UINT16_TO_PHASE);
    }
    unitTables = { cos, sin };
  }
  return unitTables;
}

export function bind(a: Phases, b: Phases): Phases {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = wrapPhase((a[i] as number) + (b[i] as number));
  return out;
}

export function unbind(memory: Phases, key: Phases): Phases {
  const out = new Float64Array(memory.length);
  for (let i = 0; i < memory.length; i++) out[i] = wrapPhase((memory[i] as number) - (key[i] as number));
  return out;
}

/**
 * A running Σ e^{iθ}: bundle() in one pass, and the memory banks, which add and remove one fact at
 * a time instead of re-reading every vector of a category.
 */
export class PhaseSum {
  readonly re: Float64Array;
  readonly im: Float64Array;
  count = 0;

  constructor(readonly dim: number = HRR_DIM) {
    this.re = new Float64Array(dim);
    this.im = new Float64Array(dim);
  }

  add(v: Phases, sign: 1 | -1 = 1): this {
    for (let i = 0; i < this.dim; i++) {
      const t = v[i] as number;
      this.re[i] = (this.re[i] as number) + sign * Math.cos(t);
      this.im[i] = (this.im[i] as number) + sign * Math.sin(t);
    }
    this.count += sign;
    return this;
  }

  /** add(atom(word)), from the atom's units and the lookup tables (same values, no trigonometry). */
  addAtom(units: Uint16Array): this {
    const { cos, sin } = tables();
    for (let i = 0; i < this.dim; i++) {
      const u = units[i] as number;
      this.re[i] = (this.re[i] as number) + (cos[u] as number);
      this.im[i] = (this.im[i] as number) + (sin[u] as number);
    }
    this.count += 1;
    return this;
  }

  /** angle(Σ) mod 2π */
  phases(): Phases {
    const out = new Float64Array(this.dim);
    for (let i = 0; i < this.dim; i++) out[i] = wrapPhase(Math.atan2(this.im[i] as number, this.re[i] as number));
    return out;
  }
}

export function bundle(vectors: Phases[]): Phases {
  const first = vectors[0];
  if (!first) throw new RangeError('bundle needs at least one vector');
  const sum = new PhaseSum(first.length);
  for (const v of vectors) sum.add(v);
  return sum.phases();
}

export function similarity(a: Phases, b: Phases): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.cos((a[i] as number) - (b[i] as number));
  return s / a.length;
}

/** The tokens encode_text bundles: lower-cased, split on whitespace, punctuation stripped, empties dropped. */
export function textTokens(text: string): string[] {
  const out: string[] = [];
  for (const raw of pySplit(text.toLowerCase())) {
    const t = pyStripChars(raw, TOKEN_STRIP);
    if (t) out.push(t);
  }
  return out;
}

/** Bag of words: the bundle of the token atoms (repeats count); no tokens → atom `__hrr_empty__`. */
export function encodeText(text: string, dim: number = HRR_DIM): Phases {
  const tokens = textTokens(text);
  if (tokens.length === 0) return atom(EMPTY_TEXT, dim);
  const sum = new PhaseSum(dim);
  for (const t of tokens) sum.addAtom(atomUnits(t, dim));
  return sum.phases();
}

/** bundle(bind(text, ROLE_CONTENT), bind(atom(entity.lower()), ROLE_ENTITY) for each entity, in order). */
export function encodeFact(content: string, entities: string[], dim: number = HRR_DIM): Phases {
  const sum = new PhaseSum(dim).add(bind(encodeText(content, dim), atom(ROLE_CONTENT, dim)));
  const roleEntity = atom(ROLE_ENTITY, dim);
  for (const e of entities) sum.add(bind(atom(e.toLowerCase(), dim), roleEntity));
  return sum.phases();
}

/** float64 little-endian, `dim × 8` bytes: the format SPEC §9 prescribes (8 KiB at dim 1024). */
export function phasesToBytes(v: Phases): Uint8Array {
  const out = new Uint8Array(v.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat64(i * 8, v[i] as number, true);
  return out;
}

/**
 * Reads what any plugin version writes: raw float64 (`dim × 8` bytes) or the newer `HRR1` prefix
 * followed by float32 values (`4 + dim × 4` bytes). Anything else is not a vector of this dimension.
 */
export function bytesToPhases(data: Uint8Array, dim: number = HRR_DIM): Phases {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float64Array(dim);
  if (data.byteLength === dim * 8) {
    for (let i = 0; i < dim; i++) out[i] = view.getFloat64(i * 8, true);
    return out;
  }
  if (data.byteLength === 4 + dim * 4 && FLOAT32_PREFIX.every((b, i) => data[i] === b)) {
    for (let i = 0; i < dim; i++) out[i] = view.getFloat32(4 + i * 4, true);
    return out;
  }
  throw new RangeError(`HRR vector blob has ${data.byteLength} bytes; expected ${dim * 8} (float64) or ${4 + dim * 4} (HRR1 float32) for dim ${dim}`);
}
