/**
 * CORS for browser clients (JettChat web, Hermes Workspace): only the origins in CORS_ORIGINS.
 * `*` allows any origin but never with credentials, as browsers require.
 *
 * CORS only decides what a page may read; a "simple" cross-site request (a form post, a text/plain
 * fetch) is sent without a preflight and runs whatever it asks. The sidecar is open by default and
 * listens beside the user's browser, so `refusesWrite` turns such requests away before they act.
 *
 * Neither helps against DNS rebinding: a page of evil.example, whose name the attacker then points at
 * the sidecar's address, calls it as its own origin (`Host: evil.example:8643`), so the browser lets
 * it read every answer and no Origin is foreign. `refusesHost` turns away a call under a host name the
 * sidecar was not told it has, unless a browser marks it cross-origin: over plain http a browser's
 * same-origin read cannot be told from curl's.
 */
import { isIP } from './ip';
import { ApiError, errorResponse } from './errors';
import { routedPath } from './http';

export interface CorsPolicy {
  /** Headers to add to a response for this request's Origin, or null when the origin is not allowed. */
  headersFor(origin: string | null): Record<string, string> | null;
  /** A complete preflight response, or null when the request is not a preflight we answer. */
  preflight(request: Request, pathname: string): Response | null;
  /** The 403 for a state-changing request from a page of a foreign origin, or null when it may go on. */
  refusesWrite(request: Request): ApiError | null;
  /**
   * The 403 for a request, not marked cross-origin by a browser, to a host name a web page could have
   * pointed at this address itself (DNS rebinding), or null when it may go on. `origin` is the request's Origin header.
   */
  refusesHost(request: Request, origin: string | null, pathname: string): ApiError | null;
  /** Whether `refusesHost` can refuse anything: off with API_KEY, ALLOWED_HOSTS=* or CORS_ORIGINS=*. */
  readonly checksHosts: boolean;
  /** Whether answers differ by Origin (CORS_ORIGINS is set), so that every one must say `Vary: Origin`. */
  readonly varies: boolean;
}

/** What decides the Host check besides CORS_ORIGINS. */
export interface HostRule {
  /** ALLOWED_HOSTS: lower-case names, `.example.com` for it and its subdomains, `*` for any. */
  allowedHosts: readonly string[];
  /** Whether API_KEY is set. */
  keyed: boolean;
}

