/**
 * Entity candidates of a fact, as Hermes' holographic plugin extracts them: capitalised multi-word
 * phrases, double- and single-quoted text, and both sides of `X aka Y` / `X also known as Y`, in that
 * order, each stripped, the first spelling of each (case-insensitively) kept.
 *
 * The plugin's patterns are Python regular expressions:
 *   capitalised  \b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b
 *   quoted       "([^"]+)"   and   '([^']+)'
 *   alias        (\w+(?:\s+\w+)*)\s+(?:aka|also known as)\s+(\w+(?:\s+\w+)*)   (ignore case)
 * The first three translate directly. The alias pattern backtracks quadratically on long text, so
 * it is replaced by a linear scan that finds exactly the matches Python's engine finds (proved
 * against the pattern itself in the tests):
 * a match never leaves a run of word and space characters; in such a run it starts at the first word,
 * takes the *last* keyword that has a word before and after it (the greedy left group gives back as
 * little as it can), and the right group runs to the last word of the run. So a run yields at most one
 * match, and the next search starts in the next run.
 */
import { PY_SPACE_CLASS, PY_WORD_CLASS, isPySpace, isPyWord, pyStrip } from './pytext';

const NOT_WORD_BEFORE = `(?<!${PY_WORD_CLASS})`;
const NOT_WORD_AFTER = `(?!${PY_WORD_CLASS})`;
const CAPITALISED = new RegExp(`${NOT_WORD_BEFORE}([A-Z][a-z]+(?:${PY_SPACE_CLASS}+[A-Z][a-z]+)+)${NOT_WORD_AFTER}`, 'gu');
const DOUBLE_QUOTED = /"([^"]+)"/gu;
const SINGLE_QUOTED = /'([^']+)'/gu;
// Python's IGNORECASE with Unicode folding (e.g. the Kelvin sign matches k), as JS does with /iu.
const AKA = /^aka$/iu;
const ALSO = /^also$/iu;
const KNOWN = /^known$/iu;
const AS = /^as$/iu;

export function extractEntities(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (name: string) => {
    const stripped = pyStrip(name);
    const key = stripped.toLowerCase();
    if (stripped && !seen.has(key)) {
      seen.add(key);
      out.push(stripped);
    }
  };
  for (const m of text.matchAll(CAPITALISED)) add(m[1] as string);
  for (const m of text.matchAll(DOUBLE_QUOTED)) add(m[1] as string);
  for (const m of text.matchAll(SINGLE_QUOTED)) add(m[1] as string);
  for (const [left, right] of aliasPairs(text)) {
    add(left);
    add(right);
  }
  return out;
}

interface Word {
  start: number;
  end: number;
}

/** The (left, right) groups of every alias-pattern match, in text order. */
export function aliasPairs(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const words of wordRuns(text)) {
    const k = lastKeyword(text, words);
    if (k === null) continue;
    const first = words[0] as Word;
    const last = words[words.length - 1] as Word;
    pairs.push([text.slice(first.start, (words[k.at - 1] as Word).end), text.slice((words[k.at + k.length] as Word).start, last.end)]);
  }
  return pairs;
}

/** The words of each maximal run of word and whitespace characters (runs with at least three words). */
function* wordRuns(text: string): Generator<Word[]> {
  let words: Word[] = [];
  let wordStart = -1;
  let i = 0;
  for (const ch of text) {
    const word = isPyWord(ch);
    if (word) {
      if (wordStart < 0) wordStart = i;
    } else {
      if (wordStart >= 0) words.push({ start: wordStart, end: i });
      wordStart = -1;
      if (!isPySpace(ch)) {
        if (words.length >= 3) yield words;
        words = [];
      }
    }
    i += ch.length;
  }
  if (wordStart >= 0) words.push({ start: wordStart, end: i });
  if (words.length >= 3) yield words;
}

/** The last keyword (index and length in words) with at least one word before and one after it. */
function lastKeyword(text: string, words: Word[]): { at: number; length: number } | null {
  const w = (i: number) => text.slice((words[i] as Word).start, (words[i] as Word).end);
  // The literal spaces of "also known as" match exactly one U+0020, not any whitespace.
  const singleSpace = (i: number) => text.slice((words[i] as Word).end, (words[i + 1] as Word).start) === ' ';
  for (let at = words.length - 2; at >= 1; at--) {
    if (AKA.test(w(at))) return { at, length: 1 };
    if (at + 3 < words.length && ALSO.test(w(at)) && KNOWN.test(w(at + 1)) && AS.test(w(at + 2)) && singleSpace(at) && singleSpace(at + 1)) {
      return { at, length: 3 };
    }
  }
  return null;
}
