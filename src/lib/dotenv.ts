/**
 * A `.env` reader that reads what python-dotenv (Hermes' reader) reads, ported from its parser:
 * `KEY=value`, optional `export `, `#` comments, a `'quoted'` key, and values that are unquoted (up to
 * the end of the line, ` #…` cut), single-quoted (`\\` and `\'` unescaped) or double-quoted (`\n`,
 * `\t`, `\"`… unescaped). A quoted value may span lines: a PEM key in double quotes is one value. A
 * line that cannot be read is skipped whole, as python-dotenv does (it warns); a name without `=`
 * has no value and is left out. Values are returned as written: python-dotenv's `${VAR}` expansion
 * depends on the process that loads the file, so it is a separate step (interpolateDotenv), used
 * only where the agent's own environment is rebuilt (hermes/agent-env.ts). A leading BOM is not
 * part of the first name (python-dotenv would keep it there).
 * Used for the sidecar's own `.env` and for the agent's `$HERMES_HOME/.env`.
 */
import { readRegularFileSync } from './files';

// Python's `\s` (str.isspace) and `[^\S\r\n]` (whitespace but a line break); JS `\s` differs (U+FEFF, U+001C–1F, U+0085).
const WS = String.raw`\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const BLANK = String.raw`\t\v\f \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const re = (source: string) => new RegExp(source, 'uy');

const MULTILINE_WHITESPACE = re(`[${WS}]*`);
const WHITESPACE = re(`[${BLANK}]*`);
const EXPORT = re(`(?:export[${BLANK}]+)?`);
const SINGLE_QUOTED_KEY = re(`'([^']+)'`);
const UNQUOTED_KEY = re(`([^=#${WS}]+)`);
const EQUAL_SIGN = re(`=[${BLANK}]*`);
const SINGLE_QUOTED_VALUE = re(String.raw`'((?:\\'|[^'])*)'`);
const DOUBLE_QUOTED_VALUE = re(String.raw`"((?:\\"|[^"])*)"`);
const UNQUOTED_VALUE = re(`([^\\r\\n]*)`);
const COMMENT = re(`(?:[${BLANK}]*#[^\\r\\n]*)?`);
const END_OF_LINE = re(`[${BLANK}]*(?:\\r\\n|\\n|\\r|$)`);
const REST_OF_LINE = re(`[^\\r\\n]*(?:\\r|\\n|\\r\\n)?`);
const IS_WS = new RegExp(`^[${WS}]$`, 'u');

/**
 * An unquoted value as python-dotenv leaves it: `re.sub(r"\s+#.*", "", v).rstrip()`, done by hand —
 * as regexes here, a long run of blanks not followed by `#` was rescanned from each of its characters
 * (100,000 blanks: 6 s).
 */
function cutUnquoted(v: string): string {
  let end = v.length;
  for (let i = 1; i < v.length; i++) {
    if (v[i] === '#' && IS_WS.test(v[i - 1] as string)) {
      end = i - 1;
      while (end > 0 && IS_WS.test(v[end - 1] as string)) end--;
      break;
    }
  }
  while (end > 0 && IS_WS.test(v[end - 1] as string)) end--;
  return v.slice(0, end);
}

const ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const unescape = (value: string, chars: RegExp) => value.replace(chars, (m) => ESCAPES[m[1] as string] as string);

class Unreadable extends Error {}

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  /** Matches `regex` here and moves past the match; its first group (or the whole match). */
  read(regex: RegExp): string {
    regex.lastIndex = this.pos;
    const m = regex.exec(this.text);
    if (!m) throw new Unreadable();
    this.pos += m[0].length;
    return m[1] ?? m[0];
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }
}

function readValue(r: Reader): string {
  const c = r.peek();
  if (c === "'") return unescape(r.read(SINGLE_QUOTED_VALUE), /\\[\\']/g);
  if (c === '"') return unescape(r.read(DOUBLE_QUOTED_VALUE), /\\[\\'"abfnrtv]/g);
  if (c === '' || c === '\n' || c === '\r') return '';
  return cutUnquoted(r.read(UNQUOTED_VALUE));
}

/** One `KEY=value` (possibly spanning lines); null for a blank line, a comment, or a name without value. */
function readBinding(r: Reader): [string, string] | null {
  try {
    r.read(MULTILINE_WHITESPACE);
    if (r.pos >= r.text.length) return null;
    r.read(EXPORT);
    const c = r.peek();
    const key = c === '#' ? null : r.read(c === "'" ? SINGLE_QUOTED_KEY : UNQUOTED_KEY);
    r.read(WHITESPACE);
    let value: string | null = null;
    if (r.peek() === '=') {
      r.read(EQUAL_SIGN);
      value = readValue(r);
    }
    r.read(COMMENT);
    r.read(END_OF_LINE);
    return key !== null && value !== null ? [key, value] : null;
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    // python-dotenv skips the rest of the line from where it stopped reading.
    r.read(REST_OF_LINE);
    return null;
  }
}

/** Every binding in file order, a repeated name included (interpolation reads them in order). */
export function parseDotenvPairs(text: string): [string, string][] {
  const out: [string, string][] = [];
  const r = new Reader(text.startsWith('\ufeff') ? text.slice(1) : text);
  while (r.pos < r.text.length) {
    const binding = readBinding(r);
    if (binding) out.push(binding);
  }
  return out;
}

/** The last binding of each name; a name `__proto__` is a key like any other (assignment would drop it). */
export function parseDotenv(text: string): Record<string, string> {
  return Object.fromEntries(parseDotenvPairs(text));
}

const POSIX_VARIABLE = /\$\{([^}:]*)(?::-([^}]*))?\}/g;

/**
 * The values `load_dotenv(override=True)` puts in the environment: `${NAME}` and `${NAME:-default}`
 * in every value (quoted or not) are replaced by an earlier binding of the file, else by `base`, else
 * by the default or nothing (python-dotenv's resolve_variables). A value is not expanded again.
 */
export function interpolateDotenv(pairs: readonly [string, string][], base: (name: string) => string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of pairs) {
    out.set(name, value.replace(POSIX_VARIABLE, (_ref, ref: string, fallback: string | undefined) => out.get(ref) ?? base(ref) ?? fallback ?? ''));
  }
  return out;
}

/**
 * Reads a `.env` file; a missing file is an empty map, any other read error is thrown. With
 * `interpolateFrom` (the agent's `.env`), values are what python-dotenv loads (interpolateDotenv).
 */
export function readDotenv(path: string, interpolateFrom?: (name: string) => string | undefined): Record<string, string> {
  try {
    const text = readRegularFileSync(path).toString('utf8');
    return interpolateFrom ? Object.fromEntries(interpolateDotenv(parseDotenvPairs(text), interpolateFrom)) : parseDotenv(text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}
