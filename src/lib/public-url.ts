/**
 * A configured URL as it may be shown (responses, the start-up banner, logs): user and password
 * removed, and the value of any query parameter whose name looks like a credential (`api-key`,
 * `token`, `sig`, …) masked. Upstreams behind a proxy with basic auth, and RPC providers with a key
 * in the query, put secrets in URLs; /health is unauthenticated.
 */
const SECRET_PARAM = /key|token|secret|passw|auth|sig|credential|session/i;

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
  return u.toString().replace(/\/$/, '');
}
