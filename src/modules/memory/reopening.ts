/**
 * The agent's memory file, kept open the way a restart would open it:
 * - a file that could not be opened at start-up (a corrupt or foreign file, a lock held too long, no
 *   permission) does not keep chat, sessions and tasks from starting: memory routes answer 503
 *   `memory_unavailable` with the reason, stats report the store as unreachable, and opening is tried
 *   again on a request at most every RETRY_MS, so a repaired or restored file is picked up without a
 *   restart;
 * - a file deleted or replaced under the open connection (the agent's memory reset, a backup restored)
 *   is reopened on the next request. Kept open, the connection wrote into the unlinked file: writes
 *   were acknowledged and then lost at the next restart, and neither side saw the other's memories.
 */
import { statSync } from 'node:fs';
import { ApiError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import type { BackendName, Memory, ScoredMemory } from './model';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchOptions } from './store';

export const RETRY_MS = 5000;

/** Which file is at `path` now (device and inode); null when none is. */
function fileAt(path: string): string | null {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

export class ReopeningBackend implements MemoryBackend {
  private inner: MemoryBackend | null = null;
  /** fileAt(path) when `inner` was opened. */
  private opened: string | null = null;
  private failure = '';
  private triedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: BackendName,
    /** The file `open` opens (created when missing). */
    private readonly path: string,
    private readonly open: () => MemoryBackend,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    if (!this.tryOpen()) log.error('memory store unavailable; the rest of the sidecar runs without it', { backend: name, error: this.failure });
  }

  private tryOpen(): MemoryBackend | null {
    this.triedAt = this.now();
    try {
      this.inner = this.open();
      this.opened = fileAt(this.path);
      return this.inner;
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err);
      return null;
    }
  }

  private backend(): MemoryBackend {
    if (this.inner && fileAt(this.path) !== this.opened) {
      this.log.warn('memory file deleted or replaced; reopening it', { backend: this.name, path: this.path });
      this.inner.close();
      this.inner = null;
      this.triedAt = Number.NEGATIVE_INFINITY;
    }
    if (this.inner) return this.inner;
    // By distance: after the wall clock is set back (NTP), `now` stays below the last try for as long as it was moved.
    const reopened = Math.abs(this.now() - this.triedAt) >= RETRY_MS ? this.tryOpen() : null;
    if (reopened) {
      this.log.info('memory store opened', { backend: this.name });
      return reopened;
    }
    throw new ApiError(503, 'memory_unavailable', `The memory store is unavailable: ${this.failure}`, { headers: { 'retry-after': String(RETRY_MS / 1000) } });
  }

  add(memory: NewMemory): Promise<AddResult> {
    return this.backend().add(memory);
  }

  list(options: ListOptions): Promise<Page<Memory>> {
    return this.backend().list(options);
  }

  search(options: SearchOptions): Promise<Page<ScoredMemory>> {
    return this.backend().search(options);
  }

  remove(id: string): Promise<boolean> {
    return this.backend().remove(id);
  }

  async stats(): Promise<BackendStats> {
    try {
      return await this.backend().stats();
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'memory_unavailable') throw err;
      return { status: 'unreachable', total_memories: null, categories: {}, error: this.failure, details: { db_path: this.path } };
    }
  }

  close(): void {
    this.inner?.close();
  }
}
