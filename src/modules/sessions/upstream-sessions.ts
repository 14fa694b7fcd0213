/**
 * The upstream's session API (`/api/sessions`, Hermes ≥ 0.15), used as the session source when no
 * state.db is readable, and to create/rename sessions on the agent's side. Every answer is parsed with
 * zod; failures become the ApiErrors every upstream route uses.
 *
 * A paid request's `Work` hears of each call (see `call`): a session route's 502 gives its credential
 * back only when the agent was never reached and took no write.
 */
import { z } from '../../lib/zod';
import { ApiError } from '../../lib/errors';
import type { JsonResult } from '../../lib/http';
import type { Work } from '../../lib/work';
import type { HermesClient } from '../../upstream/client';
import { asGatewayError, outboundToApiError, upstreamStatusError } from '../../upstream/errors';
import { decodeContent, parseToolCalls, previewOf } from './content';
import type { Message, Session } from './model';

const nstr = z.nullish(z.string());
const nnum = z.nullish(z.number());

const UpstreamSession = z.looseObject({
  id: z.string().check(z.minLength(1)),
  title: nstr,
  model: nstr,
  source: nstr,
  started_at: nnum,
  ended_at: nnum,
  last_active: nnum,
  message_count: nnum,
  tool_call_count: nnum,
  input_tokens: nnum,
  output_tokens: nnum,
  preview: nstr,
});
type UpstreamSession = z.infer<typeof UpstreamSession>;

const SessionList = z.looseObject({ data: z.array(UpstreamSession), has_more: z.optional(z.boolean()) });
const SessionBody = z.union([z.looseObject({ session: UpstreamSession }), UpstreamSession]);

const UpstreamMessage = z.looseObject({
  id: z.nullish(z.union([z.number(), z.string()])),
  role: z.string(),
  content: z.optional(z.unknown()),
  tool_calls: z.optional(z.unknown()),
  tool_call_id: nstr,
  tool_name: nstr,
  timestamp: nnum,
  reasoning: nstr,
});
const MessageList = z.looseObject({ data: z.array(UpstreamMessage) });

/** Pages asked of the upstream when listing everything (a true `total` needs every id). */
const PAGE = 200;
/** Listing stops here, so a huge remote history cannot make one request unbounded. */
const UPSTREAM_LIST_CAP = 10_000;
/**
 * Sessions each page asks for again from the end of the page before. A session the agent deletes
 * between two page requests moves every later one up by one: without the overlap, the session
 * crossing the page boundary was on neither page and went missing from the list.
 */
const PAGE_OVERLAP = 20;
/**
 * Longer ids are not asked about: the agent makes ids of at most 24 characters (`api-<16 hex>`,
 * `YYYYMMDD_HHMMSS_<6 hex>`) and the sidecar of at most 128, so the answer is a 404 anyway; and an id
 * past the agent's 8 KiB request line is its 400, a 502 here. The bound the path had before.
 */
const MAX_ASKED_ID = 256;

/** `created_untitled`: created without the title asked for, which the agent refused (`titleOptional`). */
export type UpstreamCreate = 'created' | 'created_untitled' | 'exists' | 'unsupported';

/** The upstream answered 404/405 to its session list: it has no session API (any more: the agent was downgraded). */
export class SessionApiGone extends Error {
  override name = 'SessionApiGone';
}

export class UpstreamSessions {
  constructor(private readonly client: HermesClient) {}

