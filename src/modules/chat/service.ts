/**
 * A chat turn, one loop for every combination:
 *
 *   request ─► open (session resolved or created) ─► upstream (native session stream, or chat
 *   completions on a 404/405 or when the probe found no session API) ─► adapter ─► ChatEvents
 *   ─► renderer (optx envelope | hermes-native) ─► eventStream (heartbeats, cancel, shutdown) ─► client
 *
 * The finished turn is recorded in the transcript store (usage always; the messages too on the
 * fallback path, which is how the next fallback turn gets its context). The non-streaming route
 * consumes the same ChatEvents.
 */
import { ApiError, shuttingDown } from '../../lib/errors';
import { logRepeated } from '../../lib/log-repeats';
import type { ConnectionHold } from '../../lib/connection';
import { headerValue, linkedAbort } from '../../lib/http';
import { eventStream, SSE_PING, sseResponse, startNow } from '../../lib/sse';
import { unlessLeft, type Work } from '../../lib/work';
import type { Logger } from '../../lib/log';
import type { HermesClient } from '../../upstream/client';
import { asTurnError, outboundToApiError, streamCutShort } from '../../upstream/errors';
import type { Session } from '../sessions/model';
import { sessionNotFound, type SessionService } from '../sessions/service';
import { completionsEvents } from './adapters/completions';
import { nativeEvents } from './adapters/native';
import { failed, ownFailure } from './adapters/shared';
import type { ChatBody, ChatEvent, ChatReply, NewChatBody, StreamFormat } from './model';
import { hermesRenderer } from './renderers/hermes';
import { optxRenderer } from './renderers/optx';
import { KeylessGateway, openTurn, RefusedSessionIds, userContent, type Opened, type Refusals, type TurnRequest } from './upstream';

export interface ChatServiceDeps {
  sessions: SessionService;
  client: HermesClient;
  idleTimeoutMs: number;
  heartbeatMs: number;
  shutdown: AbortSignal;
  /** The model named in a fallback request when neither the request nor the session names one. */
  defaultModel: () => string;
  log: Logger;
  /** The monotonic clock a keyless gateway's refusal ages on (KeylessGateway); performance.now() unless a test moves its own. */
  now?: () => number;
}

/** A turn ready to run: the session exists, the upstream has not been called yet. */
export interface ChatTurn extends TurnRequest {
  userAt: number;
  /** Aborting it cancels the upstream request (client gone, server shutting down, session deleted). */
  abort: () => void;
  /** True once the session was deleted while the turn ran: it stops and records nothing. */
  deleted: () => boolean;
  /** The session is the sidecar's own (see RecordedTurn.own). */
  own: boolean;
  /** Gives back the upstream stream slot and ends the watch for the session's deletion; called when the turn's events end. */
  release: () => void;
  /** Hears when the upstream took the turn on: a failure after that (the record refused) still spends a payment. */
  work: Work;
}

const sessionDeleted = () => new ApiError(410, 'session_deleted', 'The session was deleted while its reply was being written; the turn was not kept.');

export class ChatService {
  /** What the gateway will not take in X-Hermes-Session-Id on the fallback path (RefusedSessionIds, KeylessGateway). */
  private readonly refused: Refusals;

  constructor(private readonly d: ChatServiceDeps) {
    this.refused = { ids: new RefusedSessionIds(), keyless: new KeylessGateway(d.client, d.now) };
  }

  /**
   * Takes an upstream stream slot (503 when all are taken), then resolves the session (404 when it
   * exists nowhere) or, for `new`, creates it (409 when the id is taken). These refusals are answered
   * as JSON before any stream starts, and nothing is created by a refused turn. A client already gone
   * gets a 499 that asked nothing and created nothing (`unlessLeft`: it gives an MPP credential back).
   */
  async open(target: { id: string } | { create: NewChatBody }, body: ChatBody, signal: AbortSignal, work: Work): Promise<ChatTurn> {
    unlessLeft(signal, work);
    const slot = this.d.client.openStream();
    let session: Pick<Session, 'id' | 'model'>;
    let created = false;
    let [own, heldInPart, agentLacks]: [boolean, boolean, true | undefined] = [true, false, undefined];
    try {
      if ('id' in target) {
        const found = await this.d.sessions.forChat(target.id);
        if (!found) throw sessionNotFound(target.id);
        session = found;
        ({ own, heldInPart, agentLacks } = found);
      } else {
        const { session_id, title, model } = target.create;
        session = await this.d.sessions.create({ id: session_id, title, model }, { upstream: false, forTurn: true });
        created = true;
      }
    } catch (err) {
      slot();
      // The session looked up or its id checked on the agent's side, which may be down.
      work.upstreamFailed(err);
      throw err;
    }
    const ac = linkedAbort(signal);
    let deleted = false;
    const unwatch = this.d.sessions.watchDeletion(session.id, () => {
      deleted = true;
      ac.abort();
    });
    const release = () => {
      unwatch();
      slot();
    };
    // An aborted turn's upstream request is being cancelled: its slot is free even if nobody ever
    // reads the rest of its events (a client gone before the response was sent).
    ac.signal.addEventListener('abort', release, { once: true });
    return {
      sessionId: session.id,
      created,
      body: 'create' in target ? { ...body, title: target.create.title } : body,
      userContent: userContent(body.message, body.attachments),
      userAt: Date.now(),
      model: body.model ?? session.model ?? this.d.defaultModel(),
      signal: ac.signal,
      abort: () => ac.abort(),
      deleted: () => deleted,
      own, heldInPart, agentLacks,
      release,
      work,
    };
  }

