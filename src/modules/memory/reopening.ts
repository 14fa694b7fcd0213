/**
 * The agent's memory file, kept open the way a restart would open it:
 * - a file that could not be opened at start-up (a corrupt or foreign file, no permission, a lock
 *   another process held) does not keep chat, sessions and tasks from starting: memory routes answer
 *   503 `memory_unavailable` with the reason, stats report the store as unreachable, and opening is
 *   tried again on a request at most every RETRY_MS, so a repaired or restored file is picked up
 *   without a restart; after a lock, on the very next request;
 * - a file deleted or replaced under the open connection (the agent's memory reset, a backup restored)
 *   is reopened on the next request. Kept open, the connection wrote into the unlinked file: writes
 *   were acknowledged and then lost at the next restart, and neither side saw the other's memories.
 *   The old connection releases the path first (its WAL would be laid over the new file); while the
 *   agent still has the old file open that cannot be done, and memory routes answer 503;
 * - the file is located again on every request (db-path.ts): a db_path changed in config.yaml is
 *   followed at once, as the agent follows it at its next session.
 */
import { isSqliteBusy, retryWhileBusy } from '../../db/busy';
import { ApiError } from '../../lib/errors';
import { fileIdentity } from '../../lib/files';
import type { Logger } from '../../lib/log';
import type { MemoryFile } from './db-path';
import type { BackendName, Memory, ScoredMemory } from './model';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchOptions } from './store';

export const RETRY_MS = 5000;

export class ReopeningBackend implements MemoryBackend {
  private inner: MemoryBackend | null = null;
  /** The file last opened, or tried. */
  private file: MemoryFile;
  /** fileIdentity(file.path) when `inner` was opened. */
  private opened: string | null = null;
  private failure = '';
  /** The last open failed on another process's lock (its SQLITE_BUSY error), null otherwise. */
  private lockedBy: unknown = null;
  private triedAt = Number.NEGATIVE_INFINITY;
  /** The file was replaced while another process had the old one open (release() refused): said once in the log. */
  private held = false;
  /** Backends closed by drop(): a write still waiting for the agent's lock on one of them fails. */
  private readonly dropped = new WeakSet<MemoryBackend>();

  constructor(
    readonly name: BackendName,
    /** Which file to use now. */
    private readonly locate: () => MemoryFile,
    /** Opens the file (created when missing); its error messages may quote `path`, never shown for a file named by variables. */
    private readonly open: (file: MemoryFile) => MemoryBackend,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.file = locate();
    if (!this.tryOpen()) log.error('memory store unavailable; the rest of the sidecar runs without it', { backend: name, error: this.failure });
  }

