/**
 * Builds the HTTP app from its parts. No I/O happens here or on import: tests build the app
 * in-process from deps of their own and call `app.handle(request)`.
 *
 * Order matters: CORS and auth run before routing; the /v1 proxy is mounted before the JSON body
 * parser so its request body is forwarded untouched; every other route gets the parser.
 */
import { Elysia, type AnyElysia } from 'elysia';
import type { AppDeps } from './deps';
import { readJsonBody } from './lib/body';
import { corsPolicy } from './lib/cors';
import { ApiError, errorResponse, toApiError } from './lib/errors';
import { authPlugin, pathOf } from './modules/auth';
import { Authenticator } from './modules/auth/service';
import { configPlugin } from './modules/config';
import { docsPlugin } from './modules/docs';
import { gatewayPlugin } from './modules/gateway';
import { chatCompletionsStreamPlugin, v1ProxyPlugin } from './modules/proxy';
import { skillsPlugin } from './modules/skills';

export function createApp(deps: AppDeps) {
  const { config, log } = deps;
  const cors = corsPolicy(config.server.corsOrigins);
  const auth = new Authenticator(config.auth.apiKeys, deps.paymentGate);
  const proxyDeps = {
    client: deps.upstream,
    maxBodyBytes: config.server.proxyMaxBodyBytes,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    heartbeatMs: config.chat.heartbeatMs,
    shutdown: deps.shutdown,
  };
  const started = new WeakMap<Request, number>();

  // Declared first so the docs plugin can describe the finished app.
  let app: AnyElysia;
  const built = new Elysia({ name: 'hermes-optx-api' })
    .onError({ as: 'global' }, ({ code, error, request }) => {
      const cause = (error as { cause?: unknown }).cause;
      const apiError = code === 'PARSE' && cause instanceof ApiError ? cause : toApiError(code, error, log);
      return errorResponse(apiError, pathOf(request.url));
    })
    .onRequest(({ request, set }) => {
      started.set(request, performance.now());
      const origin = request.headers.get('origin');
      if (!origin) return;
      const preflight = cors.preflight(request);
      if (preflight) return preflight;
      const h = cors.headersFor(origin);
      if (h) Object.assign(set.headers, h);
    })
    .onAfterResponse({ as: 'global' }, ({ request, set }) => {
      const t0 = started.get(request);
      log.info('request', {
        method: request.method,
        path: pathOf(request.url),
        status: set.status,
        ms: t0 === undefined ? undefined : Math.round((performance.now() - t0) * 100) / 100,
      });
    })
    .use(authPlugin(auth))
    .use(v1ProxyPlugin(proxyDeps))
    .onParse(({ request }) => readJsonBody(request, config.server.maxBodyBytes))
    .use(docsPlugin(config.version, (): AnyElysia => app))
    .use(gatewayPlugin({ config, home: deps.home, probe: deps.probe, startedAt: deps.startedAt }))
    .use(chatCompletionsStreamPlugin(proxyDeps))
    .use(configPlugin({ home: deps.home, log }))
    .use(skillsPlugin(deps.skills));
  app = built;
  return built;
}

export type App = ReturnType<typeof createApp>;
