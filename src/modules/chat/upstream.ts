/**
 * Opening a turn on the upstream, by either protocol. Both return the streaming response once its
 * status is known; `null` from the native path means "this upstream has no such route" (404/405) and
 * the caller falls back to chat completions at once. Everything goes through the HermesClient, which
 * sends the sidecar's own key and never the client's credentials.
 */
import { storageError, type ApiError } from '../../lib/errors';
import { headerValue, neverSent } from '../../lib/http';
import type { Work } from '../../lib/work';
import type { HermesClient } from '../../upstream/client';
import { outboundToApiError, upstreamHttpError } from '../../upstream/errors';
import type { HistoryMessage } from '../sessions/content';
import type { SessionService } from '../sessions/service';
import { failed, ownFailure } from './adapters/shared';
import { isImageAttachment, type Attachment, type ChatBody, type ChatEvent, type UpstreamPath } from './model';

/** The upstream asked for a turn: its answer, or the failure the turn reports (`unreached`: it was never reached). */
export interface Opened {
  path: UpstreamPath;
  res: Response | null;
  failure: ChatEvent | null;
  unreached: ApiError | null;
}

/**
 * Asks the upstream for the turn by the session API when the probe found one, else (or on its
 * 404/405) by chat completions with the history read first; never throws. `work` hears of a failed call.
 */
export async function openTurn(
  client: HermesClient, sessions: SessionService, refused: Refusals, t: TurnRequest & { work: Work },
): Promise<Opened> {
  // The session stream continues the agent's record of the id, which lacks the turns it did not file
  // there: a session held in part goes by chat completions, its history merged (SessionService.history).
  let path: UpstreamPath = (t.path = sessions.upstreamApi && !t.heldInPart ? 'session-api' : 'chat-completions');
  let res: Response | null = null;
  let historyError: unknown = null;
  const history = (maxBytes: number) => {
    const noted = (err: unknown) => {
      historyError = err;
      throw err;
    };
    try {
      const past = sessions.history(t.sessionId, maxBytes, t.agentLacks === true);
      return past instanceof Promise ? past.catch(noted) : past;
    } catch (err) {
      return noted(err);
    }
  };
  try {
    if (path === 'session-api') res = await openNative(client, sessions, t);
    if (!res) {
      path = t.path = 'chat-completions';
      res = await openCompletions(client, history, () => t.agentLacks ?? sessions.agentLacks(t.sessionId), t, refused);
    }
    return { path, res, failure: null, unreached: null };
  } catch (err) {
    t.work.upstreamFailed(err);
    // The history is read as the sessions routes read it (the sidecar's database, the agent's
    // state.db), and its failure is answered as theirs: a locked or full store is a 503/507 to retry,
    // not a bad gateway. The rest of the way is the upstream's.
    const own = storageError(err) ?? (err === historyError ? outboundToApiError(err) : null);
    const failure = own ? ownFailure(own) : failed(outboundToApiError(err));
    return { path, res: null, failure, unreached: neverSent(err) ? outboundToApiError(err) : null };
  }
}

export interface TurnRequest {
  sessionId: string;
  created: boolean;
  /** Set once a session created for this turn (`new`) was created on the agent's side too. */
  createdUpstream?: boolean;
  /** The upstream path being tried (openTurn sets it): what a frame sent before its answer names. */
  path?: UpstreamPath;
  /** Set when the gateway took the fallback turn with X-Hermes-Session-Id: it files the turn under the session itself. */
  continued?: boolean;
  /**
   * Set when the agent's session stream answered 404 `session_not_found`, or every recorded turn of the
   * sidecar's own session went without the header (SessionService.forChat): it holds no session under
   * the id (else its state.db is asked, SessionService.agentLacks). Given the id in X-Hermes-Session-Id it
   * would continue its own, empty record and not read the history sent (SPEC §14).
   */
  agentLacks?: boolean;
  /**
   * A session of the sidecar's own that the agent holds only in part: some of its turns went without
   * X-Hermes-Session-Id, and the agent filed them under `api-…` sessions of its own (recorded with
   * the turn, TranscriptStore.recordTurn). Known from the session's row, read anyway to open the turn.
   */
  heldInPart?: boolean;
  body: ChatBody & { title?: string };
  /** What the user said: the message, or the message and its attachments as content parts. */
  userContent: unknown;
  model: string;
  signal: AbortSignal;
}

const STREAM_HEADERS = { 'content-type': 'application/json', accept: 'text/event-stream' };

