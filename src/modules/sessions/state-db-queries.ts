/**
 * The SQL state-db.ts runs against the agent's state.db, written for whichever of Hermes' columns the
 * file has (0.12 and 0.17+ schemas differ; a column that is missing reads as NULL). Plain functions over
 * an open connection and its discovered columns; opening, reopening and error mapping stay in state-db.ts.
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { decodeContent, HISTORY_PAGE, parseToolCalls, previewOf, type TimedMessage } from './content';
import type { Message, Session } from './model';

/** An open connection and the columns its `sessions` and `messages` tables have. */
export interface StateTables {
  db: Database;
  sessions: Set<string>;
  messages: Set<string>;
}

/** The sort key of a session in the merged list. */
export interface SessionKey {
  id: string;
  source: string | null;
  lastActive: number | null;
  startedAt: number | null;
}

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/** A count as the API shows it: a whole number from 0 to 2^53 − 1 (another program's file may hold anything). */
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? Math.min(Math.max(Math.trunc(v), 0), Number.MAX_SAFE_INTEGER) : 0);

export function columnsOf(db: Database, table: string): Set<string> {
  return new Set((db.query(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => c.name));
}

export function readKeys(t: StateTables): SessionKey[] {
  return (t.db.query(keysSql(t, '')).all() as Row[]).map(toKey);
}

/**
 * The keys of at most `limit` sessions past rowid `after`, in rowid order, and the last rowid read
 * (null once none are left): the same rows and values as `readKeys`, a slice at a time.
 */
export function readKeySlice(t: StateTables, after: number, limit: number): { keys: SessionKey[]; last: number | null } {
  const rows = t.db.query(keysSql(t, 'WHERE s.rowid > ? ORDER BY s.rowid LIMIT ?')).all(after, limit) as Row[];
  return { keys: rows.map(toKey), last: rows.length ? (rows[rows.length - 1]!.rid as number) : null };
}

/** Whether `sessions` has a rowid to slice it by (a WITHOUT ROWID table, another program's choice, has none). */
export function hasRowid(t: StateTables): boolean {
  const row = t.db.query("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = 'sessions'").get() as { wr: number } | null;
  return row?.wr === 0;
}

function keysSql(t: StateTables, tail: string): string {
  const source = t.sessions.has('source') ? 's.source' : 'NULL';
  const started = t.sessions.has('started_at') ? 's.started_at' : 'NULL';
  const rid = tail ? 's.rowid AS rid, ' : '';
  return `SELECT ${rid}s.id AS id, ${source} AS source, ${started} AS started_at, ${lastMessageAt(t)} AS last_msg FROM sessions s ${tail}`;
}

function toKey(row: Row): SessionKey {
  return {
    id: String(row.id),
    source: str(row.source),
    startedAt: num(row.started_at),
    lastActive: num(row.last_msg) ?? num(row.started_at),
  };
}

/** Full rows of the given sessions (those that exist). */
export function readSessions(t: StateTables, ids: string[]): Map<string, Session> {
  const out = new Map<string, Session>();
  if (!ids.length) return out;
  const c = (name: string) => (t.sessions.has(name) ? `s.${name}` : 'NULL');
  const sql = `SELECT s.id AS id, ${c('title')} AS title, ${c('model')} AS model, ${c('source')} AS source,
    ${c('started_at')} AS started_at, ${c('ended_at')} AS ended_at, ${lastMessageAt(t)} AS last_msg,
    ${c('message_count')} AS message_count, ${c('tool_call_count')} AS tool_call_count,
    ${c('input_tokens')} AS input_tokens, ${c('output_tokens')} AS output_tokens,
    ${firstUserAmong(t, 's.id', String(PREVIEW_SPAN), '0')} AS first_user, ${hasMoreThan('s.id', String(PREVIEW_SPAN))} AS more
    FROM sessions s WHERE s.id IN (${ids.map(() => '?').join(',')})`;
  for (const row of t.db.query(sql).all(...ids) as Row[]) {
    const id = String(row.id);
    const firstUser = row.first_user === null && row.more === 1 ? firstUserPastSpan(t, id) : row.first_user;
    out.set(id, {
      id,
      title: str(row.title),
      model: str(row.model),
      source: str(row.source),
      origin: 'state-db',
      started_at: num(row.started_at),
      ended_at: num(row.ended_at),
      last_active: num(row.last_msg) ?? num(row.started_at),
      message_count: int(row.message_count),
      tool_call_count: int(row.tool_call_count),
      input_tokens: int(row.input_tokens),
      output_tokens: int(row.output_tokens),
      preview: previewOf(firstUser),
    });
  }
  return out;
}

/**
 * The ids of the messages matching `where`, in ascending order: gathered in one pass (from the
 * (session_id, timestamp) index alone when it covers `where`) and sorted here, integers only, so no row
 * is read and nothing is sorted with its content.
 */
function messageIds(t: StateTables, where: string, ...params: SQLQueryBindings[]): Float64Array {
  const { ids } = t.db.query(`SELECT json_group_array(id) AS ids FROM messages WHERE ${where}`).get(...params) as { ids: string };
  return Float64Array.from(JSON.parse(ids) as number[]).sort();
}

/** Ids as the JSON list a `json_each(?)` reads, to fetch just those rows by rowid. */
const idList = (ids: Float64Array) => JSON.stringify(Array.from(ids));

/**
 * The ids of a session's visible messages, ascending: one pass over the (session_id, timestamp) index
 * (it holds the rowid), which also gives the page's total. On a file with `active` (v17+) that index
 * cannot tell which messages count, so each row of the session is read for it (~50-90 ms at 50,000
 * messages, one in ten a long tool output); a file with Hermes' later (session_id, active, …) index is
 * read from that index alone. state-db.ts keeps the result while the file has no new commit.
 */
export function visibleMessageIds(t: StateTables, id: string): Float64Array {
  return messageIds(t, `session_id = ?${activeFilter(t)}`, id);
}

/**
 * A page of a session's messages, oldest first (by id, the order Hermes wrote them), from its visible
 * ids (`visibleMessageIds`): only the page's rows are read, by rowid. `ORDER BY id LIMIT/OFFSET` over
 * the rows sorted the whole session, content and all, for every page (0.4-0.9 s at 50,000 messages).
 */
export function readMessages(t: StateTables, id: string, ids: Float64Array, limit: number, offset: number): { items: Message[]; total: number } {
  const c = (name: string) => (t.messages.has(name) ? name : 'NULL');
  const reasoning = t.messages.has('reasoning') ? 'reasoning' : t.messages.has('reasoning_content') ? 'reasoning_content' : 'NULL';
  const page = ids.subarray(offset, offset + limit);
  const rows = page.length ? t.db.query(
    `SELECT id, role, ${c('content')} AS content, ${c('tool_calls')} AS tool_calls, ${c('tool_call_id')} AS tool_call_id,
      ${c('tool_name')} AS tool_name, ${c('timestamp')} AS timestamp, ${reasoning} AS reasoning
      FROM messages WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`,
  ).all(idList(page)) as Row[] : [];
  const items = rows.map((row): Message => ({
    id: typeof row.id === 'number' || typeof row.id === 'string' ? row.id : String(row.id),
    session_id: id,
    role: String(row.role),
    content: decodeContent(row.content),
    tool_calls: parseToolCalls(row.tool_calls),
    tool_call_id: str(row.tool_call_id),
    tool_name: str(row.tool_name),
    timestamp: num(row.timestamp),
    reasoning: str(row.reasoning),
  }));
  return { items, total: ids.length };
}

/**
 * The times of the messages with the given ids, in their order, by rowid (NaN for none, a time that is
 * not a number, or a row gone since): what a merged page of a session the agent holds in part needs
 * of the messages it passes (merged-messages.ts), read as far as it goes. A number stays as
 * `readNewestFirst` gives it to the context, so both merge the same times.
 */
export function readTimes(t: StateTables, ids: Float64Array): Float64Array {
  if (!t.messages.has('timestamp') || !ids.length) return new Float64Array(ids.length).fill(NaN);
  const rows = t.db.query('SELECT id, timestamp FROM messages WHERE id IN (SELECT value FROM json_each(?))').all(idList(ids)) as Row[];
  const at = new Map(rows.map((row) => [Number(row.id), row.timestamp]));
  return Float64Array.from(ids, (id) => {
    const time = at.get(id);
    return typeof time === 'number' ? time : NaN;
  });
}

/**
 * Messages looked at, from a session's start, for its preview. Its first user message is nearly always
 * among them; `ORDER BY id LIMIT 1` over the rows read and sorted the whole session for every session
 * shown (~0.1 s at 50,000 messages, 0.3 s for a list page of 20 sessions of 20,000).
 */
const PREVIEW_SPAN = 16;

/**
 * SQL: the content of the first visible user message with content among the session's messages ranked
 * [offset, offset + span) by id. The ids are picked from the (session_id, timestamp) index alone (it
 * holds the rowid; only integers are sorted) and just those rows are read, by rowid.
 */
function firstUserAmong(t: StateTables, session: string, span: string, offset: string): string {
  return `(SELECT m.content FROM messages m WHERE m.id IN (SELECT id FROM messages WHERE session_id = ${session} ORDER BY id LIMIT ${span} OFFSET ${offset})
    AND m.role = 'user' AND m.content IS NOT NULL${activeFilter(t, 'm')} ORDER BY m.id LIMIT 1)`;
}

/** SQL: 1 when the session has more than `count` messages (an index walk of `count` entries, no sort), else NULL. */
function hasMoreThan(session: string, count: string): string {
  return `(SELECT 1 FROM messages WHERE session_id = ${session} LIMIT 1 OFFSET ${count})`;
}

/** The first user message past the first PREVIEW_SPAN messages: spans 16 times wider each time, until found or the session ends. */
function firstUserPastSpan(t: StateTables, id: string): unknown {
  const q = t.db.query(`SELECT ${firstUserAmong(t, '?1', '?2', '?3')} AS first_user, ${hasMoreThan('?1', '?2 + ?3')} AS more`);
  for (let offset = PREVIEW_SPAN, span = PREVIEW_SPAN * 15; ; offset += span, span *= 16) {
    const row = q.get(id, span, offset) as Row;
    if (row.first_user !== null || row.more !== 1) return row.first_user;
  }
}

/**
 * A session's messages from the newest back (by id, as Hermes orders them), a page at a time, for a
 * reader that stops once it has enough. Hermes' only index on `messages` is (session_id, timestamp):
 * `ORDER BY id` over the rows sorted every row of the session, content and all (4-6 s and ~400 MB
 * per fallback turn at 50,000 messages). Ids are picked from that index alone (it holds the rowid:
 * no row is read) and only the rows wanted are read, by rowid. The first page is one query, so a
 * short session costs no more; past it, the older ids are read once and sorted here. `active` is
 * filtered here, not in SQL: there it would read every row of the session to pick a page.
 */
export function* readNewestFirst(t: StateTables, id: string): Generator<TimedMessage> {
  const cols = `id, role, ${t.messages.has('content') ? 'content' : 'NULL'} AS content, ${t.messages.has('active') ? 'active' : '1'} AS active, `
    + `${t.messages.has('timestamp') ? 'timestamp' : 'NULL'} AS timestamp`;
  const visible = function* (rows: Row[]) {
    for (const row of rows) {
      if (row.active === 1) yield { role: String(row.role), content: decodeContent(row.content), timestamp: typeof row.timestamp === 'number' ? row.timestamp : null };
    }
  };
  const first = t.db.query(
    `SELECT ${cols} FROM messages WHERE id IN (SELECT id FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ${HISTORY_PAGE}) ORDER BY id DESC`,
  ).all(id) as Row[];
  yield* visible(first);
  if (first.length < HISTORY_PAGE) return;
  const ids = messageIds(t, 'session_id = ? AND id < ?', id, first[first.length - 1]!.id as number).reverse();
  const page = t.db.query(`SELECT ${cols} FROM messages WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id DESC`);
  for (let i = 0; i < ids.length; i += HISTORY_PAGE) yield* visible(page.all(idList(ids.subarray(i, i + HISTORY_PAGE))) as Row[]);
}

/**
 * The body of a session delete, to run inside an IMMEDIATE transaction on a write connection `db`
 * (`columns` are those read through the reader): the session and its delegate subagent runs with their
 * messages; other children stay, detached. False when the session is not there.
 */
export function deleteSessionRows(db: Database, columns: Pick<StateTables, 'sessions'>, id: string): boolean {
  if (!db.query('SELECT 1 FROM sessions WHERE id = ?').get(id)) return false;
  const marked = columns.sessions.has('model_config') && columns.sessions.has('parent_session_id');
  const doomed = marked ? [...delegateRuns(db, id), id] : [id];
  for (const sid of doomed) {
    db.run('DELETE FROM messages WHERE session_id = ?', [sid]);
    if (columns.sessions.has('parent_session_id')) db.run('UPDATE sessions SET parent_session_id = NULL WHERE parent_session_id = ?', [sid]);
    db.run('DELETE FROM sessions WHERE id = ?', [sid]);
  }
  return true;
}

/** A session's subagent marker; a `model_config` that is not JSON has none (json_extract would throw). */
const DELEGATE_FROM = "CASE WHEN json_valid(model_config) THEN json_extract(model_config, '$._delegate_from') END";

/** A session's delegate subagent runs and theirs in turn (an orchestrating subagent delegates too), as Hermes collects them. */
function delegateRuns(db: Database, id: string): string[] {
  const found = new Set([id]);
  for (let frontier = [id]; frontier.length; ) {
    const ph = frontier.map(() => '?').join(',');
    const rows = db.query(
      `SELECT id FROM sessions WHERE ${DELEGATE_FROM} IN (${ph}) OR (parent_session_id IN (${ph}) AND ${DELEGATE_FROM} IS NOT NULL)`,
    ).all(...frontier, ...frontier) as { id: string }[];
    frontier = rows.map((row) => row.id).filter((sid) => !found.has(sid));
    for (const sid of frontier) found.add(sid);
  }
  found.delete(id);
  return [...found];
}

/** Hermes marks rewound messages inactive (newer schemas); they are not part of the conversation. */
function activeFilter(t: StateTables, alias?: string): string {
  return t.messages.has('active') ? ` AND ${alias ? `${alias}.` : ''}active = 1` : '';
}

/** The newest visible message's time: a rewound (inactive) message does not make a session recent. */
function lastMessageAt(t: StateTables): string {
  return t.messages.has('timestamp') ? `(SELECT MAX(m2.timestamp) FROM messages m2 WHERE m2.session_id = s.id${activeFilter(t, 'm2')})` : 'NULL';
}
