/**
 * MEMORY_BACKEND=spacetimedb: memories as `memory_entry` rows of the optx-cortex module, through the
 * shared SpacetimeClient (docs/spacetimedb.md). Conventions (SPEC §9):
 * - key `mem:<id>`; the API id is the key without `mem:`. Rows with any other key (tasks `task:…`,
 *   escrow, claims) are never memories: reads ask only for keys in ['mem:', 'mem;') (';' follows ':'),
 *   a range the SQL subset can express;
 * - value = JSON `{content, metadata, tags}`; a `mem:` row whose value is not that shape (another
 *   writer) shows its value as content;
 * - importance is the u8 column 0..10: written as round(importance × 10), read as column / 10
 *   (so 0.55 is stored as 6 and reads back 0.6);
 * - created_at is the module's insert timestamp; the table has no update time, so updated_at = created_at.
 *
 * Our ids are the first 32 hex digits of SHA-256(content): store_memory upserts by key, so the same
 * content is the same row, and duplicate content returns the existing memory (checked first). The
 * check and the write are not one transaction, so this process runs the adds and deletes of one key
 * in turn: a second store of the same content sees the first and answers duplicate. (Another process
 * storing the same content at the same moment can still upsert over ours.)
 * The SQL subset has no ORDER BY, OFFSET or LIKE: category and importance are filtered in SQL,
 * tags/time filters, text matching, ordering and paging happen here, over the rows read.
 */
import { z } from '../../lib/zod';
import type { SpacetimeClient } from '../../spacetime/client';
import { afterCommit, SpacetimeError } from '../../spacetime/errors';
import { literal } from '../../spacetime/sql';
import { KeyedQueue } from '../../lib/keyed-queue';
import { byScoreThen, countByName, sha256Hex, splitTags, toIsoTimestamp } from './memory-values';
import type { Memory, ScoredMemory } from './model';
import { termHits } from './fts-scratch';
import { searchTerms } from './query-text';
import type { AddResult, BackendStats, ListOptions, MemoryBackend, NewMemory, Page, SearchFilters, SearchOptions } from './store';
import { publicUrl } from '../../lib/public-url';

const TABLE = 'memory_entry';
const KEY_PREFIX = 'mem:';
const KEYS_OF_MEMORIES = `key >= ${literal('mem:')} AND key < ${literal('mem;')}`;
const SOURCE = 'hermes-optx-api';

const EntryRow = z.looseObject({
  id: z.number(),
  category: z.string(),
  key: z.string(),
  value: z.string(),
  importance: z.number(),
  created_at: z.unknown(),
});
type EntryRow = z.infer<typeof EntryRow>;

const MemoryValue = z.looseObject({ content: z.string(), metadata: z.optional(z.unknown()), tags: z.optional(z.unknown()) });

/**
 * The parts of a value another writer may shape differently, read field by field: tags as a list or
 * as Hermes' comma-separated string (anything else in a list is dropped), metadata only as a map.
 */
function tagsOf(v: unknown): string[] {
  if (typeof v === 'string') return splitTags(v);
  if (!Array.isArray(v)) return [];
  return [...new Set(v.filter((t): t is string => typeof t === 'string').map((t) => t.trim()).filter(Boolean))];
}
const metadataOf = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

interface Entry {
  memory: Memory;
  rowId: number;
}

export class SpacetimeBackend implements MemoryBackend {
  readonly name = 'spacetimedb' as const;

  /** Adds and deletes of one key, in turn (read-then-write is not atomic on the host). */
  private readonly writes = new KeyedQueue();

  constructor(private readonly client: SpacetimeClient, private readonly owner: string) {}

  add(m: NewMemory): Promise<AddResult> {
    const key = `${KEY_PREFIX}${sha256Hex(m.content).slice(0, 32)}`;
    return this.writes.run(key, () => this.addOnce(key, m));
  }

  private async addOnce(key: string, m: NewMemory): Promise<AddResult> {
    const existing = await this.byKey(key);
    if (existing) return { memory: existing.memory, created: false };
    const value = JSON.stringify({ content: m.content, metadata: m.metadata, tags: m.tags });
    await this.client.call('store_memory', [m.category, key, value, SOURCE, this.owner, Math.round(m.importance * 10), '']);
    // A confirmed read: answered once the write is durable on the SpacetimeDB host.
    const stored = await this.byKey(key, true).catch((err: unknown) => {
      throw afterCommit(err, 'store_memory');
    });
    if (!stored) throw new SpacetimeError('bad_response', `store_memory succeeded but ${key} is not in ${TABLE}.`);
    return { memory: stored.memory, created: true };
  }

  async list(o: ListOptions): Promise<Page<Memory>> {
    const entries = (await this.read({ category: o.category })).sort(newestFirst);
    return { items: entries.slice(o.offset, o.offset + o.limit).map((e) => e.memory), total: entries.length };
  }

