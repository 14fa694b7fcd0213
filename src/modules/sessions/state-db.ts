/**
 * The agent's own `$HERMES_HOME/state.db`, read with plain SQL through bun:sqlite.
 *
 * It belongs to Hermes: reads go through a read-only connection (kept open, reopened when the file is
 * replaced), the column set is discovered with `PRAGMA table_info` and re-read whenever SQLite's schema
 * cookie changes (Hermes adds columns as it upgrades), and the only write is a session delete, in one
 * short IMMEDIATE transaction on a connection of its own. The agent holds the file open in WAL mode
 * while it runs; WAL readers never block it and a busy timeout covers its short write locks.
 */
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { BUSY_SLICE_MS, isSqliteBusy, retryWhileBusy } from '../../db/busy';
import { assertRegularFile } from '../../lib/files';
import type { Logger } from '../../lib/log';
import type { TimedMessage } from './content';
import { isTransient, throwIfOutOfDescriptors, unavailable } from './state-db-failures';
import { KeyReads } from './state-db-key-reads';
import { KEY_SLICE, readKeysInSlices } from './state-db-keys';
import type { AgentRecord } from './merged-messages';
import { columnsOf, deleteSessionRows, readMessages, readNewestFirst, readSessions, readTimes, type SessionKey, type StateTables, visibleMessageIds } from './state-db-queries';
import type { Message, Session } from './model';

/**
 * WAL readers are not blocked by the agent; this only covers a checkpoint or recovery in progress, or
 * a file in rollback-journal mode under a writer's exclusive lock. SQLite's own wait would block the
 * event loop (each locked read stalled every request for its whole timeout), so the connection waits
 * BUSY_SLICE_MS and `waitReadable` pauses asynchronously between tries.
 */
const READ_WAIT_MS = 1000;

/**
 * The read connection is closed once unused this long. Held open, it outlived the agent's own: only
 * the last connection to close checkpoints and removes the -wal, and a read-only one cannot, so the
 * agent's WAL stayed behind when it stopped, and a state.db then restored from a backup copy (`cp`)
 * was read, by the agent too once restarted, with that WAL's newer pages laid over it: the restore
 * undone, or a corrupt mix. Reopening costs one recount of the list keys (13 ms at 10,000 sessions).
 */
const IDLE_CLOSE_MS = 1000;

/** Sessions whose visible message ids are kept (a client paging through a few long sessions at once). */
const KEPT_ID_LISTS = 8;

interface Reader extends StateTables {
  dev: number;
  ino: number;
  /** PRAGMA schema_version when the columns were read. */
  cookie: number;
}

export class StateDb {
  private reader: Reader | null = null;
  private lastProblem: string | null = null;
  /** The list keys, kept and read anew as the file changes (state-db-key-reads.ts). */
  private readonly keyReads = new KeyReads<Reader>({
    current: () => {
      const reader = this.open();
      return reader && { reader, version: this.read(dataVersion, 0) };
    },
    isOpen: (reader) => this.reader === reader,
    read: (reader) => readKeysInSlices(this.path, reader, READ_WAIT_MS, () => this.closeWhenIdle(), this.keySlice).catch((err: unknown) => {
      throw unavailable(err);
    }),
  });
  private idle: ReturnType<typeof setTimeout> | null = null;
  /** Visible message ids per session, most recently used last, valid for one reader and data_version. */
  private readonly idsMemo = new Map<string, { reader: Reader; version: number; ids: Float64Array }>();
  /** How many times a session's visible ids were read from the file (tests check that kept ones are used). */
  idReads = 0;

  /** `keySlice`: sessions per slice of the key read (tests make it small to cut every read into many). */
  constructor(readonly path: string, private readonly log: Logger, private readonly keySlice = KEY_SLICE) {}

  /** True when the file exists and reads as a Hermes session store. */
  readable(): boolean {
    return this.open() !== null;
  }