/** Hermes' session stream; a session created here for `new` is created upstream first. */
async function openNative(client: HermesClient, sessions: SessionService, t: TurnRequest): Promise<Response | null> {
  if (t.created) {
    // The title is the client's label, not part of the turn: one the agent refuses (taken by another
    // session, say "New chat") must not lose the user's message.
    const made = await sessions.createUpstream(t.sessionId, { title: t.body.title, model: t.body.model }, { titleOptional: true });
    if (made === 'unsupported') return null;
    t.createdUpstream = made === 'created';
  }
  // The gateway reads the turn from `message` alone (text or content parts, as chat completions
  // take it) and ignores other fields: attachments sent beside it would never reach the agent.
  const { model, system_message, temperature, max_tokens } = t.body;
  const payload = { message: t.userContent, model, system_message, temperature, max_tokens };
  const res = await client.fetch(`/api/sessions/${encodeURIComponent(t.sessionId)}/chat/stream`, {
    method: 'POST', headers: STREAM_HEADERS, body: JSON.stringify(payload), signal: t.signal,
  });
  if (res.status === 404 || res.status === 405) {
    // A 404 is either no such route (an older gateway) or no such session (SPEC §14: session_not_found).
    // Only the latter tells whether the agent holds it; the former leaves that to its state.db.
    if ((await upstreamHttpError(res, client.answerTimeoutMs)).code === 'session_not_found') t.agentLacks = true;
    return null;
  }
  if (!res.ok || !res.body) throw await upstreamHttpError(res, client.answerTimeoutMs);
  return res;
}

/**
 * Hermes' gateway refuses a request body over 10 MB (MAX_REQUEST_BYTES) with 413, and a session's
 * history only grows (attachments are kept in it): past this size its oldest turns are left out of
 * the request, or every later turn of the session would fail. Kept below the gateway's limit.
 */
const MAX_COMPLETIONS_BODY_BYTES = 9_500_000;

/** A keyless gateway's answer to X-Hermes-Session-Id (0.12: "Session continuation requires API key authentication"). */
const KEYLESS_REFUSAL = /session continuation requires api key/i;

/** Session ids remembered as refused; the oldest is forgotten past this many (it then costs one more refusal). */
const MAX_REFUSED_IDS = 10_000;

/** What the gateway refused in `X-Hermes-Session-Id`: some sessions' ids, or (keyless) the header itself. */
export interface Refusals {
  ids: RefusedSessionIds;
  keyless: KeylessGateway;
}

/**
 * Sessions whose id the gateway refused in `X-Hermes-Session-Id`. Newer gateways continue only
 * sessions their own API server made, so a refused id stays refused: without this memo every turn
 * of such a session was sent twice, the whole body (up to 9.5 MB) each time, before the first token.
 */
export class RefusedSessionIds {
  private readonly ids = new Set<string>();

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    const oldest = this.ids.size >= MAX_REFUSED_IDS ? this.ids.values().next() : null;
    if (oldest && !oldest.done) this.ids.delete(oldest.value);
    this.ids.add(id);
  }
}

/** How long a keyless gateway's refusal is believed before one turn sends the header again. */
export const KEYLESS_RECHECK_MS = 10 * 60_000;

/**
 * A gateway that refused `X-Hermes-Session-Id` for want of a key of its own (a keyless 0.12 while the
 * sidecar has HERMES_API_KEY). It refuses every session's id alike, so this is remembered for the
 * gateway — its URL and the key sent to it — not per session: per session, each session's first turn
 * went twice (up to 9.5 MB each). The gateway may be given a key later (restarted with API_SERVER_KEY),
 * which nothing else shows: a keyless gateway takes any key, so the probe's answers stay the same. So the
 * refusal is forgotten when the sidecar's key changes (another gateway identity), when a call (a turn's,
 * the probe's unless it only timed out) found the gateway unreachable (a restart seen), and otherwise after KEYLESS_RECHECK_MS, when one turn pays
 * the refusal again.
 */
export class KeylessGateway {
  private learned: { gateway: string; at: number } | null = null;

  constructor(client: HermesClient, private readonly now: () => number = () => performance.now()) {
    // The probe's calls count too: a restart it alone saw may have given the gateway a key. But not one
    // of them timing out: that is a loaded agent (probe.ts does not take it as an answer either), and
    // with a slow endpoint every probe forgot the refusal, one turn going twice each PROBE_INTERVAL_S.
    client.onReachability((reachable, call) => {
      if (!reachable && !(call.unobserved && call.failure === 'timeout')) this.learned = null;
    }, { unobservedToo: true });
  }

  refuses(gateway: string): boolean {
    const l = this.learned;
    return l !== null && l.gateway === gateway && this.now() - l.at < KEYLESS_RECHECK_MS;
  }

  learn(gateway: string): void {
    this.learned = { gateway, at: this.now() };
  }
}