  async search(o: SearchOptions): Promise<Page<ScoredMemory>> {
    const entries = (await this.read(o.filters)).filter((e) => matchesFilters(e.memory, o.filters));
    let scored: (Entry & { score: number })[];
    if (o.query.trim() === '') {
      scored = entries.map((e) => ({ ...e, score: e.memory.importance }));
    } else {
      // Each term is matched by FTS5 as in the other backends (fts-scratch.ts).
      const terms = searchTerms(o.query);
      const hits = termHits(entries.map((e) => ({ content: e.memory.content, tags: e.memory.tags.join(' ') })), terms);
      scored = entries.flatMap((e, i) => {
        const matched = hits[i] ?? 0;
        return matched === 0 ? [] : [{ ...e, score: 0.7 * (matched / terms.length) + 0.3 * e.memory.importance }];
      });
    }
    scored.sort(byScoreThen<Entry & { score: number }>(newestFirst));
    return { items: scored.slice(0, o.limit).map((e) => ({ ...e.memory, score: e.score })), total: scored.length };
  }

  async remove(id: string): Promise<boolean> {
    const key = `${KEY_PREFIX}${id}`;
    // An id that cannot be written as a SQL literal (control characters) names no memory.
    if (!isSqlText(key)) return false;
    // delete_memory on a missing key is a no-op, so existence is checked first to answer 404.
    return this.writes.run(key, async () => {
      if (!(await this.byKey(key))) return false;
      await this.client.call('delete_memory', [key]);
      return true;
    });
  }

  async stats(): Promise<BackendStats> {
    const details = { url: publicUrl(this.client.url), database: this.client.db, table: TABLE, key_prefix: KEY_PREFIX, latency_ms: null as number | null };
    const ping = await this.client.ping();
    if (!ping.ok) {
      const down = ping.error.kind === 'unreachable' || ping.error.kind === 'timeout';
      return { status: down ? 'unreachable' : 'degraded', total_memories: null, categories: {}, error: ping.error.message, details };
    }
    details.latency_ms = ping.latencyMs;
    try {
      const entries = await this.read({});
      return { status: 'ok', total_memories: entries.length, categories: countByName(entries.map((e) => [e.memory.category, 1] as const)), details };
    } catch (err) {
      // Reachable but the database or table is not what we expect (unknown database, other module).
      return { status: 'degraded', total_memories: null, categories: {}, error: err instanceof Error ? err.message : String(err), details };
    }
  }

  close(): void {
    // HTTP only: nothing held open.
  }

  private async byKey(key: string, confirmed = false): Promise<Entry | null> {
    const rows = await this.client.sql(`SELECT * FROM ${TABLE} WHERE key = ${literal(key)}`, { confirmed });
    return rows.length > 0 ? toEntry(rows[0]) : null;
  }

  /** The memory rows, with what SQL can filter (category, importance) filtered there. */
  private async read(f: Pick<SearchFilters, 'category' | 'minImportance'>): Promise<Entry[]> {
    let where = KEYS_OF_MEMORIES;
    if (f.category !== undefined) where += ` AND category = ${literal(f.category)}`;
    // importance/10 >= min  ⇔  importance >= ceil(min × 10) (the tolerance absorbs 0.3 × 10 = 3.0000000000000004)
    if (f.minImportance !== undefined) where += ` AND importance >= ${literal(Math.ceil(f.minImportance * 10 - 1e-9))}`;
    const rows = await this.client.sql(`SELECT * FROM ${TABLE} WHERE ${where}`);
    return rows.map(toEntry).filter((e) => e.memory.id !== '');
  }
}

function toEntry(raw: unknown): Entry {
  const parsed = z.safeParse(EntryRow, raw);
  if (!parsed.success) {
    throw new SpacetimeError('bad_response', `${TABLE} rows do not have the optx-cortex shape: ${parsed.error.issues[0]?.message ?? 'invalid row'}.`);
  }
  const r: EntryRow = parsed.data;
  let value: z.infer<typeof MemoryValue> | null = null;
  try {
    const v = z.safeParse(MemoryValue, JSON.parse(r.value));
    if (v.success) value = v.data;
  } catch {
    // not JSON: shown as plain content below
  }
  const created = toIsoTimestamp(r.created_at);
  return {
    rowId: r.id,
    memory: {
      id: r.key.startsWith(KEY_PREFIX) ? r.key.slice(KEY_PREFIX.length) : '',
      content: value?.content ?? r.value,
      category: r.category,
      tags: tagsOf(value?.tags),
      importance: Math.min(1, Math.max(0, r.importance / 10)),
      metadata: metadataOf(value?.metadata),
      created_at: created,
      updated_at: created,
    },
  };
}

function isSqlText(s: string): boolean {
  try {
    literal(s);
    return true;
  } catch {
    return false;
  }
}

function matchesFilters(m: Memory, f: SearchFilters): boolean {
  if (f.tags && !f.tags.every((t) => m.tags.includes(t))) return false;
  if (f.since !== undefined && m.created_at < f.since) return false;
  if (f.until !== undefined && m.created_at > f.until) return false;
  return true;
}

function newestFirst(a: Entry, b: Entry): number {
  return a.memory.created_at < b.memory.created_at ? 1 : a.memory.created_at > b.memory.created_at ? -1 : b.rowId - a.rowId;
}
