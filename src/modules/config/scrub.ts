/**
 * Credentials embedded in strings that are not secret as a whole: a command line in `args` or
 * `init_command`, a URL in `external_dirs` or `base_url`. One scanner finds them; it masks them for
 * responses (scrubString) and, run on what a client sends, tells whether one of them is a redacted
 * placeholder sent back (findPlaceholder), so the two can never disagree on where a secret sits.
 *
 * Found, anywhere in the string:
 * - a URL's credentials: the password of `scheme://user:pw@host`, or the whole user when there is no
 *   password (`https://ghp_…@github.com`: the token is the user) — except for ssh/sftp, where a bare
 *   user is a login name (`ssh://git@host`);
 * - secret-named query parameters (`?api_key=…`);
 * - a path segment that looks like a key (`/v2/<key>` of Alchemy, `/v3/<key>` of Infura: the rule of
 *   lib/public-url.ts), in a string that is a URL and nothing else or in a command-like one — prose
 *   may link to a long slug with digits, and is shown as written;
 * - `NAME=value` and `--flag=value` with a secret-looking name (`-e GITHUB_PERSONAL_ACCESS_TOKEN=ghp_…`);
 * - `--flag value` after a secret-looking flag (`--api-key X`);
 * - `Name: value` after a secret-looking header name (`Authorization: Bearer sk-…`, `X-Api-Key: …`);
 * - the credential after `Bearer`/`Basic`, unless it is a plain word (`Bearer authentication`);
 * - anywhere, the body of a PEM private key (`-----BEGIN … PRIVATE KEY-----`).
 * A value that is a variable reference (`$TOKEN`, `${TOKEN}`) is not a secret and stays.
 *
 * URLs are looked for in every string. The last four shapes are command-line and header shapes, and
 * prose has them too ("The key: one answer", "Basic JavaScript"): they are looked for only in
 * command-like strings — items of a list (`args`), and values of keys such as `command`,
 * `init_command`, `args`, `headers` (`Context`). A prompt is shown as written and can be saved back.
 *
 * Every pattern reads each character a bounded number of times: a 300 KB string is scanned in
 * milliseconds (an earlier `\b` scheme start and a query name that could swallow `?` made it seconds).
 */
import { isPlainObject } from '../../lib/api-schemas';
import { isKeyLikeSegment } from '../../lib/public-url';
import { isMaskedKey, isPlaceholder, isSecretText, mask, PLACEHOLDER } from './secret-keys';

/** Called for each credential found; returns its replacement. `bare`: URL credentials show no tail. */
type Found = (secret: string, bare: boolean) => string;

