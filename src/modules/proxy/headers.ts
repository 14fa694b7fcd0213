/**
 * Header hygiene of the /v1 proxy: hop-by-hop and framing headers dropped both ways, the client's
 * credentials and CORS headers never sent upstream (the sidecar's own key instead), the upstream's
 * CORS headers never shown to the client.
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);
/**
 * A request body is read whole and sent again as those same bytes: fetch writes its own Content-Length,
 * and Content-Encoding stays, since the bytes are still encoded that way (a gzip body without it would
 * reach the upstream as garbage).
 */
const REQUEST_FRAMING = new Set(['content-length']);
/**
 * fetch decompresses a response body: its Content-Encoding and Content-Length describe bytes the client
 * never gets.
 */
const RESPONSE_FRAMING = new Set(['content-length', 'content-encoding']);
/**
 * Credentials and payment proofs belong to the client's relationship with the sidecar, never the
 * upstream: `x-api-key` is where Anthropic's SDK puts its key, `api-key` where Azure OpenAI's does.
 */
const CLIENT_CREDENTIALS = new Set(['authorization', 'cookie', 'x-api-key', 'api-key', 'payment', 'payment-receipt', 'x-payment']);

function dropListedInConnection(src: Headers): Set<string> {
  const extra = new Set<string>();
  for (const token of (src.get('connection') ?? '').split(',')) {
    const t = token.trim().toLowerCase();
    if (t) extra.add(t);
  }
  return extra;
}

/**
 * CORS is the sidecar's own (CORS_ORIGINS), between the browser and the sidecar. A browser's `Origin`
 * and preflight headers are not sent on: the sidecar calls the upstream as a server, and Hermes answers
 * any request with an Origin it was not configured for (none, by default) with a bare 403. An upstream's
 * `access-control-*` answer headers are dropped for the same reason.
 */
const isCorsRequestHeader = (k: string) => k === 'origin' || k.startsWith('access-control-request-');
const isCorsResponseHeader = (k: string) => k.startsWith('access-control-');

/** Headers to send upstream: no hop-by-hop, no client credentials or CORS, the sidecar's own key instead. */
export function upstreamRequestHeaders(src: Headers, upstreamKey: string | null): Headers {
  const out = new Headers();
  const extra = dropListedInConnection(src);
  src.forEach((value, key) => {
    const k = key.toLowerCase();
    if (HOP_BY_HOP.has(k) || REQUEST_FRAMING.has(k) || CLIENT_CREDENTIALS.has(k) || isCorsRequestHeader(k)
      || k.startsWith('proxy-') || k.startsWith('payment-') || extra.has(k)) return;
    out.set(k, value);
  });
  if (upstreamKey) out.set('authorization', `Bearer ${upstreamKey}`);
  return out;
}

/**
 * Headers to return to the client from an upstream response: no hop-by-hop, framing or CORS headers.
 * `vary` is the sidecar's own Vary for this answer (`Origin` when its CORS headers name the origin),
 * listed with the upstream's: the response's Vary would otherwise hide the sidecar's.
 */
export function clientResponseHeaders(src: Headers, vary?: string): Headers {
  const out = new Headers();
  const extra = dropListedInConnection(src);
  src.forEach((value, key) => {
    const k = key.toLowerCase();
    if (HOP_BY_HOP.has(k) || RESPONSE_FRAMING.has(k) || isCorsResponseHeader(k) || k.startsWith('proxy-') || extra.has(k)) return;
    out.append(k, value);
  });
  if (vary) {
    const listed = new Set((out.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase()).filter(Boolean));
    for (const v of vary.split(',').map((x) => x.trim())) if (v && !listed.has(v.toLowerCase())) out.append('vary', v);
  }
  return out;
}
