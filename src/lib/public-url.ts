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
 * digits. Route names (`chat-completions`, `openai`, `v1`, `2024-10-21`) are shorter or digit-free;
 * the keys of RPC and API providers are 32 to 64 random characters.
 */
export function isKeyLikeSegment(segment: string): boolean {
  return segment.length >= 20 && /^[A-Za-z0-9_.~-]+$/.test(segment) && /[0-9]/.test(segment) && /[A-Za-z]/.test(segment);
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
