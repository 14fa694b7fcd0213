/**
 * Turning any query text into something the stores can match, without ever letting the text be
 * read as syntax. FTS5 gets only double-quoted strings joined by OR (inside quotes every operator,
 * column filter and `*` is literal; a quote is doubled), so `what's up-to`, `NEAR(a b)`,
 * `col:value` or an unbalanced quote are words to look for, never a query error.
 *
 * Like Hermes' retriever, stop words are dropped and the remaining terms OR-joined: FTS5 would
 * otherwise AND them, and a natural-language question would match nothing.
 *
 * NUL is the one character a quoted FTS5 string cannot hold (the expression parser stops at it and
 * reports "unterminated string"; every other code point, control characters included, is fine), so
 * it separates terms like whitespace does, and never reaches a MATCH.
 */
import { pySplit, pyStripChars } from './pytext';

/** At most this many distinct terms go into one MATCH (a 10 KB query is still one cheap statement). */
const MAX_TERMS = 64;

const TERM_STRIP = '.,;:!?"\'()[]{}#@<>';
// FTS5's unicode61 tokenizer: letters, numbers and private-use characters make tokens, the rest separates.
const TOKEN_CHAR = /[\p{L}\p{N}\p{Co}]/u;
const NUL = /\0/g;

// English function words with no retrieval signal.
const STOPWORDS = new Set(
  ('a about above after again all am an and any are as at be because been before being between both but by can could did do does doing ' +
    "don down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself " +
    'just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so some such ' +
    'than that the their theirs them themselves then there these they this those through to too under until up very was we were what when ' +
    'where which while who whom why will with would you your yours yourself yourselves').split(' '),
);

/**
 * The distinct terms of a query, in order, as written: punctuation stripped from the ends, stop
 * words and one-letter terms dropped unless nothing else is left, terms that cannot match anything
 * (no letter or digit) dropped. Empty when the query has nothing to look for. Stop words and repeats
 * are judged lower-cased, but the terms keep their case: FTS5 folds a query with the same (Unicode
 * 6.1) tables it folded the content with, whereas JavaScript's lower case of a word FTS5 indexed can
 * be letters FTS5 does not know (Cherokee ᏣᎳᎩ → ꮳꮃꭹ, Unicode 8), and the word was then never found.
 */
export function searchTerms(query: string): string[] {
  const all: { term: string; lower: string }[] = [];
  const seen = new Set<string>();
  for (const raw of pySplit(query.replace(NUL, ' '))) {
    const term = pyStripChars(raw, TERM_STRIP);
    const lower = term.toLowerCase();
    if (!term || seen.has(lower) || !TOKEN_CHAR.test(term)) continue;
    seen.add(lower);
    all.push({ term, lower });
  }
  const significant = all.filter((t) => t.lower.length >= 2 && !STOPWORDS.has(t.lower));
  return (significant.length ? significant : all).slice(0, MAX_TERMS).map((t) => t.term);
}

/**
 * The spellings of a term looked for: as written, composed (NFC), decomposed (NFD) and with
 * compatibility forms folded (NFKC: full-width `ｐｒｏｊｅｃｔ` → `project`). The index holds each text
 * as it was written, and FTS5 does not normalise: an NFD `чай` (и + U+0306, as macOS file names and
 * some phones send it) is the word `чаи` to it, an NFD Hangul word a run of jamo, so a query in the
 * other form found nothing.
 */
function termForms(term: string): string[] {
  return [...new Set([term, term.normalize('NFC'), term.normalize('NFD'), term.normalize('NFKC')])];
}

/** `"term one" OR "term2"`: each spelling of each term a quoted FTS5 string (a NUL inside one becomes a space). */
export function ftsMatchExpression(terms: string[]): string {
  return terms.flatMap(termForms).map((t) => `"${t.replace(NUL, ' ').replaceAll('"', '""')}"`).join(' OR ');
}

// Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) and
// Korean, whose particles join the word (김치찌개를), and the full-width forms typed among them (ＡＢＣ全角). FTS5's unicode61 tokenizer makes one token of a
// whole run of them, so a word inside a sentence (绿茶 in 我喜欢喝绿茶和咖啡) was never found.
const UNSEGMENTED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\uff01-\uffef]/u;

/**
 * The terms FTS5 cannot find inside a longer run of text, each as its spellings (termForms): they are
 * also looked for as substrings of the content and the tags (substring-hits.ts).
 */
export function substringTerms(terms: string[]): string[][] {
  return terms.filter((t) => UNSEGMENTED.test(t)).map(termForms);
}

/** Hermes' Jaccard tokens: lower-cased, whitespace-split, punctuation stripped from the ends. */
export function jaccardTokens(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of pySplit(text.toLowerCase())) {
    const t = pyStripChars(raw, TERM_STRIP);
    if (t) out.add(t);
  }
  return out;
}

export function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  return shared / (a.size + b.size - shared);
}