  /**
   * A write (any method but GET) the agent answered 2xx was done: the request's work has started, and
   * nothing that fails after it (the read-back, the sidecar's own bookkeeping) gives the credential
   * back. A call never sent did nothing. Any other failure throws, and its 502/504 spends it anyway.
   */
  private async call(path: string, init: { method: string; body?: unknown } = { method: 'GET' }, work?: Work) {
    try {
      const res = await this.client.json(path, { method: init.method, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
      if (init.method !== 'GET' && res.ok) work?.started();
      return res;
    } catch (err) {
      work?.upstreamFailed(err);
      throw outboundToApiError(err);
    }
  }

  /**
   * Every session the upstream lists, up to UPSTREAM_LIST_CAP, once each. The upstream pages by
   * offset while the agent keeps writing, so pages overlap (see PAGE_OVERLAP) and, when there was
   * more than one, the first is read again at the end: a session that became the most recent while
   * the later pages were read had moved above them, onto none of the pages read.
   */
  async listAll(work?: Work): Promise<Session[]> {
    const byId = new Map<string, Session>();
    let offset = 0;
    while (offset < UPSTREAM_LIST_CAP) {
      const page = await this.listPage(offset, work);
      for (const s of page.data) byId.set(s.id, toSession(s));
      // A server may cap the page below what was asked for: `has_more`, when given, decides.
      if (page.data.length === 0 || page.has_more === false || (page.has_more === undefined && page.data.length < PAGE)) break;
      offset += page.data.length - Math.min(PAGE_OVERLAP, Math.floor(page.data.length / 2));
    }
    if (offset > 0) for (const s of (await this.listPage(0, work)).data) byId.set(s.id, toSession(s));
    return [...byId.values()];
  }

  private async listPage(offset: number, work?: Work) {
    const res = await this.call(`/api/sessions?limit=${PAGE}&offset=${offset}`, undefined, work);
    if (res.status === 404 || res.status === 405) throw new SessionApiGone('the upstream has no session list');
    if (!res.ok) throw failed(res);
    return parse(SessionList, res.json, 'session list');
  }

  async get(id: string, work?: Work): Promise<Session | null> {
    if (id.length > MAX_ASKED_ID) return null;
    const res = await this.call(`/api/sessions/${encodeURIComponent(id)}`, undefined, work);
    if (res.status === 404) return null;
    if (!res.ok) throw failed(res);
    return toSession(unwrap(parse(SessionBody, res.json, 'session')));
  }

  /** All messages (the upstream does not page them), oldest first. */
  async messages(id: string, work?: Work): Promise<Message[] | null> {
    if (id.length > MAX_ASKED_ID) return null;
    const res = await this.call(`/api/sessions/${encodeURIComponent(id)}/messages`, undefined, work);
    if (res.status === 404) return null;
    if (!res.ok) throw failed(res);
    return parse(MessageList, res.json, 'message list').data.map((m, i): Message => ({
      id: m.id ?? i + 1,
      session_id: id,
      role: m.role,
      content: decodeContent(m.content),
      tool_calls: parseToolCalls(m.tool_calls),
      tool_call_id: m.tool_call_id ?? null,
      tool_name: m.tool_name ?? null,
      timestamp: m.timestamp ?? null,
      reasoning: m.reasoning ?? null,
    }));
  }

  /**
   * Creates the session upstream: 'exists' when it has that id already, 'unsupported' when it cannot
   * create sessions (404/405). With `titleOptional`, a title the agent refuses (Hermes keeps titles
   * unique and at most 100 characters) is left out there and the session created all the same; the
   * sidecar's own copy of the title is then the one shown.
   */
  async create(s: { id: string; title?: string; model?: string }, opts: { titleOptional?: boolean; work?: Work } = {}): Promise<UpstreamCreate> {
    let res = await this.call('/api/sessions', { method: 'POST', body: s }, opts.work);
    const untitled = opts.titleOptional === true && s.title !== undefined && refusedTitle(res);
    if (untitled) res = await this.call('/api/sessions', { method: 'POST', body: { ...s, title: undefined } }, opts.work);
    if (res.status === 409) return 'exists';
    if (res.status === 404 || res.status === 405) return 'unsupported';
    if (!res.ok) throw failed(res);
    return untitled ? 'created_untitled' : 'created';
  }

  async rename(id: string, title: string | null, work?: Work): Promise<boolean> {
    if (id.length > MAX_ASKED_ID) return false;
    const res = await this.call(`/api/sessions/${encodeURIComponent(id)}`, { method: 'PATCH', body: { title } }, work);
    if (res.status === 404) return false;
    if (!res.ok) throw failed(res);
    return true;
  }

  async delete(id: string, work?: Work): Promise<boolean> {
    if (id.length > MAX_ASKED_ID) return false;
    const res = await this.call(`/api/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' }, work);
    if (res.status === 404) return false;
    if (!res.ok) throw failed(res);
    return true;
  }
}

function unwrap(b: z.infer<typeof SessionBody>): UpstreamSession {
  return 'session' in b && b.session && typeof b.session === 'object' ? (b.session as UpstreamSession) : (b as UpstreamSession);
}

function toSession(s: UpstreamSession): Session {
  return {
    id: s.id,
    title: s.title ?? null,
    model: s.model ?? null,
    source: s.source ?? null,
    origin: 'upstream',
    started_at: s.started_at ?? null,
    ended_at: s.ended_at ?? null,
    last_active: s.last_active ?? s.started_at ?? null,
    message_count: Math.trunc(s.message_count ?? 0),
    tool_call_count: Math.trunc(s.tool_call_count ?? 0),
    input_tokens: Math.trunc(s.input_tokens ?? 0),
    output_tokens: Math.trunc(s.output_tokens ?? 0),
    preview: s.preview ? previewOf(s.preview) : null,
  };
}

function parse<T extends z.ZodMiniType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = z.safeParse(schema, body);
  if (!r.success) throw new ApiError(502, 'upstream_bad_response', `The Hermes upstream sent a ${what} the sidecar does not understand.`);
  return r.data;
}

/** Hermes' 400 `invalid_title`: the title is taken by another session, or too long. */
function refusedTitle(res: JsonResult): boolean {
  if (res.status !== 400) return false;
  const body = res.json as { error?: { code?: unknown } } | null;
  return body?.error?.code === 'invalid_title';
}

const failed = (res: JsonResult): ApiError => asGatewayError(upstreamStatusError(res.status, res.text));
