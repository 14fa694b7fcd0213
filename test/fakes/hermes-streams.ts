/**
 * Helpers of the fake Hermes gateway (see ./hermes.ts): HTTP/wire helpers, then streaming.
 *
 * Every streamed response is a pull-based ReadableStream fed by an async generator ("script").
 * The script yields encoded frames; waits go through a StreamRun so that a client going away,
 * or the fake being paused/stopped, wakes every pending timer at once and nothing keeps running.
 */

// ---------------------------------------------------------------------------------------------
// HTTP / wire helpers shared by the fake's routes
// ---------------------------------------------------------------------------------------------

export type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The OpenAI error envelope the gateway uses (`_openai_error`). */
export function openAiError(status: number, message: string, code: string | null, type?: string): Response {
  const errType = type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  return json(status, { error: { message, type: errType, param: null, code } });
}

export const STATUS_CODES: Record<number, string> = {
  400: 'bad_request', 401: 'invalid_api_key', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
  408: 'request_timeout', 409: 'conflict', 413: 'body_too_large', 422: 'unprocessable_entity',
  429: 'rate_limit_exceeded', 500: 'internal_error', 502: 'bad_gateway', 503: 'service_unavailable', 504: 'gateway_timeout',
};

export function forcedError(status: number): Response {
  if (status === 401) return unauthorized();
  return openAiError(status, `Fake Hermes: forced HTTP ${status}`, STATUS_CODES[status] ?? `http_${status}`);
}

export function unauthorized(): Response {
  return json(401, { error: { message: 'Invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' } });
}

export function sessionNotFound(id: string): Response {
  return openAiError(404, `Session not found: ${id}`, 'session_not_found');
}

/**
 * The request body as the gateway's aiohttp server hands it over: a gzip Content-Encoding is undone
 * (aiohttp decompresses request bodies and cannot be told not to); null when it does not unpack.
 */
export async function requestText(req: Request): Promise<string | null> {
  const bytes = new Uint8Array(await req.arrayBuffer());
  const coding = req.headers.get('content-encoding')?.trim().toLowerCase();
  try {
    return new TextDecoder().decode(coding === 'gzip' ? Bun.gunzipSync(bytes) : bytes);
  } catch {
    return null;
  }
}

/**
 * The gateway's `_cors_headers_for_origin` for API_SERVER_CORS_ORIGINS: null when the origin is not
 * allowed, which is every origin when none is configured (the default).
 */
export function corsHeadersFor(origins: readonly string[], origin: string): Record<string, string> | null {
  if (!origin || origins.length === 0 || (!origins.includes('*') && !origins.includes(origin))) return null;
  const base = { 'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS', 'access-control-allow-headers': 'Authorization, Content-Type, Idempotency-Key', 'access-control-max-age': '600' };
  return origins.includes('*') ? { ...base, 'access-control-allow-origin': '*' } : { ...base, 'access-control-allow-origin': origin, vary: 'Origin' };
}