  /**
   * The turn's ChatEvents: `started` first, then the adapter's events, ending in `completed` or
   * `failed`. `opening`: the upstream request already under way (`openTurn`), else it starts here.
   */
  async *events(t: ChatTurn, opening?: Promise<Opened>): AsyncGenerator<ChatEvent> {
    try {
      for await (const ev of this.turnEvents(t, opening ?? openTurn(this.d.client, this.d.sessions, this.refused, t))) {
        // A turn the upstream or storage failed (5xx) reaches the client inside a 200 stream, so the
        // access log shows nothing wrong: said here, once per kind and then counted (lib/log-repeats.ts).
        // Not the client's own doing: a 4xx, or a turn it left.
        if (ev.type === 'failed' && ev.status >= 500 && !t.signal.aborted) {
          logRepeated(this.d.log, 'warn', 'chat turn failed', { code: ev.code, status: ev.status, error: ev.message }, { key: `chat turn failed ${ev.code}` });
        }
        yield ev;
      }
    } finally {
      t.release();
    }
  }

  private async *turnEvents(t: ChatTurn, opening: Promise<Opened>): AsyncGenerator<ChatEvent> {
    const { path, res, failure } = await opening;
    yield { type: 'started', sessionId: t.sessionId, created: t.created, upstream: path };
    if (t.deleted()) {
      // A DELETE while this turn created its new session on the agent's side found no copy there yet.
      await this.discardFailedNew(t);
      yield ownFailure(sessionDeleted());
      return;
    }
    if (failure || !res?.body) {
      await this.discardFailedNew(t);
      yield failure ?? failed(outboundToApiError(null));
      return;
    }
    t.work.started();
    const adapter = path === 'session-api' ? nativeEvents : completionsEvents;
    for await (const ev of adapter(res.body, this.d.idleTimeoutMs, t.abort)) {
      // Deleted meanwhile: the upstream request was cancelled; whatever comes next is not passed on.
      if (t.deleted()) {
        yield ownFailure(sessionDeleted());
        return;
      }
      // On the fallback path a failed turn keeps nothing, so a session made for it is empty.
      if (ev.type === 'failed' && path === 'chat-completions') await this.discardFailedNew(t);
      if (ev.type === 'completed') {
        let recorded: boolean;
        try {
          recorded = await this.d.sessions.recordTurn(t.sessionId, {
            user: t.userContent, userAt: t.userAt, assistant: ev.text, reasoning: ev.reasoning, usage: ev.usage,
            // An agent's session keeps a fallback turn here only when the agent did not file it under the id.
            upstream: path, keepMessages: path === 'chat-completions' && (t.own || !t.continued), own: t.own, unfiled: path === 'chat-completions' && !t.continued,
          });
        } catch (err) {
          // Not recorded, so not answered as done: the client may retry the turn.
          this.d.log.error('chat turn not recorded', { session_id: t.sessionId, error: err instanceof Error ? err.message : String(err) });
          yield ownFailure(outboundToApiError(err));
          return;
        }
        // Deleted by another sidecar on the same data dir, which this process's watch does not see.
        if (!recorded) {
          yield ownFailure(sessionDeleted());
          return;
        }
      }
      yield ev;
    }
  }

