/**
 * A fake Hermes Agent gateway (the agent's OpenAI-compatible API server) for tests: a real HTTP
 * server on Bun.serve({ port: 0 }) speaking the wire formats of Hermes 0.12 and 0.17+
 * (SPEC §14). Tests flip `behavior` switches at any time to make it slow, stall, drop, send
 * garbage, fail with a status, or hang.
 */
import {
  type FakeToolUse,
  type HermesUsage,
  type StreamScript,
  SSE_HEADERS,
  StreamRun,
  chatCompletionScript,
  contentPartsError,
  contentPartsRefused,
  contentText,
  corsHeadersFor,
  deriveChatSessionId,
  forcedError,
  hex,
  isRecord,
  json,
  matchPath,
  newSessionId,
  openAiError,
  parseJson,
  requestText,
  scriptStream,
  splitWords,
  unauthorized,
  wordCount,
} from './hermes-streams';
import { type FakeHermes, type FakeMessage, type FakeSession, type Handler, type HermesVersion, defaultBehavior } from './hermes-model';
import { sessionHandlers } from './hermes-sessions';

export { contentText, deriveChatSessionId };
export * from './hermes-model';

/** Added by the gateway's security_headers_middleware to every answer of a route handler. */
const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/** Hermes' api_server refuses request bodies larger than this (10 MB). */
export const MAX_REQUEST_BYTES = 10_000_000;

/** `0.17` is the session-API generation (0.15+): it answers as the 0.18.2 gateway SPEC §14 was observed on. */
const FULL_VERSION: Record<HermesVersion, string> = { '0.12': '0.12.0', '0.17': '0.18.2' };

// ---------------------------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------------------------

type Server = ReturnType<typeof Bun.serve>;
interface Route {
  method: string;
  pattern: RegExp;
  auth: boolean;
  versions: HermesVersion[];
  handler: Handler;
}

export interface FakeHermesOptions {
  version?: HermesVersion;
  /** API_SERVER_KEY (default `test-upstream-key`); null, a keyless gateway, only for 0.12: later ones refuse to start. */
  apiKey?: string | null;
  model?: string;
  /** API_SERVER_CORS_ORIGINS; unset (the default) means any request with an Origin gets a bare 403. */
  corsOrigins?: string[];
  /** Listen on this port (default: any free one): a second fake on a stopped one's port is the agent restarted or upgraded in place. */
  port?: number;
  /** The agent's stored sessions, shared with another fake: what a restarted or upgraded agent finds in its state.db. */
  sessions?: Map<string, FakeSession>;
  /** Address to listen on (default 127.0.0.1); `::1` serves the fake at an IPv6 literal URL. */
  hostname?: string;
}

