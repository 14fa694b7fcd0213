/**
 * The HRR module and the entity extractor against reference values computed independently in Python
 * (scripts/hrr_reference.py → test/fixtures/hrr-reference.json; cross-checked there against numpy),
 * and the linear alias scan against the plugin's own backtracking pattern.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import reference from './fixtures/hrr-reference.json';
import {
  atom, ATOM_CACHE_MAX_BYTES, atomCacheBytes, atomCacheSize, bind, bundle, bytesToPhases, encodeFact, encodeText, HRR_DIM, PhaseSum, phasesToBytes, similarity, textTokens, TWO_PI, unbind, wrapPhase,
} from '../src/modules/memory/hrr';
import { aliasPairs, extractEntities } from '../src/modules/memory/entities';

const TOLERANCE = 1e-9;

function decode(b64: string): Float64Array {
  const bytes = Buffer.from(b64, 'base64');
  return bytesToPhases(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength / 8);
}

/** Largest distance between two phase vectors, measured on the circle (0 and 2π are the same angle). */
function maxAngularError(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    worst = Math.max(worst, Math.min(d, TWO_PI - d));
  }
  return worst;
}

describe('atoms', () => {
  test('atom("hello") starts with the reference values', () => {
    const a = atom('hello');
    expect(a.length).toBe(1024);
    // Hard-coded (not only from the fixture): SHA-256("hello:0") read as little-endian uint16 × 2π/65536.
    expect(a[0]).toBeCloseTo(5.946572398037931, 12);
    expect(a[1]).toBeCloseTo(5.294247067989562, 12);
    expect(a[2]).toBeCloseTo(4.877387788881639, 12);
    expect(a[3]).toBeCloseTo(2.842562273751336, 12);
    reference.atom_hello_first8.forEach((v, i) => expect(Math.abs((a[i] as number) - v)).toBeLessThan(TOLERANCE));
  });

  test('every reference atom matches in every component (ASCII, role atoms, accents, CJK, emoji)', () => {
    for (const [word, b64] of Object.entries(reference.atoms)) {
      expect([word, maxAngularError(atom(word), decode(b64)) < TOLERANCE]).toEqual([word, true]);
    }
  });

  test('atoms are exact multiples of 2π/65536 and a smaller dimension is a prefix', () => {
    const a = atom('hello', 20);
    expect(Array.from(a)).toEqual(reference.atom_dim_20_hello);
    for (const v of atom('hello')) expect(Number.isInteger(Math.round((v / TWO_PI) * 65536 * 1e6) / 1e6)).toBe(true);
  });

  test('the cache returns the same values as a fresh computation', () => {
    const words = Array.from({ length: 3000 }, (_, i) => `w${i}`);
    const first = words.map((w) => atom(w)[7]);
    const again = words.map((w) => atom(w)[7]);
    expect(again).toEqual(first);
  });
});

describe('operations', () => {
  test('bind and bundle match the reference', () => {
    expect(maxAngularError(bind(atom('hello'), atom('world')), decode(reference.bind_hello_world))).toBeLessThan(TOLERANCE);
    expect(maxAngularError(bundle([atom('hello'), atom('world')]), decode(reference.bundle_hello_world))).toBeLessThan(TOLERANCE);
  });

  test('unbind inverts bind; wrapPhase is Python modulo (never negative, never -0)', () => {
    const a = atom('alpha');
    const b = atom('beta');
    expect(maxAngularError(unbind(bind(a, b), b), a)).toBeLessThan(1e-12);
    expect(Object.is(wrapPhase(-0), 0)).toBe(true);
    expect(wrapPhase(-1)).toBeCloseTo(TWO_PI - 1, 15);
    expect(wrapPhase(TWO_PI)).toBe(0);
    expect(wrapPhase(3 * Math.PI)).toBeCloseTo(Math.PI, 14);
  });

  test('similarity: 1 with itself, about 0 for unrelated atoms, reference values', () => {
    for (const s of reference.similarities) {
      const a = s.a === 'fact0' ? encodeFact(reference.facts[0]!.content, reference.facts[0]!.entities) : atom(s.a);
      const b = s.b.startsWith('text:') ? encodeText(s.b.slice(5)) : atom(s.b);
      expect(Math.abs(similarity(a, b) - s.value)).toBeLessThan(TOLERANCE);
    }
    expect(Math.abs(similarity(atom('hello'), atom('world')))).toBeLessThan(0.1);
  });

  test('a running sum with a removal equals the bundle of what is left', () => {
    const vs = ['a', 'b', 'c', 'd'].map((w) => atom(w));
    const sum = new PhaseSum();
    for (const v of vs) sum.add(v);
    sum.add(vs[1] as Float64Array, -1);
    expect(sum.count).toBe(3);
    expect(maxAngularError(sum.phases(), bundle([vs[0], vs[2], vs[3]] as Float64Array[]))).toBeLessThan(1e-12);
  });
});

describe('text and fact vectors', () => {
  test('encode_text of each reference text (punctuation, empty → __hrr_empty__, repeats, Unicode)', () => {
    for (const t of reference.texts) {
      expect([t.text, textTokens(t.text)]).toEqual([t.text, t.tokens]);
      expect([t.text, maxAngularError(encodeText(t.text), decode(t.vector_f64le_b64)) < TOLERANCE]).toEqual([t.text, true]);
    }
    expect(maxAngularError(encodeText('  '), atom('__hrr_empty__'))).toBe(0);
  });

  test('fact vectors: the extracted entities and every component of the vector', () => {
    for (const f of reference.facts) {
      expect(extractEntities(f.content)).toEqual(f.entities);
      expect(maxAngularError(encodeFact(f.content, f.entities), decode(f.vector_f64le_b64))).toBeLessThan(TOLERANCE);
    }
  });

  test('a category bank is the bundle of its fact vectors', () => {
    const vectors = reference.facts.map((f) => encodeFact(f.content, f.entities));
    expect(maxAngularError(bundle(vectors), decode(reference.bank_of_facts))).toBeLessThan(TOLERANCE);
  });
});

