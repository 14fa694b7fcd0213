/**
 * A configured URL as it may be shown (responses, the start-up banner, logs). Providers put keys in
 * three places of a URL, and each is hidden here, the one rule for every URL the sidecar shows:
 * - userinfo (`https://user:pass@proxy`, `https://ghp_…@host`): removed;
 * - a query parameter whose name looks like a credential (`?api-key=` of Helius, `token`, `sig`, …):
 *   its value becomes `***`;
 * - a path segment that looks like a key (`/v2/<key>` of Alchemy, `/v3/<key>` of Infura, QuickNode's
 *   `/<token>/`, Ankr's `/eth/<key>`): it becomes `***`. /health is unauthenticated.
 * Scheme, host, port and the rest of the path stay, so the URL still says where it points.
 */
const SECRET_PARAM = /key|token|secret|passw|auth|sig|credential|session|jwt/i;

/**
 * A path segment that is a key rather than a name: 20 or more URL-safe characters mixing letters and
 * digits, and not made of words. Route names (`chat-completions`, `openai`, `v1`, `2024-10-21`) are
 * shorter or digit-free; the keys of RPC and API providers are 32 to 64 random characters. Model,
 * deployment and project names are as long, and must stay visible (where the sidecar points) and
 * round-trip through GET then PATCH /api/config: their parts are words and short numbers (isNamePart).
 */
export function isKeyLikeSegment(segment: string): boolean {
  if (segment.length < 20 || !/^[A-Za-z0-9_.~-]+$/.test(segment) || !/[0-9]/.test(segment) || !/[A-Za-z]/.test(segment)) return false;
  return UUID.test(segment) || !segment.split(/[-_.~]/).every(isNamePart);
}

/** A project id some providers put in the path (Blast API): its short groups alone would read as words. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A word as names write it (`Instruct`, `DeepSeek`, `large`, `AWQ`), not a random run of letters (`EuKetLLBNjWRqElmmIk`). */
const WORD = /^(?:(?:[A-Z]?[a-z]{1,15}){1,3}|[A-Z]{1,6})$/;

/**
 * A part of a name (between `-`, `_`, `.`, `~`): a word, a number of up to 8 digits (a version, a
 * date), a mixture's size (`8x7B`), or a short word with one number
 * of up to 4 digits in it (`4o`, `Qwen2`, `eastus2`). So
 * `Meta-Llama-3-8B-Instruct`, `claude-3-5-sonnet-20241022` and `Mixtral-8x7B-Instruct-v0.1` are
 * names; a random key has a longer part that mixes them more (`J038e3gacc…`, 32 hex digits) or
 * a run of more than 8 digits.
 */
function isNamePart(part: string): boolean {
  return WORD.test(part) || /^[0-9]{1,8}$/.test(part) || /^[0-9]{1,3}x[0-9]{1,3}[A-Za-z]?$/i.test(part) || /^(?:[A-Z]?[a-z]{0,7}|[A-Z]{0,4})[0-9]{1,4}[A-Za-z]{0,3}$/.test(part);
}

export function publicUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'invalid URL';
  }
  u.username = '';
  u.password = '';
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
  }
  u.pathname = u.pathname.split('/').map((s) => (isKeyLikeSegment(s) ? '***' : s)).join('/');
  return u.toString().replace(/\/$/, '');
}
