/**
 * The few Python string operations Hermes' holographic memory plugin applies to text before it
 * hashes or matches it. The file we share with the agent must hold the same facts, entities and
 * vectors whichever program wrote them, so these follow Python 3 exactly where JavaScript differs:
 * `str.isspace()` knows U+001C..U+001F and U+0085 but not U+FEFF, and `\w` is Unicode-aware.
 */

/** Every code point for which Python's `str.isspace()` is true. */
export const PY_SPACE_CLASS = '[\\t\\n\\u000b\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
/**
 * Python's `\w` on str patterns: letters, numbers and `_`. (Python follows the Unicode version of
 * its build, e.g. 14.0 for 3.11; code points assigned after that differ, nothing older does.)
 */
export const PY_WORD_CLASS = '[\\p{L}\\p{N}_]';

const SPACE_RUNS = new RegExp(`${PY_SPACE_CLASS}+`, 'u');
const SPACE_CHAR = new RegExp(`^${PY_SPACE_CLASS}$`, 'u');
const WORD_CHAR = new RegExp(`^${PY_WORD_CLASS}$`, 'u');

export const isPySpace = (ch: string): boolean => SPACE_CHAR.test(ch);
export const isPyWord = (ch: string): boolean => WORD_CHAR.test(ch);

/**
 * `s.strip()`. A scan from each end: the regex `\s+$` it replaces tried every start in a run of
 * spaces and read the run to its end from each, so content of 'a', 40,000 spaces and 'b' held the
 * event loop 5 s (and a 1 MiB body of spaces, refused as too long only after stripping, minutes).
 * Every Python space is one UTF-16 code unit, so a code unit is a character here.
 */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPySpace(s[start] as string)) start++;
  while (end > start && isPySpace(s[end - 1] as string)) end--;
  return s.slice(start, end);
}

/** `s.split()`: runs of whitespace separate, no empty parts. */
export function pySplit(s: string): string[] {
  return s.split(SPACE_RUNS).filter((p) => p.length > 0);
}

/** `s.strip(chars)`: removes any of `chars` from both ends. */
export function pyStripChars(s: string, chars: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && chars.includes(s[start] as string)) start++;
  while (end > start && chars.includes(s[end - 1] as string)) end--;
  return s.slice(start, end);
}
