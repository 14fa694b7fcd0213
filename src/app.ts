/**
 * Builds the HTTP app from its parts. No I/O happens here or on import: tests build the app
 * in-process from deps of their own and call `app.handle(request)`.
 *
 * Order matters: CORS and auth run before routing; the /v1 proxy is mounted before the JSON body
 * parser so its request body is forwarded untouched; every other route gets the parser.
 */
import { Elysia, type AnyElysia } from 'elysia';
import type { AppDeps } from './deps';
import { noBody, readJsonBody } from './lib/body';
import { corsPolicy } from './lib/cors';
import { ApiError, errorResponse, toApiError, unprocessable } from './lib/errors';
import { authPlugin } from './modules/auth';
import { pathOf, routedPath } from './lib/http';
import { Authenticator } from './modules/auth/service';
import { configPlugin } from './modules/config';
import { docsPlugin } from './modules/docs';
import { gatewayPlugin } from './modules/gateway';
import { publicUrl } from './lib/public-url';
import { methodNotAllowed, optionsResponse, routeTable, type RouteTable } from './lib/routes';
import { memoryPlugin } from './modules/memory';
import { chatCompletionsStreamPlugin, v1ProxyPlugin } from './modules/proxy';
import { walletPlugin } from './modules/wallet';
import { EXACT_NUMBER_FIELDS as ESCROW_MONEY } from './modules/wallet/model';
import { chatPlugin } from './modules/chat';
import { sessionsPlugin } from './modules/sessions';
import { skillsPlugin } from './modules/skills';
import { tasksPlugin } from './modules/tasks';
import { EXACT_NUMBER_FIELDS as TASK_MONEY } from './modules/tasks/model';

/**
 * Bun's idle timeout of the server (main.ts): it reaps keep-alive sockets, a request whose body is not
 * in this long after its head (body bytes do not renew it), and a client that reads nothing of an
 * answer for as long. Routes that wait on an upstream lift it for that wait, then give it back.
 */
export const IDLE_TIMEOUT_S = 120;

/** Body fields that hold money, by route path: a JSON number there is read from its digits (lib/body.ts). */
const MONEY_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([...ESCROW_MONEY, ...TASK_MONEY]);

export interface AppOptions {
  /** The idle timeout the app is served with (tests listen with a shorter one). */
  idleTimeoutS?: number;
}