export async function startFakeHermes(opts: FakeHermesOptions = {}): Promise<FakeHermes> {
  const version = opts.version ?? '0.17';
  const apiKey = opts.apiKey === undefined ? 'test-upstream-key' : opts.apiKey;
  // Since 0.15 the gateway will not start without API_SERVER_KEY (SPEC §14): a keyless session-API
  // gateway does not exist, and a test built on one would test nothing real.
  if (apiKey === null && version !== '0.12') throw new Error('Hermes >= 0.15 refuses to start without API_SERVER_KEY');
  const model = opts.model ?? 'hermes-agent';
  const startedAt = Date.now();
  const liveRuns = new Set<StreamRun>();
  const hangs = new Set<() => void>();
  let stopped = false;
  let nextMessageId = 1;
  // Requests are only handled after this function returned, when `fake` exists.
  const hostname = opts.hostname ?? '127.0.0.1';
  let server: Server | null = listen(opts.port ?? 0);
  const port = server.port ?? 0;

  const fake: FakeHermes = {
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    port,
    version,
    apiKey,
    model,
    behavior: defaultBehavior(),
    requests: [],
    aborted: [],
    sessions: opts.sessions ?? new Map(),
    addSession,
    async pause() {
      if (!server) return;
      const s = server;
      server = null;
      for (const run of [...liveRuns]) run.finish();
      liveRuns.clear();
      for (const release of [...hangs]) release();
      await s.stop(true);
    },
    async resume() {
      if (stopped) throw new Error('fake Hermes was stopped for good');
      if (!server) server = listen(port);
    },
    reset() {
      fake.requests.length = 0;
      fake.aborted.length = 0;
      fake.sessions.clear();
      fake.behavior = defaultBehavior();
    },
    async stop() {
      stopped = true;
      await fake.pause();
    },
  };

  const switches = () => fake.behavior;
  const now = (): number => Date.now() / 1000;

  function addSession(init: Parameters<FakeHermes['addSession']>[0] = {}): FakeSession {
    const { messages = [], ...row } = init;
    const t = now();
    const session: FakeSession = {
      source: 'api_server', user_id: null, model, title: null, started_at: t, ended_at: null, end_reason: null,
      last_active: t, message_count: 0, tool_call_count: 0, input_tokens: 0, output_tokens: 0,
      ...row,
      id: row.id ?? newSessionId(),
      messages: [],
    };
    fake.sessions.set(session.id, session);
    for (const m of messages) appendMessage(session, m);
    return session;
  }

  function appendMessage(s: FakeSession, m: Partial<FakeMessage> & { role: FakeMessage['role'] }): FakeMessage {
    const row: FakeMessage = {
      id: nextMessageId++, session_id: s.id, content: null, tool_calls: null, tool_call_id: null,
      tool_name: null, timestamp: now(), reasoning: null, ...m,
    };
    s.messages.push(row);
    s.message_count = s.messages.length;
    s.tool_call_count += row.tool_calls?.length ?? 0;
    s.last_active = row.timestamp;
    return row;
  }

  /** The tool the agent uses for a message when `tools` is on. */
  function toolUse(message: string): FakeToolUse | null {
    if (!fake.behavior.tools) return null;
    return { name: 'web_search', args: { query: message }, preview: `web_search: "${message.slice(0, 40)}"`, result: `3 results for ${message}` };
  }

  /** Reply, tokens and usage for a conversation, following the behavior switches. */
  function answer(messages: { role: string; content: unknown }[]) {
    const b = fake.behavior;
    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const reply = b.reply ? b.reply(messages) : `You said: ${contentText(lastUser?.content)}`;
    const tokens = b.tokens ? b.tokens(reply) : splitWords(reply);
    const input = messages.reduce((n, m) => n + wordCount(contentText(m.content)), 0);
    const u = b.usage ?? { input_tokens: input, output_tokens: wordCount(reply) };
    const usage: HermesUsage = { ...u, total_tokens: u.input_tokens + u.output_tokens };
    return { reply, tokens, usage };
  }

  /** Serve a streaming script, tracking the run so pause()/stop() can end it. */
  function stream(req: Request, path: string, make: (run: StreamRun) => StreamScript, headers: Record<string, string>): Response {
    const run = new StreamRun();
    liveRuns.add(run);
    const body = scriptStream(run, make, { onAbort: () => fake.aborted.push(path), onEnd: () => liveRuns.delete(run) }, req.signal);
    return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
  }

  /** Wait before a non-streamed answer; false (and recorded in `aborted`) if the client left. */
  async function delay(req: Request, path: string, ms: number): Promise<boolean> {
    if (ms <= 0) return true;
    const run = new StreamRun();
    liveRuns.add(run);
    const onAbort = (): void => {
      if (run.finish()) fake.aborted.push(path);
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    const ok = await run.sleep(ms);
    req.signal.removeEventListener('abort', onAbort);
    liveRuns.delete(run);
    run.finish();
    return ok;
  }

  function hangUntilAbort(req: Request, path: string): Promise<Response> {
    return new Promise<Response>((resolve) => {
      const release = (): void => {
        hangs.delete(release);
        req.signal.removeEventListener('abort', onAbort);
        resolve(openAiError(503, 'Fake Hermes: released', 'service_unavailable'));
      };
      const onAbort = (): void => {
        fake.aborted.push(path);
        release();
      };
      hangs.add(release);
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- route handlers --------------------------------------------------------------------------

  const health: Handler = () => json(200, { status: 'ok', platform: 'hermes-agent', version: FULL_VERSION[version] });

  const healthDetailed: Handler = () =>
    json(200, {
      status: 'ok',
      platform: 'hermes-agent',
      version: FULL_VERSION[version],
      gateway_state: 'running',
      platforms: { api_server: { state: 'connected' } },
      active_agents: liveRuns.size,
      sessions: fake.sessions.size,
      exit_reason: null,
      updated_at: new Date().toISOString(),
      uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
      pid: process.pid,
    });

  const models: Handler = () =>
    json(200, {
      object: 'list',
      data: [{ id: model, object: 'model', created: Math.floor(startedAt / 1000), owned_by: 'hermes', permission: [], root: model, parent: null }],
    });

  const capabilities: Handler = () => {
    if (version === '0.12') {
      return json(200, { object: 'capabilities', model, features: { chat_completions: true, streaming: true } });
    }
    // The gateway's _handle_capabilities: feature flags by name and endpoints as a map of
    // {method, path}; no `runs_api`/`sessions_api` flags.
    const ep = (method: string, path: string) => ({ method, path });
    return json(200, {
      object: 'hermes.api_server.capabilities',
      platform: 'hermes-agent',
      model,
      auth: { type: 'bearer', required: apiKey !== null },
      runtime: { mode: 'server_agent', tool_execution: 'server', split_runtime: false },
      features: {
        chat_completions: true, chat_completions_streaming: true, responses_api: true, responses_streaming: true,
        run_submission: true, run_status: true, run_events_sse: true, run_stop: true, run_approval_response: true,
        tool_progress_events: true, approval_events: true, session_resources: true, session_chat: true,
        session_chat_streaming: true, session_fork: true,
        session_continuity_header: 'X-Hermes-Session-Id', session_key_header: 'X-Hermes-Session-Key', cors: false,
      },
      endpoints: {
        health: ep('GET', '/health'), health_detailed: ep('GET', '/health/detailed'), models: ep('GET', '/v1/models'),
        chat_completions: ep('POST', '/v1/chat/completions'), responses: ep('POST', '/v1/responses'),
        runs: ep('POST', '/v1/runs'), run_status: ep('GET', '/v1/runs/{run_id}'), run_events: ep('GET', '/v1/runs/{run_id}/events'),
        run_stop: ep('POST', '/v1/runs/{run_id}/stop'),
        sessions: ep('GET', '/api/sessions'), session_create: ep('POST', '/api/sessions'), session: ep('GET', '/api/sessions/{session_id}'),
        session_update: ep('PATCH', '/api/sessions/{session_id}'), session_delete: ep('DELETE', '/api/sessions/{session_id}'),
        session_messages: ep('GET', '/api/sessions/{session_id}/messages'),
        session_chat: ep('POST', '/api/sessions/{session_id}/chat'),
        session_chat_stream: ep('POST', '/api/sessions/{session_id}/chat/stream'),
      },
    });
  };

  const chatCompletions: Handler = async (req, { path, body }) => {
    const parsed = parseJson(body);
    if (!parsed.ok || !isRecord(parsed.value)) return openAiError(400, 'Invalid JSON in request body', null);
    const reqBody = parsed.value;
    const rawMessages = reqBody.messages;
    if (!Array.isArray(rawMessages) || rawMessages.length === 0) {
      return openAiError(400, "Missing or invalid 'messages' field", null);
    }
    const messages = rawMessages.filter(isRecord).map((m) => ({ role: String(m.role ?? ''), content: m.content }));
    for (const [i, m] of messages.entries()) {
      const refused = m.role === 'user' || m.role === 'assistant' ? contentPartsError(m.content) : null;
      if (refused) return contentPartsRefused(refused, `messages[${i}].content`);
    }
    const system = messages.filter((m) => m.role === 'system').map((m) => contentText(m.content));
    const convo = messages.filter((m) => m.role === 'user' || m.role === 'assistant');
    const last = convo.at(-1);
    if (!last || last.role !== 'user' || contentText(last.content).trim() === '') {
      return openAiError(400, 'No user message found in messages', null);
    }
    // X-Hermes-Session-Id needs a configured key (history comes from the store): without one the
    // gateway refuses the request with 403 rather than ignoring the header.
    const given = req.headers.get('x-hermes-session-id')?.trim() ?? '';
    if (given !== '' && apiKey === null) {
      return openAiError(403, 'Session continuation requires API key authentication. Configure API_SERVER_KEY to enable this feature.', null);
    }
    if (given !== '' && fake.behavior.strictSessionHeader) {
      const known = fake.sessions.get(given);
      if (given.length > 256 || !/^(?:api-[0-9a-f]{16}|[0-9]{8}_[0-9]{6}_[0-9a-f]{6})$/.test(given)) {
        return json(400, { error: { message: 'Invalid session ID', type: 'invalid_request_error' } });
      }
      if (!known || known.source !== 'api_server') return json(404, { error: { message: 'Unknown session ID', type: 'invalid_request_error' } });
    }
    const honoured = given !== '';
    const firstUser = contentText(convo.find((m) => m.role === 'user')?.content);
    const sessionId = honoured ? given : deriveChatSessionId(system.length ? system.join('\n') : null, firstUser);
    // With the header the history is what the gateway stored under the id (SPEC §14), never the
    // request's earlier messages: an id it has nothing under starts empty. The agent run files the
    // turn under the session id, given or derived, creating the session as the api_server platform's.
    const stored = honoured ? fake.sessions.get(given) : undefined;
    const history = honoured
      ? [...(stored?.messages ?? []).filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({ role: m.role, content: m.content })), last]
      : convo;
    // The reply function sees what the agent would: system prompt(s), then the conversation.
    const { reply, tokens, usage } = answer([...messages.filter((m) => m.role === 'system'), ...history]);
    const filed = fake.sessions.get(sessionId) ?? addSession({ id: sessionId, source: 'api_server' });
    appendMessage(filed, { role: 'user', content: contentText(last.content) });
    appendMessage(filed, { role: 'assistant', content: reply });
    const headers: Record<string, string> = { 'x-hermes-session-id': sessionId };
    for (const h of ['idempotency-key', 'x-hermes-session-key']) {
      const v = req.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    const id = `chatcmpl-${hex(15).slice(0, 29)}`;
    const created = Math.floor(Date.now() / 1000);
    const modelName = typeof reqBody.model === 'string' ? reqBody.model : model;
    const openAiUsage = { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.total_tokens };
    if (reqBody.stream === true) {
      const so = reqBody.stream_options;
      const includeUsage = fake.behavior.usageChunk && isRecord(so) && so.include_usage === true;
      const script = chatCompletionScript(
        {
          id, model: modelName, created, tokens, usage: openAiUsage, includeUsage, usageInFinishChunk: fake.behavior.usageInFinishChunk,
          tool: toolUse(contentText(last.content)), crashAfterTokens: fake.behavior.crashAfterTokens, crashStyle: fake.behavior.crashStyle,
        },
        switches,
      );
      return stream(req, path, script, headers);
    }
    if (!(await delay(req, path, fake.behavior.firstTokenDelayMs))) return openAiError(499, 'client closed request', null);
    return json(200, {
      id, object: 'chat.completion', created, model: modelName,
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
      usage: openAiUsage,
    }, headers);
  };

  const { listSessions, createSession, getOne, patchOne, deleteOne, listMessages, sessionChat, sessionChatStream } = sessionHandlers({
    fake, model, switches, now, addSession, appendMessage, answer, toolUse, stream, delay,
  });

  // ---- routing ---------------------------------------------------------------------------------

  const both: HermesVersion[] = ['0.12', '0.17'];
  const v17: HermesVersion[] = ['0.17'];
  const SEG = '([^/]+)';
  const routes: Route[] = [
    { method: 'GET', pattern: /^\/health$/, auth: false, versions: both, handler: health },
    // Behind the key like every route but /health (SPEC §14; the gateway's handler calls _check_auth).
    { method: 'GET', pattern: /^\/health\/detailed$/, auth: true, versions: v17, handler: healthDetailed },
    { method: 'GET', pattern: /^\/v1\/models$/, auth: true, versions: both, handler: models },
    { method: 'GET', pattern: /^\/v1\/capabilities$/, auth: true, versions: both, handler: capabilities },
    { method: 'POST', pattern: /^\/v1\/chat\/completions$/, auth: true, versions: both, handler: chatCompletions },
    { method: 'GET', pattern: /^\/api\/sessions$/, auth: true, versions: v17, handler: listSessions },
    { method: 'POST', pattern: /^\/api\/sessions$/, auth: true, versions: v17, handler: createSession },
    { method: 'GET', pattern: new RegExp(`^/api/sessions/${SEG}$`), auth: true, versions: v17, handler: getOne },
    { method: 'PATCH', pattern: new RegExp(`^/api/sessions/${SEG}$`), auth: true, versions: v17, handler: patchOne },
    { method: 'DELETE', pattern: new RegExp(`^/api/sessions/${SEG}$`), auth: true, versions: v17, handler: deleteOne },
    { method: 'GET', pattern: new RegExp(`^/api/sessions/${SEG}/messages$`), auth: true, versions: v17, handler: listMessages },
    { method: 'POST', pattern: new RegExp(`^/api/sessions/${SEG}/chat$`), auth: true, versions: v17, handler: sessionChat },
    { method: 'POST', pattern: new RegExp(`^/api/sessions/${SEG}/chat/stream$`), auth: true, versions: v17, handler: sessionChatStream },
  ];

  function authorized(req: Request): boolean {
    if (apiKey === null) return true;
    const header = req.headers.get('authorization') ?? '';
    return header.startsWith('Bearer ') && header.slice(7).trim() === apiKey;
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const text = await requestText(req);
    const body = text ?? '';
    fake.requests.push({ method: req.method, path, search: url.search, headers: Object.fromEntries(req.headers), body });
    // The gateway's cors_middleware comes first: a browser Origin it was not configured for gets a bare
    // 403, before auth, and it answers every OPTIONS itself, before routing and auth: a bare 403 unless
    // the Origin is allowed, then a 200 with the CORS headers.
    const origin = req.headers.get('origin') ?? '';
    const cors = corsHeadersFor(opts.corsOrigins ?? [], origin);
    if (origin && !cors) return new Response(null, { status: 403 });
    if (req.method === 'OPTIONS') return new Response(null, { status: cors ? 200 : 403, headers: cors ?? {} });
    // body_limit_middleware (before routing and auth): a declared Content-Length over MAX_REQUEST_BYTES
    // is refused unread, in the OpenAI envelope and without the security headers.
    const declared = req.headers.get('content-length');
    if (declared !== null && ['POST', 'PUT', 'PATCH'].includes(req.method)) {
      if (!/^\d+$/.test(declared.trim())) return openAiError(400, 'Invalid Content-Length header.', 'invalid_content_length', 'invalid_request_error');
      if (Number(declared) > MAX_REQUEST_BYTES) return openAiError(413, 'Request body too large.', 'body_too_large', 'invalid_request_error');
    }
    if (text === null) return openAiError(400, 'Could not decompress the request body', null);
    const res = await route(req, url, body);
    for (const [k, v] of Object.entries({ ...cors, ...fake.behavior.responseHeaders })) res.headers.set(k, v);
    const delayMs = matchPath(fake.behavior.bodyDelayMs, path);
    return delayMs === undefined ? res : bodyLater(res, delayMs, req.signal);
  }

  /** `res` with its body held back `ms` after its head (which Bun sends with the first body bytes: a space first). */
  function bodyLater(res: Response, ms: number, signal: AbortSignal): Response {
    const held = res.body;
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new TextEncoder().encode(' '));
        await Bun.sleep(ms);
        if (signal.aborted) return c.close();
        if (held) for await (const chunk of held) c.enqueue(chunk);
        c.close();
      },
    });
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    return new Response(body, { status: res.status, headers });
  }

  /** What aiohttp answers itself when no route matches (an HTTPException: no middleware adds headers). */
  const aiohttpError = (status: 404 | 405, allow?: string[]): Response =>
    new Response(status === 404 ? '404: Not Found' : '405: Method Not Allowed', {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...(allow ? { allow: allow.join(',') } : {}) },
    });

  /** security_headers_middleware: set on every answer a handler returns, error answers included. */
  function withSecurityHeaders(res: Response): Response {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!res.headers.has(k)) res.headers.set(k, v);
    return res;
  }

  async function route(req: Request, url: URL, body: string): Promise<Response> {
    const path = url.pathname;
    if (matchPath(fake.behavior.hang, path) === true) return hangUntilAbort(req, path);
    const forced = matchPath(fake.behavior.statusOverride, path);
    if (forced !== undefined) return forcedError(forced);
    const overridden = matchPath(fake.behavior.bodyOverride, path);
    if (typeof overridden === 'string') return new Response(overridden, { headers: { 'content-type': 'text/html' } });
    if (overridden !== undefined) return json(200, overridden);

    const onPath = routes.filter((r) => r.versions.includes(version) && r.pattern.test(path));
    if (onPath.length === 0) return aiohttpError(404);
    // aiohttp's add_get registers HEAD too: the handler runs (auth included) and the body is left out.
    const route = onPath.find((r) => r.method === req.method || (req.method === 'HEAD' && r.method === 'GET'));
    if (!route) return aiohttpError(405, [...new Set(onPath.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].sort());
    if (route.auth && !authorized(req)) return withSecurityHeaders(unauthorized());
    const params = (route.pattern.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p ?? ''));
    return withSecurityHeaders(await route.handler(req, { path, url, body, params }));
  }

  function listen(port: number): Server {
    return Bun.serve({ port, hostname, idleTimeout: 0, fetch: handle });
  }

  return fake;
}
