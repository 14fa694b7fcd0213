/**
 * What the fake Hermes is and how tests steer it: its behaviour switches, the rows it keeps (shaped
 * like Hermes' state.db), the handle a test gets from startFakeHermes.
 */
import type { StreamSwitches } from './hermes-streams';

export type HermesVersion = '0.12' | '0.17';

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
}

/** The stream switches (hermes-streams.ts) and the rest of the fake's behaviour. */
export interface FakeHermesBehavior extends StreamSwitches {
  /**
   * Chat completions: the agent crashes after N tokens. The gateway ends such a stream with a
   * `finish_reason: "error"` chunk and `data: [DONE]`, not with a dropped connection.
   */
  crashAfterTokens: number | null;
  /**
   * How that crash ends the stream: `exception` (the writer's own crash handler: a bare
   * `finish_reason: "error"` chunk) or `result` (newer gateways, an agent run that failed: the finish
   * chunk carries `finish_reason: "error"`, usage, `error{message,type}` and `hermes` flags).
   */
  crashStyle: 'exception' | 'result';
  /** Path (exact, or with `*` for one segment) -> HTTP status, answered with an error envelope. */
  statusOverride: Record<string, number>;
  /** Path (exact, or with `*`) -> never answer until the client aborts. */
  hang: Record<string, boolean>;
  /**
   * Path (exact, or with `*`) -> a 200 with this body instead of the route's: a value is sent as JSON,
   * a string as text/html (another program on the port, a proxy's page, a version's odd shape).
   */
  bodyOverride: Record<string, unknown>;
  /**
   * The agent uses a tool before answering: session streams emit tool.started/tool.completed before the
   * deltas (and store a tool turn); chat-completion streams emit `event: hermes.tool.progress` frames
   * (status running, then completed) between their chunks, as the gateway does.
   */
  tools: boolean;
  /** What the assistant answers; default `You said: <last user message>`. */
  reply: ((messages: { role: string; content: unknown }[]) => string) | null;
  /** How a reply is split into streamed chunks; default words keeping their leading spaces. */
  tokens: ((text: string) => string[]) | null;
  /** Usage numbers; default derived from word counts. */
  usage: { input_tokens: number; output_tokens: number } | null;
  /** Chat completions: usage on the finish_reason chunk, as the real gateway does (default true). */
  usageInFinishChunk: boolean;
  /**
   * Chat completions: honour `stream_options.include_usage` with a separate `choices: []` usage chunk
   * before `[DONE]`, as OpenAI's own API does. Off by default: the Hermes gateway ignores the option and
   * only puts usage on its finish_reason chunk (`_write_sse_chat_completion`).
   */
  usageChunk: boolean;
  /**
   * Chat completions: X-Hermes-Session-Id is only accepted for a session the API server itself made
   * (`_load_api_session_history` of newer gateways): an id not shaped `api-<16 hex>` or
   * `YYYYMMDD_HHMMSS_<6 hex>` → 400 "Invalid session ID"; one with no `api_server` session → 404
   * "Unknown session ID". Off (the default): any id is honoured, unknown ones start empty.
   */
  strictSessionHeader: boolean;
  /** Largest page `GET /api/sessions` returns whatever `limit` asks for (null: no cap). */
  sessionPageCap: number | null;
  /** Added to every answer, as a reverse proxy in front of the gateway may (nginx `add_header`). */
  responseHeaders: Record<string, string>;
  /**
   * Path (exact, or with `*`) -> the answer's status and headers at once, its body this many ms later
   * (an agent, or a proxy in front of it, slow to send the body of an answer it has begun).
   */
  bodyDelayMs: Record<string, number>;
}

export interface FakeToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type FakeContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** A message row shaped like Hermes' state.db `messages` table (tool_calls parsed). */
export interface FakeMessage {
  id: number;
  session_id: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** Text, or the content parts of a multimodal user turn (text and image_url parts). */
  content: string | FakeContentPart[] | null;
  tool_calls: FakeToolCall[] | null;
  tool_call_id: string | null;
  tool_name: string | null;
  /** Epoch seconds. */
  timestamp: number;
  reasoning: string | null;
}

/** A session row shaped like Hermes' state.db `sessions` table, plus its messages. */
export interface FakeSession {
  id: string;
  source: string;
  user_id: string | null;
  model: string;
  title: string | null;
  /** Epoch seconds. */
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  last_active: number;
  message_count: number;
  tool_call_count: number;
  input_tokens: number;
  output_tokens: number;
  messages: FakeMessage[];
}

export interface FakeHermes {
  readonly url: string;
  readonly port: number;
  readonly version: HermesVersion;
  readonly apiKey: string | null;
  readonly model: string;
  behavior: FakeHermesBehavior;
  requests: RecordedRequest[];
  /** Paths whose client went away (cancel/abort) before the fake finished answering. */
  aborted: string[];
  sessions: Map<string, FakeSession>;
  /** Seed a session (any version), optionally with messages. */
  addSession(init?: Partial<Omit<FakeSession, 'messages'>> & { messages?: { role: FakeMessage['role']; content: string }[] }): FakeSession;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Clear requests, aborted and sessions; restore the default behavior. */
  reset(): void;
  stop(): Promise<void>;
}

export function defaultBehavior(): FakeHermesBehavior {
  return {
    tokenDelayMs: 0,
    firstTokenDelayMs: 0,
    stallAfterTokens: null,
    dropAfterTokens: null,
    dropWhen: null,
    garbageAfterTokens: null,
    crashAfterTokens: null,
    crashStyle: 'exception',
    statusOverride: {},
    hang: {},
    bodyOverride: {},
    tools: false,
    reply: null,
    tokens: null,
    usage: null,
    keepaliveMs: 30_000,
    splitUtf8: false,
    omitDone: false,
    agentException: null,
    usageInFinishChunk: true,
    usageChunk: false,
    strictSessionHeader: false,
    sessionPageCap: null,
    responseHeaders: {},
    bodyDelayMs: {},
  };
}

/** A route handler of the fake: the request, its path, parsed URL, body text and path parameters. */
export type Handler = (req: Request, ctx: { path: string; url: URL; body: string; params: string[] }) => Response | Promise<Response>;