export function createApp(deps: AppDeps, { idleTimeoutS = IDLE_TIMEOUT_S }: AppOptions = {}) {
  const { config, log } = deps;
  const cors = corsPolicy(config.server.corsOrigins, { allowedHosts: config.server.allowedHosts, keyed: config.auth.apiKeys.length > 0 });
  const auth = new Authenticator(config.auth.apiKeys, deps.paymentGate);
  const proxyDeps = {
    client: deps.upstream,
    maxBodyBytes: config.server.proxyMaxBodyBytes,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    serverIdleTimeoutS: idleTimeoutS,
    heartbeatMs: config.chat.heartbeatMs,
    shutdown: deps.shutdown,
    log,
  };

  // Declared first so the docs plugin can describe the finished app.
  let app: AnyElysia;
  // Worked out on first use: the route table is complete only once the app is built.
  let table: RouteTable | null = null;
  const routes = () => (table ??= routeTable(app.routes));
  // Elysia by default looks for the path from the 12th character of the URL on, which loses it when
  // the Host header is 3 characters or fewer with no port (`api` on port 80 behind a proxy): every
  // route would answer 404. Searching from just after the scheme costs nothing measurable.
  const built = new Elysia({ name: 'hermes-optx-api', handler: { standardHostname: false } })
    // Around everything (routes, errors, refusals before routing), so every final answer is marked.
    .wrap((handle) => (request: Request) => {
      const res = (handle as unknown as (r: Request) => Response | Promise<Response>)(request);
      const mark = request.method === 'HEAD' ? dated : notStored;
      return res instanceof Promise ? res.then(mark) : mark(res);
    })
    .onError({ as: 'global' }, ({ code, error, request }) => {
      const cause = (error as { cause?: unknown }).cause;
      const pathname = pathOf(request.url);
      if (code === 'NOT_FOUND') {
        const allowed = routes().allowed(pathname);
        if (allowed.length) return request.method === 'OPTIONS' ? optionsResponse(allowed) : errorResponse(methodNotAllowed(request.method, allowed), pathname);
      }
      const apiError = code === 'PARSE' && cause instanceof ApiError ? cause : toApiError(code, error, log, { method: request.method, path: pathname });
      return errorResponse(apiError, pathname);
    })
    .onRequest(({ request, set }) => {
      const origin = request.headers.get('origin');
      const pathname = pathOf(request.url);
      if (origin) {
        const preflight = cors.preflight(request, pathname);
        if (preflight) return preflight;
        const h = cors.headersFor(origin);
        if (h) Object.assign(set.headers, h);
      }
      // A shared cache keys what it stores by URL alone unless told otherwise: an answer stored for a
      // client without an Origin (or a refused one) would be served to an allowed page without its CORS
      // headers (a /v1 answer keeps the upstream's Cache-Control). The Fetch standard's rule: say
      // `Vary: Origin` on every answer where CORS headers depend on it, not only where they are sent.
      if (cors.varies) set.headers.vary ??= 'Origin';
      // RFC 9112 §3.2: a Host repeated (Bun joins the lines with a comma) or one Bun could not read
      // (spaces, a slash: the URL is then the bare path) is a 400. None at all is fine over HTTP/1.0;
      // over HTTP/1.1 Bun itself answers 400.
      const host = request.headers.get('host');
      if (host && (host.includes(',') || request.url.charCodeAt(0) === 47)) {
        return errorResponse(new ApiError(400, 'bad_host', 'The Host header is malformed or repeated.'), pathname);
      }
      // DNS rebinding (lib/cors.ts): a browser page calling the sidecar by a name it may not use.
      const foreignHost = cors.refusesHost(request, origin, pathname);
      if (foreignHost) return errorResponse(foreignHost, pathname);
      // A path the router would decode to nothing (`/api/tasks/%zz`): say so, not "expected string,
      // received null". After CORS, so that a browser client can read this answer like any other.
      if (pathname.includes('%') && !decodes(pathname)) {
        return errorResponse(new ApiError(400, 'malformed_path', 'The request path has a malformed percent-escape.'), pathname);
      }
      // A page of a foreign origin can send a write without a preflight (text/plain, a form): refused
      // here, before auth and routing, so nothing of it is done (lib/cors.ts). After the Host check:
      // same-origin is judged by the Host.
      const refused = origin ? cors.refusesWrite(request) : null;
      if (refused) return errorResponse(refused, pathname);
    })
    .use(authPlugin(auth, (method, pathname) => routes().serves(method, pathname)))
    // After auth, as every other 405 is (an unserved request needs the key, and MPP never charges it).
    .onRequest(({ request }) => {
      const pathname = pathOf(request.url);
      const refused = routes().shadowed(request.method, pathname);
      if (refused) return errorResponse(refused, pathname);
    })
    .use(v1ProxyPlugin(proxyDeps))
    .onTransform({ as: 'global' }, ({ request, query }) => {
      foldBracketedParams(query);
      refuseRepeatedParams(query);
      if (request.method === 'GET' || request.method === 'HEAD') dropEmptyParams(query);
    })
    .onParse(({ request }) => readJsonBody(request, config.server.maxBodyBytes, MONEY_FIELDS.get(routedPath(pathOf(request.url)))))
    // Elysia reads its hooks' source, and one that names `body` makes it parse the body of every route,
    // the /v1 proxy's included (which must forward it unread): hence the computed key.
    .onTransform((ctx) => {
      ctx[BODY] = noBody(ctx[BODY]);
    })
    .use(docsPlugin(config.version, { apiKeys: config.auth.apiKeys.length > 0, mpp: deps.paymentGate !== null, hosts: cors.checksHosts }, (): AnyElysia => app))
    .use(gatewayPlugin({ config, upstreamUrl: publicUrl(config.hermes.url), home: deps.home, probe: deps.probe, startedAt: deps.startedAt }))
    .use(chatCompletionsStreamPlugin(proxyDeps))
    .use(walletPlugin({ wallet: deps.wallet, config }))
    .use(chatPlugin(deps.chat, config.chat.defaultFormat, idleTimeoutS))
    .use(sessionsPlugin(deps.sessions, idleTimeoutS))
    .use(configPlugin({ home: deps.home, log }))
    .use(skillsPlugin(deps.skills))
    .use(tasksPlugin(deps.tasks))
    .use(memoryPlugin(deps.memory));
  app = built;
  composeFetch(built);
  return built;
}

