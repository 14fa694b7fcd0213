/**
 * Creating a session of the sidecar's own (POST /api/sessions, a chat turn's new session): its id, a
 * client's or made up in Hermes' shape; what counts as taken; and its copy on the agent's side, which
 * a failure there undoes.
 */
import { ApiError, conflict } from '../../lib/errors';
import { randomHex } from '../../lib/ids';
import { THIS_PROCESS, type ProcessMark } from '../../lib/process-mark';
import type { Work } from '../../lib/work';
import type { CreateSessionBody, Session } from './model';
import type { LiveSources } from './session-list';
import type { LocatedSession, SessionServiceDeps } from './service';
import { abandoned, type TranscriptRow } from './transcripts';
import type { UpstreamCreate } from './upstream-sessions';

/** Made-up session ids tried before giving up; each is taken with odds of about 1 in 16 million. */
const GENERATED_ID_ATTEMPTS = 8;

/** What creating asks of the session service: where a session lives, which sources are live, whether the agent has the session API. */
export interface SessionLookup {
  locate(id: string, work?: Work): Promise<LocatedSession | null>;
  liveSources(): Promise<LiveSources>;
  upstreamApi(): boolean;
  /** The upstream was reached and has no session API (so a session of the agent's can only be in state.db). */
  agentApiAbsent(): boolean;
}

export interface CreateOptions {
  /** Create it on the agent's side too, when the upstream has the session API. */
  upstream: boolean;
  work?: Work;
  /** Made for a `new` chat turn of this process: marked with it (transcripts.abandoned). */
  forTurn?: boolean;
}

export class SessionCreator {
  constructor(private readonly d: Pick<SessionServiceDeps, 'stateDb' | 'transcripts' | 'upstream' | 'newId'>, private readonly lookup: SessionLookup) {}

  /**
   * Creates a session of the sidecar's own. With `upstream`, it is created on the agent's side too
   * when the upstream has the session API; a failure there undoes it.
   *
   * A client's id is a 409 when the session exists where `get` would find it. A bookkeeping row
   * alone (usage or a title kept for a session of the agent's that the agent has since deleted)
   * does not count: it is replaced, and the new session starts with nothing of the old one — but
   * only when the agent's side (state.db, or its session API) could be asked; otherwise 409. For a
   * `new` chat turn (`forTurn`), neither does the empty session a `new` turn left when its process
   * was killed (transcripts.abandoned): the same call repeated replaces it.
   *
   * Without an id in the body one is made up. It has 24 random bits per second, so thousands of
   * sessions created in one second do collide (3 in 6,000 measured), with each other or with one of
   * the agent's; the client chose no id, so a taken one is replaced, never answered as a conflict.
   * Any row of the transcript store counts as taken here, bookkeeping too: its session is not looked up.
   */
  async create(body: CreateSessionBody, opts: CreateOptions): Promise<Session> {
    const opener = opts.forTurn ? THIS_PROCESS : undefined;
    if (body.id !== undefined) {
      const id = body.id;
      const exists = () => conflict('session_exists', `Session ${JSON.stringify(id)} already exists.`);
      const found = await this.lookup.locate(id, opts.work);
      const src = await this.lookup.liveSources();
      // The same `new` call again after its process was killed mid-turn: the session it left is
      // empty and nobody's (transcripts.abandoned). Only when the agent's side was asked and has it
      // not: one the agent holds (the native path creates it there first) is the agent's, turn and
      // all. Not yet probed, or down since start, the sidecar cannot tell that it has no session API.
      const agentAsked = src.stateDb || src.upstream || this.lookup.agentApiAbsent();
      const leftover = opener !== undefined && agentAsked && found !== null && !found.inStateDb && !found.inUpstream && found.row !== undefined && abandoned(found.row);
      if (found && !leftover) throw exists();
      // A bookkeeping row is left over only if the agent's side was asked and said no; with
      // state.db unreadable and the upstream down, its session may well still be there.
      if (!leftover && this.d.transcripts.row(id) && !src.stateDb && !src.upstream) throw exists();
      const made = await this.createAs(id, body, { ...opts, opener, replace: 'leftovers' });
      if (!made) throw exists();
      return made;
    }
    for (let attempt = 0; attempt < GENERATED_ID_ATTEMPTS; attempt++) {
      const id = (this.d.newId ?? hermesStyleId)();
      if ((await this.d.stateDb.waitReadable()) && this.d.stateDb.session(id)) continue;
      // A made-up id with any row is taken, a leftover too: nothing is replaced.
      const made = await this.createAs(id, body, { ...opts, opener, replace: 'none' });
      if (made) return made;
    }
    throw new ApiError(503, 'session_id_unavailable', 'No free session id was found; try again.');
  }

  /**
   * Creates the session under `id`; null when the id turns out to be taken (here or upstream), with
   * nothing of it left behind. `leftovers`: a bookkeeping row, or the empty session a killed process's
   * `new` turn left (an `opener` only), is replaced.
   */
  private async createAs(id: string, body: CreateSessionBody, opts: CreateOptions & { replace: 'leftovers' | 'none'; opener: ProcessMark | undefined }): Promise<Session | null> {
    const leftovers = opts.replace === 'leftovers';
    const made = await this.d.transcripts.create({ id, title: body.title, model: body.model }, {
      opener: opts.opener, replaceBookkeeping: leftovers, replaceAbandoned: leftovers && opts.opener !== undefined,
    });
    if (!made) return null;
    // The old row (bookkeeping: usage, title; or a killed turn's empty session) is gone for good: an agent never reached after it gives no credential back.
    if (made === 'replaced') opts.work?.started();
    if (opts.upstream && this.lookup.upstreamApi()) {
      let outcome: UpstreamCreate;
      try {
        outcome = await this.createUpstream(id, body, { work: opts.work });
      } catch (err) {
        await this.d.transcripts.delete(id);
        throw err;
      }
      if (outcome === 'exists') {
        await this.d.transcripts.delete(id);
        return null;
      }
    }
    const mine = this.d.transcripts.toSession(this.d.transcripts.row(id) as TranscriptRow);
    // Created on the agent's side too: shown as every later read will show it.
    return opts.upstream && this.lookup.upstreamApi() ? ((await this.lookup.locate(id, opts.work))?.session ?? mine) : mine;
  }

  /**
   * Creates a session of the sidecar's own on the agent's side too (the native stream needs it there).
   * `titleOptional` (a chat turn's session): a title the agent refuses does not stop the turn.
   */
  async createUpstream(id: string, s: { title?: string; model?: string }, opts: { titleOptional?: boolean; work?: Work } = {}): Promise<Exclude<UpstreamCreate, 'created_untitled'>> {
    const made = await this.d.upstream.create({ id, ...(s.title ? { title: s.title } : {}), ...(s.model ? { model: s.model } : {}) }, opts);
    // The agent took the title: it is the agent's to change from now on (see SessionService.rename);
    // one it refused stays shown from the sidecar's row.
    if (made === 'created' && s.title) await this.d.transcripts.setTitle(id, s.title, { override: false });
    return made === 'created_untitled' ? 'created' : made;
  }
}

/** `YYYYMMDD_HHMMSS_<6 hex>`, the shape of Hermes' own session ids, so the agent's tools show them alike. */
function hermesStyleId(now = new Date()): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}_${iso.slice(11, 19).replaceAll(':', '')}_${randomHex(3)}`;
}