  /** `readable()`, waiting up to READ_WAIT_MS with the event loop free while another process's lock keeps the file from being read. */
  async waitReadable(): Promise<boolean> {
    try {
      return await retryWhileBusy(() => this.tryOpen() !== null, READ_WAIT_MS);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * `waitReadable()` answered at once when nothing holds the file locked (its first try is the same
   * one), so a caller can go on in the same tick; only a lock makes it a promise, which waits it out.
   */
  readableSoon(): boolean | Promise<boolean> {
    try {
      return this.tryOpen() !== null;
    } catch (err) {
      if (isSqliteBusy(err)) return this.waitReadable();
      throw unavailable(err);
    }
  }

  close(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.reader?.db.close();
    this.reader = null;
    this.idsMemo.clear();
  }

  /** (Re)starts the countdown to closing the unused read connection (see IDLE_CLOSE_MS). */
  private closeWhenIdle(): void {
    if (this.idle) this.idle.refresh();
    else (this.idle = setTimeout(() => this.close(), IDLE_CLOSE_MS)).unref?.();
  }

  private open(): Reader | null {
    try {
      return this.tryOpen();
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** The reader, or null when there is no readable state.db; throws what a transient failure (a lock) threw. */
  private tryOpen(): Reader | null {
    // Asked on every session read: a missing file must not cost an exception each time.
    const st = statOrNull(this.path);
    if (!st) {
      this.close();
      return null;
    }
    // A state.db replaced under us (restore, `hermes sessions optimize-storage`) is reopened.
    if (this.reader && (this.reader.dev !== st.dev || this.reader.ino !== st.ino)) this.close();
    try {
      if (!this.reader) {
        assertRegularFile(this.path, st);
        const db = new Database(this.path, { readonly: true });
        db.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
        this.reader = { db, dev: st.dev, ino: st.ino, cookie: -1, sessions: new Set(), messages: new Set() };
      }
      const r = this.reader;
      const cookie = (r.db.query('PRAGMA schema_version').get() as { schema_version: number }).schema_version;
      if (cookie !== r.cookie) {
        r.sessions = columnsOf(r.db, 'sessions');
        r.messages = columnsOf(r.db, 'messages');
        r.cookie = cookie;
      }
      if (!r.sessions.has('id') || !r.messages.has('session_id') || !r.messages.has('role')) {
        throw new Error('no Hermes sessions/messages tables');
      }
      this.lastProblem = null;
      this.closeWhenIdle();
      return r;
    } catch (err) {
      // Locked by the agent, or caught mid-checkpoint: the file is the agent's session store all the
      // same. Answering as if it did not exist would list the sessions without the agent's ones, or
      // send a delete elsewhere, so the request is refused (503) and the connection kept.
      if (isTransient(err)) throw err;
      // Out of descriptors, SQLite only says "unable to open database file", which must not read as "no state.db".
      if (String((err as { code?: unknown } | null)?.code).startsWith('SQLITE_CANTOPEN')) throwIfOutOfDescriptors(this.path);
      const problem = err instanceof Error ? err.message : String(err);
      if (problem !== this.lastProblem) this.log.warn('state.db is not readable', { path: this.path, error: problem });
      this.lastProblem = problem;
      this.close();
      return null;
    }
  }

  /** Runs a read; a failure after the file opened (locked for too long, corrupt) is a 503, not a 500. */
  private read<T>(fn: (r: Reader) => T, fallback: T): T {
    const r = this.open();
    if (!r) return fallback;
    try {
      return fn(r);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * Every session's id, platform source and activity, for merging and paging. Computing them reads
   * every session and its visible messages (0.3–1.2 s at 100,000 sessions), so they are kept until
   * SQLite's `data_version` says another connection (the agent, our deletes) committed, and read anew
   * in slices with the event loop free between them (see state-db-keys.ts). Callers that ask while a
   * read of the same state is under way share it; the others share the next (state-db-key-reads.ts).
   */
  async keys(): Promise<readonly SessionKey[]> {
    const keys = await this.keyReads.keys();
    // A file replaced on every try is refused.
    if (!keys) throw unavailable(new Error('the file was replaced during the read'));
    return keys;
  }

  /** Full rows of the given sessions (those that exist). */
  sessions(ids: string[]): Map<string, Session> {
    if (!ids.length) return new Map();
    return this.read((r) => readSessions(r, ids), new Map<string, Session>());
  }

  session(id: string): Session | null {
    return this.sessions([id]).get(id) ?? null;
  }

  /**
   * A page of a session's messages, oldest first (by id, the order Hermes wrote them). Which messages
   * count is known on a v17+ file only from its rows (`active`), so the session's visible ids are
   * read once and kept until `data_version` says another connection (the agent, our deletes)
   * committed: paging through a long session then reads only each page's rows. The version is read
   * before the ids, so a commit between the two only makes the next read look again.
   */
  messages(id: string, limit: number, offset: number): { items: Message[]; total: number } {
    return this.read((r) => readMessages(r, id, this.visibleIds(r, id), limit, offset), { items: [], total: 0 });
  }

  /**
   * Session `id`'s visible messages as a merged page reads them (merged-messages.ts): their ids, kept
   * as for `messages`, then the times and rows of those the page passes, read by rowid.
   */
  record(id: string): AgentRecord {
    const ids = this.read((r) => this.visibleIds(r, id), new Float64Array(0));
    return {
      count: ids.length,
      version: ids,
      times: (from, to) => this.read((r) => readTimes(r, ids.subarray(from, to)), new Float64Array(to - from).fill(NaN)),
      rows: (indexes) => {
        const picked = Float64Array.from(indexes, (i) => ids[i]!);
        const found = new Map(this.read((r) => readMessages(r, id, picked, picked.length, 0).items, []).map((m) => [m.id, m]));
        return Array.from(picked, (messageId) => found.get(messageId));
      },
    };
  }

  /** A session's visible ids, ascending, kept while no other connection commits (see `messages`). */
  private visibleIds(r: Reader, id: string): Float64Array {
    const version = dataVersion(r);
    let kept = this.idsMemo.get(id);
    this.idsMemo.delete(id);
    if (kept?.reader !== r || kept.version !== version) {
      kept = { reader: r, version, ids: visibleMessageIds(r, id) };
      this.idReads++;
    }
    this.idsMemo.set(id, kept);
    if (this.idsMemo.size > KEPT_ID_LISTS) this.idsMemo.delete(this.idsMemo.keys().next().value as string);
    return kept.ids;
  }

  /**
   * A session's visible messages from the newest back, read a page at a time as they are taken (see
   * `readNewestFirst`); a failure on the way (locked for too long, corrupt) is a 503 like every read.
   */
  *newestFirst(id: string): Generator<TimedMessage> {
    const r = this.open();
    if (!r) return;
    try {
      yield* readNewestFirst(r, id);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Whether the file has the session: a plain read, which in WAL mode never waits for the agent's writes. */
  has(id: string): boolean {
    return this.read((r) => r.db.query('SELECT 1 FROM sessions WHERE id = ?').get(id) !== null, false);
  }

  /**
   * Deletes a session as Hermes' `delete_session` does, in one IMMEDIATE transaction: its delegate
   * subagent runs (`model_config._delegate_from`, recursively) and the session, with their messages;
   * other children (branches, continuations) stay, detached. Hermes' triggers keep its FTS index right;
   * `foreign_keys=ON` (Hermes sets it on every connection) runs its `ON DELETE CASCADE` clauses (Telegram
   * topic bindings, per-model usage) instead of leaving rows pointing at nothing. False if absent,
   * which is read first: a session the file does not have (one of the sidecar's own) neither opens a
   * write connection nor waits for the agent's lock. A session the agent creates under that id after
   * the read is left alone; one it deletes after the read is not found by the transaction.
   */
  async delete(id: string): Promise<boolean> {
    const r = this.open();
    if (!r || !this.has(id)) return false;
    let w: Database | null = null;
    try {
      w = new Database(this.path, { readwrite: true, create: false });
      // A busy agent never stalls the server: short waits for its lock, async pauses between them.
      w.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
      w.run('PRAGMA foreign_keys = ON');
      const db = w;
      const remove = db.transaction(() => deleteSessionRows(db, r, id));
      return await retryWhileBusy(() => remove.immediate());
    } catch (err) {
      throw unavailable(err, 'written');
    } finally {
      w?.close();
    }
  }
}

/** Moves whenever another connection, in this process or another, commits to the file. */
const dataVersion = (r: Reader) => (r.db.query('PRAGMA data_version').get() as { data_version: number }).data_version;

/** stat, or null when the file is missing or cannot be looked at (permissions): both mean "no state.db". */
function statOrNull(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}
