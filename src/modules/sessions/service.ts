/**
 * One view of every session, merged from up to three sources (SPEC §7):
 * 1. the agent's state.db, when readable;
 * 2. else the upstream session API, when the probe found it;
 * 3. always, the sidecar's own transcript store.
 * A session present in several is shown from the first (its `origin`); a title set through the
 * sidecar that the agent could not take overrides the source's own. Lists (session-list.ts) are newest activity first with a true total.
 *
 * The session routes hand their request's `Work` in: the agent's session API reports each call to it
 * (upstream-sessions.ts), and a change made here (state.db or the sidecar's own store) is reported as
 * work started, so a paid request is given its credential back only when nothing was done.
 */
import { ApiError, notFound, storageError } from '../../lib/errors';
import type { Work } from '../../lib/work';
import type { UpstreamProbe } from '../../upstream/probe';
import { mergedNewestFirst, recentConversation, type HistoryMessage, type TimedMessage } from './content';
import { type AgentRecord, listRecord, MergedPages } from './merged-messages';
import type { CreateSessionBody, ListMessagesQuery, ListSessionsQuery, Message, Session } from './model';
import { SessionCreator, type CreateOptions } from './session-create';
import { type LiveSources, SessionLister, withOverride } from './session-list';
import type { StateDb } from './state-db';
import type { RecordedTurn, TranscriptRow, TranscriptStore } from './transcripts';
import { TurnWatch } from './turn-watch';
import { SessionApiGone, type UpstreamCreate, type UpstreamSessions } from './upstream-sessions';

export interface SessionServiceDeps {
  stateDb: StateDb;
  upstream: UpstreamSessions;
  transcripts: TranscriptStore;
  probe: UpstreamProbe;
  /** Makes up the id of a session created without one (hermesStyleId unless a test says otherwise). */
  newId?: () => string;
}

/** A session and the places it lives. */
export interface LocatedSession {
  session: Session;
  inStateDb: boolean;
  inUpstream: boolean;
  /** The transcript-store row (a sidecar session, or bookkeeping for an upstream one). */
  row: TranscriptRow | undefined;
}

export const sessionNotFound = (id: string) => notFound('session_not_found', `Session ${JSON.stringify(id.slice(0, 256))} does not exist.`);

export class SessionService {
  /** The turns in flight, which a DELETE stops. */
  private readonly turns = new TurnWatch();

  private readonly lister: SessionLister;
  private readonly creator: SessionCreator;
  private readonly mergedPages: MergedPages;

  constructor(private readonly d: SessionServiceDeps) {
    this.lister = new SessionLister(d);
    this.mergedPages = new MergedPages(d.transcripts);
    this.creator = new SessionCreator(d, { locate: (id, work) => this.locate(id, work), liveSources: () => this.liveSources(), upstreamApi: () => this.upstreamApi, agentApiAbsent: () => this.agentApiAbsent });
  }

  /**
   * Calls `onDeleted` if the session is deleted before the returned release is called: a turn in
   * flight must stop, and must not record itself into a session that no longer exists (which would
   * leave a hidden row holding the id).
   */
  watchDeletion(id: string, onDeleted: () => void): () => void {
    return this.turns.watch(id, onDeleted);
  }

  /**
   * Whether the upstream has Hermes' session API (native session stream, create, rename), as last
   * seen: while it is down its sessions are unreachable (502), not absent — a DELETE must not answer
   * `deleted` for a session that comes back, nor a list show the agent's sessions as empty copies.
   */
  get upstreamApi(): boolean {
    return this.d.probe.state.sessionsApiSeen;
  }

  /**
   * The upstream was reached since start and has no session API: nothing of the agent's can be there.
   * Before the first probe answers, or while the upstream stays down, the sidecar does not know.
   */
  private get agentApiAbsent(): boolean {
    const p = this.d.probe.state;
    return p.checkedAt !== null && p.connected && !p.keyRefused && !p.sessionsApiSeen;
  }

  /** Which read sources are live: state.db when readable, else the upstream API when present. */
  private sources(stateDb = this.d.stateDb.readable()): LiveSources {
    return { stateDb, upstream: !stateDb && this.upstreamApi };
  }

