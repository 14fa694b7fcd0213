/**
 * A file-backed memory store that could not be opened at start-up (a corrupt or foreign file, a lock
 * held too long, no permission). The file is the agent's, so its trouble should not keep chat,
 * sessions and tasks from starting: the sidecar starts, memory routes answer 503
 * `memory_unavailable` with the reason, stats report the store as unreachable, and opening is tried
 * again on a request at most every RETRY_MS, so a repaired or restored file is picked up without a
 * restart.
 */
import { ApiError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import type { BackendName, Memory, ScoredMemory } from './model';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchOptions } from './store';

export const RETRY_MS = 5000;

export class ReopeningBackend implements MemoryBackend {
  private inner: MemoryBackend | null = null;
  private failure: string;
  private triedAt: number;

  constructor(
    readonly name: BackendName,
    private readonly open: () => MemoryBackend,
    firstError: unknown,
    /** What stats report while the store is closed (its path). */
    private readonly details: Record<string, unknown>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.failure = messageOf(firstError);
    this.triedAt = now();
    log.error('memory store unavailable; the rest of the sidecar runs without it', { backend: name, error: this.failure });
  }

  private backend(): MemoryBackend {
    if (this.inner) return this.inner;
    // By distance: after the wall clock is set back (NTP), `now` stays below the last try for as long as it was moved.
    if (Math.abs(this.now() - this.triedAt) >= RETRY_MS) {
      this.triedAt = this.now();
      try {
        this.inner = this.open();
        this.log.info('memory store opened', { backend: this.name });
        return this.inner;
      } catch (err) {
        this.failure = messageOf(err);
      }
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
      return { status: 'unreachable', total_memories: null, categories: {}, error: this.failure, details: this.details };
    }
  }

  close(): void {
    this.inner?.close();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
