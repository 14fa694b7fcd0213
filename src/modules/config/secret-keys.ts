/**
 * Which names are secret (SPEC §10), and how a secret is shown: `***` plus its last 4 characters when
 * it is at least 12 long, else `***`.
 *
 * Secret keys, case-insensitive: the SPEC list exactly, plus every key that contains `api_key`,
 * `secret`, `password`, `private_key` or `token` — except `tokenizer`/`tokenize` (a setting, not a
 * credential), and a key containing `tokens` whose value is a number: that is a count (`max_tokens`,
 * `max_output_tokens`), while `bot_tokens: [...]` or `.env`'s `GITHUB_TOKENS=ghp_…` are credentials.
 * (In `.env` and on command lines every value is text: there a count is a string of digits.) On top
 * of the SPEC list we also treat `apikey`/`api-key`, `passwd`, `passphrase`, `credential(s)`,
 * `cookie`, `pass`, `pwd`, keys containing `mnemonic` or `seed_phrase`, and keys ending in
 * `_key`/`-key`/`_pat`/`_pass`/`_pwd`/`_auth`/`_cookie` as secrets, so `API_SERVER_KEY`, `GITHUB_PAT`,
 * `SMTP_PASS`, `BASIC_AUTH` or `WALLET_MNEMONIC` in `.env` never leak (`AUTH_MODE`, `PASSTHROUGH` are settings).
 */

const EXACT = new Set([
  'api_key', 'apikey', 'key', 'token', 'access_token', 'refresh_token', 'id_token', 'secret', 'client_secret',
  'password', 'passwd', 'auth', 'authorization', 'private_key', 'bearer', 'jwt',
  'passphrase', 'credential', 'credentials', 'cookie', 'pat', 'pass', 'pwd',
]);
const CONTAINS = /api[_-]?key|secret|passw(or)?d|passphrase|private[_-]?key|credential|mnemonic|seed[_-]?phrase/i;
const SUFFIX = /[_.-](key|pat|pass|pwd|auth|cookie)$/i;
const TOKEN = /token(?!iz|is)/i;
const COUNT_NAME = /tokens/i;

/** Whether `key` names a secret; `isCount` says the value is a number (`max_tokens: 4096` is not a secret). */
export function isSecretKey(key: string, isCount: boolean): boolean {
  if (EXACT.has(key.toLowerCase()) || CONTAINS.test(key) || SUFFIX.test(key)) return true;
  return TOKEN.test(key) && !(isCount && COUNT_NAME.test(key));
}

/** A count written as text (`.env`, command lines, query strings). */
export const isDigits = (value: string) => /^[0-9]+$/.test(value);

export const PLACEHOLDER = '***';

export function mask(value: string): string {
  return value.length >= 12 ? PLACEHOLDER + value.slice(-4) : PLACEHOLDER;
}

/** What mask() produces: `***`, or `***` and 4 characters. */
export const isPlaceholder = (value: string) => /^\*\*\*(.{4})?$/s.test(value);
