/**
 * The session API of the fake Hermes (0.17+: `/api/sessions…`), as the gateway's api_server answers
 * it: list, create, get, rename/end, delete, messages, and chat in a session (streamed or not).
 */
import type { FakeContentPart, FakeHermes, FakeHermesBehavior, FakeMessage, FakeSession, Handler } from './hermes-model';
import {
  type FakeToolUse,
  type HermesUsage,
  type Json,
  type StreamRun,
  type StreamScript,
  contentPartsError,
  contentPartsRefused,
  contentText,
  hex,
  isRecord,
  json,
  openAiError,
  parseJson,
  sessionNotFound,
  sessionStreamScript,
} from './hermes-streams';

/** What the session routes use of the fake's state and of its shared answering machinery. */
export interface SessionRouteContext {
  fake: FakeHermes;
  model: string;
  switches: () => FakeHermesBehavior;
  now: () => number;
  addSession: FakeHermes['addSession'];
  appendMessage(s: FakeSession, m: Partial<FakeMessage> & { role: FakeMessage['role'] }): FakeMessage;
  answer(messages: { role: string; content: unknown }[]): { reply: string; tokens: string[]; usage: HermesUsage };
  toolUse(message: string): FakeToolUse | null;
  stream(req: Request, path: string, make: (run: StreamRun) => StreamScript, headers: Record<string, string>): Response;
  delay(req: Request, path: string, ms: number): Promise<boolean>;
}

function sessionJson(s: FakeSession): Json {
  const { messages, ...row } = s;
  const firstUser = messages.find((m) => m.role === 'user');
  return { ...row, preview: firstUser ? contentText(firstUser.content).slice(0, 60) || null : null };
}

/** GET/POST/PATCH of one session answer `{object: "hermes.session", session}` (`_session_response`). */
const sessionEnvelope = (s: FakeSession): Json => ({ object: 'hermes.session', session: sessionJson(s) });

/** Hermes' SessionDB.set_session_title limit. */
const MAX_TITLE_LENGTH = 100;

/**
 * A session chat's `message` (or `input`) as `_session_chat_user_message` takes it: a string, or
 * OpenAI content parts (text and image_url / input_image) kept as parts; null when it carries nothing.
 * Any other field (an `attachments` list, say) is not read.
 */
