import { sql } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The sidecar's transcript store. A row is either a session of the sidecar's own (`origin`
 * "sidecar": created here, or chatted through the chat-completions fallback, with its messages in
 * `chat_messages`) or bookkeeping for a session the upstream owns (`origin` "upstream": usage
 * streamed through the sidecar, a title set here, and the fallback turns the agent did not file
 * under the session's id, kept as context). Times from the chat are epoch seconds like
 * Hermes' own, so sessions of every source sort together; `created_at`/`updated_at` are ISO.
 */
export const chatSessions = sqliteTable('chat_sessions', {
  id: text('id').primaryKey(),
  origin: text('origin', { enum: ['sidecar', 'upstream'] }).notNull(),
  /** The title, or (origin "upstream") a title set through the sidecar that overrides the upstream one. */
  title: text('title'),
  /** Whether `title` was set here and wins over the upstream's title (a title may be set to null). */
  titleSet: integer('title_set', { mode: 'boolean' }).notNull().default(false),
  model: text('model'),
  startedAt: real('started_at').notNull(),
  lastActive: real('last_active').notNull(),
  messageCount: integer('message_count').notNull().default(0),
  inputTokens: integer('input_tokens').notNull().default(0),
  outputTokens: integer('output_tokens').notNull().default(0),
  /**
   * How many of the turns kept in `chat_messages` the agent did not file under this id (`unfiled`):
   * read with the row a turn reads anyway, so a session the agent holds only in part is known before
   * its turn leaves without a query more. Turns recorded before migration 0016 of the sidecar's own
   * sessions count as filed (unknown then; the previous behaviour).
   */
  unfiledTurns: integer('unfiled_turns').notNull().default(0),
  /**
   * How many turns the agent filed under this id (session stream, or the fallback with
   * X-Hermes-Session-Id taken); 0 with `unfiledTurns` says the agent holds none of the session, so
   * its record is not asked for. A session with turns recorded before migration 0016 counts 1: the
   * agent may hold some.
   */
  filedTurns: integer('filed_turns').notNull().default(0),
  /** The upstream path of the last turn: "session-api" or "chat-completions". */
  lastUpstream: text('last_upstream'),
  /**
   * The process that created the session for a `new` chat turn (ProcessMark, src/lib/process-mark.ts);
   * null when created otherwise (POST /api/sessions, or before this column). While no turn is recorded,
   * a session whose process is gone (killed mid-turn) is replaced by a retry of that `new` call.
   */
  openerPlace: text('opener_place'),
  openerPid: integer('opener_pid'),
  openerToken: text('opener_token'),
  createdAt: text('created_at').notNull(),
  updatedAt: text('updated_at').notNull(),
}, (t) => [
  // The sessions of the sidecar's own the agent holds in part (TranscriptStore.heldInPart), which every
  // session list reads after a write to sort them by their last turn: without it, every row was read
  // for the few (31 ms at 100,000 sessions, measured ad hoc). Queries state the condition as written here.
  index('chat_sessions_held_idx').on(t.id).where(sql`origin = 'sidecar' AND unfiled_turns > 0`),
]);

/** Turns chatted through the chat-completions fallback that only the sidecar keeps (see above), oldest first by id. */
export const chatMessages = sqliteTable('chat_messages', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  sessionId: text('session_id').notNull().references(() => chatSessions.id, { onDelete: 'cascade' }),
  role: text('role', { enum: ['system', 'user', 'assistant', 'tool'] }).notNull(),
  /** Text, or multimodal parts stored as "\u0000json:" + JSON, the way Hermes stores them. */
  content: text('content'),
  reasoning: text('reasoning'),
  timestamp: real('timestamp').notNull(),
  /**
   * The agent did not file this turn under the session's id: a fallback turn sent without
   * X-Hermes-Session-Id (no key, the header refused, or the agent known not to hold the session), so
   * it is in no record of the agent's under the id. Every kept turn of a bookkeeping row is.
   */
  unfiled: integer('unfiled', { mode: 'boolean' }).notNull().default(false),
}, (t) => [
  index('chat_messages_session_idx').on(t.sessionId, t.id),
  // The unfiled turns of a session of the sidecar's own, newest first (TranscriptStore.newestFirst): its
  // filed turns are kept too, and through the index above a session of 100,000 kept messages was stepped
  // through whole for its few unfiled ones on every turn (23 ms). Queries name `unfiled = 1` as written
  // here, a literal: SQLite uses a partial index only for a condition the query states itself.
  index('chat_messages_unfiled_idx').on(t.sessionId, t.id).where(sql`unfiled = 1`),
]);