// A scheme starts where no scheme character precedes it, so a run like `a.a.a…` is read once, not from each dot.
const URL_USERINFO = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*):\/\/([^\s/?#@:]*)(?::([^\s/]*))?@/gi;
const LOGIN_SCHEMES = /^(ssh|git\+ssh|ssh\+git|sftp)$/i;
const QUERY_PARAM = /([?&])([^=&#?\s]+)=([^&#\s]*)/g;
/** A URL's scheme and authority, then its path (up to a query, fragment, space or quote). */
const URL_PATH = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/[^\s/?#]*)(\/[^\s?#'"]*)/gi;
const ONE_URL = /^[a-z][a-z0-9+.-]*:\/\/\S*$/i;
const VALUE = String.raw`("[^"]*"|'[^']*'|[^\s;'"]+)`;
const ASSIGNMENT = new RegExp(String.raw`(^|[\s;,(])(--?)?([A-Za-z_][A-Za-z0-9_.-]*)=` + VALUE, 'g');
const FLAG_ARG = new RegExp(String.raw`(^|\s)--?([A-Za-z][A-Za-z0-9_.-]*)[ \t]+(?=[^\s-])` + VALUE, 'g');
const HEADER = /(^|[\s'"])([A-Za-z][A-Za-z0-9_-]*)[ \t]*:[ \t]*((?:Bearer|Basic|Token|Bot|Digest)[ \t]+)?([^\s'";]+)/gi;
/** A credential after an auth scheme; a placeholder there (`Bearer ***abcd`) is one too. */
const SCHEME = /(^|[\s'":])(Bearer|Basic)[ \t]+(\*\*\*(?:[^\s'"]{4})?(?![^\s'"])|[A-Za-z0-9._~+/=-]{8,})/g;
const REFERENCE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;
const PLAIN_WORD = /^[A-Za-z][a-z]*$/;

/** A PEM private key's armour (`RSA`, `EC`, `OPENSSH`, `ENCRYPTED` … before `PRIVATE KEY`); the body between is the secret. */
const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY-----/g;

/**
 * Every PEM private key body hidden, wherever it is: under a name that is not secret (a service
 * account's JSON in `.env`, a `|` block in config.yaml) it was shown whole, and no prose holds one.
 * A key with no END line is hidden to the end of the string. Each character is read at most twice.
 */
function hidePem(value: string, hide: (secret: string) => string): string {
  if (!value.includes('PRIVATE KEY-----')) return value;
  let out = '';
  let at = 0;
  PEM_BEGIN.lastIndex = 0;
  for (let begin = PEM_BEGIN.exec(value); begin; begin = PEM_BEGIN.exec(value)) {
    const bodyStart = begin.index + begin[0].length;
    PEM_END.lastIndex = bodyStart;
    const end = PEM_END.exec(value);
    const bodyEnd = end ? end.index : value.length;
    out += value.slice(at, bodyStart) + hide(value.slice(bodyStart, bodyEnd));
    at = bodyEnd;
    if (!end) break;
    PEM_BEGIN.lastIndex = end.index + end[0].length;
  }
  return out + value.slice(at);
}

const flagIsSecret = (name: string, value: string) => isSecretText(name.replace(/-/g, '_'), value);

/** Where a string sits: a command line or header value, or text of any other kind. */
export type Context = 'command' | 'text';

/** Keys whose string values are command lines or headers. */
const COMMAND_KEY = /(^|_)(command|cmd|args?|exec|entrypoint|headers?)$/i;

/** The context of a string under `key` (the last segment of its path). */
export const contextOf = (key: string): Context => (COMMAND_KEY.test(key) ? 'command' : 'text');

/** `value` with every embedded credential replaced by what `found` returns for it. */
function scan(value: string, found: Found, context: Context): string {
  const hide = (secret: string, bare = false) => (secret === '' || REFERENCE.test(secret) ? secret : found(secret, bare));
  /** A quoted value keeps its quotes; what is inside them is the secret. */
  const hideQuoted = (v: string) => (/^(["']).*\1$/s.test(v) ? v[0] + hide(v.slice(1, -1)) + v[0] : hide(v));

  let out = hidePem(value, (body) => hide(body, true)).replace(URL_USERINFO, (m, scheme: string, user: string, pw: string | undefined) => {
    if (pw !== undefined) return `${scheme}://${user}:${hide(pw, true)}@`;
    return LOGIN_SCHEMES.test(scheme) ? m : `${scheme}://${hide(user, true)}@`;
  });
  if (out.includes('://')) {
    out = out.replace(QUERY_PARAM, (m, sep: string, name: string, v: string) => (isSecretText(name, v) ? `${sep}${name}=${hide(v)}` : m));
    // A placeholder segment counts too, so that the masked URL sent back is recognised and refused.
    if (context === 'command' || ONE_URL.test(value)) {
      out = out.replace(URL_PATH, (_m, head: string, path: string) => head + path.replace(/[^/]+/g, (seg) => (isKeyLikeSegment(seg) || isPlaceholder(seg) ? hide(seg, true) : seg)));
    }
  }
  if (context === 'text') return out;
  out = out.replace(ASSIGNMENT, (m, pre: string, dashes = '', name: string, v: string) => (flagIsSecret(name, v) ? `${pre}${dashes}${name}=${hideQuoted(v)}` : m));
  out = out.replace(FLAG_ARG, (m, _pre: string, name: string, v: string) => (flagIsSecret(name, v) ? m.slice(0, m.length - v.length) + hideQuoted(v) : m));
  out = out.replace(HEADER, (m, _pre: string, name: string, _scheme: string | undefined, v: string) =>
    isSecretText(name, v) || /authorization$/i.test(name) ? m.slice(0, m.length - v.length) + hide(v) : m,
  );
  return out.replace(SCHEME, (m, _pre: string, _scheme: string, v: string) => (PLAIN_WORD.test(v) ? m : m.slice(0, m.length - v.length) + hide(v)));
}

/** Masks the credentials embedded in an otherwise non-secret string. */
export function scrubString(value: string, context: Context): string {
  // A placeholder is left as it is: one pattern may meet what another has already masked.
  return scan(value, (secret, bare) => (isPlaceholder(secret) ? secret : bare ? PLACEHOLDER : mask(secret)), context);
}

/** True when `value` is a placeholder, or holds one where scrubString puts them. */
function holdsPlaceholder(value: string, context: Context): boolean {
  if (isPlaceholder(value)) return true;
  let hit = false;
  scan(value, (secret) => {
    hit ||= isPlaceholder(secret);
    return secret;
  }, context);
  return hit;
}


/**
 * Whether `key` is a masked key (redact-keys.ts) and not a key of `current`, the file's map at its
 * place: a masked key is never named like a key of its map, and one the file has (`"***abcd"` written
 * by hand) is written as any other (it was refused, and a GET sent back unchanged with it).
 */
export const isMaskedKeyAt = (key: string, current: unknown) => isMaskedKey(key) && !(isPlainObject(current) && Object.hasOwn(current, key));

/**
 * The dot path of the first string in `value` that is (or embeds) a redacted placeholder, or of the
 * first masked key in it, or null. `current` is what the file holds where `value` goes.
 */
export function findPlaceholder(value: unknown, path: string, context: Context = contextOf(path.slice(path.lastIndexOf('.') + 1)), current?: unknown): string | null {
  if (typeof value === 'string') return holdsPlaceholder(value, context) ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findPlaceholder(value[i], `${path}[${i}]`, 'command', Array.isArray(current) ? current[i] : undefined);
      if (hit) return hit;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      // A masked key names no key of the file: written, it would add a key `***…` beside the secret one.
      if (isMaskedKeyAt(k, current)) return path ? `${path}.${k}` : k;
      const hit = findPlaceholder(v, path ? `${path}.${k}` : k, contextOf(k), isPlainObject(current) && Object.hasOwn(current, k) ? current[k] : undefined);
      if (hit) return hit;
    }
  }
  return null;
}
