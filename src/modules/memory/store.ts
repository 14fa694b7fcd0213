/**
 * The one interface every memory backend implements (SPEC §9). The routes and the service only
 * ever talk to a MemoryBackend, so the six routes behave the same whichever backend
 * `MEMORY_BACKEND` selects. Values arrive already validated and normalised by the service
 * (content stripped, tags trimmed and unique, timestamps as ISO 8601 UTC).
 */
import type { BackendName, Memory, ScoredMemory } from './model';

export interface NewMemory {
  content: string;
  category: string;
  tags: string[];
  /** 0..1 */
  importance: number;
  metadata: Record<string, unknown>;
}

export interface AddResult {
  memory: Memory;
  /** False when a memory with the same content already existed: it is returned unchanged. */
  created: boolean;
}

export interface ListOptions {
  limit: number;
  offset: number;
  category?: string;
}

export interface SearchFilters {
  category?: string;
  /** Every listed tag must be present. */
  tags?: string[];
  minImportance?: number;
  /** ISO 8601 UTC bounds on created_at, inclusive. */
  since?: string;
  until?: string;
}

export interface SearchOptions {
  /** Any text; empty means "by importance". */
  query: string;
  limit: number;
  filters: SearchFilters;
}

export interface Page<T> {
  items: T[];
  /** Every match, not only this page. */
  total: number;
}

export interface BackendStats {
  status: 'ok' | 'degraded' | 'unreachable';
  /** null when the store could not be counted (unreachable). */
  total_memories: number | null;
  categories: Record<string, number>;
  error?: string;
  /** Backend-specific: file path and size, vector dimension, URL and database, … */
  details: Record<string, unknown>;
}

export interface MemoryBackend {
  readonly name: BackendName;
  add(memory: NewMemory): Promise<AddResult>;
  /** Newest first. */
  list(options: ListOptions): Promise<Page<Memory>>;
  /** Best first; an empty query orders by importance (score = importance). */
  search(options: SearchOptions): Promise<Page<ScoredMemory>>;
  get?(id: string): Promise<Memory | null>;
  /** False when there is no memory with that id. */
  remove(id: string): Promise<boolean>;
  stats(): Promise<BackendStats>;
  /** Settles once no write waits in line for a lock of the backend's own (the agent's memory file); before `close` when stopping. */
  drained?(): Promise<void>;
  /**
   * Before `close`, once the file was replaced or removed under the open connection: clears what this
   * connection left at the path (the agent's memory file: reopening.ts). False while that cannot be
   * done safely yet, and the file now at the path must not be opened.
   */
  release?(): boolean;
  close(): void;
}