const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, x-hermes-session-id, x-hermes-session-key, payment';
/** A header name (RFC 9110 §5.6.2 token): what may be echoed from Access-Control-Request-Headers. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
// Beyond the CORS-safelisted response headers a page can read only these: `retry-after` of every 503
// (storage or memory busy, upstream saturated) and `allow` of a 405 included, so that a browser client
// can back off and correct itself as any other client does; `idempotent-replayed` of an escrow lock
// answered again for its Idempotency-Key.
const EXPOSED_HEADERS = 'x-hermes-session-id, x-hermes-session-key, idempotency-key, idempotent-replayed, payment-receipt, www-authenticate, retry-after, allow';
/** Methods a browser sends cross-site without asking and that must not change anything (RFC 9110 §9.2.1). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function corsPolicy(origins: readonly string[], hosts: HostRule): CorsPolicy {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  // Who is exposed is a browser without a key: with API_KEY the page cannot present a key it does not
  // know (an MPP payment it can make itself, so MPP alone keeps the check); `*` in CORS_ORIGINS lets
  // any site read and write anyway; ALLOWED_HOSTS=* is the operator's choice.
  const checksHosts = !hosts.keyed && !any && !hosts.allowedHosts.includes('*');
  // The hosts of CORS_ORIGINS are the operator's own names (a page served beside the sidecar under one).
  const names = new Set<string>(hosts.allowedHosts.map((h) => (h.startsWith('.') ? h.slice(1) : h)));
  for (const name of originHosts(origins)) names.add(name);
  const suffixes = hosts.allowedHosts.filter((h) => h.startsWith('.'));
  const knownName = (name: string) => names.has(name) || suffixes.some((s) => name.endsWith(s));
  // `null` (sandboxed frames, file: pages, data: URLs; any site can create one) is allowed only when
  // listed, or under `*`, which already lets every site read and write with its own origin.
  const allows = (origin: string) => any || allowed.has(origin);
  const headersFor = (origin: string | null): Record<string, string> | null => {
    if (!origin || !allows(origin)) return null;
    return {
      'access-control-allow-origin': any ? '*' : origin,
      'access-control-expose-headers': EXPOSED_HEADERS,
      ...(any ? {} : { 'access-control-allow-credentials': 'true', vary: 'Origin' }),
    };
  };
  return {
    headersFor,
    preflight(request, pathname) {
      if (request.method !== 'OPTIONS' || !request.headers.has('access-control-request-method')) return null;
      const origin = request.headers.get('origin') ?? '';
      const h = headersFor(origin);
      // The browser only sees that it failed; the body is for whoever reads the network tab or curl.
      if (!h) return errorResponse(new ApiError(403, 'origin_not_allowed', `A web page of origin ${origin.slice(0, 200)} may not call the sidecar; add it to CORS_ORIGINS to allow it.`), pathname);
      // The headers the page asked for are allowed too: the OpenAI and Anthropic SDKs add their own
      // (`x-stainless-os`, `x-stainless-retry-count`, …) to every call, and a preflight that leaves one
      // out makes the browser drop the request. The origin is trusted already; auth still applies.
      const asked = (request.headers.get('access-control-request-headers') ?? '').split(',').map((x) => x.trim().toLowerCase()).filter((x) => TOKEN.test(x));
      const allowHeaders = [...new Set([...ALLOWED_HEADERS.split(', '), ...asked])].join(', ');
      return new Response(null, {
        status: 204,
        headers: {
          ...h,
          'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
          'access-control-allow-headers': allowHeaders,
          'access-control-max-age': '600',
          vary: h.vary ? `${h.vary}, Access-Control-Request-Headers` : 'Access-Control-Request-Headers',
        },
      });
    },
    refusesWrite(request) {
      const origin = request.headers.get('origin');
      if (origin === null || SAFE_METHODS.has(request.method) || allows(origin) || sameOrigin(origin, request.headers.get('host'))) return null;
      // The browser's own word that the page and the URL it called share an origin: a page cannot set
      // a Sec- header. It is what a proxy in front of the sidecar that rewrites Host passes on (Vite's or
      // webpack's dev-server proxy, nginx's default `Host: $proxy_host`), where the Host no longer tells.
      if (request.headers.get('sec-fetch-site') === 'same-origin') return null;
      return new ApiError(403, 'origin_not_allowed', `Requests that change state from a web page of origin ${origin.slice(0, 200)} are refused; add it to CORS_ORIGINS to allow it.`);
    },
    checksHosts,
    varies: origins.length > 0,
    refusesHost(request, origin, pathname) {
      if (!checksHosts) return null;
      // What a browser marks as not same-origin (cross-site, same-site, an address the user typed) is
      // CORS's and the write check's to judge: a rebinding page reads only answers to its own origin.
      const site = request.headers.get('sec-fetch-site');
      if (site !== null && site !== 'same-origin') return null;
      const host = request.headers.get('host');
      if (!host) return null;
      // No Sec-Fetch-Site says nothing: browsers send it only to https and localhost URLs, never to the
      // plain-http name of a rebinding page, which also sends no Origin on a same-origin read. Such a
      // request cannot be told from a client that is not a browser, so both are judged by the name;
      // only a foreign Origin marks a cross-origin call (Hermes Workspace calling `agent.office.net`).
      if (site === null && origin !== null && !sameOrigin(origin, host)) return null;
      const name = hostName(host);
      if (unrebindable(name) || knownName(name)) return null;
      // Probes and status pages opened in a browser: it tells nothing that is not public anyway.
      if (routedPath(pathname) === '/health') return null;
      return new ApiError(403, 'host_not_allowed', `The sidecar was called by the name ${name.slice(0, 200)}, which it does not know as its own: refused, since any web page can point a name it owns at this address (DNS rebinding) and read the answers. Add the name to ALLOWED_HOSTS, or set API_KEY.`);
    },
  };
}

/**
 * Names no web page can own: an IP address cannot be re-pointed; `localhost` and `*.localhost` never
 * leave the machine (RFC 6761; browsers answer them without DNS); a name without a dot (a compose
 * service, `hermes-optx`), `.local` (mDNS, RFC 6762), `.internal` (ICANN, private use; Docker's
 * `host.docker.internal`), `.home.arpa` (RFC 8375) and the private top-level names RFC 6762 Appendix G
 * lists as in use on home and office networks (`.lan` of OpenWrt and most routers, `.home`, `.corp`,
 * `.intranet`, `.private`; none is delegated in the public DNS) are answered by the local network,
 * never by a DNS server a site's owner runs: a rebinding page must be served under a public name.
 */
function unrebindable(name: string): boolean {
  if (name.charCodeAt(0) === 91 || isIP(name) === 4 || !name.includes('.')) return true;
  return PRIVATE_SUFFIXES.some((s) => name.endsWith(s));
}
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.lan', '.home', '.corp', '.intranet', '.private'];

/**
 * The host names of CORS_ORIGINS entries (not `*`, `null` or `file://`), without a final dot, as the
 * Host's name is compared (`https://agent.example.` is agent.example): names the operator gave the sidecar.
 */
export function originHosts(origins: readonly string[]): string[] {
  return origins.map((o) => URL.parse(o)?.hostname.replace(/\.$/, '') ?? '').filter(Boolean);
}

/** The name of a Host header: lower case, without port or final dot; an IPv6 literal keeps its brackets. */
function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.charCodeAt(0) === 91) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  const name = colon < 0 ? h : h.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/**
 * Whether a page of `origin` is served by this server: its host and port are the Host the request was
 * sent to (the /openapi page; a client served beside the sidecar). The scheme is not compared: behind
 * a TLS-terminating proxy the sidecar cannot know it. Both sides are read as URLs of the origin's
 * scheme, so case and a spelled-out default port (`:80`) do not matter.
 */
function sameOrigin(origin: string, host: string | null): boolean {
  if (!host) return false;
  try {
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