export type Parsed = { ok: true; value: unknown } | { ok: false };
export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Why the gateway's `_normalize_multimodal_content` refuses a message's content parts (400, the OpenAI
 * envelope with this `code` and the part's `param`), or null when it takes them: an image needs an
 * http(s) URL or a `data:image/...,` URL, file parts and unknown part types are refused.
 */
export function contentPartsError(content: unknown): { code: string; message: string } | null {
  if (!Array.isArray(content)) return null;
  for (const part of content.slice(0, 1000)) {
    if (!isRecord(part)) continue;
    const type = String(part.type ?? '').trim().toLowerCase();
    if (['text', 'input_text', 'output_text'].includes(type)) continue;
    if (type === 'image_url' || type === 'input_image') {
      const ref = isRecord(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof ref !== 'string' || ref.trim() === '') return { code: 'invalid_image_url', message: 'Image parts must include a non-empty image URL.' };
      const url = ref.trim().toLowerCase();
      if (url.startsWith('data:')) {
        if (!url.startsWith('data:image/') || !url.includes(',')) {
          return { code: 'unsupported_content_type', message: 'Only image data URLs are supported. Non-image data payloads are not supported.' };
        }
      } else if (!url.startsWith('http://') && !url.startsWith('https://')) {
        return { code: 'invalid_image_url', message: 'Image inputs must use http(s) URLs or data:image/... URLs.' };
      }
      continue;
    }
    if (type === 'file' || type === 'input_file') {
      return { code: 'unsupported_content_type', message: 'Inline image inputs are supported, but uploaded files and document inputs are not supported on this endpoint.' };
    }
    return { code: 'unsupported_content_type', message: `Unsupported content part type '${String(part.type)}'. Only text and image_url/input_image parts are supported.` };
  }
  return null;
}

/** The gateway's `_multimodal_validation_error`: 400 with the refused part's `param`. */
export function contentPartsRefused(e: { code: string; message: string }, param: string): Response {
  return json(400, { error: { message: e.message, type: 'invalid_request_error', param, code: e.code } });
}

/** Flatten OpenAI message content (string or parts) to text, as the gateway does. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === 'string' ? p : isRecord(p) && typeof p.text === 'string' ? p.text : ''))
      .filter((t) => t.length > 0)
      .join('\n');
  }
  return content === null || content === undefined ? '' : String(content);
}

export function hex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `api-<16 hex>` from sha256(system + "\n" + first user message), like `_derive_chat_session_id`. */
export function deriveChatSessionId(systemPrompt: string | null, firstUser: string): string {
  const digest = new Bun.CryptoHasher('sha256').update(`${systemPrompt ?? ''}\n${firstUser}`).digest('hex');
  return `api-${digest.slice(0, 16)}`;
}

/** Hermes-style session id: `YYYYMMDD_HHMMSS_<6 hex>`. */
export function newSessionId(): string {
  const iso = new Date().toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}_${iso.slice(11, 19).replaceAll(':', '')}_${hex(3)}`;
}

export function matchPath<T>(table: Record<string, T>, path: string): T | undefined {
  if (Object.hasOwn(table, path)) return table[path];
  for (const [key, value] of Object.entries(table)) {
    if (!key.includes('*')) continue;
    const re = new RegExp(`^${key.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
    if (re.test(path)) return value;
  }
  return undefined;
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };


const encoder = new TextEncoder();

/** Switches that the streaming scripts read live (tests may flip them mid-stream). */
export interface StreamSwitches {
  /** Delay between streamed tokens (default 0). */
  tokenDelayMs: number;
  /** Delay before the first token (default 0); non-streaming answers wait this long too. */
  firstTokenDelayMs: number;
  /** After N tokens, send nothing more (no keepalive either) until the client goes away. */
  stallAfterTokens: number | null;
  /** After N tokens, drop the connection without a proper end. */
  dropAfterTokens: number | null;
  /**
   * The drop waits for this, when set: a test opens it once its client has seen the frames before the
   * drop (a reset that reaches the reader first discards what it had not read yet).
   */
  dropWhen: Promise<void> | null;
  /** After N tokens, send one malformed frame, then continue. */
  garbageAfterTokens: number | null;
  /** Write every streamed frame in two network writes split inside a multi-byte character. */
  splitUtf8: boolean;
  /** Interval of `: keepalive` comments while a stream waits (real gateway: 30 s). */
  keepaliveMs: number;
  /** Session streams close after run.completed without their closing `done` event. */
  omitDone: boolean;
  /**
   * Session streams: the agent run raises after the deltas with this text. The gateway's handler then
   * sends `error{message}` and still closes with `done{}`.
   */
  agentException: string | null;
}

/** Special item a script yields to make the connection drop without a proper end. */
export const DROP: unique symbol = Symbol('drop');
export type StreamItem = Uint8Array | typeof DROP;
export type StreamScript = AsyncGenerator<StreamItem, void, undefined>;

export const KEEPALIVE = encoder.encode(': keepalive\n\n');

/** `data: <json>\n\n` — an OpenAI chat-completions frame. */
export function dataFrame(payload: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(payload)}\n\n`);
}

/** `event: <name>\ndata: <json>\n\n` — a Hermes session-stream frame (LF only). */
export function eventFrame(name: string, payload: unknown): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`);
}