  /** `sources()` once state.db can be read: a lock another process holds on it is waited out asynchronously. */
  private async liveSources(): Promise<LiveSources> {
    return this.sources(await this.d.stateDb.waitReadable());
  }

  async list(q: ListSessionsQuery, work?: Work): Promise<{ items: Session[]; total: number; limit: number; offset: number }> {
    const src = await this.liveSources();
    try {
      return await this.lister.list(q, src, work);
    } catch (err) {
      // The agent was downgraded to a version without the session API: the list is answered from
      // the other sources now rather than as the upstream's 404 until the next probe (up to 30 s).
      if (!(err instanceof SessionApiGone)) throw err;
      this.d.probe.sessionsApiGone();
      return this.lister.list(q, { ...src, upstream: false });
    }
  }

  async locate(id: string, work?: Work): Promise<LocatedSession | null> {
    const src = await this.liveSources();
    const row = this.d.transcripts.row(id);
    let primary: Session | null = null;
    let inStateDb = false;
    let inUpstream = false;
    if (src.stateDb) inStateDb = (primary = this.d.stateDb.session(id)) !== null;
    if (!primary && src.upstream) inUpstream = (primary = await this.d.upstream.get(id, work)) !== null;
    if (!primary && row?.origin === 'sidecar') primary = this.d.transcripts.toSession(row);
    return primary ? { session: withOverride(primary, row, this.d.transcripts), inStateDb, inUpstream, row } : null;
  }

  /**
   * The session a chat turn is for. A session of the sidecar's own is known without asking anyone,
   * so chatting in it neither waits for nor depends on an upstream lookup; others are located.
   * `heldInPart`: a session of the sidecar's own with turns the agent did not file under its id;
   * `agentLacks` (TurnRequest.agentLacks) when it filed none: it holds nothing of the session, so its
   * record is not asked for (left unset otherwise: then the state.db may still tell).
   */
  async forChat(id: string): Promise<(Pick<Session, 'id' | 'model'> & { own: boolean; heldInPart: boolean; agentLacks?: true }) | null> {
    const row = this.d.transcripts.row(id);
    if (row?.origin === 'sidecar') {
      const heldInPart = row.unfiledTurns > 0;
      return { id: row.id, model: row.model, own: true, heldInPart, ...(heldInPart && row.filedTurns === 0 ? { agentLacks: true } : {}) };
    }
    const found = await this.locate(id);
    return found && { id: found.session.id, model: found.session.model, own: false, heldInPart: false };
  }

  async get(id: string, work?: Work): Promise<Session> {
    const found = await this.locate(id, work);
    if (!found) throw sessionNotFound(id);
    return found.session;
  }

  /** Creates a session of the sidecar's own; with `upstream`, on the agent's side too (session-create.ts). */
  create(body: CreateSessionBody, opts: CreateOptions): Promise<Session> {
    return this.creator.create(body, opts);
  }

  /** Creates a session of the sidecar's own on the agent's side too (session-create.ts). */
  createUpstream(id: string, s: { title?: string; model?: string }, opts: { titleOptional?: boolean; work?: Work } = {}): Promise<Exclude<UpstreamCreate, 'created_untitled'>> {
    return this.creator.createUpstream(id, s, opts);
  }

  /**
   * Sets the title. A session that lives on the agent's side is renamed there through the session API
   * when the upstream has it (state.db itself is only ever written to delete). Only when the agent's
   * copy was not renamed (no session API, or the agent does not know the id) is the title kept in the
   * transcript store and shown over the agent's: kept otherwise, it hid every later rename made on the
   * agent's side (Hermes Workspace, `hermes sessions rename`).
   */
  async rename(id: string, title: string | null, work?: Work): Promise<Session> {
    const found = await this.locate(id, work);
    if (!found) throw sessionNotFound(id);
    const askAgent = (found.inStateDb || found.inUpstream) && this.upstreamApi;
    const renamedThere = askAgent && (await this.d.upstream.rename(id, title, work));
    // The agent no longer has it (a DELETE got there first): a title kept would hold its id. A state.db
    // session is gone only if the file lost it too; one the API never knew keeps the title here.
    const gone = askAgent && !renamedThere && found.row?.origin !== 'sidecar'
      && (found.inUpstream || ((await this.d.stateDb.waitReadable()) && !this.d.stateDb.session(id)));
    if (gone) throw sessionNotFound(id);
    // A session of the sidecar's own deleted meanwhile (its delete ahead in the write queue) stays deleted.
    const own = !renamedThere && found.row?.origin === 'sidecar';
    const kept = await this.d.transcripts.setTitle(id, title, { override: !renamedThere, own });
    if (!kept && own) throw sessionNotFound(id);
    if (kept) work?.started();
    return (await this.locate(id, work))?.session ?? found.session;
  }

