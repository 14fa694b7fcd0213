/**
 * The memory routes' logic over whichever backend is configured: input normalised once here (so
 * every backend sees the same values), backend failures translated to API errors.
 */
import { ApiError, notFound } from '../../lib/errors';
import { SpacetimeError, spacetimeToApiError } from '../../spacetime/errors';
import type { CreateMemoryBody, Memory, ScoredMemory, SearchBody, SearchFilters as SearchFiltersBody, StatsResponse } from './model';
import { toUtcIso } from '../../lib/time';
import { isSqliteBusy } from '../../db/busy';
import { pyStrip } from './pytext';
import type { MemoryBackend, SearchFilters } from './store';

export class MemoryService {
  constructor(readonly backend: MemoryBackend) {}

  async create(body: CreateMemoryBody): Promise<{ status: 200 | 201; body: { stored: true; duplicate: boolean; memory: Memory } }> {
    const { memory, created } = await this.guard(() =>
      this.backend.add({
        // Stripped as Hermes strips it, so the same text is the same memory in every backend.
        content: pyStrip(body.content),
        category: body.category.trim(),
        tags: normaliseTags(body.tags),
        importance: body.importance,
        metadata: body.metadata,
      }),
    );
    // A duplicate creates nothing: 200 with the memory that already holds this content.
    return { status: created ? 201 : 200, body: { stored: true, duplicate: !created, memory } };
  }

  async list(q: { limit: number; offset: number; category?: string }) {
    const page = await this.guard(() => this.backend.list({ limit: q.limit, offset: q.offset, category: q.category?.trim() }));
    return { memories: page.items, total: page.total, limit: q.limit, offset: q.offset, backend: this.backend.name };
  }

  async search(body: SearchBody): Promise<{ results: ScoredMemory[]; total: number; query: string }> {
    const query = body.query.toWellFormed();
    const page = await this.guard(() => this.backend.search({ query, limit: body.limit, filters: normaliseFilters(body.filters) }));
    return { results: page.items, total: page.total, query: body.query };
  }

  async recall(q: { query: string; limit: number; category?: string }): Promise<{ results: ScoredMemory[]; query: string }> {
    const page = await this.guard(() => this.backend.search({ query: q.query.toWellFormed(), limit: q.limit, filters: normaliseFilters({ category: q.category }) }));
    return { results: page.items, query: q.query };
  }

  async remove(id: string): Promise<{ deleted: true; memory_id: string }> {
    const removed = await this.guard(() => this.backend.remove(id));
    if (!removed) throw notFound('memory_not_found', `No memory with id ${JSON.stringify(id.slice(0, 100))}.`);
    return { deleted: true, memory_id: id };
  }

  async stats(): Promise<StatsResponse> {
    const s = await this.guard(() => this.backend.stats());
    return {
      ...s.details,
      backend: this.backend.name,
      status: s.status,
      total_memories: s.total_memories,
      categories: s.categories,
      ...(s.error ? { error: s.error } : {}),
    };
  }

  /** Backend failures as API errors: a store that is down or busy is 503, never a bare 500. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err instanceof SpacetimeError) throw spacetimeToApiError(err);
      // The agent's memory file is locked (holographic). The sqlite backend's file is the sidecar's own
      // database, whose lock is answered like every other write of it: 503 storage_busy (onError).
      if (isSqliteBusy(err) && this.backend.name === 'holographic') {
        throw new ApiError(503, 'memory_busy', 'The memory database is locked by another writer; try again.', { headers: { 'retry-after': '1' } });
      }
      throw err;
    }
  }
}

/** Trimmed, without repeats, in the order given. */
function normaliseTags(tags: string[]): string[] {
  return [...new Set(tags.map((t) => t.trim()))];
}

function normaliseFilters(f: SearchFiltersBody | undefined): SearchFilters {
  if (!f) return {};
  return {
    category: f.category?.trim(),
    tags: f.tags ? normaliseTags(f.tags) : undefined,
    minImportance: f.min_importance,
    since: f.since === undefined ? undefined : toUtcIso(f.since),
    until: f.until === undefined ? undefined : toUtcIso(f.until, true),
  };
}
