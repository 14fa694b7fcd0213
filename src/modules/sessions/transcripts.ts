/**
 * The sidecar's own transcript store (drizzle, in the sidecar's database): sessions created here,
 * the turns of sessions chatted through the chat-completions fallback, and, for sessions the upstream
 * owns, the usage streamed through the sidecar and a title set here.
 */
import type { Statement } from 'bun:sqlite';
import { and, asc, count, desc, eq, inArray, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { DbHandle } from '../../db';
import { KeptReads, readSnapshot } from '../../db/kept-reads';
import { chatMessages, chatSessions } from '../../db/schema';
import { processGone, type ProcessMark } from '../../lib/process-mark';
import { isoNow } from '../../lib/time';
import { decodeContent, encodeContent, HISTORY_PAGE, previewOf, type TimedMessage } from './content';
import { SIDECAR_SOURCE, type Message, type Session } from './model';
import type { SessionKey } from './state-db-queries';

export type TranscriptRow = typeof chatSessions.$inferSelect;

/** A session of the sidecar's own with turns the agent did not file under its id, and its last turn. */
export type HeldKey = Pick<TranscriptRow, 'id' | 'lastActive'>;

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface RecordedTurn {
  /** What the user sent: text, or multimodal parts. */
  user: unknown;
  /** When the user's message was sent (ms). */
  userAt: number;
  assistant: string;
  reasoning: string | null;
  usage: TokenUsage | null;
  upstream: 'session-api' | 'chat-completions';
  /**
   * Store the two messages: a fallback turn of the sidecar's own session, or of an agent's session the
   * gateway did not file under its id (no key, or the id refused), kept there as the context of the
   * next fallback turn. The session API, or a gateway continuing the id, keeps its own transcript.
   */
  keepMessages: boolean;
  /**
   * The agent did not file the turn under the session's id (a fallback turn sent without
   * X-Hermes-Session-Id, or with it refused). Recorded with its messages, in the same transaction, so
   * a session the agent holds only in part is known as such after any crash.
   */
  unfiled: boolean;
  /**
   * The session was the sidecar's own when the turn began. If its row is gone by the end, another
   * process deleted it (this one stops the turn itself, see `watchDeletion`): nothing is recorded,
   * since the usage upsert would leave a hidden bookkeeping row holding the id (404 to every read,
   * 409 to a new session under it).
   */
  own: boolean;
}

const epoch = (ms = Date.now()) => ms / 1000;

/**
 * A session a `new` chat turn created and no turn was recorded into, whose process is gone: that turn
 * was cut by the process's death (kill -9, out of memory), and the session is the empty leftover of a
 * call the client may repeat. One created by POST /api/sessions has no opener and is never this.
 */
export function abandoned(r: TranscriptRow): boolean {
  if (r.origin !== 'sidecar' || r.lastUpstream !== null || r.messageCount !== 0) return false;
  if (r.openerPlace === null || r.openerPid === null || r.openerToken === null) return false;
  return processGone({ place: r.openerPlace, pid: r.openerPid, token: r.openerToken });
}
const id = sql.placeholder('id');

/**
 * Statements on the chat path, prepared once: drizzle otherwise builds and compiles the SQL on every
 * call (~60-140 µs each, measured), which is most of what opening a turn costs.
 */
function prepare(h: DbHandle) {
  const db = h.db;
  const n = (name: string) => sql.placeholder(name);
  // A page of a session's history, newest first, before the id `before`; `only` narrows it to some of its messages.
  const olderPage = (only?: SQL) => db.select({ id: chatMessages.id, role: chatMessages.role, content: chatMessages.content, timestamp: chatMessages.timestamp }).from(chatMessages)
    .where(and(eq(chatMessages.sessionId, id), lt(chatMessages.id, n('before')), only)).orderBy(desc(chatMessages.id)).limit(HISTORY_PAGE).prepare();
  // The session's first user message kept here; `only` narrows it to some of its messages.
  const firstUser = (only?: SQL) => db.select({ content: chatMessages.content }).from(chatMessages)
    .where(and(eq(chatMessages.sessionId, id), eq(chatMessages.role, 'user'), only)).orderBy(asc(chatMessages.id)).limit(1).prepare();
  return {
    row: db.select().from(chatSessions).where(eq(chatSessions.id, id)).prepare(),
    firstUser: firstUser(),
    // `unfiled = 1` as chat_messages_unfiled_idx states it.
    firstUnfiledUser: firstUser(sql`unfiled = 1`),
    messageCount: db.select({ n: count() }).from(chatMessages).where(eq(chatMessages.sessionId, id)).prepare(),
    messages: db.select().from(chatMessages).where(eq(chatMessages.sessionId, id)).orderBy(asc(chatMessages.id)).limit(n('limit')).offset(n('offset')).prepare(),
    olderMessages: olderPage(),
    // `unfiled = 1` as chat_messages_unfiled_idx states it (a bound `unfiled = ?` would not use that index).
    olderUnfiled: olderPage(sql`unfiled = 1`),
    addUsage: db.insert(chatSessions).values({
      id, origin: 'upstream', startedAt: n('now'), lastActive: n('now'), inputTokens: n('input'), outputTokens: n('output'),
      lastUpstream: n('upstream'), filedTurns: n('filed'), createdAt: n('iso'), updatedAt: n('iso'),
    }).onConflictDoUpdate({
      target: chatSessions.id,
      set: {
        inputTokens: sql`${chatSessions.inputTokens} + ${n('input')}`,
        outputTokens: sql`${chatSessions.outputTokens} + ${n('output')}`,
        lastActive: sql`${n('now')}`,
        lastUpstream: sql`${n('upstream')}`,
        filedTurns: sql`${chatSessions.filedTurns} + ${n('filed')}`,
        updatedAt: sql`${n('iso')}`,
      },
    }).returning({ origin: chatSessions.origin }).prepare(),
    addMessage: db.insert(chatMessages).values({
      sessionId: id, role: n('role'), content: n('content'), reasoning: n('reasoning'), timestamp: n('at'), unfiled: n('unfiled'),
    }).prepare(),
    countMessages: db.update(chatSessions).set({
      messageCount: sql`${chatSessions.messageCount} + ${n('added')}`,
      unfiledTurns: sql`${chatSessions.unfiledTurns} + ${n('unfiled')}`,
    }).where(eq(chatSessions.id, id)).prepare(),
  };
}

/** A stored message as the API shows it. */
const toMessage = (m: typeof chatMessages.$inferSelect): Message => ({
  id: m.id, session_id: m.sessionId, role: m.role, content: decodeContent(m.content), tool_calls: null,
  tool_call_id: null, tool_name: null, timestamp: m.timestamp, reasoning: m.reasoning,
});

export class TranscriptStore {
  private readonly q: ReturnType<typeof prepare>;
  private readonly keysQuery: Statement;
  private readonly keysKept: KeptReads<readonly SessionKey[]>;
  private readonly heldKept: KeptReads<readonly HeldKey[]>;
  private readonly unfiledKept: KeptReads<{ ids: Float64Array; times: Float64Array }>;

  constructor(private readonly h: DbHandle) {
    this.q = prepare(h);
    this.keysKept = new KeptReads(h.sqlite, 1);
    this.keysQuery = h.sqlite.prepare(`SELECT id, last_active AS lastActive, started_at AS startedAt, '${SIDECAR_SOURCE}' AS source FROM chat_sessions WHERE origin = 'sidecar'`);
    this.heldKept = new KeptReads(h.sqlite, 1);
    this.unfiledKept = new KeptReads(h.sqlite, 8);
  }

  row(sessionId: string): TranscriptRow | undefined {
    return this.q.row.get({ id: sessionId });
  }

  rows(ids: string[]): Map<string, TranscriptRow> {
    if (!ids.length) return new Map();
    return new Map(this.h.db.select().from(chatSessions).where(inArray(chatSessions.id, ids)).all().map((r) => [r.id, r]));
  }

  /**
   * Keys of the sidecar's own sessions for the merged list (bookkeeping rows are not sessions by
   * themselves). Reading them is 3.5 ms at 10,000 sessions (7 through drizzle), on every list, so
   * they are kept until the database has been written.
   */
  keys(): readonly SessionKey[] {
    return this.keysKept.get('keys', () => this.keysQuery.all() as SessionKey[]);
  }

  /**
   * The sessions of the sidecar's own the agent holds in part (withOverride), kept until the database is
   * written; through chat_sessions_held_idx, whose condition the query states as written there.
   */
  heldInPart(): readonly HeldKey[] {
    return this.heldKept.get('held', () => this.h.sqlite.query("SELECT id, last_active AS lastActive FROM chat_sessions WHERE origin = 'sidecar' AND unfiled_turns > 0").all() as HeldKey[]);
  }

  /** A sidecar session as the merged view shows it. */
  toSession(r: TranscriptRow): Session {
    return {
      id: r.id,
      title: r.title,
      model: r.model,
      source: SIDECAR_SOURCE,
      origin: 'sidecar',
      started_at: r.startedAt,
      ended_at: null,
      last_active: r.lastActive,
      message_count: r.messageCount,
      tool_call_count: 0,
      input_tokens: r.inputTokens,
      output_tokens: r.outputTokens,
      preview: this.preview(r.id),
    };
  }

  /** The preview of session `id`'s first user message kept here; `unfiledOnly`: of those the agent did not file (RecordedTurn.unfiled). */
  preview(sessionId: string, unfiledOnly = false): string | null {
    const first = (unfiledOnly ? this.q.firstUnfiledUser : this.q.firstUser).get({ id: sessionId });
    return first ? previewOf(first.content) : null;
  }

  /**
   * Inserts a new sidecar session; null when the id is taken (the primary key decides races).
   * With `replaceBookkeeping`, a bookkeeping row under the id is deleted first ('replaced'), in the same
   * transaction, so the new session starts from nothing (no usage, title or activity of the old
   * one). Only for an id the caller found nowhere a client can see it: the row is then left over
   * from a session the agent deleted. `opener`: the session is made for a `new` chat turn run by that
   * process. With `replaceAbandoned`, a session another `new` turn left unused when its process was
   * killed is replaced too (`abandoned`), judged inside the write transaction, so of concurrent
   * retries exactly one wins. No other session of the sidecar's own is ever replaced.
   */
  create(
    s: { id: string; title?: string; model?: string },
    opts: { replaceBookkeeping?: boolean; opener?: ProcessMark; replaceAbandoned?: boolean } = {},
  ): Promise<'created' | 'replaced' | null> {
    const now = Date.now();
    const { opener } = opts;
    const insert = () => this.h.db.insert(chatSessions).values({
      id: s.id, origin: 'sidecar', title: s.title ?? null, titleSet: s.title !== undefined, model: s.model ?? null,
      startedAt: epoch(now), lastActive: epoch(now), createdAt: isoNow(now), updatedAt: isoNow(now),
      openerPlace: opener?.place ?? null, openerPid: opener?.pid ?? null, openerToken: opener?.token ?? null,
    }).onConflictDoNothing().returning({ id: chatSessions.id }).get() !== undefined;
    if (!opts.replaceBookkeeping && !opts.replaceAbandoned) return this.h.write(() => (insert() ? 'created' : null));
    return this.h.write(() => this.h.sqlite.transaction(() => {
      const old = this.q.row.get({ id: s.id });
      const replace = old !== undefined && (old.origin === 'sidecar' ? opts.replaceAbandoned === true && abandoned(old) : opts.replaceBookkeeping === true);
      if (replace) this.h.db.delete(chatSessions).where(eq(chatSessions.id, s.id)).run();
      return insert() ? (replace ? 'replaced' : 'created') : null;
    }).immediate());
  }

  /**
   * Sets the title shown for a session, creating a bookkeeping row for sessions owned upstream.
   * With `override: false` the agent has the title itself: a row there is left showing the agent's
   * title (which a later rename on the agent's side changes), and none is created. With `own` the
   * session is the sidecar's own: its row is only updated, false when it is gone (deleted while the
   * rename waited for the write lock), since a row created then would hold the id of a deleted session.
   * False when no row was there to update.
   */
  async setTitle(id: string, title: string | null, opts: { override: boolean; own?: boolean } = { override: true }): Promise<boolean> {
    const now = Date.now();
    if (!opts.override || opts.own) {
      const where = opts.own ? and(eq(chatSessions.id, id), eq(chatSessions.origin, 'sidecar')) : eq(chatSessions.id, id);
      return this.h.write(() => this.h.db.update(chatSessions).set({ title, titleSet: opts.override, updatedAt: isoNow(now) }).where(where)
        .returning({ id: chatSessions.id }).all().length > 0);
    }
    await this.h.write(() => this.h.db.insert(chatSessions).values({
      id, origin: 'upstream', title, titleSet: true, startedAt: epoch(now), lastActive: epoch(now), createdAt: isoNow(now), updatedAt: isoNow(now),
    }).onConflictDoUpdate({ target: chatSessions.id, set: { title, titleSet: true, updatedAt: isoNow(now) } }).run());
    return true;
  }

  /** Removes a session row and (cascade) its messages; false when there was none. */
  delete(id: string): Promise<boolean> {
    return this.h.write(() => this.h.db.delete(chatSessions).where(eq(chatSessions.id, id)).returning({ id: chatSessions.id }).all().length > 0);
  }

  /** Removes a session of the sidecar's own that no turn was recorded into yet; false when there was none such. */
  deleteUnused(id: string): Promise<boolean> {
    return this.h.write(() => this.h.db.delete(chatSessions)
      .where(and(eq(chatSessions.id, id), eq(chatSessions.origin, 'sidecar'), isNull(chatSessions.lastUpstream)))
      .returning({ id: chatSessions.id }).all().length > 0);
  }

  messages(sessionId: string, limit: number, offset: number): { items: Message[]; total: number } {
    // One snapshot: read apart, a turn another sidecar recorded in between was on the page and not in
    // the total (18 items beside a total of 16).
    const { total, rows } = readSnapshot(this.h.sqlite, () => ({
      total: this.q.messageCount.get({ id: sessionId })?.n ?? 0,
      rows: this.q.messages.all({ id: sessionId, limit, offset }),
    }));
    return { total, items: rows.map(toMessage) };
  }

  /**
   * The ids and times of the messages of session `id` the agent did not file under it
   * (RecordedTurn.unfiled), oldest first, for a merged page of its messages (merged-messages.ts): kept
   * until the database is written, so paging through a session of many such turns reads them once.
   */
  unfiledTimes(sessionId: string): { ids: Float64Array; times: Float64Array } {
    return this.unfiledKept.get(sessionId, () => {
      // Through chat_messages_unfiled_idx, in its order (`unfiled = 1` as the index states it): no sort.
      const row = this.h.sqlite.query('SELECT json_group_array(id) AS ids, json_group_array(timestamp) AS times FROM '
        + '(SELECT id, timestamp FROM chat_messages WHERE session_id = ? AND unfiled = 1 ORDER BY id)').get(sessionId) as { ids: string; times: string };
      return {
        ids: Float64Array.from(JSON.parse(row.ids) as number[]),
        times: Float64Array.from(JSON.parse(row.times) as number[]),
      };
    });
  }

  /** The messages of session `id` with these ids (those still there), by id. */
  messagesWithIds(sessionId: string, ids: number[]): Message[] {
    if (!ids.length) return [];
    return this.h.db.select().from(chatMessages).where(and(eq(chatMessages.sessionId, sessionId), inArray(chatMessages.id, ids))).orderBy(asc(chatMessages.id)).all().map(toMessage);
  }

  /**
   * A session's messages, newest first, role and content only (the history of the next turn), read
   * a page at a time as the caller goes on: it stops at the budget of the request. Each page is read
   * whole, so no statement is left open between pages (an open one would hold a read snapshot and
   * keep every checkpoint from emptying the WAL). `unfiledOnly`: only the turns the agent did not
   * file under the id (RecordedTurn.unfiled), the part of a session of the sidecar's own it lacks.
   */
  *newestFirst(sessionId: string, unfiledOnly = false): Generator<TimedMessage> {
    const older = unfiledOnly ? this.q.olderUnfiled : this.q.olderMessages;
    for (let before = Number.MAX_SAFE_INTEGER; ;) {
      const page = older.all({ id: sessionId, before });
      for (const m of page) yield { role: m.role, content: decodeContent(m.content), timestamp: m.timestamp };
      if (page.length < HISTORY_PAGE) return;
      before = page[page.length - 1]!.id;
    }
  }

  /**
   * Records a finished turn in one transaction: usage and activity on the session row (a bookkeeping
   * row is created for sessions owned upstream), and the two messages when asked to keep them, with
   * whether the agent filed the turn under the id (counted on the row either way). False,
   * with nothing written, when the sidecar's own session is gone.
   */
  recordTurn(sessionId: string, turn: RecordedTurn): Promise<boolean> {
    const now = Date.now();
    const usage = {
      id: sessionId, now: epoch(now), iso: isoNow(now), upstream: turn.upstream, input: turn.usage?.input_tokens ?? 0, output: turn.usage?.output_tokens ?? 0,
      filed: turn.unfiled ? 0 : 1,
    };
    return this.h.write(() => this.h.sqlite.transaction(() => {
      if (turn.own && this.q.row.get({ id: sessionId })?.origin !== 'sidecar') return false;
      const row = this.q.addUsage.get(usage);
      if (!turn.keepMessages || !row) return true;
      const unfiled = turn.unfiled ? 1 : 0;
      this.q.addMessage.run({ id: sessionId, role: 'user', content: encodeContent(turn.user), reasoning: null, at: epoch(turn.userAt), unfiled });
      this.q.addMessage.run({ id: sessionId, role: 'assistant', content: turn.assistant, reasoning: turn.reasoning, at: epoch(now), unfiled });
      this.q.countMessages.run({ id: sessionId, added: 2, unfiled });
      return true;
    }).immediate());
  }
}
