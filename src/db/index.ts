/**
 * The sidecar's own SQLite database: one file in the data dir, WAL so readers never wait for the
 * writer, and the embedded migrations applied before anything else touches it. Every write goes
 * through `write` (src/db/busy.ts): while another process (a `sqlite3` session, a backup, a second
 * sidecar on the same data dir) holds the write lock, writers wait in line with the event loop free,
 * instead of in SQLite's busy timeout on the server's only thread.
 */
import { Database, type Statement } from 'bun:sqlite';
import { accessSync, closeSync, constants, mkdirSync, openSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite';
import { eq } from 'drizzle-orm';
import * as schema from './schema';
import { BUSY_SLICE_MS, BUSY_WAIT_MS, BusyQueue, type BusyClock } from './busy';
import { fileSystemNote } from '../lib/files';
import { newId } from '../lib/ids';
import { isoNow } from '../lib/time';
import { inPlaceCheck } from './in-place';
import { applyMigrations, schemaCheck } from './migrate';
import { MIGRATIONS } from './migrations.gen';

export type Db = BunSQLiteDatabase<typeof schema>;

export interface DbHandle {
  /** The drizzle handle every module uses. */
  db: Db;
  /** The raw connection, for transactions with conditional updates and for closing. */
  sqlite: Database;
  /**
   * Runs `fn` — one synchronous transaction, or one statement — in line behind this database's other
   * writes, again after an async pause while another process holds the write lock, for up to the
   * busy wait (then SQLITE_BUSY, which answers 503 storage_busy). A retry runs `fn` whole again, and
   * only after a busy failure, which leaves nothing of it committed. Settles once `fn` has committed.
   */
  write<T>(fn: () => T): Promise<T>;
  /** Settles once no write is in line any more (`BusyQueue.drained`): before `close` when stopping. */
  drained(): Promise<void>;
  path: string;
  /**
   * Runs `fn` (synchronous) at once in one transaction holding the write lock, after checking that the
   * database may be written: DatabaseReplacedError (503 storage_replaced) when the file at `path` is no
   * longer the one open (src/db/in-place.ts), DatabaseUpgradedError (503 storage_upgraded) once a newer
   * version has migrated it (src/db/migrate.ts). `write` runs its `fn` through it; a write of this
   * database outside `write` (no queue, no retry: a busy failure is thrown) uses it too.
   */
  locked<T>(fn: () => T): T;
  /**
   * `write` for a caller that opens its own IMMEDIATE transaction (the task queue's group commit, its
   * hot path): no transaction around it, and `fn` calls `writable()` first inside its own. An outer
   * BEGIN IMMEDIATE around the group cost a third of the queue's claims per second (4,450 → 2,820
   * pairs/s in scripts/bench/tasks.ts), for a check that costs microseconds.
   */
  writeOwnTransaction<T>(fn: (writable: () => void) => T): Promise<T>;
  /**
   * Whether this start created the database: it held no migration (a new data dir, or a zero-byte or
   * 4 KB file such as a `cp` of a running sidecar's database without its WAL). The banner says so,
   * so a restore that brought back nothing is seen at once.
   */
  created: boolean;
  /**
   * The migrations this start applied to an existing database (an upgrade), and how long they took;
   * null when there were none or the database is new. The banner names them: an upgrade used to
   * migrate silently, so nothing told an operator which schema changes ran, or that a slow start was one.
   */
  migrated: { tags: string[]; ms: number } | null;
  /** A stable id of this sidecar's data dir, created on first start (used to tell sidecars apart on a shared queue). */
  instanceId: string;
  close(): void;
}

const DB_FILE = 'optx-api.db';

export interface OpenDatabaseOptions {
  /** How long a write waits for another process's lock before SQLITE_BUSY (tests shorten it). */
  busyWaitMs?: number;
  /** The clock that wait is counted on (performance.now(); tests move their own). */
  busyClock?: BusyClock;
}

/**
 * Opens (creating the folder and file if needed) and migrates. `:memory:` is accepted for tests.
 * Start-up stops on a failure here, so the error names the file and the setting that chose it.
 */
export function openDatabase(dataDir: string | ':memory:', opts: OpenDatabaseOptions = {}): DbHandle {
  const path = dataDir === ':memory:' ? ':memory:' : join(dataDir, DB_FILE);
  try {
    if (dataDir !== ':memory:') {
      makeDataDir(dataDir);
      createPrivately(path);
      checkUsable(path);
    }
    return openAt(path, opts.busyWaitMs ?? BUSY_WAIT_MS, opts.busyClock);
  } catch (err) {
    const note = dataDir === ':memory:' ? '' : fileSystemNote(path, err);
    throw new Error(`Cannot open the sidecar database ${path} (OPTX_DATA_DIR, --data-dir): ${err instanceof Error ? err.message : String(err)}${note}`, { cause: err });
  }
}

function makeDataDir(dataDir: string): void {
  try {
    // Only the owner: the database holds chat transcripts and payment records. An existing folder keeps its mode.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`${dataDir} (or a folder above it) is a file, not a directory`);
    throw err;
  }
}

/**
 * A new database file is made readable by its owner only (SQLite would create it 0644, and gives its
 * -wal and -shm files the mode of the database). An existing file keeps the mode its owner gave it.
 * `throughLink`: a symbolic link to a missing file gets that file (as SQLite, and the agent, would
 * create it); otherwise the link is left dangling (O_EXCL does not follow it), for the caller to refuse.
 */
export function createPrivately(path: string, opts: { throughLink?: boolean } = {}): void {
  // Without O_EXCL an existing file is opened and closed untouched: O_CREAT's mode applies only to a new one.
  const flags = opts.throughLink ? constants.O_CREAT | constants.O_WRONLY : 'wx';
  try {
    closeSync(openSync(path, flags, 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Says what SQLite would only call "unable to open database file" or "attempt to write a readonly
 * database", naming the file and the reason, before SQLite opens anything: a database it opens
 * read-only gets -wal and -shm files of the same mode, which kept start-up failing with the same
 * line after the database's own mode was fixed. SQLite keeps -wal and -shm beside the file a
 * symbolic link points to, and creates them there: that folder must be writable too.
 */
function checkUsable(path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  // createPrivately made the file if nothing was there: only a link to a missing file is left missing.
  if (!st) throw new Error(`${path} is a symbolic link to a file that does not exist`);
  if (!st.isFile()) throw new Error(`${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not a database file`);
  const real = realpathSync(path);
  for (const file of [dirname(real), real, `${real}-wal`, `${real}-shm`]) {
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'EROFS') throw new Error(`${file} is on a read-only file system; the sidecar writes its database, -wal and -shm files there`);
      if (code === 'EACCES' || code === 'EPERM') {
        throw new Error(`${file} is not readable and writable by this user (uid ${process.getuid?.() ?? '?'}); the sidecar writes its database, -wal and -shm files there`);
      }
      throw err;
    }
  }
}

function openAt(path: string, busyWaitMs: number, busyClock: BusyClock | undefined): DbHandle {
  const sqlite = new Database(path, { create: true, strict: true });
  try {
    // First: switching to WAL takes a lock, which another process opening the same file at the same
    // moment may hold; without a busy timeout that start-up would fail with "database is locked".
    // Waiting inside SQLite is fine here: nothing is served before the database is open.
    sqlite.run(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`);
    sqlite.run('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction is in the OS before we answer, so it survives a
    // kill -9 of this process; only a power cut can lose the last commits. FULL measured 3.7x slower
    // per commit (0.27 vs 0.07 ms here), which the task queue's throughput target cannot afford.
    sqlite.run('PRAGMA synchronous = NORMAL');
    // Checkpoint every ~40 MB of WAL instead of ~4 MB: halves the average commit cost measured here
    // (145 vs 300 µs), at the price of a larger -wal file between checkpoints.
    sqlite.run('PRAGMA wal_autocheckpoint = 10000');
    // SQLite never shrinks the -wal file by itself: one large transaction (deleting a long session,
    // a big import) left it at that size for as long as the process ran (125 MB after 60,000
    // messages, measured). Past this, it is cut back when a checkpoint lets it restart; above the
    // ~40 MB the checkpoint above lets it reach, so the usual cycle never pays for a truncation.
    sqlite.run('PRAGMA journal_size_limit = 67108864');
    // Reads through a memory map: no read() call and no second copy per page. Measured on 100,000
    // memories: full-text search with its row lookups 3.5x faster than through the 2 MB page cache.
    sqlite.run('PRAGMA mmap_size = 268435456');
    sqlite.run('PRAGMA foreign_keys = ON');
    const started = performance.now();
    const applied = applyMigrations(sqlite, MIGRATIONS);
    const created = applied[0] === MIGRATIONS[0]?.tag;
    const migrated = !created && applied.length ? { tags: applied, ms: Math.round(performance.now() - started) } : null;
    const db = drizzle({ client: statementCache(sqlite) as Database, schema });
    db.insert(schema.sidecarMeta)
      .values({ key: 'instance_id', value: newId('sc_'), updatedAt: isoNow() })
      .onConflictDoNothing()
      .run();
    const instanceId = db.select().from(schema.sidecarMeta).where(eq(schema.sidecarMeta.key, 'instance_id')).get()?.value as string;
    // From now on a statement finding the lock taken fails within a slice and `write` waits for it
    // asynchronously: a 5 s busy timeout held the event loop's thread, /health included, that long.
    sqlite.run(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
    const writes = new BusyQueue(busyClock);
    const inPlace = path === ':memory:' ? () => {} : inPlaceCheck(path, () => {
      // Moves what the WAL holds into the old file and empties the WAL, which stays at the path: a
      // crash of this process would otherwise leave it to be laid over the file now there.
      try {
        sqlite.run('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch {
        // Locked by another process: then the WAL is emptied at the next checkpoint or on close.
      }
    });
    const sameSchema = schemaCheck(sqlite, MIGRATIONS);
    // The schema is checked once the lock is held (BEGIN IMMEDIATE): SQLite waits for the lock inside
    // the statement (the busy slice), and a newer version's migration committed during that wait went
    // unseen by a check made before it, its write landing under the new schema. Transactions of `fn`
    // nest as savepoints. The file's identity is checked first: its checkpoint cannot run in a transaction.
    const underLock = sqlite.transaction((fn: () => unknown) => {
      sameSchema();
      return fn();
    });
    const locked = <T>(fn: () => T): T => {
      inPlace();
      return underLock.immediate(fn) as T;
    };
    const write = <T>(fn: () => T) => writes.run(() => locked(fn), busyWaitMs);
    const writeOwnTransaction = <T>(fn: (writable: () => void) => T) => writes.run(() => {
      inPlace();
      return fn(sameSchema);
    }, busyWaitMs);
    return { db, sqlite, path, instanceId, created, migrated, write, locked, writeOwnTransaction, drained: () => writes.drained(), close: () => sqlite.close() };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

/** What the banner adds after the data dir: a new database, or the migrations an upgrade applied. */
export function openedAs(handle: Pick<DbHandle, 'created' | 'migrated'>): string {
  if (handle.created) return ' (new, empty database)';
  if (!handle.migrated) return '';
  return ` (upgraded: applied migrations ${handle.migrated.tags.join(', ')} in ${handle.migrated.ms} ms)`;
}

const STATEMENT_CACHE_SIZE = 512;

/**
 * drizzle compiles its SQL with `client.prepare()` on every call of an unprepared query; measured
 * here that compiling cost more than running the query on a hot read (GET /api/tasks: 406 → 133 µs
 * with the list's own statements kept). This gives drizzle a client that hands back the statement
 * already compiled for the same SQL text. drizzle never finalizes statements and runs each to
 * completion synchronously, so one statement can serve every caller. The cache is bounded; an
 * evicted statement is dropped, not finalized, since a long-lived prepared query may still hold it.
 */
function statementCache(sqlite: Database): Pick<Database, 'prepare' | 'exec' | 'run' | 'transaction' | 'close'> {
  const cache = new Map<string, Statement>();
  return {
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, stmt);
      return stmt;
    },
    exec: sqlite.exec.bind(sqlite),
    run: sqlite.run.bind(sqlite),
    transaction: sqlite.transaction.bind(sqlite),
    close: sqlite.close.bind(sqlite),
  } as Pick<Database, 'prepare' | 'exec' | 'run' | 'transaction' | 'close'>;
}

/**
 * Prepared statements built on first use: a store's constructor lists them all in one place, but
 * building and compiling dozens of queries at start-up showed up as a tenth of the executable's
 * start time. Each getter replaces itself with the statement the first time it is read.
 */
export function lazyStatements<T extends Record<string, () => unknown>>(makers: T): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const out = {} as { [K in keyof T]: ReturnType<T[K]> };
  for (const key of Object.keys(makers) as (keyof T)[]) {
    Object.defineProperty(out, key, {
      configurable: true,
      enumerable: true,
      get() {
        const value = (makers[key] as () => ReturnType<T[typeof key]>)();
        Object.defineProperty(out, key, { value, enumerable: true });
        return value;
      },
    });
  }
  return out;
}