  /**
   * A session created for a `new` turn that failed before anything of it was kept is removed
   * before the error is sent, so the client's retry with the same id starts clean (not 409).
   */
  private async discardFailedNew(t: ChatTurn): Promise<void> {
    if (!t.created) return;
    try {
      await this.d.sessions.discardNew(t.sessionId, t.createdUpstream === true, t.deleted());
    } catch (err) {
      this.d.log.warn('session of a failed first turn not removed', { session_id: t.sessionId, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * The turn as an SSE response in the client's format; `hold` drops a client that stopped reading and
   * gives the idle timeout back when the stream is over. A paid turn waits for the upstream's first answer before its 200, which spends the
   * credential: an upstream never reached (connection refused, no such host) is refused as a JSON 502
   * instead, and a stop that came meanwhile as a JSON 503, both of which give it back (lib/work.ts).
   * The wait costs the client nothing: the `session` frame waits for that answer anyway, and Bun
   * completes the response's headers only with the first frame. It lasts one heartbeat at most; a
   * stream that starts later begins with that heartbeat's ping.
   */
  async stream(t: ChatTurn, format: StreamFormat, hold?: ConnectionHold): Promise<Response> {
    const opening = openTurn(this.d.client, this.d.sessions, this.refused, t);
    const pingFirst = t.work.paid && (await this.refuseUnreached(t, opening)) === 'late';
    const renderer = format === 'hermes' ? hermesRenderer(t.sessionId, t.body.message) : optxRenderer(t.sessionId);
    const events = this.events(t, opening);
    async function* frames(): AsyncGenerator<string> {
      if (pingFirst) yield SSE_PING;
      for await (const ev of events) {
        const frame = renderer.render(ev);
        if (frame) yield frame;
      }
      const last = renderer.end();
      if (last) yield last;
    }
    // `session` is always first (SPEC §7), also when the stop comes before the upstream answered.
    const shutdownFrame = () => renderer.render({ type: 'started', sessionId: t.sessionId, created: t.created, upstream: t.path ?? 'chat-completions' })
      + renderer.render({ type: 'failed', code: 'server_shutting_down', message: 'The sidecar is shutting down.', status: 503 });
    const body = eventStream({
      frames: startNow(frames()), heartbeatMs: this.d.heartbeatMs, unreadMs: this.d.idleTimeoutMs, onUnread: hold?.close, onEnd: hold?.restore,
      cancel: t.abort, shutdown: this.d.shutdown, shutdownFrame,
    });
    // The turn is under way: building the response must not fail, or nothing would ever release it.
    const id = headerValue(t.sessionId);
    return sseResponse(body, id ? { 'x-hermes-session-id': id } : {});
  }

  /**
   * Waits up to a heartbeat for the upstream's first answer: 'late' when none came by then. An
   * upstream never reached ends the turn (its `new` session removed, its slot given back) with the
   * error thrown; so does the server's stop, which gives up the upstream's answer at once (the
   * Hermes client's `shutdown`): the stream would have been a 200 with nothing but its `error` event,
   * and a 200 spends the credential. Cut as the non-streaming turn is (`reply`), even if the agent
   * had begun: the upstream request is cancelled and the payment given back.
   */
  private async refuseUnreached(t: ChatTurn, opening: Promise<Opened>): Promise<'answered' | 'late'> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, this.d.heartbeatMs, 'late');
    });
    const opened = await Promise.race([opening, late]);
    clearTimeout(timer);
    if (opened === 'late') return 'late';
    const stopped = this.d.shutdown.aborted;
    if (!opened.unreached && !stopped) return 'answered';
    if (stopped) t.abort();
    await this.discardFailedNew(t);
    t.release();
    if (!stopped) throw opened.unreached;
    t.work.cutByStop();
    throw shuttingDown('the turn was not answered');
  }

  /**
   * The non-streaming answer: the same turn, collected. A stop ends it as it ends a stream, with
   * server_shutting_down at once: it held the stop for the whole grace, then lost its connection.
   */
  async reply(t: ChatTurn): Promise<ChatReply> {
    const { shutdown } = this.d;
    if (shutdown.aborted) t.abort();
    else shutdown.addEventListener('abort', t.abort, { once: true });
    let runId: string | undefined;
    let reply: ChatReply | null = null;
    try {
      // Read to the end (not just to `completed`) so the upstream connection is reused.
      for await (const ev of this.events(t)) {
        if (ev.type !== 'started' && ev.native?.runId) runId ??= ev.native.runId;
        if (ev.type === 'completed') {
          reply = { session_id: t.sessionId, ...(runId ? { run_id: runId } : {}), message: { role: 'assistant', content: ev.text }, usage: ev.usage };
        }
        if (ev.type === 'failed') {
          const e = new ApiError(ev.status, ev.code, ev.message, ev.headers ? { headers: ev.headers } : {});
          throw ev.own ? e : asTurnError(e);
        }
      }
    } catch (err) {
      // A stop after the answer was complete only cut the reading of what follows it.
      if (!shutdown.aborted) throw err;
    } finally {
      shutdown.removeEventListener('abort', t.abort);
    }
    if (reply) return reply;
    if (!shutdown.aborted) throw streamCutShort();
    t.work.cutByStop();
    throw shuttingDown('the turn was not finished');
  }
}
