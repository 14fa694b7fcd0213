/**
 * Some servers quote the credential they refused in their error answer ("Invalid API key Bearer sk-…").
 * Those answers reach clients (error messages, the /v1 proxy) and logs, and the credential is the
 * sidecar's own (HERMES_API_KEY, HEDGEHOG_API_KEY, SPACETIMEDB_TOKEN, or the user:password of a configured
 * URL, sent as Basic): an error answer has every
 * occurrence of the credential its request carried replaced by `***`.
 */

/**
 * The credential a request to `url` carries: the part after the scheme of its Authorization header,
 * else the Basic credential fetch makes of the URL's `user:password@` (percent-decoded, as fetch
 * sends it), which a server echoes as readily as a key. null without either.
 */
export function sentCredential(headers: RequestInit['headers'], url: string): string | null {
  const auth = new Headers(headers).get('authorization')?.trim();
  if (auth) return auth.slice(auth.indexOf(' ') + 1).trim() || null;
  const u = URL.parse(url);
  if (!u || (!u.username && !u.password)) return null;
  try {
    return Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  } catch {
    return null;
  }
}

export const hideCredential = (text: string, credential: string | null): string =>
  credential && text.includes(credential) ? text.replaceAll(credential, '***') : text;

const MASK = Buffer.from('***');

/**
 * The same on a body as it streams, byte for byte: an error answer may be an event stream that stays
 * open, larger than anything worth buffering, or not text at all, and is passed on as it arrives.
 * Only bytes that may begin the credential wait for the next chunk.
 */
export function hideCredentialInStream(body: ReadableStream<Uint8Array>, credential: string): ReadableStream<Uint8Array> {
  const secret = Buffer.from(credential);
  let held: Buffer = Buffer.alloc(0);
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const buf = Buffer.concat([held, chunk]);
      const parts: Uint8Array[] = [];
      let from = 0;
      for (let at = buf.indexOf(secret); at >= 0; at = buf.indexOf(secret, from)) {
        parts.push(buf.subarray(from, at), MASK);
        from = at + secret.length;
      }
      const cut = buf.length - startOfSecretAtEnd(buf, from, secret);
      parts.push(buf.subarray(from, cut));
      held = buf.subarray(cut);
      const out = Buffer.concat(parts);
      if (out.length) controller.enqueue(out);
    },
    flush(controller) {
      if (held.length) controller.enqueue(held);
    },
  }));
}

/** How many of buf's last bytes (after `from`) are the first bytes of the secret: they may continue in the next chunk. */
function startOfSecretAtEnd(buf: Buffer, from: number, secret: Buffer): number {
  for (let k = Math.min(secret.length - 1, buf.length - from); k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(secret.subarray(0, k))) return k;
  }
  return 0;
}

/**
 * What of a configured URL may be a key: RPC providers put it in the path (`/v2/<key>`), the query
 * (`?api-key=<key>`) or the userinfo, and a node's error text can quote the URL it was called at.
 * Parts shorter than 8 characters (`v2`, `rpc`, `mainnet`) are names, not keys. Longest first.
 */
export function urlSecrets(url: string): string[] {
  const u = URL.parse(url);
  if (!u) return [];
  const raw = [u.username, u.password, ...u.pathname.split('/'), ...u.search.slice(1).split('&').map((p) => p.slice(p.indexOf('=') + 1))];
  const parts = new Set(raw.flatMap((p) => [p, decoded(p)]));
  return [...parts].filter((p) => p.length >= 8).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each of `secrets` (urlSecrets) replaced by `***`. */
const hideSecrets = (text: string, secrets: readonly string[]): string => secrets.reduce((out, s) => hideCredential(out, s), text);

/**
 * A server's own words, which may quote the `url` it was called at, with that URL's key parts hidden,
 * then cut to `max` characters: cut first, a key the cut fell inside left its head at the end, which
 * no longer matched the key and was shown.
 */
export const serverWords = (text: string, url: string, max: number): string => hideSecrets(text, urlSecrets(url)).slice(0, max);

function decoded(part: string): string {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return part;
  }
}
