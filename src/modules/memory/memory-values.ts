/** Small conversions every backend needs, written once. */
import { statSync } from 'node:fs';

export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher('sha256').update(text).digest('hex');
}

/**
 * A stored timestamp as ISO 8601 UTC with milliseconds. Hermes writes SQLite's CURRENT_TIMESTAMP
 * (`2026-11-29 13:07:33`, UTC without a zone); others may write ISO strings or epoch numbers
 * (seconds, milliseconds or microseconds, told apart by size). Anything unreadable is returned as
 * it was, so nothing is invented.
 */
export function toIsoTimestamp(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const ms = value > 1e14 ? value / 1000 : value > 1e11 ? value : value * 1000;
    return new Date(ms).toISOString();
  }
  if (typeof value !== 'string') return '';
  const plain = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value);
  const ms = Date.parse(plain ? `${value.replace(' ', 'T')}Z` : value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

export function parseJsonObject(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Every character JavaScript's `String.prototype.trim()` removes (ECMAScript WhiteSpace and
 * LineTerminator, all in the BMP; a test compares it with `trim()` over every code point). SQL that
 * must trim as `splitTags` does passes it to SQLite's `trim(x, chars)`.
 */
export const TRIMMED_CHARS = '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/** Hermes' comma-separated tags as a list: trimmed, no empties, no repeats. */
export function splitTags(tags: string | null | undefined): string[] {
  return [...new Set((tags ?? '').split(',').map((t) => t.trim()).filter(Boolean))];
}

/**
 * Counts per name as a plain object (stats' `categories`). Names are the clients' and the agent's:
 * `counts[name] ?? 0` on an object literal read Object's own `constructor` or `toString` for such a name.
 */
export function countByName(pairs: Iterable<readonly [string, number]>): Record<string, number> {
  const counts = new Map<string, number>();
  for (const [name, n] of pairs) counts.set(name, (counts.get(name) ?? 0) + n);
  return Object.fromEntries(counts);
}

/** Best first; equal scores newest first (by the id order the caller gives). */
export function byScoreThen<T extends { score: number }>(tiebreak: (a: T, b: T) => number) {
  return (a: T, b: T): number => b.score - a.score || tiebreak(a, b);
}

export function fileSize(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