/**
 * Has Elysia compose the app's request handler now, capturing no stack frames meanwhile. The handler
 * keeps one NotFoundError for good (it is thrown for every unknown path), and JavaScriptCore works out
 * the stack of an Error that is still alive at a garbage collection. In the executable that reads the
 * embedded sourcemaps and line tables: composed lazily by the first request, with frames, it mapped
 * ~0.5 MB more of the executable for a stack nobody reads (it would name only Elysia's composer).
 */
export function composeFetch(app: AnyElysia): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    void app.fetch;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export type App = ReturnType<typeof createApp>;

/**
 * No answer may be kept by a browser's cache or a shared proxy: most hold the user's data (config,
 * sessions, memories, tasks, wallet, usage; the OpenAPI document once API_KEY guards it), and the rest
 * (/health, the docs page) must be fresh or are cheap to send again. An answer that says otherwise
 * keeps its own word: the /v1 proxy passes the upstream's Cache-Control (no-store only where it set
 * none), event streams say `no-cache, no-store` (lib/sse.ts), MPP's paid answers `private, no-store`.
 */
function notStored(res: Response): Response {
  if (!res.headers.has('cache-control')) res.headers.set('cache-control', 'no-store');
  return res;
}

/**
 * Bun writes a Date on every answer but one to HEAD (RFC 9110 §6.6.1: an origin server with a clock
 * sends it on every 2xx, 3xx and 4xx), so HEAD's answers are dated here; the upstream's own Date, where
 * the /v1 proxy passes one, stays.
 */
function dated(res: Response): Response {
  if (!res.headers.has('date')) res.headers.set('date', new Date().toUTCString());
  return notStored(res);
}

/** The context key of the parsed body, computed so that Elysia's reading of hook sources does not see it (see the transform hook). */
const BODY = 'body';

/**
 * `?status[]=Open` (axios, qs and PHP-style clients spell a list so) is the parameter `status`: left as
 * its own name it was an unknown parameter, ignored, and the list came back unfiltered. Several values
 * (`status[]` twice, or with `status`) become a list, refused as a repeated parameter is. The /v1
 * proxy forwards its query string as it came.
 */
function foldBracketedParams(query: Record<string, unknown>): void {
  for (const key of Object.keys(query)) {
    if (!key.endsWith('[]') || key.length < 3) continue;
    const name = key.slice(0, -2);
    query[name] = name in query ? [query[name], query[key]].flat() : query[key];
    delete query[key];
  }
}

/**
 * No query parameter of the API takes several values, and which of `?query=a&query=b` was meant is
 * anyone's guess (FastAPI takes the last, PHP the last, Express keeps both): a repeated one is a 422
 * that says so. Judged by each route's schema it read "query is required" or named a range the values
 * were in. The /v1 proxy forwards its query string as it came.
 */
function refuseRepeatedParams(query: Record<string, unknown>): void {
  const errors = Object.entries(query).flatMap(([path, v]) => (Array.isArray(v) ? [{ path, message: `given ${v.length} times; send it once` }] : []));
  const first = errors[0];
  if (first) throw unprocessable(`Invalid request query: ${first.path}: ${first.message}.`, errors);
}

/**
 * An empty query parameter of a read (`?status=&task_id=`, as SPEC writes route signatures and as
 * forms and query builders send unset filters) is the parameter left out: no filter, the default
 * limit. On a write it stays a value (`POST /api/config/model?base_url=` writes an empty base_url).
 * The /v1 proxy forwards its query string as it came and never sees this.
 */
function dropEmptyParams(query: Record<string, unknown>): void {
  for (const key of Object.keys(query)) if (query[key] === '') delete query[key];
}

function decodes(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}
