/**
 * JSON as language models write it: inside a ```json fence or between sentences, with trailing
 * commas, comments, single-quoted strings, unquoted keys, smart quotes or Python's True/False/None.
 * The first JSON object or array in the text is taken and normalised token by token (string
 * contents are never rewritten), then parsed strictly. Anything still unreadable is an error.
 */
export class LooseJsonError extends Error {
  override name = 'LooseJsonError';
}

const FENCE = /```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)```/;
/** Opening quote → the quote that closes it: an ASCII quote is closed only by itself, a curly one by its pair. */
const CLOSING: Record<string, string> = { '"': '"', "'": "'", '\u201c': '\u201d', '\u201d': '\u201d', '\u2018': '\u2019', '\u2019': '\u2019' };
const BARE_WORDS: Record<string, string> = { True: 'true', False: 'false', None: 'null', true: 'true', false: 'false', null: 'null' };

export function parseLooseJson(text: string): unknown {
  const fenced = FENCE.exec(text)?.[1];
  const candidates = fenced !== undefined ? [fenced, text] : [text];
  let lastError = 'no JSON object or array found';
  for (const candidate of candidates) {
    const start = candidate.search(/[[{]/);
    if (start < 0) continue;
    try {
      return JSON.parse(normalise(candidate.slice(start)));
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  throw new LooseJsonError(lastError);
}

/** Rewrites the first bracketed value of `src` as strict JSON; stops at its closing bracket. */
function normalise(src: string): string {
  let out = '';
  let depth = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    const closing = CLOSING[c];
    if (closing !== undefined) {
      const [str, next] = readString(src, i, closing);
      out += str;
      i = next;
    } else if (c === '/' && src[i + 1] === '/') {
      i = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
    } else if (c === '/' && src[i + 1] === '*') {
      i = src.indexOf('*/', i + 2) < 0 ? src.length : src.indexOf('*/', i + 2) + 2;
    } else if (c === ',' && /^\s*(?:\/\/[^\n]*\n\s*)*[}\]]/.test(src.slice(i + 1, i + 200))) {
      i++; // trailing comma
    } else if (/[A-Za-z_$]/.test(c)) {
      const word = /^[A-Za-z_$][\w$-]*/.exec(src.slice(i))?.[0] as string;
      const isKey = /^\s*:/.test(src.slice(i + word.length));
      out += isKey ? JSON.stringify(word) : (BARE_WORDS[word] ?? word);
      i += word.length;
    } else {
      if (c === '{' || c === '[') depth++;
      if (c === '}' || c === ']') depth--;
      out += c;
      i++;
      if (depth === 0) break;
    }
  }
  return out;
}

/** A string literal opened at `at` and ended by `closing` → a JSON string literal and the index after it. */
function readString(src: string, at: number, closing: string): [string, number] {
  let value = '';
  let i = at + 1;
  while (i < src.length) {
    const ch = src[i] as string;
    if (ch === '\\' && i + 1 < src.length) {
      const esc = src[i + 1] as string;
      // \' is not a JSON escape; everything else keeps its JSON meaning.
      value += esc === "'" ? "'" : JSON.parse(`"\\${esc === 'u' ? src.slice(i + 1, i + 6) : esc}"`);
      i += esc === 'u' ? 6 : 2;
      continue;
    }
    if (ch === closing) return [JSON.stringify(value), i + 1];
    value += ch;
    i++;
  }
  throw new LooseJsonError('unterminated string');
}
