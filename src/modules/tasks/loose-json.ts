/**
 * JSON as language models write it: inside a ```json fence or between sentences, with trailing
 * commas, comments, single-quoted strings, unquoted keys, smart quotes or Python's True/False/None.
 * Each JSON object or array in the text is normalised token by token (string contents are never
 * rewritten), then parsed strictly; one that is still unreadable is skipped, never guessed at.
 */
export class LooseJsonError extends Error {
  override name = 'LooseJsonError';
}

const FENCE = /```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)```/;
/** Opening quote → the quote that closes it: an ASCII quote is closed only by itself, a curly one by its pair. */
const CLOSING: Record<string, string> = { '"': '"', "'": "'", '\u201c': '\u201d', '\u201d': '\u201d', '\u2018': '\u2019', '\u2019': '\u2019' };
/**
 * What may stand between a trailing comma and the bracket it precedes: space and comments of either
 * kind. A block comment's body cannot contain its own end, so a run of comments reads one way only
 * (with a lazy `[\s\S]*?` a failing match tried every way to split 30 comments: seconds).
 */
const TRAILING_COMMA = /^\s*(?:(?:\/\/[^\n]*\n|\/\*(?:[^*]|\*(?!\/))*\*\/)\s*)*[}\]]/;
const BARE_WORDS: Record<string, string> = { True: 'true', False: 'false', None: 'null', true: 'true', false: 'false', null: 'null' };

/** Bracket positions tried per candidate text: prose rarely holds more brackets than this before the plan. */
const MAX_STARTS = 64;
/**
 * Characters read per candidate text, over all its tries. A bracket never closed is read to the end
 * of the text, and so is each bracket after it: 64 such reads of a 1 MB answer stuck in a loop
 * (`{"title": "step", "depends_on": [` repeated) took 10 s of a blocked event loop. A 25-step plan
 * with 20 000-character descriptions is about 0.5 MB, so this leaves room for the plan after a
 * failed read of the whole text.
 */
const MAX_SCANNED = 2_000_000;
/**
 * Nesting past this is not a plan (steps nest four levels), and JSON.parse spends about a microsecond
 * a level: 1 MiB of `[` (an answer stuck in a loop) held the event loop a second. As for request bodies.
 */
const MAX_DEPTH = 128;

/**
 * Every value the text holds, in order: the fenced block first, then each `{` or `[` of the text
 * that starts a readable value (a bracket in the prose before the plan, `[2 steps]`, or a `{` in a
 * model's thinking, is skipped). Each value is read once; what is inside it is not searched again.
 */
export function* looseJsonValues(text: string): Generator<unknown> {
  const fenced = FENCE.exec(text)?.[1];
  for (const candidate of fenced !== undefined ? [fenced, text] : [text]) {
    let from = 0;
    let budget = MAX_SCANNED;
    for (let tries = 0; tries < MAX_STARTS && budget > 0; tries++) {
      const start = candidate.slice(from).search(/[[{]/);
      if (start < 0) break;
      const at = from + start;
      const limit = Math.min(candidate.length, at + budget);
      let read: { value: unknown; end: number } | null = null;
      // An unterminated string read up to the limit.
      let end = limit;
      let next = at + 1;
      try {
        const normalised = normalise(candidate, at, limit);
        end = normalised.end;
        // The brackets that opened too deep a value are all inside it: the search goes on after them.
        if (normalised.tooDeep) next = end;
        // Never parsed when it does not close: it cannot be read, and JSON.parse takes ~1 µs a level to say so.
        else if (normalised.closed) read = { value: JSON.parse(normalised.json), end };
      } catch {
        // not a value after all: look again from the next bracket
      }
      budget -= end - at;
      from = read ? read.end : next;
      if (read) yield read.value;
    }
  }
}

/** The first value of `looseJsonValues`, or an error when there is none. */
export function parseLooseJson(text: string): unknown {
  for (const value of looseJsonValues(text)) return value;
  throw new LooseJsonError(/[[{]/.test(text) ? 'no bracketed value in it is readable JSON' : 'no JSON object or array found');
}

const WORD = /[A-Za-z_$][\w$-]*/y;
const KEY_COLON = /\s*:/y;
const isWordStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;

/**
 * Rewrites the bracketed value starting at `from` as strict JSON; `end` is the index after its
 * closing bracket. Nothing at or after `limit` is read: a value not closed before it is unterminated.
 * Text that needs no rewriting is copied a run at a time, not a character at a time.
 */
function normalise(src: string, from: number, limit: number): { json: string; end: number; closed: boolean; tooDeep: boolean } {
  let out = '';
  let depth = 0;
  let i = from;
  let run = from;
  while (i < limit) {
    const c = src[i] as string;
    const code = src.charCodeAt(i);
    const closing = CLOSING[c];
    if (closing === undefined && code !== 47 && code !== 44 && !isWordStart(code)) {
      if ((code === 123 || code === 91) && ++depth > MAX_DEPTH) return { json: '', end: i + 1, closed: false, tooDeep: true };
      if (code === 125 || code === 93) depth--;
      i++;
      if (depth === 0) break;
      continue;
    }
    out += src.slice(run, i);
    if (closing !== undefined) {
      const [str, next] = readString(src, i, closing, limit);
      out += str;
      i = next;
    } else if (c === '/' && src[i + 1] === '/') {
      i = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
    } else if (c === '/' && src[i + 1] === '*') {
      i = src.indexOf('*/', i + 2) < 0 ? src.length : src.indexOf('*/', i + 2) + 2;
    } else if (c === ',' && TRAILING_COMMA.test(src.slice(i + 1, i + 200))) {
      i++; // trailing comma
    } else if (isWordStart(code)) {
      WORD.lastIndex = i;
      const word = WORD.exec(src)?.[0] as string;
      KEY_COLON.lastIndex = i + word.length;
      out += KEY_COLON.test(src) ? JSON.stringify(word) : (BARE_WORDS[word] ?? word);
      i += word.length;
    } else {
      // A `/` that starts no comment, or a comma that is not trailing: copied as it is.
      i++;
      run = i - 1;
      continue;
    }
    run = i;
  }
  return { json: out + src.slice(run, Math.max(run, i)), end: i, closed: depth === 0, tooDeep: false };
}

/** A string literal opened at `at` and ended by `closing` → a JSON string literal and the index after it. */
function readString(src: string, at: number, closing: string, limit: number): [string, number] {
  let value = '';
  let i = at + 1;
  let run = i;
  while (i < limit) {
    const ch = src[i] as string;
    if (ch === '\\' && i + 1 < src.length) {
      const esc = src[i + 1] as string;
      // \' is not a JSON escape; everything else keeps its JSON meaning.
      value += src.slice(run, i) + (esc === "'" ? "'" : JSON.parse(`"\\${esc === 'u' ? src.slice(i + 1, i + 6) : esc}"`));
      i += esc === 'u' ? 6 : 2;
      run = i;
      continue;
    }
    if (ch === closing) return [JSON.stringify(value + src.slice(run, i)), i + 1];
    i++;
  }
  throw new LooseJsonError('unterminated string');
}