describe('blobs', () => {
  test('float64 little-endian, 8 KiB, round trip exact', () => {
    const v = encodeText('round trip');
    const bytes = phasesToBytes(v);
    expect(bytes.byteLength).toBe(HRR_DIM * 8);
    expect(new DataView(bytes.buffer).getFloat64(8, true)).toBe(v[1] as number);
    expect(Array.from(bytesToPhases(bytes))).toEqual(Array.from(v));
  });

  test('reads the newer HRR1-prefixed float32 blobs; refuses other sizes', () => {
    const v = atom('float32');
    const blob = new Uint8Array(4 + HRR_DIM * 4);
    blob.set([0x48, 0x52, 0x52, 0x31]);
    const view = new DataView(blob.buffer);
    v.forEach((x, i) => view.setFloat32(4 + i * 4, x, true));
    expect(maxAngularError(bytesToPhases(blob), v)).toBeLessThan(1e-6);
    expect(() => bytesToPhases(new Uint8Array(100))).toThrow(RangeError);
    // An unaligned view (as a SQLite blob can be) reads the same.
    const padded = new Uint8Array(HRR_DIM * 8 + 3);
    padded.set(phasesToBytes(v), 3);
    expect(Array.from(bytesToPhases(padded.subarray(3)))).toEqual(Array.from(v));
  });
});

describe('entities', () => {
  test('the plugin’s extraction on every reference text (hand-written and 400 generated ones)', () => {
    for (const c of reference.entities) {
      expect([c.text, extractEntities(c.text)]).toEqual([c.text, c.entities]);
      expect([c.text, aliasPairs(c.text)]).toEqual([c.text, c.aliases as [string, string][]]);
    }
  });

  // The plugin's alias pattern, written for JavaScript's engine (same backtracking semantics).
  const SPACE = '[\\t\\n\\u000b\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
  const WORD = '[\\p{L}\\p{N}_]';
  const PLUGIN_AKA = new RegExp(`(${WORD}+(?:${SPACE}+${WORD}+)*)${SPACE}+(?:aka|also known as)${SPACE}+(${WORD}+(?:${SPACE}+${WORD}+)*)`, 'giu');

  test('the linear alias scan finds exactly what the backtracking pattern finds', () => {
    const piece = fc.constantFrom('aka', 'AKA', 'also known as', 'also  known as', 'also known', 'as', 'x', 'Bo', 'a_b', '7', ' ', '  ', '\t', '\n', '\u3000', ',', '.', "'", '-', 'é', '日本', '😀');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }).map((p) => p.join('')), (text) => {
        const expected = [...text.matchAll(PLUGIN_AKA)].map((m) => [m[1], m[2]]);
        expect(aliasPairs(text)).toEqual(expected as [string, string][]);
      }),
      { numRuns: 3000 },
    );
  });

  // The pattern itself needs minutes on this input (quadratic backtracking); the scan is linear.
  test('long text full of near-misses', () => {
    expect(aliasPairs(`${'word '.repeat(13_000)}aka ,`)).toEqual([]);
    const words = `${'Word '.repeat(10_000)}`.trimEnd();
    expect(extractEntities(`${words} aka Someone`)).toEqual([words, 'Someone']);
  });
});

describe('atom cache', () => {
  // A process runs for months and sees every word of every fact and query: the cache must stay within
  // its bytes whatever the plugin's hrr_dim (up to 65,536, 128 KiB an atom), not just at 1024.
  test('holds at most ATOM_CACHE_MAX_BYTES of atoms at the largest hrr_dim', () => {
    const dim = 65536;
    const first = atom('cache-bound-0', dim);
    for (let i = 1; i < 200; i++) atom(`cache-bound-${i}`, dim);
    expect(atomCacheBytes()).toBeLessThanOrEqual(ATOM_CACHE_MAX_BYTES);
    // An evicted atom is computed again, to the same values.
    expect(atom('cache-bound-0', dim)).toEqual(first);
  });

  test('keeps 8,192 words at the default dimension', () => {
    for (let i = 0; i < 8192 + 2000; i++) atom(`default-dim-${i}`);
    expect(atomCacheSize()).toBeGreaterThanOrEqual(8192);
    expect(atomCacheBytes()).toBeLessThanOrEqual(ATOM_CACHE_MAX_BYTES);
  });

  // Counted as 2·dim bytes each, at hrr_dim 1 the cache held millions of atoms (820 MiB for 3 million),
  // and a fact's long words were kept whole without being counted.
  test('an entry is charged its key and its overhead, not just its atom', () => {
    for (let i = 0; i < 200_000; i++) atom(`tiny-dim-${i}`, 1);
    expect(atomCacheSize()).toBeLessThan(ATOM_CACHE_MAX_BYTES / 256);
    expect(atomCacheBytes()).toBeLessThanOrEqual(ATOM_CACHE_MAX_BYTES);
    // Words of 100,000 characters (200 KB as a key each): about a hundred fit.
    for (let i = 0; i < 200; i++) atom(`${i}-${'w'.repeat(100_000)}`, 1);
    expect(atomCacheSize()).toBeLessThanOrEqual(Math.ceil(ATOM_CACHE_MAX_BYTES / 200_000));
    expect(atomCacheBytes()).toBeLessThanOrEqual(ATOM_CACHE_MAX_BYTES);
  });
});