export function rawFrame(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * One streamed response in flight. `done` turns true when the stream ended for any reason;
 * `sleep` and `forever` return early (false) as soon as that happens.
 */
export class StreamRun {
  done = false;
  private readonly wakers = new Set<() => void>();

  /** Resolves true after `ms`, or false at once if the run ended meanwhile. */
  sleep(ms: number): Promise<boolean> {
    if (this.done) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.wakers.delete(wake);
        resolve(!this.done);
      }, ms);
      this.wakers.add(wake);
    });
  }

  /** Never resolves while the run is alive (a stalled upstream); resolves when it ends. */
  forever(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.wakers.delete(wake);
        resolve();
      };
      this.wakers.add(wake);
    });
  }

  /** End the run: wake every wait; returns true if it was still alive. */
  finish(): boolean {
    if (this.done) return false;
    this.done = true;
    for (const wake of [...this.wakers]) wake();
    return true;
  }
}

/**
 * Wait `ms`, sending `: keepalive` whenever `keepaliveMs` pass without output (as the real gateway does).
 * Returns false if the run ended during the wait.
 */
export async function* waitWithKeepalive(
  run: StreamRun,
  ms: number,
  keepaliveMs: () => number,
): AsyncGenerator<StreamItem, boolean, undefined> {
  let left = ms;
  while (left > 0) {
    const interval = Math.max(1, keepaliveMs());
    const step = Math.min(left, interval);
    if (!(await run.sleep(step))) return false;
    left -= step;
    if (step === interval && left > 0) yield KEEPALIVE;
  }
  return !run.done;
}

/**
 * Split a frame in two inside a multi-byte UTF-8 character (after its first byte), or in the
 * middle when the frame is pure ASCII.
 */
export function splitInsideUtf8(bytes: Uint8Array): [Uint8Array, Uint8Array] {
  let cut = -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b >= 0xc0) {
      cut = i + 1;
      break;
    }
  }
  if (cut < 0) cut = Math.max(1, Math.floor(bytes.length / 2));
  return [bytes.slice(0, cut), bytes.slice(cut)];
}

/** Emit one frame, honouring `splitUtf8` (two network writes 5 ms apart). */
export async function* emit(
  run: StreamRun,
  frame: Uint8Array,
  switches: () => StreamSwitches,
): AsyncGenerator<StreamItem, void, undefined> {
  if (!switches().splitUtf8 || frame.length < 2) {
    yield frame;
    return;
  }
  const [head, tail] = splitInsideUtf8(frame);
  yield head;
  if (!(await run.sleep(5))) return;
  yield tail;
}

export interface StreamHooks {
  /** Called when the client went away (cancel / abort) before the stream ended. */
  onAbort: () => void;
  /** Called once when the stream ends for any reason (to unregister it). */
  onEnd: () => void;
}

/** Wrap a script into a pull-based ReadableStream that stops all work when the client leaves. */
export function scriptStream(
  run: StreamRun,
  makeScript: (run: StreamRun) => StreamScript,
  hooks: StreamHooks,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const script = makeScript(run);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    hooks.onEnd();
    signal.removeEventListener('abort', onClientGone);
  };
  // Ends the response without a proper end (the connection drops). An undefined reason keeps Bun
  // from logging an error; erroring an already closed/cancelled stream is a no-op.
  const drop = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
    end();
    controller.error(undefined);
  };
  const onClientGone = (): void => {
    if (run.finish()) hooks.onAbort();
    end();
    void script.return(undefined).catch(() => undefined);
  };
  if (signal.aborted) onClientGone();
  else signal.addEventListener('abort', onClientGone, { once: true });

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // A run ended by pause()/stop() drops the connection; returning without enqueueing
        // would only make the stream pull again at once.
        if (run.done) return drop(controller);
        const next = await script.next();
        if (run.done) return drop(controller); // client gone (no-op then) or fake paused
        if (next.done) {
          run.finish();
          end();
          controller.close();
          return;
        }
        if (next.value === DROP) {
          // Let the frames already sent reach the socket first (Bun coalesces a burst of chunks,
          // and erroring at once would reset the connection before even the headers go out).
          await run.sleep(10);
          run.finish();
          return drop(controller);
        }
        controller.enqueue(next.value);
      },
      cancel() {
        onClientGone();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Default token splitter: words, each keeping its leading whitespace ("You", " said:", " hello"). */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

export function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w.length > 0).length;
}

