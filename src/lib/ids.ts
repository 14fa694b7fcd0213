/** Opaque, URL-safe, time-ordered ids: a millisecond timestamp prefix keeps them roughly sortable. */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

export function newId(prefix = ''): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let rand = '';
  for (const b of bytes) rand += ALPHABET[b % 36];
  return `${prefix}${Date.now().toString(36)}${rand}`;
}

/** True for ids a client may choose: URL-safe, no path separators, bounded length. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** SAFE_ID in words, for 422s: the first-character rule included, or `-abc` reads as valid. */
export const SAFE_ID_RULE = '1-128 URL-safe characters (letters, digits, _ . : -), starting with a letter or digit';

/** `bytes` random bytes as lower-case hex (2 characters each). */
export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