  private tryOpen(): MemoryBackend | null {
    this.triedAt = this.now();
    this.lockedBy = null;
    try {
      this.inner = this.open(this.file);
      this.opened = fileIdentity(this.file.path);
      return this.inner;
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err);
      // A lock another process held (a second sidecar creating the schema, the agent mid-write) says
      // nothing against the file: the next request tries again, each try bounded by the busy slice.
      if (isSqliteBusy(err)) {
        this.triedAt = Number.NEGATIVE_INFINITY;
        this.lockedBy = err;
      }
      return null;
    }
  }

  private backend(): MemoryBackend {
    const file = this.locate();
    if (file.path !== this.file.path) {
      this.log.warn('memory file moved in config.yaml; opening the new one', { backend: this.name, from: this.file.shown, to: file.shown });
      this.drop();
      this.file = file;
    } else if (this.inner && fileIdentity(file.path) !== this.opened) {
      if (this.inner.release?.() === false) {
        // The old file's WAL is still at the path, in use by the agent: opening the path now would read it over the new file.
        if (!this.held) this.log.warn('memory file replaced while the agent still has the old one open; waiting for it to close', { backend: this.name, path: file.shown });
        this.held = true;
        this.failure = 'the memory file was replaced while another process (the agent) still has the old one open; stop or restart it so its write-ahead log is not laid over the new file';
        throw this.unavailable();
      }
      this.log.warn('memory file deleted or replaced; reopening it', { backend: this.name, path: file.shown });
      this.held = false;
      this.drop();
    }
    if (this.inner) return this.inner;
    // By distance: after the wall clock is set back (NTP), `now` stays below the last try for as long as it was moved.
    const reopened = Math.abs(this.now() - this.triedAt) >= RETRY_MS ? this.tryOpen() : null;
    if (reopened) {
      this.log.info('memory file opened', { backend: this.name, path: this.file.shown, from: this.file.from });
      return reopened;
    }
    throw this.unavailable();
  }

  private unavailable(): ApiError {
    return new ApiError(503, 'memory_unavailable', `The memory store is unavailable: ${this.failure}`, { headers: { 'retry-after': String(RETRY_MS / 1000) } });
  }

  /** The file in use (or last tried) for the start-up banner: its shown name and where it came from. */
  describe(): string {
    return `${this.file.shown} (${this.file.from})`;
  }

  /** Closes the open file, if any, so the next request opens the current one at once. */
  private drop(): void {
    if (this.inner) this.dropped.add(this.inner);
    this.inner?.close();
    this.inner = null;
    this.triedAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * A write waits in line for the agent's lock (holographic.ts), and the file may be moved or replaced
   * meanwhile: drop() then closes its connection and its next attempt throws. It ran nothing (a
   * transaction is synchronous, the close falls between attempts), so it is answered as retryable
   * instead of a 500; the retry writes into the file in use now.
   */
  private async write<T>(op: (backend: MemoryBackend) => Promise<T>): Promise<T> {
    const inner = await this.writable();
    try {
      return await op(inner);
    } catch (err) {
      if (!this.dropped.has(inner)) throw err;
      throw new ApiError(503, 'memory_unavailable', 'The memory file was moved or replaced while this write waited for it; try again.', { headers: { 'retry-after': '1' } });
    }
  }

  /**
   * backend(), for a write: opening takes the file's write lock, and a file the agent holds it on
   * (mid-write when the sidecar started) is tried again in async pauses for up to the busy wait, as a
   * write on the open file waits for that lock (holographic.ts). It answered 503 at once, the write a
   * moment later waiting for the same lock. Reads still answer 503 at once: they never wait for a lock.
   */
  private async writable(): Promise<MemoryBackend> {
    try {
      return await retryWhileBusy(() => {
        try {
          return this.backend();
        } catch (err) {
          throw this.lockedBy ?? err;
        }
      });
    } catch (err) {
      throw err === this.lockedBy ? this.unavailable() : err;
    }
  }

  add(memory: NewMemory): Promise<AddResult> {
    return this.write((b) => b.add(memory));
  }

  /**
   * A read that touches every fact waits its turn in line (holographic-sliced.ts), and the file may be
   * moved or replaced meanwhile: drop() then closes the connection its turn goes on with, which was a
   * 500. It changed nothing, so it is read again from the file in use now.
   */
  private async read<T>(op: (backend: MemoryBackend) => Promise<T>): Promise<T> {
    const inner = this.backend();
    try {
      return await op(inner);
    } catch (err) {
      if (!this.dropped.has(inner)) throw err;
      return op(this.backend());
    }
  }

  list(options: ListOptions): Promise<Page<Memory>> {
    return this.read((b) => b.list(options));
  }

  search(options: SearchOptions): Promise<Page<ScoredMemory>> {
    return this.read((b) => b.search(options));
  }

  remove(id: string): Promise<boolean> {
    return this.write((b) => b.remove(id));
  }

  /** The backend's stats, the file named as `shown` (the backend itself only knows its path). */
  async stats(): Promise<BackendStats> {
    const where = () => ({ db_path: this.file.shown, db_path_from: this.file.from });
    try {
      const s = await this.read((b) => b.stats());
      return { ...s, details: { ...s.details, ...where() } };
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'memory_unavailable') throw err;
      return { status: 'unreachable', total_memories: null, categories: {}, error: this.failure, details: where() };
    }
  }

  async drained(): Promise<void> {
    await this.inner?.drained?.();
  }

  close(): void {
    this.inner?.close();
  }
}