// ---------------------------------------------------------------------------------------------
// Token loop shared by both streaming endpoints
// ---------------------------------------------------------------------------------------------

export interface TokenLoopFrames {
  /** The frame carrying token `text` (index `i`). */
  token: (text: string, i: number) => Uint8Array;
  /** The malformed frame sent by `garbageAfterTokens`. */
  garbage: Uint8Array;
}

/**
 * Stream `tokens` with delays and the stall/drop/garbage switches. A switch set to N fires after N
 * tokens (0 = before the first; N = tokens.length = after the last, before the closing frames).
 * Returns true when every token was sent and the stream should go on to its closing frames.
 */
export async function* tokenLoop(
  run: StreamRun,
  tokens: string[],
  frames: TokenLoopFrames,
  switches: () => StreamSwitches,
): AsyncGenerator<StreamItem, boolean, undefined> {
  const keepalive = (): number => switches().keepaliveMs;
  if (!(yield* waitWithKeepalive(run, switches().firstTokenDelayMs, keepalive))) return false;
  let garbageSent = false;
  for (let i = 0; i <= tokens.length; i++) {
    if (i > 0 && i < tokens.length) {
      if (!(yield* waitWithKeepalive(run, switches().tokenDelayMs, keepalive))) return false;
    }
    const sw = switches();
    if (sw.stallAfterTokens !== null && i >= sw.stallAfterTokens) {
      await run.forever();
      return false;
    }
    if (sw.dropAfterTokens !== null && i >= sw.dropAfterTokens) {
      if (sw.dropWhen) await Promise.race([sw.dropWhen, run.forever()]);
      yield DROP;
      return false;
    }
    if (!garbageSent && sw.garbageAfterTokens !== null && i >= sw.garbageAfterTokens) {
      garbageSent = true;
      yield* emit(run, frames.garbage, switches);
    }
    const token = tokens[i];
    if (token === undefined) break;
    yield* emit(run, frames.token(token, i), switches);
    if (run.done) return false;
  }
  return !run.done;
}

// ---------------------------------------------------------------------------------------------
// POST /v1/chat/completions with stream:true
// ---------------------------------------------------------------------------------------------

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletionStreamInput {
  id: string;
  model: string;
  created: number;
  tokens: string[];
  usage: OpenAiUsage;
  /** `stream_options.include_usage`: a final `choices: []` chunk carrying usage (OpenAI style). */
  includeUsage: boolean;
  /** The real gateway puts usage on its finish_reason chunk too. */
  usageInFinishChunk: boolean;
  /** A tool the agent runs before answering, reported as `event: hermes.tool.progress` frames. */
  tool: FakeToolUse | null;
  /**
   * The agent crashes after this many tokens: the gateway then ends the stream with a
   * `finish_reason: "error"` chunk (no usage) and `[DONE]`, as its mid-stream crash handler does.
   */
  crashAfterTokens: number | null;
  /** See FakeHermesBehavior.crashStyle. */
  crashStyle: 'exception' | 'result';
}