/**
 * Streaming `/v1/chat/completions` with the conversation so far: the session's history (the newest
 * turns that fit in the request, read by `history` within the bytes it is given) is sent, and
 * `X-Hermes-Session-Id` too, so an upstream that keeps sessions itself continues the same one. The
 * header only goes with the sidecar's key: a gateway without a key answers any request carrying it
 * with 403 (session continuation requires API_SERVER_KEY), and the history alone keeps the context.
 * A keyless gateway checks no key, so a sidecar given one anyway (HERMES_API_KEY) meets that 403: the
 * turn goes again without the header, as for an id refused (below).
 */
async function openCompletions(
  client: HermesClient, history: (maxBytes: number) => HistoryMessage[] | Promise<HistoryMessage[]>,
  agentLacks: () => boolean | Promise<boolean>, t: TurnRequest, refused: Refusals,
): Promise<Response> {
  const body = (past: HistoryMessage[]) => JSON.stringify({
    model: t.model,
    messages: [
      ...(t.body.system_message ? [{ role: 'system', content: t.body.system_message }] : []),
      ...past,
      { role: 'user', content: t.userContent },
    ],
    stream: true, stream_options: { include_usage: true }, temperature: t.body.temperature, max_tokens: t.body.max_tokens,
  });
  // Each message of the history adds its JSON and one comma to the body without it. Read from local
  // storage it comes at once, and is not awaited: the request then leaves in this same tick.
  const past = history(MAX_COMPLETIONS_BODY_BYTES - Buffer.byteLength(body([])));
  const sent = past instanceof Promise ? await past : past;
  const json = body(sent);
  // Hermes honours the header only when it has a key; an id no header can carry goes without it
  // (the history sent keeps the context). So does a history the agent does not hold, or holds only
  // part of: with the header the gateway would answer from its own record of the id alone (SPEC §14).
  // Asked only when it decides something, and after the history: that read has waited out any lock on
  // state.db, so this one is answered at once (asked first, a lock that outlasted the wait was waited twice).
  const key = client.upstreamKey;
  const gateway = `${client.baseUrl}\n${key}`;
  const wanted = key && !refused.keyless.refuses(gateway) && !refused.ids.has(t.sessionId) ? headerValue(t.sessionId) : null;
  const lacks = wanted !== null && sent.length > 0 ? agentLacks() : false;
  const unheld = lacks instanceof Promise ? await lacks : lacks;
  const sessionHeader = unheld ? null : wanted;
  const send = (withSessionId: boolean) => client.fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { ...STREAM_HEADERS, ...(withSessionId && sessionHeader ? { 'x-hermes-session-id': sessionHeader } : {}) },
    body: json,
    signal: t.signal,
  });
  let res = await send(sessionHeader !== null);
  t.continued = sessionHeader !== null && res.ok;
  // Newer gateways continue only sessions their API server made, with ids of their own shapes: any
  // other id is refused (400 "Invalid session ID", 404 "Unknown session ID") before the agent runs.
  // A gateway without a key refuses the header itself (403), checking no key the sidecar sends; any
  // other 403 (a proxy in front) is the turn's answer, or every turn would go twice (up to 9.5 MB each).
  // The history sent keeps the context, so the turn goes again without the header, and later turns
  // (of the session; for a keyless gateway, of every session) go without it at once — once the header
  // is shown to be the cause: the same body then accepted.
  if (sessionHeader !== null && (res.status === 400 || res.status === 403 || res.status === 404)) {
    let keyless = false;
    if (res.status === 403) {
      const refusal = await upstreamHttpError(res, client.answerTimeoutMs);
      if (!KEYLESS_REFUSAL.test(refusal.detail)) throw refusal;
      keyless = true;
    } else await res.body?.cancel().catch(() => {});
    res = await send(false);
    if (res.ok && keyless) refused.keyless.learn(gateway);
    else if (res.ok) refused.ids.add(t.sessionId);
  }
  if (!res.ok || !res.body) throw await upstreamHttpError(res, client.answerTimeoutMs);
  return res;
}

/** The user's turn as OpenAI content: the text alone, or text and attachment parts. */
export function userContent(message: string, attachments: Attachment[] | undefined): unknown {
  if (!attachments?.length) return message;
  return [{ type: 'text', text: message }, ...attachments.map(attachmentPart)];
}

function attachmentPart(a: Attachment): Record<string, unknown> {
  const image = isImageAttachment(a);
  if (image && a.url) return { type: 'image_url', image_url: { url: a.url } };
  if (image && a.data) return { type: 'image_url', image_url: { url: `data:${a.mime_type ?? 'image/png'};base64,${a.data}` } };
  if (a.text !== undefined) return { type: 'text', text: a.name ? `${a.name}:\n${a.text}` : a.text };
  return { type: 'text', text: `[attachment: ${a.name ?? a.url ?? a.mime_type ?? 'file'}]` };
}
