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
 * Those last names are also settings' names, so there too the value decides: under `_pass`/`_pwd`/`_auth`/
 * `_cookie` a switch (`require_auth: true`, `SECURE_COOKIE=false`) is a setting, and under a mnemonic or seed
 * phrase name a number is one (`mnemonic_strength: 256`): a credential is neither, a phrase is words.
 */

const EXACT = new Set([
  'api_key', 'apikey', 'key', 'token', 'access_token', 'refresh_token', 'id_token', 'secret', 'client_secret',
  'password', 'passwd', 'auth', 'authorization', 'private_key', 'bearer', 'jwt',
  'passphrase', 'credential', 'credentials', 'cookie', 'pat', 'pass', 'pwd',
]);
const CONTAINS = /api[_-]?key|secret|passw(or)?d|passphrase|private[_-]?key|credential/i;
const SUFFIX = /[_.-](key|pat)$/i;
/** Secret unless the value is a count. */
const PHRASE = /mnemonic|seed[_-]?phrase/i;
/** Secret unless the value is a switch. */
const WORD_SUFFIX = /[_.-](pass|pwd|auth|cookie)$/i;
const TOKEN = /token(?!iz|is)/i;
const COUNT_NAME = /tokens/i;

/**
 * Whether `key` names a secret; `isCount` says the value is a number (`max_tokens: 4096` is not a
 * secret), `isSwitch` that it is a boolean (`require_auth: true` is not one).
 */
export function isSecretKey(key: string, isCount: boolean, isSwitch = false): boolean {
  if (EXACT.has(key.toLowerCase()) || CONTAINS.test(key) || SUFFIX.test(key)) return true;
  if ((PHRASE.test(key) && !isCount) || (WORD_SUFFIX.test(key) && !isSwitch)) return true;
  return TOKEN.test(key) && !(isCount && COUNT_NAME.test(key));
}

/** A count written as text (`.env`, command lines, query strings). */
export const isDigits = (value: string) => /^[0-9]+$/.test(value);

/** A switch written as text (`.env`, command lines, query strings; YAML 1.1's spellings, which Hermes reads). */
export const isSwitchText = (value: string) => /^(true|false|yes|no|on|off)$/i.test(value);

/** isSecretKey for a value written as text, whose kind is read from its spelling. */
export const isSecretText = (key: string, value: string) => isSecretKey(key, isDigits(value), isSwitchText(value));

export const PLACEHOLDER = '***';

export function mask(value: string): string {
  return value.length >= 12 ? PLACEHOLDER + value.slice(-4) : PLACEHOLDER;
}

/** What mask() produces: `***`, or `***` and 4 characters. */
export const isPlaceholder = (value: string) => /^\*\*\*(.{4})?$/s.test(value);

/** A map key as redaction masks one that repeats a secret (redact-keys.ts): a placeholder, maybe ` #2` after it. */
export const isMaskedKey = (key: string) => /^\*\*\*(.{4})?( #\d+)?$/s.test(key);