  /**
   * Removes a session made for a chat turn that failed with nothing kept; on the agent's side best
   * effort. Only while the session is still unused: the client has its id from the `session` event
   * and may have sent another turn meanwhile, which is still running (it watches the session too) or
   * was kept and answered — removing the session would lose that turn.
   */
  async discardNew(id: string, createdUpstream: boolean, deleted = false): Promise<void> {
    if (this.turns.count(id) > 1) return;
    // No row left: deleted meanwhile, and a copy made on the agent's side after that DELETE goes too.
    // After a DELETE (`deleted`), a row is a session the client made again under the id: not this turn's.
    if (this.d.transcripts.row(id) && (deleted || !(await this.d.transcripts.deleteUnused(id)))) return;
    if (createdUpstream) await this.d.upstream.delete(id).catch(() => false);
  }

  /** Deletes the session and its messages wherever it lives; 404 when it lives nowhere. */
  async remove(id: string, work?: Work): Promise<void> {
    const src = await this.liveSources();
    let found = false;
    if (src.stateDb) found = await this.d.stateDb.delete(id);
    else if (src.upstream) found = await this.d.upstream.delete(id, work);
    if (found) work?.started();
    // Told before the row's delete waits in line: a turn ending in that wait left a hidden usage row under the id.
    if (found) this.turns.stop(id);
    const row = this.d.transcripts.row(id);
    // A bookkeeping row is left over only if the agent's side was asked and said no (as in `create`):
    // with neither state.db readable nor the session API there, its session may come back (a restore),
    // and the 404 took its usage, title and kept fallback turns along.
    if (found || src.stateDb || src.upstream || row?.origin === 'sidecar') await this.d.transcripts.delete(id);
    if (!found && row?.origin !== 'sidecar') throw sessionNotFound(id);
    this.turns.stop(id);
  }

  async messages(id: string, q: ListMessagesQuery, work?: Work): Promise<{ items: Message[]; total: number; session_id: string }> {
    const src = await this.liveSources();
    // A session of the sidecar's own the agent holds in part: its record and the turns it did not file, as the context has them.
    const row = this.d.transcripts.row(id);
    const heldInPart = row?.origin === 'sidecar' && row.unfiledTurns > 0;
    const merged = (agent: AgentRecord) => ({ ...this.mergedPages.page(id, agent, q.limit, q.offset), session_id: id });
    if (src.stateDb && this.d.stateDb.has(id)) return heldInPart ? merged(this.d.stateDb.record(id)) : { ...this.d.stateDb.messages(id, q.limit, q.offset), session_id: id };
    if (src.upstream) {
      const all = await this.d.upstream.messages(id, work);
      if (all && heldInPart) return merged(listRecord(all));
      if (all) return { items: all.slice(q.offset, q.offset + q.limit), total: all.length, session_id: id };
    }
    if (this.d.transcripts.row(id)?.origin === 'sidecar') return { ...this.d.transcripts.messages(id, q.limit, q.offset), session_id: id };
    throw sessionNotFound(id);
  }