function sessionChatMessage(b: Json): string | FakeContentPart[] | null {
  const raw = b.message || b.input;
  if (typeof raw === 'string') return raw.trim() === '' ? null : raw;
  if (!Array.isArray(raw)) return null;
  const parts: FakeContentPart[] = [];
  for (const p of raw) {
    if (typeof p === 'string' && p) parts.push({ type: 'text', text: p });
    if (!isRecord(p)) continue;
    if ((p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string' && p.text) parts.push({ type: 'text', text: p.text });
    const ref = isRecord(p.image_url) ? p.image_url.url : p.image_url;
    if ((p.type === 'image_url' || p.type === 'input_image') && typeof ref === 'string') parts.push({ type: 'image_url', image_url: { url: ref } });
  }
  if (!parts.some((p) => p.type === 'image_url' || p.text.trim() !== '')) return null;
  return parts.every((p) => p.type === 'text') ? parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n') : parts;
}

export function sessionHandlers(c: SessionRouteContext) {
  const { fake, model, switches, now, addSession, appendMessage, answer, toolUse, stream, delay } = c;

  const readBody = (body: string): Json | null => {
    if (body.trim() === '') return {};
    const p = parseJson(body);
    return p.ok && isRecord(p.value) ? p.value : null;
  };
  const badJson = (): Response => openAiError(400, 'Invalid JSON in request body', 'invalid_json');
  const getSession = (params: string[]): FakeSession | undefined => fake.sessions.get(params[0] ?? '');
  const sessionId = (params: string[]): string => params[0] ?? '';

  const listSessions: Handler = (_req, { url }) => {
    const limit = Math.min(Math.max(1, Number.parseInt(url.searchParams.get('limit') ?? '50', 10) || 50), switches().sessionPageCap ?? Infinity);
    const offset = Math.max(0, Number.parseInt(url.searchParams.get('offset') ?? '0', 10) || 0);
    const all = [...fake.sessions.values()].sort((a, b) => b.last_active - a.last_active || b.started_at - a.started_at);
    const page = all.slice(offset, offset + limit);
    return json(200, { object: 'list', data: page.map(sessionJson), limit, offset, has_more: offset + page.length < all.length });
  };

  /**
   * SessionDB.set_session_title: the title trimmed (empty clears it), at most 100 characters, and
   * unique: a title another session has is refused (400 invalid_title), as Hermes does.
   */
  function titleFor(s: FakeSession | null, raw: unknown): { title: string | null } | Response {
    const title = raw === null || raw === undefined ? '' : String(raw).trim();
    if (title.length > MAX_TITLE_LENGTH) return openAiError(400, `Title too long (${title.length} chars, max ${MAX_TITLE_LENGTH})`, 'invalid_title');
    if (title === '') return { title: null };
    const holder = [...fake.sessions.values()].find((o) => o !== s && o.title === title);
    if (holder) return openAiError(400, `Title '${title}' is already in use by session ${holder.id}`, 'invalid_title');
    return { title };
  }

  const createSession: Handler = (_req, { body }) => {
    const b = readBody(body);
    if (!b) return badJson();
    const raw = b.id || b.session_id;
    const id = raw ? String(raw).trim() : `api_${Math.floor(Date.now() / 1000)}_${hex(4)}`;
    if (fake.sessions.has(id)) return openAiError(409, `Session already exists: ${id}`, 'session_exists');
    const title = b.title === undefined || b.title === null ? { title: null } : titleFor(null, b.title);
    if (title instanceof Response) return title;
    const s = addSession({ id, title: title.title, model: typeof b.model === 'string' && b.model ? b.model : model });
    return json(201, sessionEnvelope(s));
  };

  const getOne: Handler = (_req, { params }) => {
    const s = getSession(params);
    return s ? json(200, sessionEnvelope(s)) : sessionNotFound(sessionId(params));
  };

  const patchOne: Handler = (_req, { params, body }) => {
    const s = getSession(params);
    if (!s) return sessionNotFound(sessionId(params));
    const b = readBody(body);
    if (!b) return badJson();
    const unknown = Object.keys(b).filter((k) => k !== 'title' && k !== 'end_reason').sort();
    if (unknown.length) return openAiError(400, `Unsupported session fields: ${unknown.join(', ')}`, 'unsupported_session_field');
    if ('title' in b) {
      const title = titleFor(s, b.title);
      if (title instanceof Response) return title;
      s.title = title.title;
    }
    if (typeof b.end_reason === 'string' && b.end_reason) {
      s.end_reason = b.end_reason;
      s.ended_at = now();
    }
    return json(200, sessionEnvelope(s));
  };

  const deleteOne: Handler = (_req, { params }) => {
    const s = getSession(params);
    if (!s) return sessionNotFound(sessionId(params));
    fake.sessions.delete(s.id);
    return json(200, { id: s.id, object: 'hermes.session.deleted', deleted: true });
  };

  const listMessages: Handler = (_req, { params }) => {
    const s = getSession(params);
    return s ? json(200, { object: 'list', session_id: s.id, data: s.messages }) : sessionNotFound(sessionId(params));
  };

  interface Turn {
    session: FakeSession;
    message: string | FakeContentPart[];
    reply: string;
    tokens: string[];
    usage: HermesUsage;
    tool: FakeToolUse | null;
    runId: string;
    /** Store the assistant side of the turn; returns every row of the turn. */
    complete: () => FakeMessage[];
  }

  /** Validate a session chat request and prepare its turn (the user message is stored at once). */
  function startTurn(params: string[], body: string): Turn | Response {
    const s = getSession(params);
    if (!s) return sessionNotFound(sessionId(params));
    const b = readBody(body);
    if (!b) return badJson();
    const message = sessionChatMessage(b);
    if (message === null) return openAiError(400, "Missing 'message' field", 'missing_message');
    const refused = contentPartsError(b.message || b.input);
    if (refused) return contentPartsRefused(refused, 'message');
    const history = s.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({ role: m.role, content: m.content }));
    const { reply, tokens, usage } = answer([...history, { role: 'user', content: message }]);
    const tool = toolUse(contentText(message));
    const userRow = appendMessage(s, { role: 'user', content: message });
    const complete = (): FakeMessage[] => {
      const rows: FakeMessage[] = [userRow];
      if (tool) {
        const callId = `call_${hex(12)}`;
        rows.push(appendMessage(s, {
          role: 'assistant', content: '',
          tool_calls: [{ id: callId, type: 'function', function: { name: tool.name, arguments: JSON.stringify(tool.args) } }],
        }));
        rows.push(appendMessage(s, { role: 'tool', content: tool.result, tool_call_id: callId, tool_name: tool.name }));
      }
      rows.push(appendMessage(s, { role: 'assistant', content: reply }));
      s.input_tokens += usage.input_tokens;
      s.output_tokens += usage.output_tokens;
      return rows;
    };
    return { session: s, message, reply, tokens, usage, tool, complete, runId: `run_${hex(12)}` };
  }

  const sessionChatStream: Handler = (req, { path, params, body }) => {
    const t = startTurn(params, body);
    if (t instanceof Response) return t;
    const script = sessionStreamScript(
      {
        sessionId: t.session.id, runId: t.runId, userMessage: t.message, messageId: `msg_${hex(12)}`,
        reply: t.reply, tokens: t.tokens, tool: t.tool, usage: t.usage, complete: t.complete,
      },
      switches,
    );
    return stream(req, path, script, {});
  };

  const sessionChat: Handler = async (req, { path, params, body }) => {
    const t = startTurn(params, body);
    if (t instanceof Response) return t;
    if (!(await delay(req, path, fake.behavior.firstTokenDelayMs))) return openAiError(499, 'client closed request', null);
    const messages = t.complete();
    const last = messages.at(-1);
    return json(200, {
      session_id: t.session.id, run_id: t.runId,
      message: { id: last?.id ?? null, role: 'assistant', content: t.reply },
      messages, usage: t.usage,
    });
  };

  return { listSessions, createSession, getOne, patchOne, deleteOne, listMessages, sessionChat, sessionChatStream };
}