export function chatCompletionScript(
  input: ChatCompletionStreamInput,
  switches: () => StreamSwitches,
): (run: StreamRun) => StreamScript {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): Uint8Array =>
    dataFrame({
      id: input.id,
      object: 'chat.completion.chunk',
      created: input.created,
      model: input.model,
      choices,
      ...extra,
    });
  return async function* (run) {
    yield* emit(run, chunk([{ index: 0, delta: { role: 'assistant' }, finish_reason: null }]), switches);
    if (input.tool) {
      // The gateway's _on_tool_start / _on_tool_complete: named frames, never chunks.
      const { name, preview } = input.tool;
      const toolCallId = `call_${hex(12)}`;
      yield* emit(run, eventFrame('hermes.tool.progress', { tool: name, emoji: '🔍', label: preview, toolCallId, status: 'running' }), switches);
      if (!(await run.sleep(1))) return;
      yield* emit(run, eventFrame('hermes.tool.progress', { tool: name, toolCallId, status: 'completed' }), switches);
    }
    const crashed = input.crashAfterTokens !== null;
    const complete = yield* tokenLoop(
      run,
      crashed ? input.tokens.slice(0, input.crashAfterTokens ?? 0) : input.tokens,
      {
        token: (text) => chunk([{ index: 0, delta: { content: text }, finish_reason: null }]),
        garbage: rawFrame('data: {not json\n\n'),
      },
      switches,
    );
    if (!complete) return;
    if (crashed) {
      const message = 'Agent run failed: the model provider returned an error';
      const failure = input.crashStyle === 'result'
        ? { usage: input.usage, error: { message, type: 'agent_error' }, hermes: { completed: false, partial: false, failed: true, error: message, error_code: 'agent_error' } }
        : {};
      yield* emit(run, chunk([{ index: 0, delta: {}, finish_reason: 'error' }], failure), switches);
      yield* emit(run, rawFrame('data: [DONE]\n\n'), switches);
      return;
    }
    const finishExtra = input.usageInFinishChunk ? { usage: input.usage } : {};
    yield* emit(run, chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], finishExtra), switches);
    if (input.includeUsage) yield* emit(run, chunk([], { usage: input.usage }), switches);
    yield* emit(run, rawFrame('data: [DONE]\n\n'), switches);
  };
}

// ---------------------------------------------------------------------------------------------
// POST /api/sessions/{id}/chat/stream (Hermes >= 0.15 session stream)
// ---------------------------------------------------------------------------------------------

export interface HermesUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

export interface FakeToolUse {
  name: string;
  args: Record<string, unknown>;
  preview: string;
  result: string;
}

export interface SessionStreamInput {
  sessionId: string;
  runId: string;
  userMessage: unknown;
  /** Id of the streamed assistant message (`message.started`, `assistant.delta.message_id`). */
  messageId: string;
  reply: string;
  tokens: string[];
  tool: FakeToolUse | null;
  usage: HermesUsage;
  /** Persist the assistant side of the turn; returns the rows stored by this run. */
  complete: () => unknown[];
}

export function sessionStreamScript(
  input: SessionStreamInput,
  switches: () => StreamSwitches,
): (run: StreamRun) => StreamScript {
  let seq = 0;
  const event = (name: string, payload: Record<string, unknown> = {}): Uint8Array =>
    eventFrame(name, {
      session_id: input.sessionId,
      run_id: input.runId,
      seq: ++seq,
      ts: Date.now() / 1000,
      ...payload,
    });
  return async function* (run) {
    yield* emit(run, event('run.started', { user_message: input.userMessage }), switches);
    yield* emit(run, event('message.started', { message: { id: input.messageId, role: 'assistant' } }), switches);
    if (input.tool) {
      const { name, args, preview, result } = input.tool;
      yield* emit(run, event('tool.started', { tool_name: name, preview, args }), switches);
      if (!(await run.sleep(1))) return;
      yield* emit(
        run,
        event('tool.completed', { tool_name: name, duration_s: 0.001, is_error: false, result_preview: result }),
        switches,
      );
    }
    const complete = yield* tokenLoop(
      run,
      input.tokens,
      {
        token: (delta) => event('assistant.delta', { message_id: input.messageId, delta }),
        garbage: rawFrame('event: assistant.delta\ndata: {not json\n\n'),
      },
      switches,
    );
    if (!complete) return;
    const exception = switches().agentException;
    if (exception !== null) {
      yield* emit(run, event('error', { message: exception }), switches);
      yield* emit(run, event('done'), switches);
      return;
    }
    yield* emit(run, event('tool.progress', { tool_name: '_thinking', delta: input.reply }), switches);
    yield* emit(
      run,
      event('assistant.completed', {
        message_id: input.messageId,
        content: input.reply,
        completed: true,
        partial: false,
        interrupted: false,
      }),
      switches,
    );
    if (run.done) return;
    const messages = input.complete();
    yield* emit(run, event('run.completed', { messages, usage: input.usage }), switches);
    if (!switches().omitDone) yield* emit(run, event('done'), switches);
  };
}