  /**
   * The conversation so far (user and assistant turns with content, the newest that fit in
   * `maxBytes`), for an upstream without memory of it. A lock the agent holds on state.db is waited
   * out as for every other read (it failed the turn at once). Local sources nobody holds locked are
   * read at once, not as a promise, so the fallback request leaves before the turn's response is even
   * built (time to first token: awaited, it left ~0.1 ms later); a lock and the upstream session
   * API are awaited. The sidecar's own transcript and state.db are read from the
   * newest message back only as far as the budget goes: read whole, a session of 100,000 messages cost
   * 1.9 s and ~700 MB per turn (transcripts), 50,000 in state.db 4-6 s and ~400 MB. `agentLacks`: the
   * agent has just said it holds no session `id` (its stream's 404 session_not_found), so its session
   * API is not asked for the messages: that cost a round trip per turn, and its failure failed the turn.
   */
  history(id: string, maxBytes: number, agentLacks = false): HistoryMessage[] | Promise<HistoryMessage[]> {
    const readable = this.d.stateDb.readableSoon();
    const sources = (r: boolean): LiveSources => (agentLacks ? { stateDb: r, upstream: false } : this.sources(r));
    return readable instanceof Promise
      ? readable.then((r) => this.historyFrom(id, maxBytes, sources(r)))
      : this.historyFrom(id, maxBytes, sources(readable));
  }

  /**
   * True when the agent's record of `id` lacks part of the conversation: the sidecar keeps turns of an
   * agent's session, or of its own, that the agent filed under another id (sent without
   * X-Hermes-Session-Id), or the agent's state.db can be read and has no session `id` (false when it
   * cannot be read: then nobody knows). A gateway given the id in X-Hermes-Session-Id answers from its
   * own record of it and does not read the history sent (SPEC §14).
   */
  agentLacks(id: string): boolean | Promise<boolean> {
    const row = this.d.transcripts.row(id);
    if (row?.origin === 'upstream' && row.messageCount > 0) return true;
    if (row?.origin === 'sidecar' && row.unfiledTurns > 0) return true;
    const lacks = (readable: boolean) => readable && !this.d.stateDb.has(id);
    try {
      const readable = this.d.stateDb.readableSoon();
      // A lookup failing after the wait (locked again) is not known either: as a rejection it failed
      // the turn as the upstream's (a 502 on /chat), though the history had been read.
      return readable instanceof Promise ? readable.then(lacks).catch(() => false) : lacks(readable);
    } catch {
      return false;
    }
  }

  private historyFrom(id: string, maxBytes: number, src: LiveSources): HistoryMessage[] | Promise<HistoryMessage[]> {
    const row = this.d.transcripts.row(id);
    // Turns the agent did not file under this id (sent without X-Hermes-Session-Id) belong in the
    // conversation by time: without them each turn forgot the last. An agent's session keeps only such
    // turns with its bookkeeping row; the sidecar's own keeps every fallback turn, and those the agent
    // did file are in its record already (merged too, they would come twice).
    const withKept = (agent: Iterable<TimedMessage>) => {
      if (row?.origin === 'upstream' && row.messageCount > 0) return mergedNewestFirst(agent, this.d.transcripts.newestFirst(id));
      if (row?.origin === 'sidecar' && row.unfiledTurns > 0) return mergedNewestFirst(agent, this.d.transcripts.newestFirst(id, true));
      return agent;
    };
    // The agent has no record of its own under the id: the sidecar's transcript is the whole of it.
    const ownOnly = () => {
      if (row?.origin === 'sidecar') return recentConversation(this.d.transcripts.newestFirst(id), maxBytes);
      throw sessionNotFound(id);
    };
    if (src.upstream) return this.d.upstream.messages(id).then((agent) => (agent ? recentConversation(withKept(agent.reverse()), maxBytes) : ownOnly()));
    if (src.stateDb && this.d.stateDb.has(id)) return recentConversation(withKept(this.d.stateDb.newestFirst(id)), maxBytes);
    return ownOnly();
  }

  close(): void {
    this.d.stateDb.close();
  }

  /** False when the sidecar's own session was deleted meanwhile (nothing recorded). */
  async recordTurn(id: string, turn: RecordedTurn): Promise<boolean> {
    try {
      return await this.d.transcripts.recordTurn(id, turn);
    } catch (err) {
      throw storageError(err) ?? new ApiError(500, 'transcript_write_failed', `The turn could not be recorded: ${err instanceof Error ? err.message : String(err)}.`);
    }
  }
}
