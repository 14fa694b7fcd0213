import { z } from 'zod';
import { toUtcIso } from './memory-values';
import { pyStrip } from './pytext';

export const MAX_CONTENT_CHARS = 65_536;
export const MAX_QUERY_CHARS = 65_536;
export const MAX_TAGS = 32;

// C0/C1 controls other than tab, LF, CR; lone surrogates (not text, and not storable as UTF-8).
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function isTimestamp(s: string): boolean {
  try {
    toUtcIso(s);
    return true;
  } catch {
    return false;
  }
}
const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** A short label: category or tag. Trimmed by the service; commas are refused because Hermes stores tags comma-separated. */
const label = (what: string) =>
  z.string()
    .refine((s) => s.trim().length > 0, { error: `${what} must not be empty` })
    .refine((s) => s.length <= 64, { error: `${what} must be at most 64 characters` })
    .refine((s) => !CONTROL.test(s) && !LONE_SURROGATE.test(s), { error: `${what} must not contain control characters` });

export const Category = label('category');
export const Tag = label('tag').refine((s) => !s.includes(','), { error: 'a tag must not contain a comma' }).describe('1..64 characters, no comma');

// Stripped the way Hermes strips content before storing it (Python's whitespace, not JavaScript's).
const Content = z.string()
  .refine((s) => pyStrip(s).length > 0, { error: 'content must not be empty' })
  .refine((s) => codePoints(pyStrip(s)) <= MAX_CONTENT_CHARS, { error: `content must be at most ${MAX_CONTENT_CHARS} characters` })
  .refine((s) => !LONE_SURROGATE.test(s), { error: 'content must be valid Unicode text (no lone surrogates)' })
  .describe(`1..${MAX_CONTENT_CHARS} characters (code points) after stripping surrounding whitespace`);

const Importance = z.number().min(0).max(1).describe('0..1; SpacetimeDB keeps tenths, holographic stores it as trust_score');
const Metadata = z.record(z.string(), z.unknown());

const Timestamp = z.string().refine(isTimestamp, { error: 'expected an ISO 8601 date or date-time, e.g. 2026-11-29T13:07:33Z' });

export const CreateMemoryBody = z.object({
  content: Content,
  category: Category.default('general'),
  tags: z.array(Tag).max(MAX_TAGS).default([]),
  importance: Importance.default(0.5),
  metadata: Metadata.default({}),
});
export type CreateMemoryBody = z.infer<typeof CreateMemoryBody>;

export const SearchFilters = z.object({
  category: Category.optional(),
  tags: z.array(Tag).max(MAX_TAGS).optional(),
  min_importance: Importance.optional(),
  since: Timestamp.optional(),
  until: Timestamp.optional(),
});
export type SearchFilters = z.infer<typeof SearchFilters>;

const QueryText = z.string().max(MAX_QUERY_CHARS);

export const SearchBody = z.object({
  query: QueryText.default(''),
  limit: z.number().int().min(1).max(100).default(10),
  filters: SearchFilters.optional(),
});
export type SearchBody = z.infer<typeof SearchBody>;

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  category: Category.optional(),
});

export const RecallQuery = z.object({
  query: QueryText.refine((s) => s.trim().length > 0, { error: 'query must not be empty' }),
  limit: z.coerce.number().int().min(1).max(100).default(10),
  category: Category.optional(),
});

export const MemoryIdParams = z.object({ id: z.string().min(1).max(512) });

export const Memory = z.object({
  id: z.string(),
  content: z.string(),
  category: z.string(),
  tags: z.array(z.string()),
  importance: z.number(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Memory = z.infer<typeof Memory>;

export const ScoredMemory = Memory.extend({ score: z.number() });
export type ScoredMemory = z.infer<typeof ScoredMemory>;

export const Backend = z.enum(['holographic', 'sqlite', 'spacetimedb']);
export type BackendName = z.infer<typeof Backend>;

export const CreateMemoryResponse = z.object({ stored: z.literal(true), duplicate: z.boolean(), memory: Memory });
export const ListMemoriesResponse = z.object({ memories: z.array(Memory), total: z.number().int(), limit: z.number().int(), offset: z.number().int(), backend: Backend });
export const SearchResponse = z.object({ results: z.array(ScoredMemory), total: z.number().int(), query: z.string() });
export const RecallResponse = z.object({ results: z.array(ScoredMemory), query: z.string() });
export const DeleteResponse = z.object({ deleted: z.literal(true), memory_id: z.string() });
export const StatsResponse = z.looseObject({
  backend: Backend,
  status: z.enum(['ok', 'degraded', 'unreachable']),
  total_memories: z.number().int().nullable(),
  categories: z.record(z.string(), z.number().int()),
  error: z.string().optional(),
});
export type StatsResponse = z.infer<typeof StatsResponse>;
