/**
 * The text of stored parts ("\u0000json:" + JSON) as far as a preview reads it, without building the
 * document: JSON.parse of a first message of 10 MB (screenshots as base64 data URLs, a pasted log sent
 * as a text part) allocated every string in it, on every session list showing it, for 60 characters.
 *
 * The document is still read to its last character: one JSON.parse refuses (or one nested deeper than
 * MAX_JSON_DEPTH) is shown as its own text, and what makes it so may be the last byte (`[…]x`), so no
 * answer that reads less can be the same. What is saved is everything else: a long string is crossed by one
 * native search per escape, no value is built, and only the string literals of text parts are noted,
 * to be decoded by JSON.parse itself, each only as far as the preview asks.
 */
import { MAX_JSON_DEPTH } from '../../lib/body';

/** What a value is to the preview: the whole content, one of its parts (an element of a top-level list), or neither. */
const SKIP = 0;
const CONTENT = 1;
const PART = 2;
type Role = typeof SKIP | typeof CONTENT | typeof PART;

/** Where plain string content stops: a quote, an escape, or a control character (JSON.parse refuses it raw). */
const STRING_STOP = /["\\\x00-\x1f]/g;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** `"` `\` `/` `b` `f` `n` `r` `t`: the escapes besides `\u` and four hex digits. */
const isShortEscape = (c: number) => c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74;

/** Past JSON whitespace: space, tab, LF, CR only (not U+00A0, not a BOM). */
function skipWs(t: string, i: number): number {
  for (let c = t.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = t.charCodeAt(++i));
  return i;
}

/** The end (past the closing quote) of the string literal opening at `i`, or -1 when JSON.parse would refuse it. */
function stringEnd(t: string, i: number): number {
  for (let at = i + 1; ;) {
    // A short run (a key, a small value, a line between escapes) is read here: a native search costs
    // more to start than 32 characters do. A long one (a data URL) is crossed by one.
    let stop = at;
    const near = Math.min(at + 32, t.length);
    for (let c = t.charCodeAt(stop); stop < near && c !== 0x22 && c !== 0x5c && c >= 0x20; c = t.charCodeAt(++stop));
    if (stop === near) {
      STRING_STOP.lastIndex = near;
      if (!STRING_STOP.test(t)) return -1;
      stop = STRING_STOP.lastIndex - 1;
    }
    const c = t.charCodeAt(stop);
    if (c === 0x22) return stop + 1;
    if (c !== 0x5c) return -1;
    const e = t.charCodeAt(stop + 1);
    if (isShortEscape(e)) at = stop + 2;
    else if (e === 0x75 && isHex(t.charCodeAt(stop + 2)) && isHex(t.charCodeAt(stop + 3)) && isHex(t.charCodeAt(stop + 4)) && isHex(t.charCodeAt(stop + 5))) at = stop + 6;
    else return -1;
  }
}

/** The end of the number at `i` (-? int frac? exp?), or -1. What follows it is the caller's to check. */
function numberEnd(t: string, i: number): number {
  let p = i;
  if (t.charCodeAt(p) === 0x2d) p++;
  if (t.charCodeAt(p) === 0x30) p++;
  else if (isDigit(t.charCodeAt(p))) while (isDigit(t.charCodeAt(++p)));
  else return -1;
  if (t.charCodeAt(p) === 0x2e) {
    if (!isDigit(t.charCodeAt(++p))) return -1;
    while (isDigit(t.charCodeAt(++p)));
  }
  if ((t.charCodeAt(p) | 0x20) === 0x65) {
    const s = t.charCodeAt(++p);
    if (s === 0x2b || s === 0x2d) p++;
    if (!isDigit(t.charCodeAt(p))) return -1;
    while (isDigit(t.charCodeAt(++p)));
  }
  return p;
}

/** Whether the key literal t[start, end) reads "text", however escaped (`"t\u0065xt"` too; 26 characters at most). */
function isTextKey(t: string, start: number, end: number): boolean {
  if (end - start === 6) return t.startsWith('"text"', start);
  if (end - start > 26) return false;
  const raw = t.slice(start, end);
  return raw.includes('\\') && JSON.parse(raw) === 'text';
}

/**
 * The end of the value at `i`, or -1 when it is not JSON or opens more than MAX_JSON_DEPTH levels.
 * The literals of the text the content shows are added to `spans` (start, end) in order: the content
 * itself as a string, each string part, and the `text` of the content or a part as an object.
 */
function valueEnd(t: string, i: number, depth: number, role: Role, spans: number[]): number {
  const c = t.charCodeAt(i);
  if (c === 0x22) {
    const end = stringEnd(t, i);
    if (end >= 0 && role !== SKIP) spans.push(i, end);
    return end;
  }
  if (c === 0x5b) return arrayEnd(t, i, depth + 1, role === CONTENT ? PART : SKIP, spans);
  if (c === 0x7b) return objectEnd(t, i, depth + 1, role !== SKIP, spans);
  if (c === 0x74) return t.startsWith('true', i) ? i + 4 : -1;
  if (c === 0x66) return t.startsWith('false', i) ? i + 5 : -1;
  if (c === 0x6e) return t.startsWith('null', i) ? i + 4 : -1;
  return numberEnd(t, i);
}

function arrayEnd(t: string, i: number, depth: number, items: Role, spans: number[]): number {
  if (depth > MAX_JSON_DEPTH) return -1;
  let p = skipWs(t, i + 1);
  if (t.charCodeAt(p) === 0x5d) return p + 1;
  for (;;) {
    p = valueEnd(t, p, depth, items, spans);
    if (p < 0) return -1;
    p = skipWs(t, p);
    const c = t.charCodeAt(p);
    if (c === 0x5d) return p + 1;
    if (c !== 0x2c) return -1;
    p = skipWs(t, p + 1);
  }
}

/** `shown`: the object is the content or a part, so its `text` (the last one: JSON.parse keeps the last of a key) is shown when a string. */
function objectEnd(t: string, i: number, depth: number, shown: boolean, spans: number[]): number {
  if (depth > MAX_JSON_DEPTH) return -1;
  let text = -1;
  let textEnd = -1;
  let p = skipWs(t, i + 1);
  if (t.charCodeAt(p) === 0x7d) return p + 1;
  for (;;) {
    if (t.charCodeAt(p) !== 0x22) return -1;
    const keyEnd = stringEnd(t, p);
    if (keyEnd < 0) return -1;
    const isText = shown && isTextKey(t, p, keyEnd);
    p = skipWs(t, keyEnd);
    if (t.charCodeAt(p) !== 0x3a) return -1;
    const start = skipWs(t, p + 1);
    p = valueEnd(t, start, depth, SKIP, spans);
    if (p < 0) return -1;
    if (isText) {
      text = t.charCodeAt(start) === 0x22 ? start : -1;
      textEnd = p;
    }
    p = skipWs(t, p);
    const c = t.charCodeAt(p);
    if (c === 0x7d) {
      if (text >= 0) spans.push(text, textEnd);
      return p + 1;
    }
    if (c !== 0x2c) return -1;
    p = skipWs(t, p + 1);
  }
}

/**
 * The string literals (start, end pairs into `body`) whose values, the empty ones left out and the rest
 * joined by newlines, are the text of the content JSON.parse(body) gives; null when that content is not
 * used (JSON.parse refuses `body`, or it nests deeper than MAX_JSON_DEPTH) and `body` is shown instead.
 */
export function textLiterals(body: string): number[] | null {
  const spans: number[] = [];
  const end = valueEnd(body, skipWs(body, 0), 0, CONTENT, spans);
  return end >= 0 && skipWs(body, end) === body.length ? spans : null;
}

/** The value of the literal t[start, end) cut to at most `want` UTF-16 units (all of it when shorter). */
function literalHead(t: string, start: number, end: number, want: number): string {
  if (end - start - 2 <= want) return JSON.parse(t.slice(start, end)) as string;
  // Each unit of the value is one raw unit or one escape (a `\u` escape of four hex digits gives one unit, half a pair included),
  // so cutting after `want` of them never splits an escape.
  let p = start + 1;
  for (let got = 0; got < want && p < end - 1; got++) p += t.charCodeAt(p) !== 0x5c ? 1 : t.charCodeAt(p + 1) === 0x75 ? 6 : 2;
  return JSON.parse(`"${t.slice(start + 1, p)}"`) as string;
}

/** The first `n` units of the text of `literals` (see textLiterals), and whether that is all of it. */
export function textHead(body: string, literals: readonly number[], n: number): { text: string; whole: boolean } {
  const pieces: string[] = [];
  // One unit more than asked tells whether the text goes on.
  let room = n + 1;
  for (let k = 0; k < literals.length && room > 0; k += 2) {
    const start = literals[k] as number;
    const end = literals[k + 1] as number;
    if (end - start === 2) continue; // "" is left out of the join, separator and all
    if (pieces.length) {
      pieces.push('\n');
      if (!--room) break;
    }
    const piece = literalHead(body, start, end, room);
    pieces.push(piece);
    room -= piece.length;
  }
  const text = pieces.join('');
  return text.length > n ? { text: text.slice(0, n), whole: false } : { text, whole: true };
}
